// Builders of model resources with defaults, for the pipeline tests and benchmark.

import type { Cidr, Neighbor, Port, Router, SecurityGroup, SecurityGroupRule, Subnet } from '../model';

export function ip(text: string): number {
  const p = text.split('.').map(Number);
  return (((p[0] ?? 0) * 256 + (p[1] ?? 0)) * 256 + (p[2] ?? 0)) * 256 + (p[3] ?? 0);
}

export function mac(text: string): number {
  return text.split(':').reduce((acc, h) => acc * 256 + parseInt(h, 16), 0);
}

export function cidr(text: string): Cidr {
  const [a, p] = text.split('/');
  return { addr: ip(a ?? '0.0.0.0'), prefix: Number(p ?? 32) };
}

const common = { revision: 1, requestId: 'r' };

export function subnet(id: string, o: { cidr: string; vni: number; gw?: [string, string]; vpcId?: string }): Subnet {
  return {
    ...common,
    kind: 'subnet',
    id,
    vpcId: o.vpcId ?? 'vpc1',
    name: id,
    networkType: 'vxlan',
    cidr: cidr(o.cidr),
    tunnelId: o.vni,
    gateway: o.gw === undefined ? undefined : { ip: ip(o.gw[0]), mac: mac(o.gw[1]) },
    dhcpEnable: true,
    dnsServers: [],
    extraDhcpOptions: [],
    availabilityZone: '',
  };
}

export function port(
  id: string,
  o: { mac: string; ips: [string, string][]; sgs?: string[]; pairs?: { ip: string; mac?: string }[]; up?: boolean },
): Port {
  return {
    ...common,
    kind: 'port',
    id,
    vpcId: 'vpc1',
    name: id,
    deviceId: '',
    deviceOwner: 'compute:nova',
    mac: mac(o.mac),
    adminStateUp: o.up ?? true,
    hostIp: ip('192.0.2.1'),
    fixedIps: o.ips.map(([subnetId, a]) => ({ subnetId, ip: ip(a) })),
    allowedAddressPairs: (o.pairs ?? []).map((p) => ({ ip: cidr(p.ip), mac: p.mac === undefined ? undefined : mac(p.mac) })),
    securityGroupIds: o.sgs ?? [],
  };
}

export function neighbor(
  id: string,
  o: { mac: string; host: string; ips: { subnetId: string; ip: string; type?: 'l2' | 'l3'; vni?: number }[] },
): Neighbor {
  return {
    ...common,
    kind: 'neighbor',
    id,
    vpcId: 'vpc1',
    name: id,
    mac: mac(o.mac),
    hostMac: undefined,
    hostIp: ip(o.host),
    fixedIps: o.ips.map((f) => ({ type: f.type ?? 'l2', subnetId: f.subnetId, ip: ip(f.ip), tunnelId: f.vni ?? 0 })),
    allowedAddressPairs: [],
  };
}

export function rule(
  id: string,
  o: Partial<Omit<SecurityGroupRule, 'id' | 'remoteIpPrefix'>> & { direction: 'ingress' | 'egress'; prefix?: string },
): SecurityGroupRule {
  return {
    id,
    direction: o.direction,
    protocol: o.protocol,
    portMin: o.portMin ?? 0,
    portMax: o.portMax ?? 0,
    remoteIpPrefix: o.prefix === undefined ? undefined : cidr(o.prefix),
    remoteGroupId: o.remoteGroupId,
  };
}

export function securityGroup(id: string, rules: SecurityGroupRule[]): SecurityGroup {
  return { ...common, kind: 'securityGroup', id, vpcId: 'vpc1', name: id, rules };
}

export function router(
  id: string,
  dvrMac: string,
  subnets: { subnetId: string; rules?: { dest: string; via: string; viaMac?: string }[] }[],
): Router {
  return {
    ...common,
    kind: 'router',
    id,
    dvrMac: mac(dvrMac),
    subnets: subnets.map((s) => ({
      subnetId: s.subnetId,
      rules: (s.rules ?? []).map((r, i) => ({
        id: `${id}-r${i}`,
        name: '',
        destination: cidr(r.dest),
        nextHopIp: ip(r.via),
        priority: 0,
        destinationType: 'vpc_gw' as const,
        nextHopMac: r.viaMac === undefined ? undefined : mac(r.viaMac),
      })),
    })),
  };
}
