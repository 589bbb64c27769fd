// Whole OpenFlow messages other than FLOW_MOD: the session handshake (HELLO, FEATURES,
// SET_CONFIG, ECHO), BARRIER, PACKET_IN/PACKET_OUT, multipart flow-stats and port-desc,
// PORT_STATUS, FLOW_REMOVED (decoded by flow-removed.ts), ERROR, and the OpenFlow 1.4 bundles
// (§7.3.9). Every encoder takes the version byte, so one code path serves an OF1.3 or an OF1.4
// connection. Sections: OpenFlow 1.3.5 / 1.4.1.

import type { Action, Flow, MatchField } from '../flow';
import { encodeActions } from './actions';
import {
  errorNames,
  type BundleCtrlType,
  type AnyFlowModCommand,
  type FlowModCommand,
  OFP_HEADER_LEN,
  OFP_MAX_MESSAGE_LEN,
  OFP_NO_BUFFER,
  OFP13_VERSION,
  OFP14_VERSION,
  OFPBCT,
  OFPBF_ATOMIC,
  OFPBF_ORDERED,
  OFPET_EXPERIMENTER,
  OFPG_ANY,
  OFPHET_VERSIONBITMAP,
  OFPMP,
  OFPMPF_REPLY_MORE,
  OFPP,
  OFPPR_NAMES,
  OFPR_NAMES,
  OFPT,
  OFPTT_ALL,
  type OfVersion,
} from './constants';
import { OpenFlowError } from './errors';
import { decodeFlowRemoved, type FlowRemovedParse } from './flow-removed';
import { type FlowModOptions, writeFlowMod } from './flowmod';
import { decodeMatch } from './oxm';
import { ByteWriter, readU16, readU32, readU48, readU64 } from './writer';

function header(w: ByteWriter, version: number, type: number, xid: number): number {
  const start = w.pos;
  w.u8(version);
  w.u8(type);
  w.u16(0);
  w.u32(xid);
  return start;
}

function finish(w: ByteWriter, start: number, what: string): void {
  const len = w.pos - start;
  if (len > OFP_MAX_MESSAGE_LEN) {
    w.pos = start;
    throw new OpenFlowError('OF_MESSAGE_TOO_LONG', `${what} is ${len} bytes, over OpenFlow's 65535-byte limit`);
  }
  w.patchU16(start + 2, len);
}

function single(build: (w: ByteWriter) => void): Buffer {
  const w = new ByteWriter(128);
  build(w);
  return w.toBuffer();
}

/** HELLO carrying a version bitmap element (§7.5.1); the header names the highest version. */
export function encodeHello(xid: number, versions: readonly OfVersion[] = [OFP13_VERSION, OFP14_VERSION]): Buffer {
  return single((w) => {
    let bitmap = 0;
    let highest = 0;
    for (const v of versions) {
      bitmap |= 1 << v;
      highest = Math.max(highest, v);
    }
    const start = header(w, highest, OFPT.HELLO, xid);
    w.u16(OFPHET_VERSIONBITMAP);
    w.u16(8);
    w.u32(bitmap >>> 0);
    finish(w, start, 'HELLO');
  });
}

function headerOnly(type: number, xid: number, version: OfVersion, data?: Uint8Array): Buffer {
  return single((w) => {
    const start = header(w, version, type, xid);
    if (data !== undefined) w.bytes(data);
    finish(w, start, 'message');
  });
}

export function encodeEchoRequest(xid: number, version: OfVersion, data?: Uint8Array): Buffer {
  return headerOnly(OFPT.ECHO_REQUEST, xid, version, data);
}

/** ECHO_REPLY echoes the request's xid and payload (§7.5.3). */
export function encodeEchoReply(xid: number, version: OfVersion, data?: Uint8Array): Buffer {
  return headerOnly(OFPT.ECHO_REPLY, xid, version, data);
}

export function encodeFeaturesRequest(xid: number, version: OfVersion): Buffer {
  return headerOnly(OFPT.FEATURES_REQUEST, xid, version);
}

export function encodeBarrierRequest(xid: number, version: OfVersion): Buffer {
  return headerOnly(OFPT.BARRIER_REQUEST, xid, version);
}

