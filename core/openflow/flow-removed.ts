// FLOW_REMOVED (OpenFlow 1.3 §7.4.2; 1.4 has the same layout): what the switch sends when a flow
// installed with OFPFF_SEND_FLOW_REM goes (timeout, delete, group delete, eviction).
//
// Only ZETA direct paths carry that flag (core/zeta/direct-path.ts), so the agent expects few of
// these; still, decoding one reads the fixed part only (no match decode, no allocation but the
// result), and malformed bytes give a reason, never an exception: they arrive unasked, on the
// connection every bundle uses.

import { OFP13_VERSION, OFP14_VERSION, OFPMT_OXM, OFPRR_NAMES, OFPT } from './constants';
import { readU16, readU32, readU64 } from './writer';

/** Header (8) + cookie..byte_count (40) + the smallest ofp_match (type, length 4, pad to 8). */
const FLOW_REMOVED_MIN = 56;
const MATCH_AT = 48;

export interface FlowRemoved {
  readonly cookie: bigint;
  readonly priority: number;
  readonly reason: number;
  /** idle_timeout, hard_timeout, delete, group_delete, meter_delete, eviction, or reason_N. */
  readonly reasonName: string;
  readonly tableId: number;
  readonly durationSec: number;
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly packetCount: bigint;
  readonly byteCount: bigint;
  /** The ofp_match bytes (a view into the message): decode them (oxm.ts decodeMatch) only if needed. */
  readonly match: Uint8Array;
}

export type FlowRemovedParse =
  { readonly ok: true; readonly value: FlowRemoved } | { readonly ok: false; readonly reason: string };

const bad = (reason: string): FlowRemovedParse => ({ ok: false, reason });

/** Decodes one whole FLOW_REMOVED message (header included). Never throws. */
export function decodeFlowRemoved(msg: Uint8Array): FlowRemovedParse {
  if (msg.length < FLOW_REMOVED_MIN) return bad(`FLOW_REMOVED is ${msg.length} bytes, needs ${FLOW_REMOVED_MIN}`);
  if (msg[1] !== OFPT.FLOW_REMOVED) return bad(`message type ${msg[1]} is not FLOW_REMOVED`);
  // OpenFlow 1.5 moved the fields around; this session speaks 1.4.
  if (msg[0] !== OFP13_VERSION && msg[0] !== OFP14_VERSION) return bad(`FLOW_REMOVED of version ${msg[0]}`);
  const length = readU16(msg, 2);
  if (length !== msg.length) return bad(`FLOW_REMOVED header says ${length} bytes, message has ${msg.length}`);
  const matchType = readU16(msg, MATCH_AT);
  const matchLen = readU16(msg, MATCH_AT + 2);
  if (matchType !== OFPMT_OXM) return bad(`match type ${matchType} is not OXM`);
  const padded = (matchLen + 7) & ~7;
  if (matchLen < 4 || MATCH_AT + padded > msg.length) return bad(`match length ${matchLen} is out of range`);
  const reason = msg[18];
  return {
    ok: true,
    value: {
      cookie: readU64(msg, 8),
      priority: readU16(msg, 16),
      reason,
      reasonName: OFPRR_NAMES[reason] ?? `reason_${reason}`,
      tableId: msg[19],
      durationSec: readU32(msg, 20),
      idleTimeout: readU16(msg, 28),
      hardTimeout: readU16(msg, 30),
      packetCount: readU64(msg, 32),
      byteCount: readU64(msg, 40),
      match: msg.subarray(MATCH_AT, MATCH_AT + matchLen),
    },
  };
}
