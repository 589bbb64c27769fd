// FLOW_MOD encoding (OpenFlow 1.3 §7.3.4.1; 1.4 has the same layout with `importance` where
// 1.3 has padding) and flow-stats decoding (OFPMP_FLOW reply bodies, §7.3.5.2), so that flows
// read back from the switch compare equal to the Flow values that installed them.

import type { Action, Flow } from '../flow';
import { decodeActions, encodeActions } from './actions';
import {
  FLOW_MOD_COMMAND_CODE,
  type AnyFlowModCommand,
  type FlowModCommand,
  OFP_MAX_MESSAGE_LEN,
  OFP_NO_BUFFER,
  OFP13_VERSION,
  OFPG_ANY,
  OFPIT,
  OFPP,
  OFPT,
  type OfVersion,
} from './constants';
import { OpenFlowError, type OpenFlowErrorCode } from './errors';
import { decodeMatch, encodeMatch, type MatchContext } from './oxm';
import { ByteWriter, readU16, readU64 } from './writer';

export interface FlowModOptions {
  /** Only flows whose cookie matches under this mask are modified/deleted (ignored for ADD). */
  readonly cookieMask?: bigint;
  /** ofp_flow_mod_flags; default 0 (no OFPFF_SEND_FLOW_REM: the agent does not want removals). */
  readonly flags?: number;
  /** Seconds without a matching packet before OVS removes the flow; default 0 (never). ZETA direct paths use it. */
  readonly idleTimeout?: number;
}

// Cookies repeat across consecutive flows of one resource; splitting a bigint allocates, so the
// last split is kept.
let lastCookie = -1n;
let lastCookieHi = 0;
let lastCookieLo = 0;

function writeCookie(w: ByteWriter, cookie: bigint): void {
  if (cookie !== lastCookie) {
    if (typeof cookie !== 'bigint' || cookie < 0n || cookie > 0xffff_ffff_ffff_ffffn) {
      throw new OpenFlowError('OF_BAD_VALUE', `cookie ${String(cookie)} is not an unsigned 64-bit bigint`);
    }
    lastCookieHi = Number(cookie >> 32n);
    lastCookieLo = Number(cookie & 0xffff_ffffn);
    lastCookie = cookie;
  }
  w.u32(lastCookieHi);
  w.u32(lastCookieLo);
}

function writeBigU64(w: ByteWriter, v: bigint): void {
  w.u32(Number((v >> 32n) & 0xffff_ffffn));
  w.u32(Number(v & 0xffff_ffffn));
}

function checkFlowHeader(flow: Flow): void {
  if (!(flow.table >= 0 && flow.table <= 254 && Number.isInteger(flow.table))) {
    throw new OpenFlowError('OF_BAD_VALUE', `flow table ${flow.table} is out of range 0..254`);
  }
  if (!(flow.priority >= 0 && flow.priority <= 0xffff && Number.isInteger(flow.priority))) {
    throw new OpenFlowError('OF_BAD_VALUE', `flow priority ${flow.priority} is out of range 0..65535`);
  }
  if (flow.goto !== undefined && !(flow.goto > flow.table && flow.goto <= 254 && Number.isInteger(flow.goto))) {
    // OVS answers OFPBIC_BAD_TABLE_ID: goto_table may only go forward (OpenFlow 1.3 §5.1).
    throw new OpenFlowError(
      'OF_BAD_ACTION',
      `goto_table ${flow.goto} from table ${flow.table}: must be a later table, at most 254`,
    );
  }
}

function writeInstructions(
  w: ByteWriter,
  actions: readonly Action[],
  goto: number | undefined,
  ctx: MatchContext,
): void {
  if (actions.length > 0) {
    // ofp_instruction_actions: type, len, pad[4], actions (§7.2.4).
    const start = w.pos;
    w.u16(OFPIT.APPLY_ACTIONS);
    w.u16(0);
    w.u32(0);
    encodeActions(w, actions, ctx);
    w.patchU16(start + 2, w.pos - start);
  }
  if (goto !== undefined) {
    w.u16(OFPIT.GOTO_TABLE);
    w.u16(8);
    w.u8(goto);
    w.zeros(3);
  }
}

/**
 * Appends one FLOW_MOD for `flow` to `w` and returns its length. On any error nothing is left
 * in `w` (its position is rewound), so a caller batching many flows can skip a bad one.
 */
