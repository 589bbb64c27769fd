// Actions of core/flow.ts on the wire: OpenFlow 1.3 actions (§7.2.5) and Nicira extension
// actions (ovs-actions(7); experimenter action with vendor 0x00002320 and a 16-bit subtype).
// Every action is a multiple of 8 bytes long.

import type { Action, FieldName } from '../flow';
import {
  NX_CT_F_COMMIT,
  NX_CT_RECIRC_NONE,
  NX_RESUBMIT_IN_PORT,
  NX_VENDOR_ID,
  NXAST,
  OFPAT,
  OFPCML_NO_BUFFER,
  OFPP,
} from './constants';
import { OpenFlowError } from './errors';
import {
  checkFieldValue,
  contextMissing,
  fieldByHeader,
  fieldSpec,
  type FieldSpec,
  type MatchContext,
  NO_MATCH_CONTEXT,
  Prereq,
  readValue,
  writeValue,
} from './oxm';
import { ByteWriter, readU16, readU32, readU64n } from './writer';

const CT_MARK = fieldSpec('ct_mark');

function bad(message: string): never {
  throw new OpenFlowError('OF_BAD_ACTION', message);
}

function checkUint(v: number, max: number, what: string): void {
  if (!(v >= 0 && v <= max && Number.isInteger(v))) bad(`${what} ${v} is out of range 0..${max}`);
}

function writableSpec(name: FieldName, action: string, ctx: MatchContext): FieldSpec {
  const s = fieldSpec(name);
  if (!s.writable)
    throw new OpenFlowError(
      'OF_FIELD_NOT_WRITABLE',
      `${action}: OVS does not let actions write ${name} (ovs-fields(7))`,
    );
  if (s === CT_MARK) {
    // ovs-actions(7): ct_mark can only be written by ct(exec(...)), i.e. Action ct's setMark.
    throw new OpenFlowError(
      'OF_FIELD_NOT_WRITABLE',
      `${action}: ct_mark can only be set inside ct(); use the ct action's setMark`,
    );
  }
  checkPrereq(s, action, ctx);
  return s;
}

/** OVS refuses actions on fields the match does not guarantee (OFPBAC_MATCH_INCONSISTENT). */
function checkPrereq(s: FieldSpec, action: string, ctx: MatchContext): void {
  if (s.prereq === Prereq.None) return;
  const missing = contextMissing(ctx, s.prereq);
  if (missing !== undefined) {
    throw new OpenFlowError(
      'OF_ACTION_PREREQ',
      `${action} on ${s.name} needs its prerequisite in the match (ovs-fields(7)): add ${missing}`,
    );
  }
}

function checkSubfield(s: FieldSpec, ofs: number, nBits: number, action: string): void {
  if (!(Number.isInteger(ofs) && Number.isInteger(nBits) && ofs >= 0 && nBits >= 1 && ofs + nBits <= s.bytes * 8)) {
    bad(`${action}: bits ${ofs}..${ofs + nBits - 1} are outside ${s.name} (${s.bytes * 8} bits)`);
  }
}

/** Nicira experimenter action header: type 0xffff, len, vendor, subtype (10 bytes). */
function nxHeader(w: ByteWriter, len: number, subtype: number): void {
  w.u16(OFPAT.EXPERIMENTER);
  w.u16(len);
  w.u32(NX_VENDOR_ID);
  w.u16(subtype);
}

/** OFPAT_SET_FIELD (§7.2.5): the OXM TLV, padded to 8. Every Flow field gives 16 bytes. */
function writeSetField(w: ByteWriter, s: FieldSpec, value: number): void {
  const start = w.pos;
  w.u16(OFPAT.SET_FIELD);
  w.u16(16);
  w.u32(s.header);
  writeValue(w, s.bytes, value);
  w.pad8(start);
}

/**
 * Writes one action. `ctx` (from encodeMatch) lets it refuse actions OVS would refuse for the
 * flow's match: fields whose prerequisites the match lacks, ct() on non-IP traffic.
 */
