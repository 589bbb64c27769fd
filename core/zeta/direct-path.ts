// ZETA direct paths: the flow an OAM injection (oam.ts) installs so that the next packets of one
// inner flow go straight to the host the instance lives on, instead of through the gateway.
//
// These flows are not desired state: Zeta decides them and OVS expires them by idle timeout. So they
// carry their own cookie marker, 0xA1C1 (the agent's is 0xA1C0): dumps, reconcile and stale sweeps
// select `0xa1c0…/0xffff…` and never see them, so the reconcile never fights their expiry. Their
// keys (L2Forwarding, DirectPath priority, an IP 5-tuple match) are never wanted by an owner.

import type { Action, Flow, MatchField } from '../flow';
import { hash32 } from '../pipeline/cookie';
import { FromLocalMark, VniField, matchMark, matchReg } from '../pipeline/fields';
import { ETH_TYPE_IPV4, IP_PROTO } from '../pipeline/flow-parts';
import { Priority } from '../pipeline/priorities';
import { TABLES } from '../pipeline/tables';
import type { OamFlowKey, OamInjection } from './oam';

export const DIRECT_PATH_COOKIE_MARKER = 0xa1c1n;
export const DIRECT_PATH_COOKIE_BITS = DIRECT_PATH_COOKIE_MARKER << 48n;
export const DIRECT_PATH_COOKIE_MASK = 0xffffn << 48n;

export function isDirectPathCookie(cookie: bigint): boolean {
  return (cookie & DIRECT_PATH_COOKIE_MASK) === DIRECT_PATH_COOKIE_BITS;
}

/** ACA's match: ip, nw_proto, nw_src, nw_dst, tp_src/tp_dst when non-zero, and the VNI; from local VMs. */
export function directPathMatch(k: OamFlowKey): MatchField[] {
  const m: MatchField[] = [
    matchMark(FromLocalMark),
    matchReg(VniField, k.vni),
    { field: 'eth_type', value: ETH_TYPE_IPV4 },
    { field: 'ip_proto', value: k.proto },
    { field: 'ipv4_src', value: k.srcIp },
    { field: 'ipv4_dst', value: k.dstIp },
  ];
  if (k.proto === IP_PROTO.tcp || k.proto === IP_PROTO.udp) {
    const [src, dst] = k.proto === IP_PROTO.tcp ? (['tcp_src', 'tcp_dst'] as const) : (['udp_src', 'udp_dst'] as const);
    if (k.srcPort !== 0) m.push({ field: src, value: k.srcPort });
    if (k.dstPort !== 0) m.push({ field: dst, value: k.dstPort });
  }
  return m;
}

/** The flow's identity, for its cookie hash and the agent's count of installed paths. */
export function directPathId(k: OamFlowKey): string {
  return `${k.vni}/${k.proto}/${k.srcIp}:${k.srcPort}>${k.dstIp}:${k.dstPort}`;
}

/** For a deletion: the key OVS removes with DELETE_STRICT (actions do not matter). */
export function directPathKey(k: OamFlowKey): Flow {
  return {
    table: TABLES.L2Forwarding.id,
    priority: Priority.DirectPath,
    cookie: DIRECT_PATH_COOKIE_BITS | BigInt(hash32(directPathId(k))),
    match: directPathMatch(k),
    actions: [],
  };
}

/** The injected path: tunnel to the node, with the instance's real MAC and IP as destination. */
export function directPathFlow(m: OamInjection, tunnelOfport: number): Flow {
  const actions: Action[] = [
    { kind: 'set_field', field: 'tun_id', value: m.vni },
    { kind: 'set_field', field: 'tun_ipv4_dst', value: m.nodeIp },
    { kind: 'set_field', field: 'eth_dst', value: m.instMac },
    { kind: 'set_field', field: 'ipv4_dst', value: m.instIp },
    { kind: 'output', port: tunnelOfport },
  ];
  return { ...directPathKey(m), actions };
}