/**
 * SET_CONFIG (§7.3.2). OVS sends no PACKET_IN on a service connection (mgmt socket, ptcp)
 * until it gets this with miss_send_len != 0 (see platform.md).
 */
export function encodeSetConfig(xid: number, version: OfVersion, flags: number, missSendLen: number): Buffer {
  return single((w) => {
    const start = header(w, version, OFPT.SET_CONFIG, xid);
    w.u16(flags);
    w.u16(missSendLen);
    finish(w, start, 'SET_CONFIG');
  });
}

export interface PacketOut {
  readonly inPort: number;
  readonly actions: readonly Action[];
  readonly data: Uint8Array;
  /** Default OFP_NO_BUFFER: the packet travels in `data`. */
  readonly bufferId?: number;
}

/** PACKET_OUT (§7.3.7): buffer_id, in_port, actions_len, pad[6], actions, data. */
export function encodePacketOut(xid: number, version: OfVersion, p: PacketOut): Buffer {
  return single((w) => {
    const start = header(w, version, OFPT.PACKET_OUT, xid);
    w.u32(p.bufferId ?? OFP_NO_BUFFER);
    w.u32(p.inPort);
    const lenAt = w.pos;
    w.u16(0);
    w.zeros(6);
    const actionsStart = w.pos;
    encodeActions(w, p.actions);
    w.patchU16(lenAt, w.pos - actionsStart);
    w.bytes(p.data);
    finish(w, start, 'PACKET_OUT');
  });
}

export interface FlowStatsFilter {
  /** Default all tables. */
  readonly table?: number;
  readonly cookie?: bigint;
  readonly cookieMask?: bigint;
}

function writeBig(w: ByteWriter, v: bigint): void {
  w.u32(Number((v >> 32n) & 0xffff_ffffn));
  w.u32(Number(v & 0xffff_ffffn));
}

function multipartHeader(w: ByteWriter, version: OfVersion, xid: number, mpType: number): number {
  const start = header(w, version, OFPT.MULTIPART_REQUEST, xid);
  w.u16(mpType);
  w.u16(0); // flags: no OFPMPF_REQ_MORE
  w.zeros(4);
  return start;
}

/** MULTIPART_REQUEST OFPMP_FLOW (§7.3.5.2) with an empty match: every flow, optionally one table/cookie. */
export function encodeFlowStatsRequest(xid: number, version: OfVersion, filter: FlowStatsFilter = {}): Buffer {
  return flowFilterRequest(OFPMP.FLOW, xid, version, filter);
}

/**
 * MULTIPART_REQUEST OFPMP_AGGREGATE (§7.3.5.3), same body as the flow stats request: one reply with
 * the count of the flows it selects, where a FLOW dump of a million flows takes OVS tens of seconds.
 */
export function encodeAggregateStatsRequest(xid: number, version: OfVersion, filter: FlowStatsFilter = {}): Buffer {
  return flowFilterRequest(OFPMP.AGGREGATE, xid, version, filter);
}

/** The flow_count of an OFPMP_AGGREGATE reply body (packet_count u64, byte_count u64, flow_count u32, pad). */
export function aggregateFlowCount(body: Uint8Array): number {
  if (body.length < 20) throw new OpenFlowError('OF_TRUNCATED', `aggregate stats reply body is ${body.length} bytes`);
  return readU32(body, 16);
}

function flowFilterRequest(mpType: number, xid: number, version: OfVersion, filter: FlowStatsFilter): Buffer {
  return single((w) => {
    const start = multipartHeader(w, version, xid, mpType);
    w.u8(filter.table ?? OFPTT_ALL);
    w.zeros(3);
    w.u32(OFPP.ANY);
    w.u32(OFPG_ANY);
    w.zeros(4);
    writeBig(w, filter.cookie ?? 0n);
    writeBig(w, filter.cookieMask ?? 0n);
    w.u16(1); // ofp_match: OFPMT_OXM, length 4, no fields, padded to 8
    w.u16(4);
    w.zeros(4);
    finish(w, start, 'flow stats request');
  });
}

