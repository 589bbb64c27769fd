// Infrastructure flows (owner: infra): table misses, the tunnel classifier, punts to the agent and the
// conntrack state flows.

import type { Flow } from '../flow';
import { encodeCookie } from './cookie';
import { CT_EST, CT_INV, CT_REL, VniField } from './fields';
import {
  A_CONTROLLER,
  A_LOAD_FROM_TUNNEL,
  IP_PROTO,
  M_ARP,
  M_ARP_REQUEST,
  M_FROM_LOCAL,
  M_IPV4,
  NO_ACTIONS,
  VNI_BITS,
  flow,
} from './flow-parts';
import { Priority } from './priorities';
import { TABLES, TABLE_LIST, type Table } from './tables';
import { INFRA_OWNER, type PipelineView } from './view';

/** One priority-0 flow per table carrying its declared miss action, so every table fails as documented. */
export function tableMissFlows(cookie: bigint): Flow[] {
  return TABLE_LIST.map((t) => {
    switch (t.miss.kind) {
      case 'drop':
        return flow(t, Priority.Miss, cookie, [], NO_ACTIONS);
      case 'controller':
        return flow(t, Priority.Miss, cookie, [], [A_CONTROLLER]);
      case 'goto':
        return flow(t, Priority.Miss, cookie, [], NO_ACTIONS, TABLES[t.miss.to]);
      default: {
        const never: never = t.miss;
        return never;
      }
    }
  });
}

/**
 * Everything arriving on the VXLAN port: copy the VNI from tun_id into reg6 and go straight to L2.
 * Egress security, spoof checks and routing were done by the sending host. One flow for all VNIs:
 * L2Forwarding only matches VNIs we know, so packets for unknown VNIs die at its miss.
 */
export function tunnelClassifierFlow(tunnelOfport: number, cookie: bigint): Flow {
  return flow(
    TABLES.Classifier,
    Priority.Normal,
    cookie,
    [{ field: 'in_port', value: tunnelOfport }],
    [
      { kind: 'move', src: 'tun_id', srcOfs: 0, dst: VniField.reg, dstOfs: VniField.start, nBits: VNI_BITS },
      A_LOAD_FROM_TUNNEL,
    ],
    TABLES.L2Forwarding,
  );
}

/**
 * ARP requests from VMs for an IP no responder flow knows go to the agent (on-demand neighbor
 * resolution, as ACA does). ARP probes (sender 0.0.0.0, RFC 5227 duplicate address detection) are
 * never answered by flows (answering would make the VM believe its address is taken): they continue
 * to L2 and reach the VNI's local ports only.
 */
export function arpPuntFlows(cookie: bigint): Flow[] {
  return [
    flow(TABLES.ArpResponder, Priority.Punt, cookie, [M_FROM_LOCAL, M_ARP, M_ARP_REQUEST], [A_CONTROLLER]),
    flow(
      TABLES.ArpResponder,
      Priority.High,
      cookie,
      [M_FROM_LOCAL, M_ARP, M_ARP_REQUEST, { field: 'arp_spa', value: 0 }],
      NO_ACTIONS,
      TABLES.ServiceResponder,
    ),
  ];
}

/** DHCP client -> server (udp 68 -> 67) from VMs is answered by the agent's DHCP server (packet-in). */
export function dhcpPuntFlow(cookie: bigint): Flow {
  return flow(
    TABLES.ServiceResponder,
    Priority.Normal,
    cookie,
    [
      M_FROM_LOCAL,
      M_IPV4,
      { field: 'ip_proto', value: IP_PROTO.udp },
      { field: 'udp_src', value: 68 },
      { field: 'udp_dst', value: 67 },
    ],
    [A_CONTROLLER],
  );
}

/**
 * Unicast to a MAC nobody told us about, from a VM: punt for on-demand resolution. From the tunnel it
 * is dropped by the table miss (the sender resolved it; never bounce traffic back over the tunnel).
 */
export function unknownUnicastPuntFlow(cookie: bigint): Flow {
  return flow(TABLES.L2Forwarding, Priority.Punt, cookie, [M_FROM_LOCAL], [A_CONTROLLER]);
}

/**
 * The connection-state half of a stateful firewall (shared by all ports; per-port rules sit below):
 * invalid packets drop, packets of established or related connections pass. ct_state bits per
 * ovs-fields(7); the zone was chosen per port by the conntrack table before recirculation.
 */
export function conntrackStateFlows(rules: Table, accepted: Table, cookie: bigint): Flow[] {
  return [
    flow(rules, Priority.SgInvalid, cookie, [CT_INV], NO_ACTIONS),
    flow(rules, Priority.SgEstablished, cookie, [CT_EST], NO_ACTIONS, accepted),
    flow(rules, Priority.SgEstablished, cookie, [CT_REL], NO_ACTIONS, accepted),
  ];
}

export function compileInfra(view: PipelineView): Flow[] {
  const cookie = encodeCookie(INFRA_OWNER.kind, INFRA_OWNER.id);
  const out = tableMissFlows(cookie);
  if (view.tunnelOfport !== undefined) out.push(tunnelClassifierFlow(view.tunnelOfport, cookie));
  out.push(...arpPuntFlows(cookie));
  out.push(dhcpPuntFlow(cookie));
  out.push(unknownUnicastPuntFlow(cookie));
  out.push(...conntrackStateFlows(TABLES.EgressSgRules, TABLES.L3Routing, cookie));
  out.push(...conntrackStateFlows(TABLES.IngressSgRules, TABLES.Output, cookie));
  return out;
}