export function encodeAction(w: ByteWriter, a: Action, ctx: MatchContext = NO_MATCH_CONTEXT): void {
  switch (a.kind) {
    case 'output':
      checkUint(a.port, 0xffffffff, 'output port');
      // ofp_action_output: max_len only matters for CONTROLLER (§7.2.5).
      w.u16(OFPAT.OUTPUT);
      w.u16(16);
      w.u32(a.port);
      w.u16(a.port === OFPP.CONTROLLER ? OFPCML_NO_BUFFER : 0);
      w.zeros(6);
      return;
    case 'controller':
      checkUint(a.maxLen, 0xffff, 'controller max_len');
      w.u16(OFPAT.OUTPUT);
      w.u16(16);
      w.u32(OFPP.CONTROLLER);
      w.u16(a.maxLen);
      w.zeros(6);
      return;
    case 'set_field': {
      const s = writableSpec(a.field, 'set_field', ctx);
      checkFieldValue(s, a.value, 'set_field');
      writeSetField(w, s, a.value);
      return;
    }
    case 'load': {
      // nx_action_reg_load: ofs_nbits = ofs << 6 | (n_bits - 1), dst header, 64-bit value.
      const s = writableSpec(a.field, 'load', ctx);
      checkSubfield(s, a.ofs, a.nBits, 'load');
      if (!(
        Number.isInteger(a.value) &&
        a.value >= 0 &&
        a.value <= Number.MAX_SAFE_INTEGER &&
        (a.nBits >= 53 || a.value < 2 ** a.nBits)
      )) {
        bad(`load: value ${a.value} does not fit in ${a.nBits} bits`);
      }
      nxHeader(w, 24, NXAST.REG_LOAD);
      w.u16((a.ofs << 6) | (a.nBits - 1));
      w.u32(s.header);
      w.u64n(a.value);
      return;
    }
    case 'move': {
      // nx_action_reg_move: n_bits, src_ofs, dst_ofs, src header, dst header.
      const src = fieldSpec(a.src);
      checkPrereq(src, 'move', ctx);
      const dst = writableSpec(a.dst, 'move', ctx);
      checkSubfield(src, a.srcOfs, a.nBits, 'move source');
      checkSubfield(dst, a.dstOfs, a.nBits, 'move destination');
      nxHeader(w, 24, NXAST.REG_MOVE);
      w.u16(a.nBits);
      w.u16(a.srcOfs);
      w.u16(a.dstOfs);
      w.u32(src.header);
      w.u32(dst.header);
      return;
    }
    case 'resubmit':
      // nx_action_resubmit (table form): in_port OFPP_IN_PORT keeps the packet's own in_port.
      checkUint(a.table, 254, 'resubmit table');
      nxHeader(w, 16, NXAST.RESUBMIT_TABLE);
      w.u16(NX_RESUBMIT_IN_PORT);
      w.u8(a.table);
      w.zeros(3);
      return;
    case 'ct': {
      // nx_action_conntrack: flags, zone_src (0 = immediate), zone_imm, recirc_table, pad,
      // alg, then nested actions (ovs-actions(7) "ct").
      checkUint(a.zone, 0xffff, 'ct zone');
      const notIp = contextMissing(ctx, Prereq.Ip);
      if (notIp !== undefined)
        throw new OpenFlowError(
          'OF_ACTION_PREREQ',
          `ct() needs IP traffic (ovs-actions(7)): add ${notIp} to the match`,
        );
      if (a.table !== undefined) checkUint(a.table, 254, 'ct table');
      if (a.setMark !== undefined) checkUint(a.setMark, 0xffffffff, 'ct mark');
      const len = a.setMark === undefined ? 24 : 40;
      nxHeader(w, len, NXAST.CT);
      w.u16(a.commit ? NX_CT_F_COMMIT : 0);
      w.u32(0);
      w.u16(a.zone);
      w.u8(a.table === undefined ? NX_CT_RECIRC_NONE : a.table);
      w.zeros(3);
      w.u16(0);
      if (a.setMark !== undefined) writeSetField(w, CT_MARK, a.setMark);
      return;
    }
    case 'conjunction':
      // nx_action_conjunction: clause is 0-based on the wire, 1-based in ovs-ofctl and in Action.
      checkUint(a.nClauses, 64, 'conjunction n_clauses');
      if (a.nClauses < 2) bad(`conjunction n_clauses ${a.nClauses} must be 2..64`);
      if (!(Number.isInteger(a.clause) && a.clause >= 1 && a.clause <= a.nClauses))
        bad(`conjunction clause ${a.clause} must be 1..${a.nClauses}`);
      checkUint(a.id, 0xffffffff, 'conjunction id');
      nxHeader(w, 16, NXAST.CONJUNCTION);
      w.u8(a.clause - 1);
      w.u8(a.nClauses);
      w.u32(a.id);
      return;
    case 'dec_ttl':
      w.u16(OFPAT.DEC_NW_TTL);
      w.u16(8);
      w.zeros(4);
      return;
    case 'group':
      // ofp_action_group (OpenFlow 1.3 §7.2.5): OFPG_MAX = 0xffffff00 is the last real group.
      checkUint(a.id, 0xffffff00, 'group id');
      w.u16(OFPAT.GROUP);
      w.u16(8);
      w.u32(a.id);
      return;
    case 'bucket':
      bad('a bucket marker belongs in a group entry (GROUP_MOD), not in a flow');
      break;
    default: {
      const never: never = a;
      bad(`unknown action ${JSON.stringify(never)}`);
    }
  }
}

export function encodeActions(w: ByteWriter, actions: readonly Action[], ctx: MatchContext = NO_MATCH_CONTEXT): void {
  for (let i = 0; i < actions.length; i++) encodeAction(w, actions[i], ctx);
}

function headerField(header: number, what: string): FieldSpec {
  const s = fieldByHeader(header);
  if (s === undefined)
    throw new OpenFlowError(
      'OF_UNSUPPORTED_ACTION',
      `${what} names field header 0x${header.toString(16)} that Flow cannot hold`,
    );
  return s;
}