/** MULTIPART_REQUEST OFPMP_PORT_DESC (§7.3.5.7): no body. */
export function encodePortDescRequest(xid: number, version: OfVersion): Buffer {
  return single((w) => {
    const start = multipartHeader(w, version, xid, OFPMP.PORT_DESC);
    finish(w, start, 'port desc request');
  });
}

const BUNDLE_REQUEST_CODE: Readonly<Record<BundleCtrlType, number>> = {
  open: OFPBCT.OPEN_REQUEST,
  close: OFPBCT.CLOSE_REQUEST,
  commit: OFPBCT.COMMIT_REQUEST,
  discard: OFPBCT.DISCARD_REQUEST,
};
const BUNDLE_TYPE_NAMES: readonly string[] = [
  'open_request',
  'open_reply',
  'close_request',
  'close_reply',
  'commit_request',
  'commit_reply',
  'discard_request',
  'discard_reply',
];

/** The flags ovn-controller uses: all or nothing, in order. */
export const BUNDLE_ATOMIC_ORDERED = OFPBF_ATOMIC | OFPBF_ORDERED;

/** BUNDLE_CONTROL request (OpenFlow 1.4 §7.3.9.1): bundle_id, type, flags, no properties. */
export function encodeBundleControl(
  xid: number,
  version: OfVersion,
  bundleId: number,
  type: BundleCtrlType,
  flags = BUNDLE_ATOMIC_ORDERED,
): Buffer {
  return single((w) => {
    const start = header(w, version, OFPT.BUNDLE_CONTROL, xid);
    w.u32(bundleId);
    w.u16(BUNDLE_REQUEST_CODE[type]);
    w.u16(flags);
    finish(w, start, 'BUNDLE_CONTROL');
  });
}

/**
 * BUNDLE_ADD_MESSAGE (OpenFlow 1.4 §7.3.9.2) around an inner message written by `inner`: header,
 * bundle_id, pad[2], flags, then the message (same version, here the same xid). No properties,
 * hence no trailing padding. OVS wants `flags` equal to those the bundle was opened with.
 */
export function writeBundleAdd(
  w: ByteWriter,
  xid: number,
  version: OfVersion,
  bundleId: number,
  flags: number,
  inner: (w: ByteWriter) => void,
): void {
  const start = header(w, version, OFPT.BUNDLE_ADD_MESSAGE, xid);
  w.u32(bundleId);
  w.u16(0);
  w.u16(flags);
  try {
    inner(w);
  } catch (e: unknown) {
    w.pos = start;
    throw e;
  }
  finish(w, start, 'BUNDLE_ADD_MESSAGE');
}

/** One BUNDLE_ADD_MESSAGE(FLOW_MOD), appended to `w`. */
export function writeBundledFlowMod(
  w: ByteWriter,
  xid: number,
  version: OfVersion,
  bundleId: number,
  flow: Flow,
  command: AnyFlowModCommand,
  flags = BUNDLE_ATOMIC_ORDERED,
  flowModOptions?: FlowModOptions,
): void {
  const start = header(w, version, OFPT.BUNDLE_ADD_MESSAGE, xid);
  w.u32(bundleId);
  w.u16(0);
  w.u16(flags);
  try {
    writeFlowMod(w, flow, command, xid, version, flowModOptions);
  } catch (e: unknown) {
    w.pos = start;
    throw e;
  }
  finish(w, start, 'BUNDLE_ADD_MESSAGE');
}

/**
 * The hot path: many BUNDLE_ADD_MESSAGE(FLOW_MOD) straight into one buffer. Message i gets xid
 * firstXid + i (so an ERROR's xid points back at flows[i]). Returns the next unused xid. A bad
 * flow throws with everything before it still in `w`.
 */
export function encodeBundledFlowMods(
  w: ByteWriter,
  bundleId: number,
  flows: readonly Flow[],
  command: FlowModCommand,
  version: OfVersion = OFP14_VERSION,
  firstXid = 1,
  flags = BUNDLE_ATOMIC_ORDERED,
): number {
  let xid = firstXid >>> 0;
  for (let i = 0; i < flows.length; i++) {
    writeBundledFlowMod(w, xid, version, bundleId, flows[i], command, flags);
    xid = (xid + 1) >>> 0;
  }
  return xid;
}

