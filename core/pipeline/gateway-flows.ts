// ZETA gateways (owner: gateway): a VPC that lists a ZETA gateway sends the traffic a host cannot
// deliver by itself (broadcast, multicast, unknown unicast, ARP for unknown addresses) to the
// gateway's nodes through the tunnel, instead of punting it to the agent. docs/pipeline.md, "ZETA
// gateways", has the walk; ../shared reference: Alcor's aca_zeta_programming.cpp does the same with
// one select group per gateway.
//
// The group is held in the flow table as a group entry (core/flow.ts GROUP_TABLE) owned by the
// gateway, so it is diffed, undone and reported with the gateway's flows, in the same bundle.

import { GROUP_TABLE, type Action, type Flow } from '../flow';
import type { Gateway } from '../model';
import { encodeCookie, hash32 } from './cookie';
import { GatewaySentMark, PacketSourceField, VniField, fieldMask, loadMark, matchReg } from './fields';
import { M_ARP, M_ARP_REQUEST, M_FROM_LOCAL, M_MULTICAST, NO_ACTIONS, flow } from './flow-parts';
import { Priority } from './priorities';
import { TABLES } from './tables';
import type { OwnerRef, PipelineView } from './view';

/**
 * Group ids are 1..GROUP_ID_SPAN: below OFPG_MAX, and never 0 (which reads as "no group"). The agent
 * owns this range on its bridge: a group in it that no held gateway wants is deleted by the converge
 * (core/zeta/stale-groups.ts); ids above it are left to others.
 */
export const GROUP_ID_SPAN = 0x7fff_fffe;

export function gatewayOwner(id: string): OwnerRef {
  return { kind: 'gateway', id };
}

/** A gateway that programs anything: ZETA, with at least one destination node. */
export function isZetaGateway(g: Gateway): boolean {
  return g.gatewayType === 'zeta' && g.destinations.length > 0;
}

/**
 * The gateway's group id: FNV-1a of its id, linearly probed past the ids of the held ZETA gateways
 * that sort before it. Deterministic for a given set of gateways and independent of arrival order;
 * a collision (2^-31 per pair) only moves the later id by one, and dependents() recompiles every
 * gateway when one changes, so a moved id is re-sent in the same bundle.
 */
export function gatewayGroupId(gatewayId: string, view: PipelineView): number {
  const ids = [...view.gateways()]
    .filter(isZetaGateway)
    .map((g) => g.id)
    .sort();
  const taken = new Set<number>();
  for (const id of ids) {
    let g = (hash32(id) % GROUP_ID_SPAN) + 1;
    while (taken.has(g)) g = (g % GROUP_ID_SPAN) + 1;
    if (id === gatewayId) return g;
    taken.add(g);
  }
  return (hash32(gatewayId) % GROUP_ID_SPAN) + 1;
}

/** VNIs of the held subnets of every held VPC that lists the gateway, ascending. */
export function gatewayVnis(gatewayId: string, view: PipelineView): number[] {
  const vpcs = new Set<string>();
  for (const v of view.allVpcs()) if (v.gatewayIds.includes(gatewayId)) vpcs.add(v.id);
  const vnis = new Set<number>();
  if (vpcs.size > 0) for (const s of view.allSubnets()) if (vpcs.has(s.vpcId)) vnis.add(s.tunnelId);
  return [...vnis].sort((a, b) => a - b);
}

/**
 * The select group: one bucket per destination node (sorted by IP, so the goal state's order does not
 * matter), each tunnelling to the node with its MAC as destination, as ACA does. OVS picks a bucket
 * per flow by hash, so one flow keeps one node. tun_id was set by the flow that hands the packet over.
 */
export function gatewayGroup(g: Gateway, groupId: number, tunnelOfport: number, cookie: bigint): Flow {
  const actions: Action[] = [];
  const nodes = [...g.destinations].sort((a, b) => a.ip - b.ip || a.mac - b.mac);
  for (const d of nodes) {
    actions.push(
      { kind: 'bucket' },
      { kind: 'set_field', field: 'tun_ipv4_dst', value: d.ip },
      { kind: 'set_field', field: 'eth_dst', value: d.mac },
      { kind: 'output', port: tunnelOfport },
    );
  }
  return { table: GROUP_TABLE, priority: groupId, cookie, match: [], actions };
}

/**
 * A VM's broadcast/multicast in the VNI: to the gateway (a copy: bucket actions do not change the
 * packet the flow goes on with), then mark it sent and run L2Forwarding again, where the per-VNI
 * flood (below this priority, and not matching reg0) delivers it to the local ports as before.
 */
export function gatewayFloodFlow(vni: number, groupId: number, cookie: bigint): Flow {
  const notSentFromLocal = {
    field: PacketSourceField.reg,
    value: 1,
    mask: fieldMask(PacketSourceField) + fieldMask(GatewaySentMark.field),
  } as const;
  return flow(
    TABLES.L2Forwarding,
    Priority.GatewayFlood,
    cookie,
    [notSentFromLocal, matchReg(VniField, vni), M_MULTICAST],
    [
      { kind: 'set_field', field: 'tun_id', value: vni },
      { kind: 'group', id: groupId },
      loadMark(GatewaySentMark),
      { kind: 'resubmit', table: TABLES.L2Forwarding.id },
    ],
  );
}

/** Unicast from a VM to a MAC no flow knows: to the gateway instead of the on-demand punt. */
export function gatewayUnknownUnicastFlow(vni: number, groupId: number, cookie: bigint): Flow {
  return flow(
    TABLES.L2Forwarding,
    Priority.GatewayUnknown,
    cookie,
    [M_FROM_LOCAL, matchReg(VniField, vni), { field: 'eth_dst', value: 0, mask: M_MULTICAST.value }],
    [
      { kind: 'set_field', field: 'tun_id', value: vni },
      { kind: 'group', id: groupId },
    ],
  );
}

/**
 * An ARP request from a VM for an address no responder flow answers: on through the pipeline (as the
 * table miss would) instead of the punt, so L2Forwarding broadcasts it locally and to the gateway.
 */
export function gatewayArpFlow(vni: number, cookie: bigint): Flow {
  return flow(
    TABLES.ArpResponder,
    Priority.GatewayUnknown,
    cookie,
    [M_FROM_LOCAL, matchReg(VniField, vni), M_ARP, M_ARP_REQUEST],
    NO_ACTIONS,
    TABLES.ServiceResponder,
  );
}

/**
 * A ZETA gateway's group and, per VNI of the VPCs listing it, its three flows. Nothing while the
 * tunnel port is unknown, while the gateway has no destination, or while no held VPC (with a held
 * subnet) lists it: then those VPCs take the normal path (punts, local flood).
 */
export function compileGateway(g: Gateway, view: PipelineView): Flow[] {
  const tunnelOfport = view.tunnelOfport;
  if (tunnelOfport === undefined || !isZetaGateway(g)) return [];
  const vnis = gatewayVnis(g.id, view);
  if (vnis.length === 0) return [];
  const cookie = encodeCookie('gateway', g.id);
  const groupId = gatewayGroupId(g.id, view);
  const out: Flow[] = [gatewayGroup(g, groupId, tunnelOfport, cookie)];
  for (const vni of vnis) {
    out.push(gatewayArpFlow(vni, cookie));
    out.push(gatewayFloodFlow(vni, groupId, cookie));
    out.push(gatewayUnknownUnicastFlow(vni, groupId, cookie));
  }
  return out;
}
