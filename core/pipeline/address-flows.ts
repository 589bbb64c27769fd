// Per-address flows shared by ports and neighbors: the ARP responder and the L3 resolve entry.

import type { Action, Flow } from '../flow';
import type { Ipv4, Mac } from '../model';
import { VniField, matchReg } from './fields';
import {
  A_ARP_OP_REPLY,
  A_MOVE_ETH_SRC_TO_DST,
  A_MOVE_SHA_TO_THA,
  A_MOVE_SPA_TO_TPA,
  A_OUTPUT_IN_PORT,
  M_ARP,
  M_ARP_REQUEST,
  M_IPV4,
  flow,
} from './flow-parts';
import { Priority } from './priorities';
import { TABLES } from './tables';
import type { PipelineView } from './view';

/** Whether the view's pipeline answers ARP with flows (view.ts ArpAnswers; absent = yes). */
export function wantsArpAnswerFlows(view: PipelineView): boolean {
  return view.arpAnswers !== 'none';
}

/**
 * ARP responder: a request for `ip` in `vni` is turned into the reply in place and sent back where it
 * came from (ovs-actions(7) move/set_field; the sequence is the one verified on OVS 3.1 in platform.md).
 * Used for local ports, remote neighbors and router gateways, so no ARP is ever flooded; not at all
 * when another data plane answers (wantsArpAnswerFlows).
 */
export function arpResponderFlow(vni: number, ip: Ipv4, mac: Mac, cookie: bigint): Flow {
  return flow(
    TABLES.ArpResponder,
    Priority.Normal,
    cookie,
    [matchReg(VniField, vni), M_ARP, M_ARP_REQUEST, { field: 'arp_tpa', value: ip }],
    [
      A_MOVE_ETH_SRC_TO_DST,
      { kind: 'set_field', field: 'eth_src', value: mac },
      A_ARP_OP_REPLY,
      A_MOVE_SHA_TO_THA,
      A_MOVE_SPA_TO_TPA,
      { kind: 'set_field', field: 'arp_sha', value: mac },
      { kind: 'set_field', field: 'arp_spa', value: ip },
      A_OUTPUT_IN_PORT,
    ],
  );
}

/**
 * IP -> MAC for routed packets in their destination VNI. `srcMac` is set for local destinations
 * (the destination subnet's gateway MAC; L3Routing wrote the router's DVR MAC, which only makes sense
 * on the wire between hosts); for remote destinations the DVR MAC stays and the receiving host
 * restores the gateway MAC (see dvrRestoreFlow).
 */
export function l3ResolveFlow(vni: number, ip: Ipv4, mac: Mac, srcMac: Mac | undefined, cookie: bigint): Flow {
  const actions: Action[] = [{ kind: 'set_field', field: 'eth_dst', value: mac }];
  if (srcMac !== undefined) actions.push({ kind: 'set_field', field: 'eth_src', value: srcMac });
  return flow(
    TABLES.L3Resolve,
    Priority.Normal,
    cookie,
    [matchReg(VniField, vni), M_IPV4, { field: 'ipv4_dst', value: ip }],
    actions,
    TABLES.L2Forwarding,
  );
}