// ---------------------------------------------------------------------------------------------
// Decoding

export interface OfHeader {
  readonly version: number;
  readonly type: number;
  readonly length: number;
  readonly xid: number;
}

export function decodeHeader(msg: Uint8Array): OfHeader {
  if (msg.length < OFP_HEADER_LEN)
    throw new OpenFlowError('OF_TRUNCATED', `OpenFlow message of ${msg.length} bytes is shorter than its header`);
  return { version: msg[0], type: msg[1], length: readU16(msg, 2), xid: readU32(msg, 4) };
}

export interface PortDesc {
  readonly portNo: number;
  readonly hwAddr: number;
  readonly name: string;
  readonly config: number;
  readonly state: number;
}

export type OfMessage =
  | {
      readonly kind: 'hello';
      readonly version: number;
      readonly xid: number;
      /** Versions the peer supports (from its bitmap, or 1..version without one). */
      readonly versions: readonly number[];
      readonly hasBitmap: boolean;
    }
  | {
      readonly kind: 'error';
      readonly version: number;
      readonly xid: number;
      readonly type: number;
      readonly code: number;
      readonly typeName: string;
      readonly codeName: string;
      /** For OFPET_EXPERIMENTER: the experimenter id (0x2320 for OVS's own errors). */
      readonly experimenter?: number;
      /** The start of the failed request, as the switch echoes it. */
      readonly data: Buffer;
      readonly failedType?: number;
      readonly failedXid?: number;
    }
  | { readonly kind: 'echo_request'; readonly version: number; readonly xid: number; readonly data: Buffer }
  | { readonly kind: 'echo_reply'; readonly version: number; readonly xid: number; readonly data: Buffer }
  | {
      readonly kind: 'features_reply';
      readonly version: number;
      readonly xid: number;
      readonly datapathId: bigint;
      readonly nBuffers: number;
      readonly nTables: number;
      readonly auxiliaryId: number;
      readonly capabilities: number;
    }
  | { readonly kind: 'barrier_reply'; readonly version: number; readonly xid: number }
  | {
      readonly kind: 'packet_in';
      readonly version: number;
      readonly xid: number;
      readonly bufferId: number;
      readonly totalLen: number;
      readonly reason: number;
      readonly reasonName: string;
      readonly tableId: number;
      readonly cookie: bigint;
      readonly match: readonly MatchField[];
      /** in_port from the match (OpenFlow 1.3 carries it there), if present. */
      readonly inPort: number | undefined;
      readonly data: Buffer;
    }
  | {
      readonly kind: 'multipart_reply';
      readonly version: number;
      readonly xid: number;
      readonly mpType: number;
      /** OFPMPF_REPLY_MORE: more replies with this xid follow. */
      readonly more: boolean;
      readonly body: Buffer;
    }
  | {
      readonly kind: 'port_status';
      readonly version: number;
      readonly xid: number;
      readonly reason: number;
      readonly reasonName: string;
      readonly port: PortDesc;
    }
  | {
      readonly kind: 'flow_removed';
      readonly version: number;
      readonly xid: number;
      /** Malformed bytes give a reason here instead of a throw (flow-removed.ts). */
      readonly removed: FlowRemovedParse;
    }
  | {
      readonly kind: 'bundle_control';
      readonly version: number;
      readonly xid: number;
      readonly bundleId: number;
      readonly ctrlType: number;
      readonly ctrlTypeName: string;
      readonly flags: number;
    }
  | {
      readonly kind: 'other';
      readonly version: number;
      readonly xid: number;
      readonly type: number;
      readonly body: Buffer;
    };

function need(msg: Uint8Array, n: number, what: string): void {
  if (msg.length < n) throw new OpenFlowError('OF_TRUNCATED', `${what} is ${msg.length} bytes, needs at least ${n}`);
}

function view(msg: Uint8Array, from: number, to = msg.length): Buffer {
  return Buffer.from(msg.buffer, msg.byteOffset + from, Math.max(0, to - from));
}

