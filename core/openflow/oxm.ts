// OXM/NXM match fields: the wire identity of every FieldName in core/flow.ts, the TLV
// encoding (OpenFlow 1.3 §7.2.3: 32-bit header class:16 | field:7 | hasmask:1 | length:8, then
// the value, then the mask when hasmask is set), prerequisite checks and decoding.
//
// Class/field/length facts are from ovs-fields(7). OpenFlow basic fields use class 0x8000;
// OVS-only fields use the Nicira NXM_NX class 0x0001, which OVS accepts in OpenFlow 1.3/1.4
// matches and set_field actions alike.

import type { FieldName, MatchField } from '../flow';
import { fieldOrder } from '../flow';
import { OFPMT_OXM, OFPXMC, ONF_VENDOR_ID } from './constants';
import { OpenFlowError } from './errors';
import { ByteWriter, readU16, readU32, readU48, readU64n } from './writer';

/** What a field needs earlier in the match before OVS accepts it (ovs-fields(7) "Prerequisites"). */
export const enum Prereq {
  None = 0,
  /** eth_type=0x0800 or 0x86dd */
  Ip = 1,
  /** eth_type=0x0800 */
  Ipv4 = 2,
  /** eth_type=0x0806 or 0x8035 */
  Arp = 3,
  /** Ip and ip_proto=6 */
  Tcp = 4,
  /** Ip and ip_proto=17 */
  Udp = 5,
  /** Ipv4 and ip_proto=1 */
  Icmpv4 = 6,
}

export interface FieldSpec {
  readonly name: FieldName;
  readonly oxmClass: number;
  readonly oxmField: number;
  /** Value length on the wire, in bytes. */
  readonly bytes: 1 | 2 | 4 | 6 | 8;
  /** Meaningful bits (a value must fit in them): vlan_vid is 13 of 16, ip_dscp 6 of 8. */
  readonly bits: number;
  /** OVS lets set_field/load/move write it (ovs-fields(7) "Read/Write"). */
  readonly writable: boolean;
  /** OVS accepts a mask on it (ovs-fields(7) "Maskable"). */
  readonly maskable: boolean;
  readonly prereq: Prereq;
  /** Canonical position (core/flow.ts fieldOrder): prerequisites sort before their dependants. */
  readonly order: number;
  /** Header for an exact match, and with hasmask set (length doubled). */
  readonly header: number;
  readonly headerMasked: number;
  /** Largest value that fits in `bits`. */
  readonly maxValue: number;
}

const NXM1 = OFPXMC.NXM_1;
const BASIC = OFPXMC.OPENFLOW_BASIC;

function spec(
  name: FieldName,
  oxmClass: number,
  oxmField: number,
  bytes: FieldSpec['bytes'],
  bits: number,
  writable: boolean,
  prereq: Prereq,
  maskable = true,
): FieldSpec {
  const header = ((oxmClass << 16) | (oxmField << 9) | bytes) >>> 0;
  const headerMasked = ((oxmClass << 16) | (oxmField << 9) | 0x100 | (bytes * 2)) >>> 0;
  return {
    name,
    oxmClass,
    oxmField,
    bytes,
    bits,
    writable,
    maskable,
    prereq,
    order: fieldOrder(name),
    header,
    headerMasked,
    maxValue: bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1,
  };
}