export function writeFlowMod(
  w: ByteWriter,
  flow: Flow,
  command: AnyFlowModCommand,
  xid: number,
  version: OfVersion = OFP13_VERSION,
  opts?: FlowModOptions,
): number {
  const start = w.pos;
  try {
    checkFlowHeader(flow);
    w.u8(version);
    w.u8(OFPT.FLOW_MOD);
    w.u16(0); // length, patched below
    w.u32(xid);
    writeCookie(w, flow.cookie);
    if (opts?.cookieMask === undefined) w.u64hl(0, 0);
    else writeBigU64(w, opts.cookieMask);
    w.u8(flow.table);
    w.u8(FLOW_MOD_COMMAND_CODE[command]);
    // idle_timeout (0 unless asked: flows live until the agent removes them), hard_timeout 0.
    const idle = opts?.idleTimeout ?? 0;
    if (!Number.isInteger(idle) || idle < 0 || idle > 0xffff)
      throw new OpenFlowError('OF_BAD_VALUE', `idle timeout ${idle} is not 0..65535 seconds`);
    w.u16(idle);
    w.u16(0);
    w.u16(flow.priority);
    w.u32(OFP_NO_BUFFER);
    w.u32(OFPP.ANY); // out_port, out_group: no output filter on delete
    w.u32(OFPG_ANY);
    w.u16(opts?.flags ?? 0);
    w.u16(0); // OF1.3 pad / OF1.4 importance
    const ctx = encodeMatch(w, flow.match);
    if (command !== 'delete_strict' && command !== 'delete') writeInstructions(w, flow.actions, flow.goto, ctx);
    const len = w.pos - start;
    if (len > OFP_MAX_MESSAGE_LEN) {
      throw new OpenFlowError(
        'OF_MESSAGE_TOO_LONG',
        `FLOW_MOD for table ${flow.table} priority ${flow.priority} is ${len} bytes, over OpenFlow's 65535-byte limit`,
      );
    }
    w.patchU16(start + 2, len);
    return len;
  } catch (e: unknown) {
    w.pos = start;
    throw e;
  }
}

/** One FLOW_MOD as a standalone Buffer (convenience; batch encoders use writeFlowMod). */
export function encodeFlowMod(
  flow: Flow,
  command: FlowModCommand,
  xid: number,
  version: OfVersion = OFP13_VERSION,
  opts?: FlowModOptions,
): Buffer {
  const w = new ByteWriter(256);
  writeFlowMod(w, flow, command, xid, version, opts);
  return w.toBuffer();
}

function decodeInstructions(buf: Uint8Array, at: number, end: number): { actions: Action[]; goto: number | undefined } {
  let actions: Action[] = [];
  let goto: number | undefined;
  while (at < end) {
    if (end - at < 8) throw new OpenFlowError('OF_TRUNCATED', 'truncated instruction');
    const type = readU16(buf, at);
    const len = readU16(buf, at + 2);
    if (len < 8 || at + len > end)
      throw new OpenFlowError('OF_BAD_MESSAGE', `instruction type ${type} has bad length ${len}`);
    if (type === OFPIT.APPLY_ACTIONS) actions = decodeActions(buf, at + 8, at + len);
    else if (type === OFPIT.GOTO_TABLE) goto = buf[at + 4];
    else throw new OpenFlowError('OF_UNSUPPORTED_INSTRUCTION', `instruction type ${type} is not one Flow can hold`);
    at += len;
  }
  return { actions, goto };
}

/** One ofp_flow_stats entry: a Flow, or (for flows we could not have written) why not. */
export type FlowStatsEntry =
  | { readonly kind: 'flow'; readonly flow: Flow; readonly packetCount: bigint; readonly byteCount: bigint }
  | {
      readonly kind: 'unsupported';
      readonly table: number;
      readonly priority: number;
      readonly cookie: bigint;
      readonly code: string;
      readonly reason: string;
    };

/**
 * Decodes the body of an OFPMP_FLOW multipart reply (a run of ofp_flow_stats, same layout in
 * OpenFlow 1.3 and 1.4), tolerating flows Flow cannot express (someone else's, e.g. with IPv6
 * fields or learn actions): those come back as `unsupported` with table, priority and cookie, so
 * a reconcile can still delete them by cookie. Framing errors still throw.
 */
export function decodeFlowStatsEntries(body: Uint8Array): FlowStatsEntry[] {
  const out: FlowStatsEntry[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 56) throw new OpenFlowError('OF_TRUNCATED', 'truncated ofp_flow_stats');
    const len = readU16(body, at);
    if (len < 56 || at + len > body.length)
      throw new OpenFlowError('OF_BAD_MESSAGE', `ofp_flow_stats length ${len} is out of range`);
    const table = body[at + 2];
    const priority = readU16(body, at + 12);
    const cookie = readU64(body, at + 24);
    try {
      const { match, next } = decodeMatch(body, at + 48);
      const { actions, goto } = decodeInstructions(body, next, at + len);
      const flow: Flow =
        goto === undefined
          ? { table, priority, cookie, match, actions }
          : { table, priority, cookie, match, actions, goto };
      out.push({ kind: 'flow', flow, packetCount: readU64(body, at + 32), byteCount: readU64(body, at + 40) });
    } catch (e: unknown) {
      if (!(e instanceof OpenFlowError) || e.code === 'OF_TRUNCATED') throw e;
      out.push({ kind: 'unsupported', table, priority, cookie, code: e.code, reason: e.message });
    }
    at += len;
  }
  return out;
}

/**
 * Decodes an OFPMP_FLOW reply body into Flow values (match in canonical order). Strict: a flow
 * Flow cannot express throws (OF_UNSUPPORTED_*); see decodeFlowStatsEntries for the tolerant form.
 */
export function decodeFlowStats(body: Uint8Array): Flow[] {
  return decodeFlowStatsEntries(body).map((e) => {
    if (e.kind === 'flow') return e.flow;
    throw new OpenFlowError(e.code as OpenFlowErrorCode, e.reason);
  });
}