function cString(buf: Uint8Array, at: number, max: number): string {
  let end = at;
  while (end < at + max && buf[end] !== 0) end++;
  return Buffer.from(buf.buffer, buf.byteOffset + at, end - at).toString('latin1');
}

/**
 * One ofp_port at `at`; returns it and its length. OF1.3 ofp_port is a fixed 64 bytes (§7.2.1);
 * OF1.4 has a length field and properties (1.4 §7.2.1), of which we read none.
 */
function decodePort(buf: Uint8Array, at: number, version: number): { port: PortDesc; len: number } {
  if (version >= OFP14_VERSION) {
    need(buf, at + 40, 'ofp_port');
    const len = readU16(buf, at + 4);
    if (len < 40 || at + len > buf.length)
      throw new OpenFlowError('OF_BAD_MESSAGE', `ofp_port length ${len} is out of range`);
    return {
      port: {
        portNo: readU32(buf, at),
        hwAddr: readU48(buf, at + 8),
        name: cString(buf, at + 16, 16),
        config: readU32(buf, at + 32),
        state: readU32(buf, at + 36),
      },
      len,
    };
  }
  need(buf, at + 64, 'ofp_port');
  return {
    port: {
      portNo: readU32(buf, at),
      hwAddr: readU48(buf, at + 8),
      name: cString(buf, at + 16, 16),
      config: readU32(buf, at + 32),
      state: readU32(buf, at + 36),
    },
    len: 64,
  };
}

/** Decodes an OFPMP_PORT_DESC reply body. */
export function decodePortDescs(body: Uint8Array, version: number): PortDesc[] {
  const out: PortDesc[] = [];
  let at = 0;
  while (at < body.length) {
    const { port, len } = decodePort(body, at, version);
    out.push(port);
    at += len;
  }
  return out;
}