// ovs-fields(7): name, class, field number, bytes, bits, writable, prerequisites.
const SPECS: readonly FieldSpec[] = [
  // OXM_OF_IN_PORT (OF1.1+ 32-bit port). OVS 3.1 refuses set_field with this header
  // (OFPBAC_BAD_SET_ARGUMENT, measured), so it is read-only here; `output:IN_PORT` covers hairpin.
  spec('in_port', BASIC, 0, 4, 32, false, Prereq.None, false),
  spec('metadata', BASIC, 2, 8, 64, true, Prereq.None), // OXM_OF_METADATA
  spec('eth_dst', BASIC, 3, 6, 48, true, Prereq.None), // OXM_OF_ETH_DST
  spec('eth_src', BASIC, 4, 6, 48, true, Prereq.None), // OXM_OF_ETH_SRC
  spec('eth_type', BASIC, 5, 2, 16, false, Prereq.None, false), // OXM_OF_ETH_TYPE
  spec('vlan_vid', BASIC, 6, 2, 13, true, Prereq.None), // OXM_OF_VLAN_VID: 12-bit VID | OFPVID_PRESENT 0x1000
  spec('ip_dscp', BASIC, 8, 1, 6, true, Prereq.Ip, false), // OXM_OF_IP_DSCP: DSCP shifted right 2
  spec('ip_proto', BASIC, 10, 1, 8, false, Prereq.Ip, false), // OXM_OF_IP_PROTO
  spec('ipv4_src', BASIC, 11, 4, 32, true, Prereq.Ipv4), // OXM_OF_IPV4_SRC
  spec('ipv4_dst', BASIC, 12, 4, 32, true, Prereq.Ipv4), // OXM_OF_IPV4_DST
  spec('tcp_src', BASIC, 13, 2, 16, true, Prereq.Tcp), // OXM_OF_TCP_SRC
  spec('tcp_dst', BASIC, 14, 2, 16, true, Prereq.Tcp), // OXM_OF_TCP_DST
  spec('udp_src', BASIC, 15, 2, 16, true, Prereq.Udp), // OXM_OF_UDP_SRC
  spec('udp_dst', BASIC, 16, 2, 16, true, Prereq.Udp), // OXM_OF_UDP_DST
  spec('icmpv4_type', BASIC, 19, 1, 8, true, Prereq.Icmpv4, false), // OXM_OF_ICMPV4_TYPE
  spec('icmpv4_code', BASIC, 20, 1, 8, true, Prereq.Icmpv4, false), // OXM_OF_ICMPV4_CODE
  spec('arp_op', BASIC, 21, 2, 16, true, Prereq.Arp, false), // OXM_OF_ARP_OP
  spec('arp_spa', BASIC, 22, 4, 32, true, Prereq.Arp), // OXM_OF_ARP_SPA
  spec('arp_tpa', BASIC, 23, 4, 32, true, Prereq.Arp), // OXM_OF_ARP_TPA
  spec('arp_sha', BASIC, 24, 6, 48, true, Prereq.Arp), // OXM_OF_ARP_SHA
  spec('arp_tha', BASIC, 25, 6, 48, true, Prereq.Arp), // OXM_OF_ARP_THA
  spec('tun_id', BASIC, 38, 8, 64, true, Prereq.None), // OXM_OF_TUNNEL_ID
  spec('reg0', NXM1, 0, 4, 32, true, Prereq.None), // NXM_NX_REG0..9: fields 0..9
  spec('reg1', NXM1, 1, 4, 32, true, Prereq.None),
  spec('reg2', NXM1, 2, 4, 32, true, Prereq.None),
  spec('reg3', NXM1, 3, 4, 32, true, Prereq.None),
  spec('reg4', NXM1, 4, 4, 32, true, Prereq.None),
  spec('reg5', NXM1, 5, 4, 32, true, Prereq.None),
  spec('reg6', NXM1, 6, 4, 32, true, Prereq.None),
  spec('reg7', NXM1, 7, 4, 32, true, Prereq.None),
  spec('reg8', NXM1, 8, 4, 32, true, Prereq.None),
  spec('reg9', NXM1, 9, 4, 32, true, Prereq.None),
  spec('ip_ttl', NXM1, 29, 1, 8, true, Prereq.Ip, false), // NXM_NX_IP_TTL
  spec('tun_ipv4_src', NXM1, 31, 4, 32, true, Prereq.None), // NXM_NX_TUN_IPV4_SRC
  spec('tun_ipv4_dst', NXM1, 32, 4, 32, true, Prereq.None), // NXM_NX_TUN_IPV4_DST
  spec('tcp_flags', NXM1, 34, 2, 12, false, Prereq.Tcp), // NXM_NX_TCP_FLAGS
  spec('conj_id', NXM1, 37, 4, 32, false, Prereq.None, false), // NXM_NX_CONJ_ID
  spec('ct_state', NXM1, 105, 4, 32, false, Prereq.None), // NXM_NX_CT_STATE
  spec('ct_zone', NXM1, 106, 2, 16, false, Prereq.None, false), // NXM_NX_CT_ZONE
  spec('ct_mark', NXM1, 107, 4, 32, true, Prereq.None), // NXM_NX_CT_MARK
];

const BY_NAME: ReadonlyMap<string, FieldSpec> = new Map(SPECS.map((s) => [s.name, s]));

