// `npm run demo`: two hypervisors joined by VXLAN, each with its own `alcor-agent run`, VMs in two
// subnets behind a distributed router, security groups and DHCP. The goal states go to the agents over
// gRPC exactly as an Alcor controller would send them; then the VMs get DHCP leases, ping across hosts
// and subnets, and a locked-down VM stays unreachable.
//
// Everything lives in network namespaces and private OVS instances (test/sandbox); nothing touches the
// host's own network. Needs root, openvswitch-switch, iproute2, ethtool and busybox (bash .ci/run
// installs them). `--keep` leaves the sandboxes up to explore (`node dist/test/sandbox-cli.js down-all`).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GoalStateV2, NeighborType, OperationStatus, Protocol, SecurityGroupConfiguration_Direction } from '../proto';
import { neighbor, port, router, securityGroup, subnet, v2, vpc, dhcp, type Entry } from '../core/goalstate/testkit';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox, type Vm } from '../test/sandbox';
import { startAgent, type AgentProcess } from './e2e-helpers';
import { tapNameFor } from './ovsdb';

const HOSTS = { a: '192.0.2.1', b: '192.0.2.2' } as const;
const DVR_MAC = 'fe:16:11:00:00:00';
const S1 = { id: 'demo-subnet-1', cidr: '10.220.1.0/24', gw: '10.220.1.1', gwMac: 'fa:16:3e:dc:01:01', vni: 3001 };
const S2 = { id: 'demo-subnet-2', cidr: '10.220.2.0/24', gw: '10.220.2.1', gwMac: 'fa:16:3e:dc:02:01', vni: 3002 };

interface DemoVm {
  readonly name: string;
  readonly host: keyof typeof HOSTS;
  readonly portId: string;
  readonly mac: string;
  readonly ip: string;
  readonly subnet: typeof S1;
  readonly sg: string;
}

const VMS: readonly DemoVm[] = [
  {
    name: 'web1',
    host: 'a',
    portId: 'aaaa0001-demo-4000-8000-000000000001',
    mac: '02:de:00:00:01:0b',
    ip: '10.220.1.11',
    subnet: S1,
    sg: 'sg-web',
  },
  {
    name: 'web2',
    host: 'b',
    portId: 'bbbb0002-demo-4000-8000-000000000002',
    mac: '02:de:00:00:01:0c',
    ip: '10.220.1.12',
    subnet: S1,
    sg: 'sg-web',
  },
  {
    name: 'db1',
    host: 'b',
    portId: 'bbbb0003-demo-4000-8000-000000000003',
    mac: '02:de:00:00:02:0d',
    ip: '10.220.2.13',
    subnet: S2,
    sg: 'sg-web',
  },
  {
    name: 'vault',
    host: 'a',
    portId: 'aaaa0004-demo-4000-8000-000000000004',
    mac: '02:de:00:00:01:0e',
    ip: '10.220.1.14',
    subnet: S1,
    sg: 'sg-locked',
  },
];

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** The demo's two security groups: a web tier and a locked-down one. */
function securityGroupEntries(): Entry[] {
  return [
    // Web tier: ICMP and TCP 80 from inside the VPC; anything out.
    securityGroup('sg-web', {
      vpcId: 'demo-vpc',
      securityGroupRules: [
        {
          id: 'web-icmp',
          securityGroupId: 'sg-web',
          direction: SecurityGroupConfiguration_Direction.INGRESS,
          protocol: Protocol.ICMP,
          remoteIpPrefix: '10.220.0.0/16',
        },
        {
          id: 'web-http',
          securityGroupId: 'sg-web',
          direction: SecurityGroupConfiguration_Direction.INGRESS,
          protocol: Protocol.TCP,
          portRangeMin: 80,
          portRangeMax: 80,
          remoteIpPrefix: '10.220.0.0/16',
        },
        {
          id: 'web-out-tcp',
          securityGroupId: 'sg-web',
          direction: SecurityGroupConfiguration_Direction.EGRESS,
          protocol: Protocol.TCP,
          remoteIpPrefix: '0.0.0.0/0',
        },
        {
          id: 'web-out-icmp',
          securityGroupId: 'sg-web',
          direction: SecurityGroupConfiguration_Direction.EGRESS,
          protocol: Protocol.ICMP,
          remoteIpPrefix: '0.0.0.0/0',
        },
        {
          id: 'web-out-udp',
          securityGroupId: 'sg-web',
          direction: SecurityGroupConfiguration_Direction.EGRESS,
          protocol: Protocol.UDP,
          remoteIpPrefix: '0.0.0.0/0',
        },
      ],
    }),
    // Locked down: may talk out, accepts nothing new from anyone.
    securityGroup('sg-locked', {
      vpcId: 'demo-vpc',
      securityGroupRules: [
        {
          id: 'locked-out',
          securityGroupId: 'sg-locked',
          direction: SecurityGroupConfiguration_Direction.EGRESS,
          protocol: Protocol.ICMP,
          remoteIpPrefix: '0.0.0.0/0',
        },
        {
          id: 'locked-out-udp',
          securityGroupId: 'sg-locked',
          direction: SecurityGroupConfiguration_Direction.EGRESS,
          protocol: Protocol.UDP,
          remoteIpPrefix: '0.0.0.0/0',
        },
      ],
    }),
  ];
}

