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
    allowedAddressPairs: (o.pairs ?? []).map((p) => ({
      ip: cidr(p.ip),
      mac: p.mac === undefined ? undefined : mac(p.mac),
    })),
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

/**
 * The golden-test world: host 192.0.2.1 with tunnel ofport 100; two subnets of router r1
 * (VNI 5001, 5002); ports p1 (ofport 3, SG web), p2 (ofport 4, no SG, an allowed address pair),
 * p3 (no ofport yet); neighbors n1 (remote, L2 + L3 entries), n2 (on this host), n3 (tunnel id override).
 */
export function scenario(): import('./memview').MemoryView {
  // Required lazily so that importing the builders does not pull in the view.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MemoryView } = require('./memview') as typeof import('./memview');
  const v = new MemoryView({ localTunnelIp: ip('192.0.2.1'), tunnelOfport: 100 });
  v.put(subnet('s1', { cidr: '10.0.1.0/24', vni: 5001, gw: ['10.0.1.1', 'fa:16:3e:00:01:01'] }));
  v.put(subnet('s2', { cidr: '10.0.2.0/24', vni: 5002, gw: ['10.0.2.1', 'fa:16:3e:00:02:01'] }));
  v.put(port('p1', { mac: '02:00:00:00:00:01', ips: [['s1', '10.0.1.10']], sgs: ['web'] }));
  v.put(
    port('p2', {
      mac: '02:00:00:00:00:02',
      ips: [['s1', '10.0.1.11']],
      pairs: [{ ip: '10.0.1.128/25', mac: '02:00:00:00:00:99' }],
    }),
  );
  v.put(port('p3', { mac: '02:00:00:00:00:03', ips: [['s2', '10.0.2.12']], sgs: ['web'] }));
  v.ofports.set('p1', 3);
  v.ofports.set('p2', 4);
  v.put(
    securityGroup('web', [
      rule('in-ssh', { direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22, prefix: '198.51.100.0/24' }),
      rule('in-web', { direction: 'ingress', protocol: 'tcp', portMin: 80, portMax: 81 }),
      rule('in-peers', { direction: 'ingress', protocol: 'udp', portMin: 5000, portMax: 5001, remoteGroupId: 'web' }),
      rule('in-peers-icmp', { direction: 'ingress', protocol: 'icmp', portMin: 8, portMax: 0, remoteGroupId: 'web' }),
      rule('out-any', { direction: 'egress' }),
    ]),
  );
  v.put(
    neighbor('n1', {
      mac: '02:00:00:00:01:01',
      host: '192.0.2.2',
      ips: [
        { subnetId: 's1', ip: '10.0.1.20' },
        { subnetId: 's2', ip: '10.0.2.20', type: 'l3' },
      ],
    }),
  );
  v.put(neighbor('n2', { mac: '02:00:00:00:01:02', host: '192.0.2.1', ips: [{ subnetId: 's1', ip: '10.0.1.21' }] }));
  v.put(
    neighbor('n3', {
      mac: '02:00:00:00:01:03',
      host: '192.0.2.3',
      ips: [{ subnetId: 's1', ip: '10.0.1.22', vni: 7777 }],
    }),
  );
  v.put(
    router('r1', 'fe:16:11:00:00:00', [
      { subnetId: 's1' },
      {
        subnetId: 's2',
        rules: [
          { dest: '172.16.0.0/16', via: '10.0.2.20', viaMac: '02:00:00:00:01:01' },
          { dest: '0.0.0.0/0', via: '10.0.2.30' },
        ],
      },
    ]),
  );
  return v;
}
