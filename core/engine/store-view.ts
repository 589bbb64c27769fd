// The PipelineView the compiler reads, over the held ResourceStore plus the facts only the host
// knows: which ofport each port's interface has, the tunnel port, our underlay address.

import type { ResourceStore } from '../goalstate';
import type { Ipv4, Neighbor, Port, Router, SecurityGroup, Subnet, Vpc } from '../model';
import type { PipelineView } from '../pipeline';

export class StoreView implements PipelineView {
  localTunnelIp: Ipv4 | undefined;
  tunnelOfport: number | undefined;
  readonly #store: ResourceStore;
  readonly #ofports = new Map<string, number>();

  constructor(store: ResourceStore, opts: { localTunnelIp?: Ipv4; tunnelOfport?: number } = {}) {
    this.#store = store;
    this.localTunnelIp = opts.localTunnelIp;
    this.tunnelOfport = opts.tunnelOfport;
  }

  /** Records where a port's interface is (undefined: it is gone). Returns whether that changed. */
  setOfport(portId: string, ofport: number | undefined): boolean {
    if (this.#ofports.get(portId) === ofport) return false;
    if (ofport === undefined) this.#ofports.delete(portId);
    else this.#ofports.set(portId, ofport);
    return true;
  }

  ofports(): ReadonlyMap<string, number> {
    return this.#ofports;
  }

  subnet(id: string): Subnet | undefined {
    return this.#store.subnet(id);
  }
  vpc(id: string): Vpc | undefined {
    return this.#store.vpc(id);
  }
  port(id: string): Port | undefined {
    return this.#store.port(id);
  }
  neighbor(id: string): Neighbor | undefined {
    return this.#store.neighbor(id);
  }
  router(id: string): Router | undefined {
    return this.#store.router(id);
  }
  securityGroup(id: string): SecurityGroup | undefined {
    return this.#store.securityGroup(id);
  }
  ports(): Iterable<Port> {
    return this.#store.values('port');
  }
  neighbors(): Iterable<Neighbor> {
    return this.#store.values('neighbor');
  }
  routers(): Iterable<Router> {
    return this.#store.values('router');
  }
  securityGroups(): Iterable<SecurityGroup> {
    return this.#store.values('securityGroup');
  }
  *portsInSubnet(subnetId: string): Iterable<Port> {
    for (const id of this.#store.portsInSubnet(subnetId)) {
      const p = this.#store.port(id);
      if (p !== undefined) yield p;
    }
  }
  /** A scan: subnets change rarely, and an index over a million neighbors would cost more than it saves. */
  *neighborsInSubnet(subnetId: string): Iterable<Neighbor> {
    for (const n of this.#store.values('neighbor')) {
      if (n.fixedIps.some((f) => f.subnetId === subnetId)) yield n;
    }
  }
  *portsInSecurityGroup(sgId: string): Iterable<Port> {
    for (const id of this.#store.portsInSecurityGroup(sgId)) {
      const p = this.#store.port(id);
      if (p !== undefined) yield p;
    }
  }
  *routersForSubnet(subnetId: string): Iterable<Router> {
    for (const id of this.#store.routersForSubnet(subnetId)) {
      const r = this.#store.router(id);
      if (r !== undefined) yield r;
    }
  }
  ofportOf(portId: string): number | undefined {
    return this.#ofports.get(portId);
  }
}
