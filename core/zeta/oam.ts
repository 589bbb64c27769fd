// Zeta OAM messages (the UDP payload a Zeta gateway sends to a host's OAM port), parsed and judged
// without I/O. Layout as Alcor's ACA reads it (include/aca_zeta_oam_server.h, summarised in
// ../shared/reference/zeta.md): a C struct of byte arrays, fields in network byte order except the
// injection's idle timeout, which ACA reads without conversion (host order, little-endian on x86).
//
//   0  u32 op_code        0 = flow injection, 1 = flow deletion
//   4  inner_src_ip (4)   8  inner_dst_ip (4)   12 src_port (2)   14 dst_port (2)   16 proto (1)
//   17 vni (3)            -- a deletion ends here (20 bytes) --
//   20 inst_dst_ip (4)    24 node_dst_ip (4)    28 inst_dst_mac (6)   34 node_dst_mac (6)
//   40 idle_timeout (2, little-endian)          -- an injection ends here (42 bytes) --
// Trailing bytes (the C struct's padding) are ignored. Every input ends in a message or a drop with
// its reason; nothing throws.

import type { Gateway, Subnet, Vpc } from '../model';

export const OAM_OP_INJECT = 0;
export const OAM_OP_DELETE = 1;
export const OAM_DELETE_LEN = 20;
export const OAM_INJECT_LEN = 42;

/** The inner flow a message is about (the direct-path flow's match). Ports 0 = any. */
export interface OamFlowKey {
  readonly srcIp: number;
  readonly dstIp: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly proto: number;
  readonly vni: number;
}

export interface OamInjection extends OamFlowKey {
  readonly op: 'inject';
  /** The instance's real address and MAC, written into the packet. */
  readonly instIp: number;
  readonly instMac: number;
  /** The host the instance lives on: the VXLAN destination. */
  readonly nodeIp: number;
  readonly nodeMac: number;
  /** Seconds; 0 = no idle timeout (the flow stays until a deletion). */
  readonly idleTimeout: number;
}

export interface OamDeletion extends OamFlowKey {
  readonly op: 'delete';
}

/** Why a message was dropped: the `reason` label of the agent's OAM metric. */
export type OamDropReason = 'truncated' | 'unknown_op' | 'bad_value' | 'wrong_port' | 'unknown_vni';

export type OamParse = OamInjection | OamDeletion | { readonly op: 'drop'; readonly reason: OamDropReason };

const u32 = (b: Uint8Array, at: number): number =>
  ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
const u16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
const mac = (b: Uint8Array, at: number): number => u16(b, at) * 2 ** 32 + u32(b, at + 2);

/** IP protocols a direct path can match (ACA matches nw_proto; only these carry ports we match). */
const PROTOS: ReadonlySet<number> = new Set([1, 6, 17]);

function flowKey(b: Uint8Array): OamFlowKey {
  return {
    srcIp: u32(b, 4),
    dstIp: u32(b, 8),
    srcPort: u16(b, 12),
    dstPort: u16(b, 14),
    proto: b[16],
    vni: (b[17] << 16) | (b[18] << 8) | b[19],
  };
}

export function parseOam(payload: Uint8Array): OamParse {
  if (payload.length < OAM_DELETE_LEN) return { op: 'drop', reason: 'truncated' };
  const op = u32(payload, 0);
  if (op !== OAM_OP_INJECT && op !== OAM_OP_DELETE) return { op: 'drop', reason: 'unknown_op' };
  if (op === OAM_OP_INJECT && payload.length < OAM_INJECT_LEN) return { op: 'drop', reason: 'truncated' };
  const key = flowKey(payload);
  // ICMP has no ports; a port on it, or an unknown protocol, cannot be matched as ACA would.
  if (!PROTOS.has(key.proto) || (key.proto === 1 && (key.srcPort !== 0 || key.dstPort !== 0))) {
    return { op: 'drop', reason: 'bad_value' };
  }
  if (op === OAM_OP_DELETE) return { op: 'delete', ...key };
  const m: OamInjection = {
    op: 'inject',
    ...key,
    instIp: u32(payload, 20),
    nodeIp: u32(payload, 24),
    instMac: mac(payload, 28),
    nodeMac: mac(payload, 34),
    idleTimeout: payload[40] | (payload[41] << 8),
  };
  // A zero or multicast destination cannot be a host or an instance.
  const badMac = (x: number): boolean => x === 0 || Math.floor(x / 2 ** 40) % 2 === 1;
  if (m.nodeIp === 0 || m.instIp === 0 || badMac(m.instMac)) return { op: 'drop', reason: 'bad_value' };
  return m;
}

/**
 * Whether a parsed message may act: it must have arrived on the OAM port of the ZETA gateway set for
 * its VNI's VPC (`oamPortOf(vni)`, undefined when no such gateway is held), as ACA requires.
 */
export function judgeOam(m: OamParse, port: number, oamPortOf: (vni: number) => number | undefined): OamParse {
  if (m.op === 'drop') return m;
  const want = oamPortOf(m.vni);
  if (want === undefined) return { op: 'drop', reason: 'unknown_vni' };
  return want === port ? m : { op: 'drop', reason: 'wrong_port' };
}

/**
 * VNI -> OAM port of the ZETA gateway its VPC lists (the first ZETA one with a port, in the VPC's
 * order), from held resources: what judgeOam needs and which ports the agent listens on.
 */
export function oamPortsByVni(
  gateways: Iterable<Gateway>,
  vpcs: Iterable<Vpc>,
  subnets: Iterable<Subnet>,
): [number, number][] {
  const portOf = new Map<string, number>();
  for (const g of gateways) {
    if (g.gatewayType === 'zeta' && g.destinations.length > 0 && g.oamPort !== undefined) portOf.set(g.id, g.oamPort);
  }
  const vpcPort = new Map<string, number>();
  for (const v of vpcs) {
    const port = v.gatewayIds.map((id) => portOf.get(id)).find((p) => p !== undefined);
    if (port !== undefined) vpcPort.set(v.id, port);
  }
  const out = new Map<number, number>();
  for (const s of subnets) {
    const port = vpcPort.get(s.vpcId);
    if (port !== undefined && !out.has(s.tunnelId)) out.set(s.tunnelId, port);
  }
  return [...out].sort((a, b) => a[0] - b[0]);
}

/** A message as bytes (tests, and a tool that plays Zeta). */
export function encodeOam(m: OamInjection | OamDeletion): Uint8Array {
  const b = new Uint8Array(m.op === 'inject' ? OAM_INJECT_LEN : OAM_DELETE_LEN);
  const v = new DataView(b.buffer);
  v.setUint32(0, m.op === 'inject' ? OAM_OP_INJECT : OAM_OP_DELETE);
  v.setUint32(4, m.srcIp);
  v.setUint32(8, m.dstIp);
  v.setUint16(12, m.srcPort);
  v.setUint16(14, m.dstPort);
  b[16] = m.proto;
  b[17] = (m.vni >>> 16) & 0xff;
  b[18] = (m.vni >>> 8) & 0xff;
  b[19] = m.vni & 0xff;
  if (m.op === 'inject') {
    v.setUint32(20, m.instIp);
    v.setUint32(24, m.nodeIp);
    v.setUint16(28, Math.floor(m.instMac / 2 ** 32));
    v.setUint32(30, m.instMac % 2 ** 32);
    v.setUint16(34, Math.floor(m.nodeMac / 2 ** 32));
    v.setUint32(36, m.nodeMac % 2 ** 32);
    v.setUint16(40, m.idleTimeout, true);
  }
  return b;
}