/** Every field the codec knows, in table order (tests check it covers FieldName). */
export const MATCH_FIELDS: readonly FieldName[] = SPECS.map((s) => s.name);

/** Decoding accepts the headers OVS itself sends back, which are not always the ones we send. */
const BY_CLASS_FIELD: ReadonlyMap<number, FieldSpec> = (() => {
  const m = new Map<number, FieldSpec>();
  for (const s of SPECS) m.set(s.oxmClass * 128 + s.oxmField, s);
  const alias = (cls: number, field: number, name: FieldName): void => {
    m.set(cls * 128 + field, fieldSpec(name));
  };
  // Legacy NXM_OF_* (class 0x0000) and NXM_NX_* spellings of the same fields (ovs-fields(7)).
  const NXM0 = OFPXMC.NXM_0;
  alias(NXM0, 1, 'eth_dst');
  alias(NXM0, 2, 'eth_src');
  alias(NXM0, 3, 'eth_type');
  alias(NXM0, 6, 'ip_proto');
  alias(NXM0, 7, 'ipv4_src');
  alias(NXM0, 8, 'ipv4_dst');
  alias(NXM0, 9, 'tcp_src');
  alias(NXM0, 10, 'tcp_dst');
  alias(NXM0, 11, 'udp_src');
  alias(NXM0, 12, 'udp_dst');
  alias(NXM0, 13, 'icmpv4_type');
  alias(NXM0, 14, 'icmpv4_code');
  alias(NXM0, 15, 'arp_op');
  alias(NXM0, 16, 'arp_spa');
  alias(NXM0, 17, 'arp_tpa');
  alias(NXM1, 16, 'tun_id');
  alias(NXM1, 17, 'arp_sha');
  alias(NXM1, 18, 'arp_tha');
  return m;
})();

/** ONFOXM_ET_TCP_FLAGS: how OVS spells tcp_flags in OpenFlow 1.3/1.4 replies (ovs-fields(7)). */
const ONF_TCP_FLAGS_FIELD = 42;

export function fieldSpec(name: FieldName): FieldSpec {
  const s = BY_NAME.get(name);
  if (s === undefined) throw new OpenFlowError('OF_UNKNOWN_FIELD', `unknown match field '${String(name)}'`);
  return s;
}

/** The field a 32-bit OXM/NXM header names, or undefined. */
export function fieldByHeader(header: number): FieldSpec | undefined {
  return BY_CLASS_FIELD.get((header >>> 16) * 128 + ((header >>> 9) & 0x7f));
}

export function checkFieldValue(s: FieldSpec, value: number, what: string): void {
  if (!(value >= 0 && value <= s.maxValue && Number.isInteger(value))) {
    throw new OpenFlowError('OF_BAD_VALUE', `${what} ${s.name}: value ${value} does not fit in ${s.bits} bits`);
  }
}

export function writeValue(w: ByteWriter, bytes: number, v: number): void {
  switch (bytes) {
    case 1:
      w.u8(v);
      return;
    case 2:
      w.u16(v);
      return;
    case 4:
      w.u32(v);
      return;
    case 6:
      w.u48(v);
      return;
    default:
      w.u64n(v);
  }
}

export function readValue(buf: Uint8Array, at: number, bytes: number): number {
  switch (bytes) {
    case 1:
      return buf[at];
    case 2:
      return readU16(buf, at);
    case 4:
      return readU32(buf, at);
    case 6:
      return readU48(buf, at);
    case 8:
      return readU64n(buf, at);
    default:
      throw new OpenFlowError('OF_BAD_MESSAGE', `unsupported field width ${bytes}`);
  }
}

/** True when value has no bit set outside mask (values are at most 64 bits, held in doubles). */
function insideMask(value: number, mask: number): boolean {
  if (value <= 0xffffffff && mask <= 0xffffffff) return (value & ~mask) >>> 0 === 0;
  const TWO_32 = 0x1_0000_0000;
  const vh = Math.floor(value / TWO_32);
  const mh = Math.floor(mask / TWO_32);
  return ((value >>> 0) & ~(mask >>> 0)) >>> 0 === 0 && (vh & ~mh) >>> 0 === 0;
}