/** A VM's entries in `host`'s goal state: its port and DHCP entry on its own host, a neighbor elsewhere. */
function vmEntries(vm: (typeof VMS)[number], host: keyof typeof HOSTS): Entry[] {
  if (vm.host === host) {
    return [
      port(vm.portId, {
        vpcId: 'demo-vpc',
        name: vm.name,
        macAddress: vm.mac,
        hostInfo: { ipAddress: HOSTS[host], macAddress: '02:00:00:00:00:01' },
        fixedIps: [{ subnetId: vm.subnet.id, ipAddress: vm.ip }],
        allowAddressPairs: [],
        securityGroupIds: [{ id: vm.sg }],
      }),
      dhcp(`dhcp-${vm.portId}`, {
        subnetId: vm.subnet.id,
        macAddress: vm.mac,
        ipv4Address: vm.ip,
        portHostName: vm.name,
      }),
    ];
  }
  return [
    neighbor(vm.portId, {
      vpcId: 'demo-vpc',
      name: vm.name,
      macAddress: vm.mac,
      hostIpAddress: HOSTS[vm.host],
      // L3: reachable from the other subnet through the distributed router too.
      fixedIps: [{ neighborType: NeighborType.L3, subnetId: vm.subnet.id, ipAddress: vm.ip, tunnelId: 0 }],
    }),
  ];
}

/** The goal state one host receives: the shared network, its own ports and DHCP entries, the others as neighbors. */
function goalStateFor(host: keyof typeof HOSTS): GoalStateV2 {
  const entries: Entry[] = [
    vpc('demo-vpc', { cidr: '10.220.0.0/16', tunnelId: S1.vni }),
    ...[S1, S2].map((s) =>
      subnet(s.id, {
        vpcId: 'demo-vpc',
        cidr: s.cidr,
        tunnelId: s.vni,
        gateway: { ipAddress: s.gw, macAddress: s.gwMac },
        dnsEntryList: [{ entry: '10.220.0.53' }],
      }),
    ),
    router('demo-router', {
      hostDvrMacAddress: DVR_MAC,
      subnetRoutingTables: [
        { subnetId: S1.id, routingRules: [] },
        { subnetId: S2.id, routingRules: [] },
      ],
    }),
    ...securityGroupEntries(),
  ];
  for (const vm of VMS) entries.push(...vmEntries(vm, host));
  return v2(entries);
}