/** Decodes one complete message (as produced by OpenFlowFramer). Payloads are views, not copies. */
export function decodeMessage(msg: Uint8Array): OfMessage {
  const h = decodeHeader(msg);
  if (h.length !== msg.length)
    throw new OpenFlowError('OF_BAD_MESSAGE', `OpenFlow header says ${h.length} bytes, message has ${msg.length}`);
  const { version, xid } = h;
  switch (h.type) {
    case OFPT.HELLO: {
      const versions: number[] = [];
      let at = 8;
      while (at + 4 <= msg.length) {
        const type = readU16(msg, at);
        const len = readU16(msg, at + 2);
        if (len < 4) break;
        if (type === OFPHET_VERSIONBITMAP) {
          for (let i = 0; at + 4 + i * 4 + 4 <= at + len; i++) {
            const bits = readU32(msg, at + 4 + i * 4);
            for (let b = 0; b < 32; b++) if ((bits >>> b) & 1) versions.push(i * 32 + b);
          }
        }
        at += (len + 7) & ~7;
      }
      // Without a bitmap the peer supports its header version and, by convention, older ones
      // (OpenFlow 1.3 §6.3.1); OVS answers this way.
      const hasBitmap = versions.length > 0;
      if (!hasBitmap) for (let v = 1; v <= version; v++) versions.push(v);
      return { kind: 'hello', version, xid, versions, hasBitmap };
    }
    case OFPT.ERROR: {
      need(msg, 12, 'ERROR');
      const type = readU16(msg, 8);
      const code = readU16(msg, 10);
      let dataAt = 12;
      let experimenter: number | undefined;
      if (type === OFPET_EXPERIMENTER) {
        need(msg, 16, 'experimenter ERROR');
        experimenter = readU32(msg, 12);
        dataAt = 16;
      }
      const data = view(msg, dataAt);
      const { typeName, codeName } = errorNames(type, code);
      const base = { kind: 'error' as const, version, xid, type, code, typeName, codeName, data };
      const withExp = experimenter === undefined ? base : { ...base, experimenter };
      return data.length >= 8 ? { ...withExp, failedType: data[1], failedXid: readU32(data, 4) } : withExp;
    }
    case OFPT.ECHO_REQUEST:
      return { kind: 'echo_request', version, xid, data: view(msg, 8) };
    case OFPT.ECHO_REPLY:
      return { kind: 'echo_reply', version, xid, data: view(msg, 8) };
    case OFPT.FEATURES_REPLY:
      // ofp_switch_features (§7.3.1): datapath_id, n_buffers, n_tables, auxiliary_id, pad, capabilities, reserved.
      need(msg, 32, 'FEATURES_REPLY');
      return {
        kind: 'features_reply',
        version,
        xid,
        datapathId: readU64(msg, 8),
        nBuffers: readU32(msg, 16),
        nTables: msg[20],
        auxiliaryId: msg[21],
        capabilities: readU32(msg, 24),
      };
    case OFPT.BARRIER_REPLY:
      return { kind: 'barrier_reply', version, xid };
    case OFPT.PACKET_IN: {
      // ofp_packet_in (§7.4.1): buffer_id, total_len, reason, table_id, cookie, match, pad[2], data.
      need(msg, 32, 'PACKET_IN');
      const { match, next } = decodeMatch(msg, 24);
      need(msg, next + 2, 'PACKET_IN');
      const reason = msg[14];
      const inPort = match.find((m) => m.field === 'in_port')?.value;
      return {
        kind: 'packet_in',
        version,
        xid,
        bufferId: readU32(msg, 8),
        totalLen: readU16(msg, 12),
        reason,
        reasonName: OFPR_NAMES[reason] ?? `reason_${reason}`,
        tableId: msg[15],
        cookie: readU64(msg, 16),
        match,
        inPort,
        data: view(msg, next + 2),
      };
    }
    case OFPT.MULTIPART_REPLY:
      need(msg, 16, 'MULTIPART_REPLY');
      return {
        kind: 'multipart_reply',
        version,
        xid,
        mpType: readU16(msg, 8),
        more: (readU16(msg, 10) & OFPMPF_REPLY_MORE) !== 0,
        body: view(msg, 16),
      };
    case OFPT.PORT_STATUS: {
      // ofp_port_status (§7.4.3): reason, pad[7], ofp_port.
      need(msg, 16, 'PORT_STATUS');
      const reason = msg[8];
      const { port } = decodePort(msg, 16, version);
      return { kind: 'port_status', version, xid, reason, reasonName: OFPPR_NAMES[reason] ?? `reason_${reason}`, port };
    }
    case OFPT.FLOW_REMOVED:
      return { kind: 'flow_removed', version, xid, removed: decodeFlowRemoved(msg) };
    case OFPT.BUNDLE_CONTROL: {
      need(msg, 16, 'BUNDLE_CONTROL');
      const ctrlType = readU16(msg, 12);
      return {
        kind: 'bundle_control',
        version,
        xid,
        bundleId: readU32(msg, 8),
        ctrlType,
        ctrlTypeName: BUNDLE_TYPE_NAMES[ctrlType] ?? `type_${ctrlType}`,
        flags: readU16(msg, 14),
      };
    }
    default:
      return { kind: 'other', version, xid, type: h.type, body: view(msg, 8) };
  }
}

/**
 * The version to speak after exchanging HELLOs (OpenFlow 1.3 §6.3.1, 1.4 §7.5.1): the highest
 * version both sides support, or undefined when there is none (send OFPET_HELLO_FAILED).
 */
export function negotiateVersion(
  ours: readonly OfVersion[],
  theirs: Extract<OfMessage, { kind: 'hello' }>,
): OfVersion | undefined {
  let best: OfVersion | undefined;
  for (const v of ours) if (theirs.versions.includes(v) && (best === undefined || v > best)) best = v;
  return best;
}

/** Human-readable one-liner for an ERROR, e.g. "OFPET_BAD_ACTION / OFPBAC_BAD_OUT_PORT (xid 7)". */
export function describeError(e: Extract<OfMessage, { kind: 'error' }>): string {
  const exp = e.experimenter === undefined ? '' : ` experimenter 0x${e.experimenter.toString(16)}`;
  return `${e.typeName} / ${e.codeName}${exp} (xid ${e.xid})`;
}
