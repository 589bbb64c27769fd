// What the compiler needs to know, and who owns flows.
//
// PipelineView is read-only and synchronous. The goal-state store (core/goalstate) implements the
// resource part; the agent adds the OVS facts (ofports, the tunnel port, our tunnel IP).

import type { Gateway, Ipv4, Neighbor, Port, Router, SecurityGroup, Subnet, Vpc } from '../model';
import type { OwnerKind } from './cookie';

/**
 * Who answers ARP requests for addresses the pipeline knows (ports, neighbors, gateways):
 *  - `flows`: the ArpResponder table's answer flows (address-flows.ts arpResponderFlow);
 *  - `none`:  no answer flows; another data plane answers before OVS sees the request (the agent's
 *             XDP responder with `--dataplane ebpf`). Requests that still reach OVS take the table's
 *             other paths (ARP probes and own-IP requests continue to L2, the rest is punted).
 */
export type ArpAnswers = 'flows' | 'none';

export const ARP_ANSWERS: readonly ArpAnswers[] = ['flows', 'none'];

/** Compiler options that do not come from goal states or OVS: fixed for the life of an engine. */
export interface PipelineOptions {
  /** Default `flows`. */
  readonly arpAnswers?: ArpAnswers;
}

export interface PipelineView {
  /** Absent = `flows` (see ArpAnswers). */
  readonly arpAnswers?: ArpAnswers;
  /** Our underlay (VXLAN source) address; neighbors with this host IP are local and program nothing. */
  readonly localTunnelIp: Ipv4 | undefined;
  /** ofport of the flow-based VXLAN port on br-int; undefined until it exists (no tunnel flows then). */
  readonly tunnelOfport: number | undefined;

  subnet(id: string): Subnet | undefined;
  vpc(id: string): Vpc | undefined;
  port(id: string): Port | undefined;
  neighbor(id: string): Neighbor | undefined;
  router(id: string): Router | undefined;
  securityGroup(id: string): SecurityGroup | undefined;
  gateway(id: string): Gateway | undefined;

  ports(): Iterable<Port>;
  neighbors(): Iterable<Neighbor>;
  routers(): Iterable<Router>;
  securityGroups(): Iterable<SecurityGroup>;
  gateways(): Iterable<Gateway>;
  /** Every held VPC and subnet (gateway flows scan them: a few per host). */
  allVpcs(): Iterable<Vpc>;
  allSubnets(): Iterable<Subnet>;

  portsInSubnet(subnetId: string): Iterable<Port>;
  neighborsInSubnet(subnetId: string): Iterable<Neighbor>;
  /** Ports (any host) listing this security group: the members of a remote group. */
  portsInSecurityGroup(sgId: string): Iterable<Port>;
  routersForSubnet(subnetId: string): Iterable<Router>;

  /** The port's OpenFlow port number; undefined = its interface is not in OVS yet (compile nothing). */
  ofportOf(portId: string): number | undefined;
}

/**
 * Who owns a set of flows. Resources own their flows; two synthetic owners exist:
 *  - `infra` (id "pipeline"): the table-miss flows and the shared punt/conntrack flows;
 *  - `flood` (id = VNI in decimal): the per-VNI broadcast flow, which lists every local port of the
 *    VNI. It has its own owner so that a port joining or leaving recompiles one small flow instead of
 *    every other port of the VNI.
 * A ZETA gateway (owner `gateway`, id = the gateway's id) owns its select group and the flows that
 * send its VPCs' flooded traffic into it (gateway-flows.ts).
 */
export interface OwnerRef {
  readonly kind: OwnerKind;
  readonly id: string;
}

export const INFRA_OWNER: OwnerRef = { kind: 'infra', id: 'pipeline' };

/** The owner's key in the flow table: "kind:id". */
export function ownerKey(o: OwnerRef): string {
  return `${o.kind}:${o.id}`;
}

export function floodOwner(vni: number): OwnerRef {
  return { kind: 'flood', id: String(vni) };
}

const OWNER_RANK: Readonly<Record<string, number>> = {
  infra: 0,
  port: 1,
  router: 2,
  flood: 3,
  neighbor: 4,
  gateway: 5,
};

/**
 * Which owner's version of a contested flow wins (FlowTable `preferOwner`): local facts before
 * remote ones (a local port beats a neighbor claiming the same IP, e.g. mid-migration), then by key.
 */
export function preferOwner(a: string, b: string): number {
  const ra = OWNER_RANK[a.slice(0, a.indexOf(':'))] ?? 9;
  const rb = OWNER_RANK[b.slice(0, b.indexOf(':'))] ?? 9;
  if (ra !== rb) return ra - rb;
  return a < b ? -1 : a > b ? 1 : 0;
}