async function lease(vm: Vm, dir: string): Promise<string> {
  const out = path.join(dir, `${vm.name}.env`);
  const script = path.join(dir, `${vm.name}.sh`);
  // udhcpc calls the script with "bound": configure eth0 as a real client would.
  fs.writeFileSync(
    script,
    `#!/bin/sh\nif [ "$1" = bound ]; then env > ${out}; ip addr flush dev eth0; ip addr add $ip/$mask dev eth0; ip route replace default via $router; fi\nexit 0\n`,
    { mode: 0o755 },
  );
  const r = await vm.exec(['busybox', 'udhcpc', '-f', '-q', '-n', '-t', '4', '-T', '1', '-i', 'eth0', '-s', script], {
    timeoutMs: 20_000,
  });
  if (r.code !== 0 || !fs.existsSync(out))
    throw new Error(`${vm.name}: no DHCP lease (${r.stderr.trim() || r.stdout.trim()})`);
  const env = Object.fromEntries(
    fs
      .readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return `${env.ip}/${env.mask} router ${env.router} dns ${env.dns} mtu ${env.mtu ?? '-'} lease ${env.lease}s`;
}

async function ping(from: Vm, to: string): Promise<boolean> {
  return (await from.exec(['ping', '-c3', '-i0.2', '-W1', to])).code === 0;
}

/** Step 1: two hypervisors (sandboxes) joined by an underlay, each with its VMs (no address yet). */
async function startHosts(
  keep: boolean,
  sandboxes: OvsSandbox[],
): Promise<{ a: OvsSandbox; b: OvsSandbox; vms: Map<string, Vm> }> {
  say('1. two hypervisors (private OVS in namespaces) joined by a VXLAN underlay 192.0.2.0/24');
  const a = await OvsSandbox.start({ name: 'demoa', underlay: { ip: `${HOSTS.a}/24` }, persistent: keep });
  sandboxes.push(a);
  const b = await OvsSandbox.start({
    name: 'demob',
    underlay: { ip: `${HOSTS.b}/24`, peer: 'demoa' },
    persistent: keep,
  });
  sandboxes.push(b);
  const vms = new Map<string, Vm>();
  for (const vm of VMS) {
    const sb = vm.host === 'a' ? a : b;
    // No address yet: each VM gets its lease from the agent's DHCP server.
    const v = await sb.addVm({
      name: vm.name,
      mac: vm.mac,
      ip: '169.254.0.1/16',
      iface: tapNameFor(vm.portId),
      mtu: 1450,
    });
    vms.set(vm.name, v);
    say(`   VM ${vm.name.padEnd(5)} on host ${vm.host}  mac ${vm.mac}  interface ${v.iface}`);
  }
  return { a, b, vms };
}

/** Step 3: each host's goal state over gRPC; the number of hosts with a resource not SUCCESS. */
async function pushGoalStates(agents: readonly AgentProcess[]): Promise<number> {
  say('3. push each host its GoalStateV2 over gRPC (PushGoalStatesStream)');
  let failures = 0;
  for (const [i, host] of (['a', 'b'] as const).entries()) {
    const t = performance.now();
    const reply = await agents[i].push(goalStateFor(host));
    const bad = reply.operationStatuses.filter((s) => s.operationStatus !== OperationStatus.SUCCESS);
    say(
      `   host ${host}: ${reply.operationStatuses.length} resources, ${bad.length} not SUCCESS, ${(performance.now() - t).toFixed(0)} ms`,
    );
    for (const s of bad) say(`     ${s.resourceId}: status ${s.operationStatus}`);
    if (bad.length) failures++;
  }
  return failures;
}

/** Step 5: the pings that must pass and the ones the security groups must block. */
async function checkTraffic(vms: ReadonlyMap<string, Vm>, check: (ok: boolean, what: string) => void): Promise<void> {
  const get = (name: string): Vm => {
    const v = vms.get(name);
    if (v === undefined) throw new Error(`no VM ${name}`);
    return v;
  };
  say('5. traffic');
  check(await ping(get('web1'), S1.gw), 'web1 -> its gateway 10.220.1.1 (answered by flows)');
  check(await ping(get('web1'), '10.220.1.12'), 'web1 (host a) -> web2 (host b): same subnet, over VXLAN');
  check(
    await ping(get('web1'), '10.220.2.13'),
    'web1 (host a, subnet 1) -> db1 (host b, subnet 2): routed by the distributed router',
  );
  check(await ping(get('db1'), '10.220.1.11'), 'db1 -> web1: routed back');
  check(!(await ping(get('web2'), '10.220.1.14')), "web2 -> vault: blocked by vault's security group");
  check(!(await ping(get('web1'), '10.220.1.14')), 'web1 -> vault (same host): blocked too');
  check(
    await ping(get('vault'), '10.220.1.11'),
    'vault -> web1: vault may talk out, and the reply comes back (stateful)',
  );
}

export async function runDemo(keep: boolean): Promise<number> {
  if (!requirePrereqs(['root', 'ovs', 'netns', 'busybox'])) return 2;
  const sandboxes: OvsSandbox[] = [];
  const agents: AgentProcess[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-demo-'));
  let failures = 0;
  const check = (ok: boolean, what: string): void => {
    if (!ok) failures++;
    say(`  ${ok ? 'ok  ' : 'FAIL'}  ${what}`);
  };
  try {
    const { a, b, vms } = await startHosts(keep, sandboxes);

    say('2. one alcor-agent per host (alcor-agent run --ovs-rundir … --tunnel-ip …)');
    for (const [host, sb] of [
      ['a', a],
      ['b', b],
    ] as const) {
      agents.push(await startAgent(sb, ['--tunnel-ip', HOSTS[host], '--tunnel-ofport', '100', '--workers', '1']));
      say(`   agent on host ${host}: gRPC 127.0.0.1:${agents[agents.length - 1].grpcPort}`);
    }

    failures += await pushGoalStates(agents);

    say('4. DHCP: busybox udhcpc in each VM, answered by its agent (packet-in / packet-out)');
    for (const vm of VMS) {
      const v = vms.get(vm.name);
      if (v === undefined) continue;
      try {
        check(true, `${vm.name}: ${await lease(v, dir)}`);
      } catch (e: unknown) {
        check(false, e instanceof Error ? e.message : String(e));
      }
    }

    await checkTraffic(vms, check);
    say(failures === 0 ? '\ndemo: everything behaved as intended' : `\ndemo: ${failures} check(s) failed`);
    return failures === 0 ? 0 : 1;
  } finally {
    for (const ag of agents) await ag.stop().catch(() => undefined);
    if (keep) {
      say('sandboxes kept: node dist/test/sandbox-cli.js down-all removes them');
    } else {
      for (const sb of sandboxes.reverse()) await sb.stop().catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runDemo(process.argv.includes('--keep')).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
