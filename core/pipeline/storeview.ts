// PipelineView over the goal-state store (core/goalstate/store.ts) plus the OVS facts the agent
// knows (ofports, the tunnel port, our tunnel IP). The store indexes ports by subnet and SG and
// routers by subnet; it has no neighbor-by-subnet index, so neighborsInSubnet() scans every held
// neighbor (only a subnet change needs it; an index in the store would make that O(result)).

import type { ResourceStore } from '../goalstate/store';
import type { Gateway, Ipv4, Neighbor, Port, Router, SecurityGroup, Subnet, Vpc } from '../model';
import type { ArpAnswers, PipelineOptions, PipelineView } from './view';

export interface OvsFacts {
  readonly localTunnelIp: Ipv4 | undefined;
  readonly tunnelOfport: number | undefined;
  ofportOf(portId: string): number | undefined;
}

function* resolve<T>(ids: ReadonlySet<string>, get: (id: string) => T | undefined): Generator<T> {
  for (const id of ids) {
    const r = get(id);
    if (r !== undefined) yield r;
  }
}

export class StoreView implements PipelineView {
  readonly arpAnswers: ArpAnswers;

  constructor(
    private readonly store: ResourceStore,
    private readonly facts: OvsFacts,
    options: PipelineOptions = {},
  ) {
    this.arpAnswers = options.arpAnswers ?? 'flows';
  }

  get localTunnelIp(): Ipv4 | undefined {
    return this.facts.localTunnelIp;
  }
  get tunnelOfport(): number | undefined {
    return this.facts.tunnelOfport;
  }
  subnet(id: string): Subnet | undefined {
    return this.store.subnet(id);
  }
  vpc(id: string): Vpc | undefined {
    return this.store.vpc(id);
  }
  port(id: string): Port | undefined {
    return this.store.port(id);
  }
  neighbor(id: string): Neighbor | undefined {
    return this.store.neighbor(id);
  }
  router(id: string): Router | undefined {
    return this.store.router(id);
  }
  securityGroup(id: string): SecurityGroup | undefined {
    return this.store.securityGroup(id);
  }
  gateway(id: string): Gateway | undefined {
    return this.store.gateway(id);
  }
  gateways(): Iterable<Gateway> {
    return this.store.values('gateway');
  }
  allVpcs(): Iterable<Vpc> {
    return this.store.values('vpc');
  }
  allSubnets(): Iterable<Subnet> {
    return this.store.values('subnet');
  }
  ports(): Iterable<Port> {
    return this.store.values('port');
  }
  neighbors(): Iterable<Neighbor> {
    return this.store.values('neighbor');
  }
  routers(): Iterable<Router> {
    return this.store.values('router');
  }
  securityGroups(): Iterable<SecurityGroup> {
    return this.store.values('securityGroup');
  }
  portsInSubnet(subnetId: string): Iterable<Port> {
    return resolve(this.store.portsInSubnet(subnetId), (id) => this.store.port(id));
  }
  *neighborsInSubnet(subnetId: string): Iterable<Neighbor> {
    for (const n of this.store.values('neighbor')) if (n.fixedIps.some((f) => f.subnetId === subnetId)) yield n;
  }
  portsInSecurityGroup(sgId: string): Iterable<Port> {
    return resolve(this.store.portsInSecurityGroup(sgId), (id) => this.store.port(id));
  }
  routersForSubnet(subnetId: string): Iterable<Router> {
    return resolve(this.store.routersForSubnet(subnetId), (id) => this.store.router(id));
  }
  ofportOf(portId: string): number | undefined {
    return this.facts.ofportOf(portId);
  }
}
