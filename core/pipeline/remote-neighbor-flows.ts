// Remote neighbors (owner: neighbor): VXLAN to the host a neighbor lives on, plus its ARP answers.

import type { Flow } from '../flow';
import type { Ipv4, Mac, Neighbor } from '../model';
import { arpResponderFlow, l3ResolveFlow, wantsArpAnswerFlows } from './address-flows';
import { encodeCookie } from './cookie';
import { VniField, matchReg } from './fields';
import { M_FROM_LOCAL, flow } from './flow-parts';
import { Priority } from './priorities';
import { TABLES } from './tables';
import type { PipelineView } from './view';

/**
 * Unicast from a local VM to a neighbor on another host: VXLAN to that host (flow-based tunnel:
 * tun_id and tun_ipv4_dst are set per packet, ovs-fields(7) "Tunnel fields"). Only from local ports:
 * what came from the tunnel is never tunnelled again.
 */
export function remoteL2Flow(vni: number, mac: Mac, hostIp: Ipv4, tunnelOfport: number, cookie: bigint): Flow {
  return flow(
    TABLES.L2Forwarding,
    Priority.Normal,
    cookie,
    [M_FROM_LOCAL, matchReg(VniField, vni), { field: 'eth_dst', value: mac }],
    [
      { kind: 'set_field', field: 'tun_id', value: vni },
      { kind: 'set_field', field: 'tun_ipv4_dst', value: hostIp },
      { kind: 'output', port: tunnelOfport },
    ],
  );
}

/**
 * A neighbor's flows depend on the neighbor, its subnets and the tunnel port only (never on other
 * neighbors or on routers), so neighbors can be compiled in parallel, partitioned by id.
 * Per fixed IP: ARP responder (unless ARP is answered elsewhere); per VNI: one L2 flow; L3 entries
 * also get an IP->MAC resolve flow. A neighbor on this host programs nothing (its port is local), as
 * in Alcor.
 */
export function compileNeighbor(n: Neighbor, view: PipelineView): Flow[] {
  const tunnelOfport = view.tunnelOfport;
  if (tunnelOfport === undefined || n.hostIp === view.localTunnelIp) return [];
  const cookie = encodeCookie('neighbor', n.id);
  const arpAnswers = wantsArpAnswerFlows(view);
  const out: Flow[] = [];
  let l2Vnis: number[] | undefined;
  for (const fip of n.fixedIps) {
    const vni = fip.tunnelId !== 0 ? fip.tunnelId : view.subnet(fip.subnetId)?.tunnelId;
    if (vni === undefined) continue;
    if (l2Vnis === undefined) {
      l2Vnis = [vni];
      out.push(remoteL2Flow(vni, n.mac, n.hostIp, tunnelOfport, cookie));
    } else if (!l2Vnis.includes(vni)) {
      l2Vnis.push(vni);
      out.push(remoteL2Flow(vni, n.mac, n.hostIp, tunnelOfport, cookie));
    }
    if (arpAnswers) out.push(arpResponderFlow(vni, fip.ip, n.mac, cookie));
    if (fip.type === 'l3') out.push(l3ResolveFlow(vni, fip.ip, n.mac, undefined, cookie));
  }
  return out;
}
