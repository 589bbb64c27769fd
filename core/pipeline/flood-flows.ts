// Per-VNI flood (owner: flood): broadcast and multicast to the VNI's local ports.

import type { Action, Flow } from '../flow';
import { encodeCookie } from './cookie';
import { TargetOfportField, VniField, loadReg, matchReg } from './fields';
import { M_MULTICAST, flow } from './flow-parts';
import { portNetwork } from './port-flows';
import { Priority } from './priorities';
import { TABLES } from './tables';
import type { PipelineView } from './view';

/**
 * Broadcast/multicast in a VNI goes to every local port of the VNI, each through its ingress
 * security (reg7 + resubmit), and never over the tunnel: ARP is answered locally (by flows or by
 * the XDP responder), DHCP by the agent, unknown unicast is resolved on demand, so flooding to
 * every host is not needed (as Alcor).
 * OVS drops the copy for the ingress port itself (OpenFlow 1.3 §4.5: output to in_port needs IN_PORT).
 */
export function floodFlow(vni: number, ofports: readonly number[], cookie: bigint): Flow {
  const actions: Action[] = [];
  for (const p of ofports)
    actions.push(loadReg(TargetOfportField, p), { kind: 'resubmit', table: TABLES.IngressSgConntrack.id });
  return flow(TABLES.L2Forwarding, Priority.Normal, cookie, [matchReg(VniField, vni), M_MULTICAST], actions);
}

/** ofports of the local, up ports in `vni`, ascending. */
export function localOfportsInVni(vni: number, view: PipelineView): number[] {
  const out: number[] = [];
  for (const p of view.ports()) {
    if (!p.adminStateUp) continue;
    const ofport = view.ofportOf(p.id);
    if (ofport === undefined) continue;
    if (portNetwork(p, view)?.vni === vni) out.push(ofport);
  }
  return out.sort((a, b) => a - b);
}

export function compileFlood(vni: number, view: PipelineView): Flow[] {
  const ofports = localOfportsInVni(vni, view);
  return ofports.length === 0 ? [] : [floodFlow(vni, ofports, encodeCookie('flood', String(vni)))];
}
