// Routers (owner: router): gateway echo and MAC sink, DVR restore, connected and static routes.

import type { Flow, MatchField } from '../flow';
import type { Ipv4, Mac, Router, Subnet } from '../model';
import { arpResponderFlow, wantsArpAnswerFlows } from './address-flows';
import { encodeCookie } from './cookie';
import { VniField, loadReg, matchReg } from './fields';
import {
  A_DEC_TTL,
  A_LOAD_FROM_TUNNEL,
  A_MOVE_ETH_SRC_TO_DST,
  A_OUTPUT_IN_PORT,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  IP_PROTO,
  M_FROM_LOCAL,
  M_IPV4,
  NO_ACTIONS,
  REPLY_TTL,
  flow,
} from './flow-parts';
import { Priority, routePriority } from './priorities';
import { cidrContains, cidrMatch } from './ranges';
import { TABLES } from './tables';
import type { PipelineView } from './view';

interface RouterInterface {
  readonly subnet: Subnet;
  readonly gateway: { readonly ip: Ipv4; readonly mac: Mac };
  readonly rules: Router['subnets'][number]['rules'];
}

/** The router's subnets that are held and have a gateway (a subnet without one cannot be routed). */
function routerInterfaces(router: Router, view: PipelineView): RouterInterface[] {
  const out: RouterInterface[] = [];
  for (const rs of router.subnets) {
    const subnet = view.subnet(rs.subnetId);
    if (subnet?.gateway === undefined) continue;
    out.push({ subnet, gateway: subnet.gateway, rules: rs.rules });
  }
  return out;
}

/**
 * The gateway answers ping from flows: swap MACs and IPs, type 8 -> 0, back out of the ingress
 * port. OVS fixes the checksums itself: set_field on ip_src/ttl updates the IPv4 header checksum,
 * and on icmp_type the ICMP checksum (lib/packets.c packet_set_ipv4 / packet_set_icmp); ICMP has no
 * pseudo-header, so the address swap does not touch it. No packet-in needed.
 */
export function gatewayEchoFlow(vni: number, gwIp: Ipv4, gwMac: Mac, cookie: bigint): Flow {
  return flow(
    TABLES.ServiceResponder,
    Priority.Normal,
    cookie,
    [
      M_FROM_LOCAL,
      matchReg(VniField, vni),
      M_IPV4,
      { field: 'ip_proto', value: IP_PROTO.icmp },
      { field: 'ipv4_dst', value: gwIp },
      { field: 'icmpv4_type', value: ICMP_ECHO_REQUEST },
    ],
    [
      A_MOVE_ETH_SRC_TO_DST,
      { kind: 'set_field', field: 'eth_src', value: gwMac },
      { kind: 'move', src: 'ipv4_src', srcOfs: 0, dst: 'ipv4_dst', dstOfs: 0, nBits: 32 },
      { kind: 'set_field', field: 'ipv4_src', value: gwIp },
      { kind: 'set_field', field: 'ip_ttl', value: REPLY_TTL },
      { kind: 'set_field', field: 'icmpv4_type', value: ICMP_ECHO_REPLY },
      A_OUTPUT_IN_PORT,
    ],
  );
}

/**
 * Frames to the gateway MAC that L3Routing did not route (no route, or traffic to the gateway IP
 * other than ping) stop here instead of being punted as unknown unicast.
 */
export function gatewayMacSinkFlow(vni: number, gwMac: Mac, cookie: bigint): Flow {
  return flow(
    TABLES.L2Forwarding,
    Priority.High,
    cookie,
    [matchReg(VniField, vni), { field: 'eth_dst', value: gwMac }],
    NO_ACTIONS,
  );
}

/**
 * DVR: a packet routed by another host arrives with eth_src = the router's DVR MAC; restore the
 * gateway MAC of its destination subnet, so the VM sees it come from its gateway (ACA's br-int rule).
 * Keyed by destination prefix because subnets of one VPC may share a VNI.
 */
