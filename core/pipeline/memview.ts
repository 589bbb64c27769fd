// A plain in-memory PipelineView (tests, benchmarks, and a reference for the store's adapter).
// Lookups by secondary key scan; fine for tests, not for a million resources.

import type { Gateway, Ipv4, Neighbor, Port, Resource, Router, SecurityGroup, Subnet, Vpc } from '../model';
import type { ArpAnswers, PipelineView } from './view';

export class MemoryView implements PipelineView {
  localTunnelIp: Ipv4 | undefined;
  tunnelOfport: number | undefined;
  arpAnswers: ArpAnswers;
  readonly subnets = new Map<string, Subnet>();
  readonly vpcs = new Map<string, Vpc>();
  readonly portMap = new Map<string, Port>();
  readonly neighborMap = new Map<string, Neighbor>();
  readonly routerMap = new Map<string, Router>();
  readonly sgMap = new Map<string, SecurityGroup>();
  readonly gatewayMap = new Map<string, Gateway>();
  readonly ofports = new Map<string, number>();

  constructor(opts: { localTunnelIp?: Ipv4; tunnelOfport?: number; arpAnswers?: ArpAnswers } = {}) {
    this.localTunnelIp = opts.localTunnelIp;
    this.tunnelOfport = opts.tunnelOfport;
    this.arpAnswers = opts.arpAnswers ?? 'flows';
  }

  /** Adds or replaces a resource; returns the previous value. */
  put(r: Resource): Resource | undefined {
    switch (r.kind) {
      case 'subnet':
        return swap(this.subnets, r);
      case 'vpc':
        return swap(this.vpcs, r);
      case 'port':
        return swap(this.portMap, r);
      case 'neighbor':
        return swap(this.neighborMap, r);
      case 'router':
        return swap(this.routerMap, r);
      case 'securityGroup':
        return swap(this.sgMap, r);
      case 'gateway':
        return swap(this.gatewayMap, r);
      case 'dhcp':
        return undefined;
      default: {
        const never: never = r;
        return never;
      }
    }
  }

  remove(kind: Resource['kind'], id: string): Resource | undefined {
    const maps: Partial<Record<Resource['kind'], Map<string, Resource>>> = {
      subnet: this.subnets,
      vpc: this.vpcs,
      port: this.portMap,
      neighbor: this.neighborMap,
      router: this.routerMap,
      securityGroup: this.sgMap,
      gateway: this.gatewayMap,
    };
    const m = maps[kind];
    const old = m?.get(id);
    m?.delete(id);
    return old;
  }

  subnet(id: string): Subnet | undefined {
    return this.subnets.get(id);
  }
  vpc(id: string): Vpc | undefined {
    return this.vpcs.get(id);
  }
  port(id: string): Port | undefined {
    return this.portMap.get(id);
  }
  neighbor(id: string): Neighbor | undefined {
    return this.neighborMap.get(id);
  }
  router(id: string): Router | undefined {
    return this.routerMap.get(id);
  }
  securityGroup(id: string): SecurityGroup | undefined {
    return this.sgMap.get(id);
  }
  gateway(id: string): Gateway | undefined {
    return this.gatewayMap.get(id);
  }
  gateways(): Iterable<Gateway> {
    return this.gatewayMap.values();
  }
  allVpcs(): Iterable<Vpc> {
    return this.vpcs.values();
  }
  allSubnets(): Iterable<Subnet> {
    return this.subnets.values();
  }
  ports(): Iterable<Port> {
    return this.portMap.values();
  }
  neighbors(): Iterable<Neighbor> {
    return this.neighborMap.values();
  }
  routers(): Iterable<Router> {
    return this.routerMap.values();
  }
  securityGroups(): Iterable<SecurityGroup> {
    return this.sgMap.values();
  }
  portsInSubnet(subnetId: string): Port[] {
    return [...this.portMap.values()].filter((p) => p.fixedIps.some((f) => f.subnetId === subnetId));
  }
  neighborsInSubnet(subnetId: string): Neighbor[] {
    return [...this.neighborMap.values()].filter((n) => n.fixedIps.some((f) => f.subnetId === subnetId));
  }
  portsInSecurityGroup(sgId: string): Port[] {
    return [...this.portMap.values()].filter((p) => p.securityGroupIds.includes(sgId));
  }
  routersForSubnet(subnetId: string): Router[] {
    return [...this.routerMap.values()].filter((r) => r.subnets.some((s) => s.subnetId === subnetId));
  }
  ofportOf(portId: string): number | undefined {
    return this.ofports.get(portId);
  }
}

function swap<T extends Resource>(m: Map<string, T>, r: T): T | undefined {
  const old = m.get(r.id);
  m.set(r.id, r);
  return old;
}