/** Writes one OXM TLV. */
export function writeOxm(w: ByteWriter, s: FieldSpec, value: number, mask: number | undefined): void {
  if (mask === undefined) {
    w.u32(s.header);
    writeValue(w, s.bytes, value);
  } else {
    w.u32(s.headerMasked);
    writeValue(w, s.bytes, value);
    writeValue(w, s.bytes, mask);
  }
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_ARP = 0x0806;
const ETH_RARP = 0x8035;

function prereqMissing(p: Prereq, ethType: number, ipProto: number): string | undefined {
  const ip = ethType === ETH_IPV4 || ethType === ETH_IPV6;
  switch (p) {
    case Prereq.None:
      return undefined;
    case Prereq.Ip:
      return ip ? undefined : 'eth_type=0x0800 (or 0x86dd)';
    case Prereq.Ipv4:
      return ethType === ETH_IPV4 ? undefined : 'eth_type=0x0800';
    case Prereq.Arp:
      return ethType === ETH_ARP || ethType === ETH_RARP ? undefined : 'eth_type=0x0806 (or 0x8035)';
    case Prereq.Tcp:
      return ip && ipProto === 6 ? undefined : `${ip ? '' : 'eth_type=0x0800, '}ip_proto=6`;
    case Prereq.Udp:
      return ip && ipProto === 17 ? undefined : `${ip ? '' : 'eth_type=0x0800, '}ip_proto=17`;
    case Prereq.Icmpv4:
      return ethType === ETH_IPV4 && ipProto === 1
        ? undefined
        : `${ethType === ETH_IPV4 ? '' : 'eth_type=0x0800, '}ip_proto=1`;
    default: {
      const never: never = p;
      return never;
    }
  }
}

/**
 * What a match guarantees about a packet, for checking action prerequisites: eth_type and
 * ip_proto when matched exactly (-1 otherwise), packed into one number so that passing it
 * allocates nothing. NO_MATCH_CONTEXT (PACKET_OUT, which has no match) skips the checks.
 */
export type MatchContext = number;
export const NO_MATCH_CONTEXT: MatchContext = -1;

function packContext(ethType: number, ipProto: number): MatchContext {
  return (ethType + 1) * 512 + (ipProto + 1);
}

/** The prerequisite `p` does not hold under `ctx`: returns what to add to the match, else undefined. */
export function contextMissing(ctx: MatchContext, p: Prereq): string | undefined {
  if (ctx === NO_MATCH_CONTEXT || p === Prereq.None) return undefined;
  return prereqMissing(p, Math.floor(ctx / 512) - 1, (ctx % 512) - 1);
}

// Scratch space reused by every encode (JS is single-threaded, encodeMatch is not re-entrant).
const scratchSpecs: FieldSpec[] = [];

/**
 * Validates a match and writes it as an ofp_match of type OFPMT_OXM, padded to 8 (§7.2.2).
 * Entries go out in canonical order, so prerequisites precede the fields that need them; a
 * missing prerequisite, a duplicate field, a value too wide, or a value bit outside its mask is
 * an OpenFlowError (OVS would reject the flow-mod anyway, later and less clearly).
 */
export function encodeMatch(w: ByteWriter, match: readonly MatchField[]): MatchContext {
  const n = match.length;
  let sorted = true;
  let prevOrder = -1;
  let ethType = -1;
  let ipProto = -1;
  let needsPrereq = false;
  for (let i = 0; i < n; i++) {
    const m = match[i];
    const s = BY_NAME.get(m.field);
    if (s === undefined) throw new OpenFlowError('OF_UNKNOWN_FIELD', `unknown match field '${String(m.field)}'`);
    scratchSpecs[i] = s;
    if (s.order <= prevOrder) sorted = false;
    prevOrder = s.order;
    checkFieldValue(s, m.value, 'match');
    if (m.mask !== undefined) {
      if (!s.maskable)
        throw new OpenFlowError(
          'OF_MATCH_MASK_NOT_ALLOWED',
          `match field ${s.name} cannot be masked (ovs-fields(7)); match it exactly`,
        );
      checkFieldValue(s, m.mask, 'match mask of');
      if (!insideMask(m.value, m.mask)) {
        throw new OpenFlowError(
          'OF_MATCH_VALUE_OUTSIDE_MASK',
          `match ${s.name}=0x${m.value.toString(16)}/0x${m.mask.toString(16)}: value has bits outside the mask`,
        );
      }
    } else if (s.name === 'eth_type') {
      ethType = m.value;
    } else if (s.name === 'ip_proto') {
      ipProto = m.value;
    }
    if (s.prereq !== Prereq.None) needsPrereq = true;
  }
  let entries: readonly MatchField[] = match;
  let specs: readonly FieldSpec[] = scratchSpecs;
  if (!sorted) {
    const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scratchSpecs[a].order - scratchSpecs[b].order);
    // Slow path (the compiler normally emits canonical order): fresh arrays are fine here.
    const sortedEntries = new Array<MatchField>(n);
    const sortedSpecs = new Array<FieldSpec>(n);
    for (let i = 0; i < n; i++) {
      sortedEntries[i] = match[idx[i]];
      sortedSpecs[i] = scratchSpecs[idx[i]];
    }
    for (let i = 1; i < n; i++) {
      if (sortedSpecs[i].order === sortedSpecs[i - 1].order) {
        throw new OpenFlowError('OF_MATCH_DUPLICATE_FIELD', `match field ${sortedSpecs[i].name} appears twice`);
      }
    }
    entries = sortedEntries;
    specs = sortedSpecs;
  }
  if (needsPrereq) {
    for (let i = 0; i < n; i++) {
      const missing = prereqMissing(specs[i].prereq, ethType, ipProto);
      if (missing !== undefined) {
        throw new OpenFlowError(
          'OF_MATCH_PREREQ',
          `match field ${specs[i].name} is missing its prerequisite (ovs-fields(7)): add ${missing} to the match`,
        );
      }
    }
  }
  const start = w.pos;
  w.u16(OFPMT_OXM);
  w.u16(0); // length, patched below
  for (let i = 0; i < n; i++) {
    const m = entries[i];
    writeOxm(w, specs[i], m.value, m.mask);
  }
  w.patchU16(start + 2, w.pos - start);
  w.pad8(start);
  return packContext(ethType, ipProto);
}