export function dvrRestoreFlow(tunnelOfport: number, dvrMac: Mac, subnet: Subnet, gwMac: Mac, cookie: bigint): Flow {
  const dst = cidrMatch('ipv4_dst', subnet.cidr);
  const match: MatchField[] = [
    { field: 'in_port', value: tunnelOfport },
    { field: 'tun_id', value: subnet.tunnelId },
    { field: 'eth_src', value: dvrMac },
    M_IPV4,
  ];
  if (dst !== undefined) match.push(dst);
  return flow(
    TABLES.Classifier,
    Priority.High,
    cookie,
    match,
    [{ kind: 'set_field', field: 'eth_src', value: gwMac }, loadReg(VniField, subnet.tunnelId), A_LOAD_FROM_TUNNEL],
    TABLES.L2Forwarding,
  );
}

/**
 * Distributed routing between two subnets of one router, done on the sending host: a packet sent to
 * the source subnet's gateway MAC, for an address in the destination subnet: TTL - 1, source MAC :=
 * DVR MAC, reg6 := destination VNI, then resolve the destination MAC. Connected routes win over
 * static ones (RouteConnected).
 */
export function connectedRouteFlow(from: RouterInterface, to: RouterInterface, dvrMac: Mac, cookie: bigint): Flow {
  const match: MatchField[] = [
    matchReg(VniField, from.subnet.tunnelId),
    { field: 'eth_dst', value: from.gateway.mac },
    M_IPV4,
  ];
  const dst = cidrMatch('ipv4_dst', to.subnet.cidr);
  if (dst !== undefined) match.push(dst);
  return flow(
    TABLES.L3Routing,
    Priority.RouteConnected,
    cookie,
    match,
    [A_DEC_TTL, { kind: 'set_field', field: 'eth_src', value: dvrMac }, loadReg(VniField, to.subnet.tunnelId)],
    TABLES.L3Resolve,
  );
}

/**
 * A static route: destination prefix via a next hop in one of the router's subnets. The next hop's
 * MAC must be given (routing_rule_extra_info.next_hop_mac): the packet is addressed to it directly and
 * switched in the next hop's VNI. Rules without a next-hop MAC, or whose next hop is in none of the
 * router's subnets, are skipped (docs/pipeline.md). Longest prefix wins (routePriority).
 */
export function staticRouteFlow(
  from: RouterInterface,
  via: RouterInterface,
  rule: RouterInterface['rules'][number],
  nextHopMac: Mac,
  dvrMac: Mac,
  cookie: bigint,
): Flow {
  const match: MatchField[] = [
    matchReg(VniField, from.subnet.tunnelId),
    { field: 'eth_dst', value: from.gateway.mac },
    M_IPV4,
  ];
  const dst = cidrMatch('ipv4_dst', rule.destination);
  if (dst !== undefined) match.push(dst);
  return flow(
    TABLES.L3Routing,
    routePriority(rule.destination.prefix),
    cookie,
    match,
    [
      A_DEC_TTL,
      { kind: 'set_field', field: 'eth_src', value: dvrMac },
      loadReg(VniField, via.subnet.tunnelId),
      { kind: 'set_field', field: 'eth_dst', value: nextHopMac },
    ],
    TABLES.L2Forwarding,
  );
}

export function compileRouter(router: Router, view: PipelineView): Flow[] {
  const cookie = encodeCookie('router', router.id);
  const ifaces = routerInterfaces(router, view);
  const arpAnswers = wantsArpAnswerFlows(view);
  const out: Flow[] = [];
  for (const from of ifaces) {
    const vni = from.subnet.tunnelId;
    if (arpAnswers) out.push(arpResponderFlow(vni, from.gateway.ip, from.gateway.mac, cookie));
    out.push(gatewayEchoFlow(vni, from.gateway.ip, from.gateway.mac, cookie));
    out.push(gatewayMacSinkFlow(vni, from.gateway.mac, cookie));
    if (view.tunnelOfport !== undefined)
      out.push(dvrRestoreFlow(view.tunnelOfport, router.dvrMac, from.subnet, from.gateway.mac, cookie));
    for (const to of ifaces) if (to !== from) out.push(connectedRouteFlow(from, to, router.dvrMac, cookie));
    for (const rule of from.rules) {
      if (rule.nextHopMac === undefined) continue;
      const via = ifaces.find((i) => cidrContains(i.subnet.cidr, rule.nextHopIp));
      if (via === undefined) continue;
      out.push(staticRouteFlow(from, via, rule, rule.nextHopMac, router.dvrMac, cookie));
    }
  }
  return out;
}