function decodeNx(buf: Uint8Array, at: number, len: number, out: Action[]): void {
  const subtype = readU16(buf, at + 8);
  switch (subtype) {
    case NXAST.REG_LOAD: {
      const ofsNbits = readU16(buf, at + 10);
      const s = headerField(readU32(buf, at + 12), 'load');
      out.push({
        kind: 'load',
        field: s.name,
        value: readU64n(buf, at + 16),
        ofs: ofsNbits >>> 6,
        nBits: (ofsNbits & 63) + 1,
      });
      return;
    }
    case NXAST.REG_MOVE:
      out.push({
        kind: 'move',
        src: headerField(readU32(buf, at + 16), 'move').name,
        srcOfs: readU16(buf, at + 12),
        dst: headerField(readU32(buf, at + 20), 'move').name,
        dstOfs: readU16(buf, at + 14),
        nBits: readU16(buf, at + 10),
      });
      return;
    case NXAST.RESUBMIT_TABLE: {
      const inPort = readU16(buf, at + 10);
      if (inPort !== NX_RESUBMIT_IN_PORT)
        throw new OpenFlowError('OF_UNSUPPORTED_ACTION', `resubmit with in_port ${inPort} is not one Flow can hold`);
      out.push({ kind: 'resubmit', table: buf[at + 12] });
      return;
    }
    case NXAST.CT: {
      const flags = readU16(buf, at + 10);
      const zoneSrc = readU32(buf, at + 12);
      const zone = readU16(buf, at + 16);
      const table = buf[at + 18];
      const alg = readU16(buf, at + 22);
      if (zoneSrc !== 0 || alg !== 0 || (flags & ~NX_CT_F_COMMIT) !== 0) {
        throw new OpenFlowError(
          'OF_UNSUPPORTED_ACTION',
          'ct with a zone field, alg or flags other than commit is not one Flow can hold',
        );
      }
      const nested = decodeActions(buf, at + 24, at + len);
      let setMark: number | undefined;
      for (const n of nested) {
        if (n.kind === 'set_field' && n.field === 'ct_mark' && setMark === undefined) setMark = n.value;
        else if (n.kind === 'load' && n.field === 'ct_mark' && n.ofs === 0 && n.nBits === 32 && setMark === undefined)
          setMark = n.value;
        else throw new OpenFlowError('OF_UNSUPPORTED_ACTION', `ct nested action ${n.kind} is not one Flow can hold`);
      }
      const ct: { kind: 'ct'; commit: boolean; zone: number; table?: number; setMark?: number } = {
        kind: 'ct',
        commit: (flags & NX_CT_F_COMMIT) !== 0,
        zone,
      };
      if (table !== NX_CT_RECIRC_NONE) ct.table = table;
      if (setMark !== undefined) ct.setMark = setMark;
      out.push(ct);
      return;
    }
    case NXAST.CONJUNCTION:
      out.push({ kind: 'conjunction', clause: buf[at + 10] + 1, nClauses: buf[at + 11], id: readU32(buf, at + 12) });
      return;
    default:
      throw new OpenFlowError('OF_UNSUPPORTED_ACTION', `Nicira action subtype ${subtype} is not one Flow can hold`);
  }
}

/** Decodes the actions in buf[at, end). */
export function decodeActions(buf: Uint8Array, at: number, end: number): Action[] {
  const out: Action[] = [];
  while (at < end) {
    if (end - at < 8) throw new OpenFlowError('OF_TRUNCATED', 'truncated action header');
    const type = readU16(buf, at);
    const len = readU16(buf, at + 2);
    if (len < 8 || (len & 7) !== 0 || at + len > end)
      throw new OpenFlowError('OF_BAD_MESSAGE', `action type ${type} has bad length ${len}`);
    switch (type) {
      case OFPAT.OUTPUT: {
        const port = readU32(buf, at + 4);
        if (port === OFPP.CONTROLLER) out.push({ kind: 'controller', maxLen: readU16(buf, at + 8) });
        else out.push({ kind: 'output', port });
        break;
      }
      case OFPAT.SET_FIELD: {
        const header = readU32(buf, at + 4);
        const s = headerField(header, 'set_field');
        if ((header & 0x100) !== 0)
          throw new OpenFlowError('OF_UNSUPPORTED_ACTION', `masked set_field of ${s.name} is not one Flow can hold`);
        out.push({ kind: 'set_field', field: s.name, value: readValue(buf, at + 8, header & 0xff) });
        break;
      }
      case OFPAT.DEC_NW_TTL:
        out.push({ kind: 'dec_ttl' });
        break;
      case OFPAT.GROUP:
        out.push({ kind: 'group', id: readU32(buf, at + 4) });
        break;
      case OFPAT.EXPERIMENTER: {
        const vendor = readU32(buf, at + 4);
        if (vendor !== NX_VENDOR_ID || len < 16)
          throw new OpenFlowError(
            'OF_UNSUPPORTED_ACTION',
            `experimenter action 0x${vendor.toString(16)} is not supported`,
          );
        decodeNx(buf, at, len, out);
        break;
      }
      default:
        throw new OpenFlowError('OF_UNSUPPORTED_ACTION', `action type ${type} is not one Flow can hold`);
    }
    at += len;
  }
  return out;
}