/** Decodes a run of OXM TLVs (no ofp_match header) into a canonical match. */
export function decodeOxmFields(buf: Uint8Array, at: number, end: number): MatchField[] {
  const out: MatchField[] = [];
  while (at < end) {
    if (end - at < 4) throw new OpenFlowError('OF_TRUNCATED', 'truncated OXM header');
    const header = readU32(buf, at);
    const cls = header >>> 16;
    const field = (header >>> 9) & 0x7f;
    const hasMask = (header & 0x100) !== 0;
    const len = header & 0xff;
    let p = at + 4;
    let payload = len;
    if (end - p < len)
      throw new OpenFlowError('OF_TRUNCATED', `truncated OXM field class 0x${cls.toString(16)} field ${field}`);
    let s: FieldSpec | undefined;
    if (cls === OFPXMC.EXPERIMENTER) {
      const exp = readU32(buf, p);
      if (exp === ONF_VENDOR_ID && field === ONF_TCP_FLAGS_FIELD) s = fieldSpec('tcp_flags');
      p += 4;
      payload -= 4;
    } else {
      s = BY_CLASS_FIELD.get(cls * 128 + field);
    }
    if (s === undefined) {
      throw new OpenFlowError(
        'OF_UNSUPPORTED_MATCH',
        `match field class 0x${cls.toString(16)} field ${field} is not one Flow can hold`,
      );
    }
    const bytes = hasMask ? payload / 2 : payload;
    const value = readValue(buf, p, bytes);
    out.push(hasMask ? { field: s.name, value, mask: readValue(buf, p + bytes, bytes) } : { field: s.name, value });
    at += 4 + len;
  }
  out.sort((a, b) => fieldOrder(a.field) - fieldOrder(b.field));
  return out;
}

/** Decodes an ofp_match at `at`; returns the match and the offset after its padding. */
export function decodeMatch(buf: Uint8Array, at: number): { readonly match: MatchField[]; readonly next: number } {
  if (buf.length - at < 4) throw new OpenFlowError('OF_TRUNCATED', 'truncated ofp_match');
  const type = readU16(buf, at);
  const len = readU16(buf, at + 2);
  if (type !== OFPMT_OXM) throw new OpenFlowError('OF_UNSUPPORTED_MATCH', `match type ${type} is not OFPMT_OXM`);
  if (len < 4 || at + len > buf.length)
    throw new OpenFlowError('OF_TRUNCATED', `ofp_match length ${len} is out of range`);
  const match = decodeOxmFields(buf, at + 4, at + len);
  return { match, next: at + ((len + 7) & ~7) };
}
