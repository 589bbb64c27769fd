// Local ports (owner: port): classifier, spoof guard, local L2 delivery and output; compilePort puts
// them together with the port's security-group flows (security-group-flows.ts).

import type { Flow, MatchField } from '../flow';
import type { Ipv4, Mac, Port, Subnet } from '../model';
import { arpResponderFlow, l3ResolveFlow, wantsArpAnswerFlows } from './address-flows';
import { encodeCookie } from './cookie';
import { TargetOfportField, VniField, loadReg, matchReg } from './fields';
import { A_LOAD_FROM_LOCAL, IP_PROTO, M_ARP, M_ARP_REQUEST, M_IPV4, NO_ACTIONS, flow } from './flow-parts';
import { Priority } from './priorities';
import { cidrMatch } from './ranges';
import { securityGroupFlows } from './security-group-flows';
import { TABLES } from './tables';
import type { PipelineView } from './view';

/** The port's VNI and the subnet of its first fixed IP; undefined when that subnet is not held yet. */
export function portNetwork(
  port: Port,
  view: PipelineView,
): { readonly vni: number; readonly subnet: Subnet } | undefined {
  const first = port.fixedIps[0];
  if (first === undefined) return undefined;
  const subnet = view.subnet(first.subnetId);
  return subnet === undefined ? undefined : { vni: subnet.tunnelId, subnet };
}

/** A VM port's packets: remember the VNI and that they come from a local port, then validate them. */
export function portClassifierFlow(ofport: number, vni: number, cookie: bigint): Flow {
  return flow(
    TABLES.Classifier,
    Priority.Normal,
    cookie,
    [{ field: 'in_port', value: ofport }],
    [loadReg(VniField, vni), A_LOAD_FROM_LOCAL],
    TABLES.SpoofGuard,
  );
}

/**
 * Anti-spoofing (what Neutron's port security does): a VM may send IPv4 only from its fixed IPs and
 * allowed address pairs, with the matching MAC, and ARP only claiming those (sender IP and sender
 * MAC both checked, so ARP cannot poison other VMs). DHCP requests from 0.0.0.0 and ARP probes from
 * 0.0.0.0 are allowed; everything else (IPv6, other ethertypes) drops at the table miss.
 */
export function spoofGuardFlows(port: Port, ofport: number, cookie: bigint): Flow[] {
  const out: Flow[] = [];
  const inPort: MatchField = { field: 'in_port', value: ofport };
  const allow = (mac: Mac, ipMatch: MatchField | undefined, arpMatch: MatchField | undefined): void => {
    const ethSrc: MatchField = { field: 'eth_src', value: mac };
    out.push(
      flow(
        TABLES.SpoofGuard,
        Priority.Normal,
        cookie,
        ipMatch ? [inPort, ethSrc, M_IPV4, ipMatch] : [inPort, ethSrc, M_IPV4],
        NO_ACTIONS,
        TABLES.ArpResponder,
      ),
    );
    const arpSha: MatchField = { field: 'arp_sha', value: mac };
    out.push(
      flow(
        TABLES.SpoofGuard,
        Priority.Normal,
        cookie,
        arpMatch ? [inPort, ethSrc, M_ARP, arpMatch, arpSha] : [inPort, ethSrc, M_ARP, arpSha],
        NO_ACTIONS,
        TABLES.ArpResponder,
      ),
    );
  };
  for (const fip of port.fixedIps)
    allow(port.mac, { field: 'ipv4_src', value: fip.ip }, { field: 'arp_spa', value: fip.ip });
  for (const pair of port.allowedAddressPairs) {
    allow(pair.mac ?? port.mac, cidrMatch('ipv4_src', pair.ip), cidrMatch('arp_spa', pair.ip));
  }
  const ethSrc: MatchField = { field: 'eth_src', value: port.mac };
  out.push(
    flow(
      TABLES.SpoofGuard,
      Priority.Normal,
      cookie,
      [
        inPort,
        ethSrc,
        M_IPV4,
        { field: 'ip_proto', value: IP_PROTO.udp },
        { field: 'ipv4_src', value: 0 },
        { field: 'udp_src', value: 68 },
        { field: 'udp_dst', value: 67 },
      ],
      NO_ACTIONS,
      TABLES.ArpResponder,
    ),
    flow(
      TABLES.SpoofGuard,
      Priority.Normal,
      cookie,
      [inPort, ethSrc, M_ARP, { field: 'arp_spa', value: 0 }, { field: 'arp_sha', value: port.mac }],
      NO_ACTIONS,
      TABLES.ArpResponder,
    ),
  );
  return out;
}

/**
 * A VM asking for its own address (gratuitous ARP) is not answered by the responder: it goes on to
 * L2 like any broadcast, so a VM never receives a reply claiming its own IP.
 */
export function arpSelfFlow(ofport: number, ip: Ipv4, cookie: bigint): Flow {
  return flow(
    TABLES.ArpResponder,
    Priority.High,
    cookie,
    [{ field: 'in_port', value: ofport }, M_ARP, M_ARP_REQUEST, { field: 'arp_tpa', value: ip }],
    NO_ACTIONS,
    TABLES.ServiceResponder,
  );
}

/**
 * Unicast to a local port's MAC in its VNI: remember the output port, go through ingress security.
 * Priority High so that a local port wins over a stale remote neighbor entry for the same MAC
 * (e.g. during a migration).
 */
export function localL2Flow(vni: number, mac: Mac, ofport: number, cookie: bigint): Flow {
  return flow(
    TABLES.L2Forwarding,
    Priority.High,
    cookie,
    [matchReg(VniField, vni), { field: 'eth_dst', value: mac }],
    [loadReg(TargetOfportField, ofport)],
    TABLES.IngressSgConntrack,
  );
}

/** The last step: reg7 names the port. One flow per port (OpenFlow 1.3 output takes a constant port). */
export function outputFlow(ofport: number, cookie: bigint): Flow {
  return flow(
    TABLES.Output,
    Priority.Normal,
    cookie,
    [matchReg(TargetOfportField, ofport)],
    [{ kind: 'output', port: ofport }],
  );
}

/**
 * All flows of a local port. Nothing when its interface is not in OVS yet (the agent reports PENDING
 * and recompiles when the ofport appears), when its subnet is not held, or when it is admin-down
 * (the Classifier miss then drops its packets and nothing is delivered to it).
 */
export function compilePort(port: Port, view: PipelineView): Flow[] {
  const ofport = view.ofportOf(port.id);
  if (ofport === undefined || !port.adminStateUp) return [];
  const net = portNetwork(port, view);
  if (net === undefined) return [];
  const cookie = encodeCookie('port', port.id);
  const arpAnswers = wantsArpAnswerFlows(view);
  const out: Flow[] = [portClassifierFlow(ofport, net.vni, cookie), ...spoofGuardFlows(port, ofport, cookie)];
  for (const fip of port.fixedIps) {
    const subnet = fip.subnetId === net.subnet.id ? net.subnet : view.subnet(fip.subnetId);
    // A port lives on one L2 segment: addresses in subnets of another VNI are not reachable through it.
    if (subnet === undefined || subnet.tunnelId !== net.vni) continue;
    if (arpAnswers) out.push(arpResponderFlow(net.vni, fip.ip, port.mac, cookie));
    out.push(arpSelfFlow(ofport, fip.ip, cookie));
    out.push(l3ResolveFlow(net.vni, fip.ip, port.mac, subnet.gateway?.mac, cookie));
  }
  if (port.securityGroupIds.length > 0) {
    const conjIndex = { next: 0 };
    out.push(...securityGroupFlows('egress', port, ofport, view, cookie, conjIndex));
    out.push(...securityGroupFlows('ingress', port, ofport, view, cookie, conjIndex));
  }
  out.push(localL2Flow(net.vni, port.mac, ofport, cookie));
  // Allowed address pairs may carry their own MAC (VRRP and the like): deliver to it too.
  const pairMacs = new Set<Mac>();
  for (const pair of port.allowedAddressPairs)
    if (pair.mac !== undefined && pair.mac !== port.mac) pairMacs.add(pair.mac);
  for (const m of [...pairMacs].sort((a, b) => a - b)) out.push(localL2Flow(net.vni, m, ofport, cookie));
  out.push(outputFlow(ofport, cookie));
  return out;
}
