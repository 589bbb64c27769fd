// What one host's engine pays for a VPC's neighbors pushed below the neighbor limit and taken back when the
// VPC passes it (the churn of `alcor-bench vms --vms 2400 --simulated-hosts 100`): one engine (no OVS, inline
// as perf/engine-agents.ts runs it) holding a port, gets N neighbors in goal states of B (as the DPM's waves
// bring them), then one goal state deleting them all; repeated, the first round not counted. Wall and CPU
// time (this process: the engine runs inline) per neighbor; the messages are built outside the timing.
// Run: node dist/perf/neighbor-churn.js [N=1000] [B=130] [rounds=10] [l2|l3=l3]
// l3: the neighbors' subnet has a router (3 flows each, the engine's ordinary path); l2: no router (2 flows,
// the engine's lane). Prints one JSON line: per neighbor, microseconds to push and to retract.
import { Engine } from '../core/engine/engine';
import { parseIpv4 } from '../core/goalstate/addr';
import { NeighborState, OperationType } from '../proto';
import {
  encodeDhcp,
  encodeNeighbor,
  encodePort,
  encodeRouter,
  encodeSecurityGroup,
  encodeSubnet,
  encodeVpc,
  wireRules,
} from '../control/dpm/encode';
import { encodeHostGoalState, encodeResourceEntry } from '../control/resources';
import type { PortRecord, SecurityGroupRecord, SubnetRecord } from '../control/resources/model';

const HOST = '10.0.0.1';
const SUBNET: SubnetRecord = {
  id: 'net',
  vpc: 'vpc',
  cidr: '10.30.0.0/16',
  gatewayIp: '10.30.0.1',
  gatewayMac: 'aa:bb:cc:00:00:01',
  dhcp: true,
  dnsServers: [],
  vni: 6,
  revision: 1,
};
const SG: SecurityGroupRecord = {
  id: 'open',
  rules: [
    { direction: 'ingress', ethertype: 'IPv4', remoteCidr: '10.30.0.0/16' },
    { direction: 'egress', ethertype: 'IPv4' },
  ],
  revision: 1,
};

const hex = (n: number): string => n.toString(16).padStart(2, '0');
const port = (i: number, host: string): PortRecord => ({
  id: `vp${i}`,
  subnet: 'net',
  vpc: 'vpc',
  host,
  mac: `02:00:00:00:${hex((i >> 8) & 255)}:${hex(i & 255)}`,
  ip: `10.30.${1 + ((i >> 8) & 255)}.${i & 255}`,
  securityGroups: ['open'],
  device: `tap${i}`,
  revision: 1,
});

const message = (entries: ReadonlyArray<readonly [string, Uint8Array]>): Buffer =>
  encodeHostGoalState(
    HOST,
    entries.map(([k]) => k),
    entries.map(([k, b]) => encodeResourceEntry(k, b)),
  );

async function main(): Promise<void> {
  const [n, batch, rounds] = [1000, 130, 10].map((d, i) => Number(process.argv[2 + i] ?? d)) as [
    number,
    number,
    number,
  ];
  const routed = (process.argv[5] ?? 'l3') === 'l3';
  if (![n, batch, rounds].every((x) => Number.isInteger(x) && x >= 1) || rounds < 2) {
    process.stderr.write('usage: node dist/perf/neighbor-churn.js [N>=1] [B>=1] [rounds>=2] [l2|l3]\n');
    process.exit(2);
  }
  const engine = await Engine.create({
    workers: 0,
    localTunnelIp: parseIpv4(HOST),
    tunnelOfport: 100,
    ofports: new Map([['vp0', 1]]),
  });
  let flowMods = 0;
  const apply = async (bytes: Buffer): Promise<void> => {
    const p = await engine.prepare(bytes, 2, { onDelta: (_d, _b, release) => release() });
    flowMods += p.add + p.modify + p.delete;
    await engine.commit(p.txns);
  };
  const own = port(0, HOST);
  await apply(
    message([
      ['vpc/vpc', encodeVpc({ id: 'vpc', cidr: '10.30.0.0/16', vni: 5, revision: 1 }, 1)],
      ['subnet/net', encodeSubnet(SUBNET, 1)],
      ['port/vp0', encodePort(own, 2)],
      ['dhcp/vp0', encodeDhcp(own, 2)],
      [
        'securitygroup/open',
        encodeSecurityGroup(
          SG,
          wireRules(SG, () => []),
          1,
        ),
      ],
      ...(routed ? [['router/r', encodeRouter({ id: 'r', subnets: ['net'], revision: 1 }, 1)] as const] : []),
    ]),
  );
  const neighbor = (i: number, rev: number): Uint8Array => encodeNeighbor(port(i, `10.0.1.${i % 200}`), 6, routed, rev);
  let pushMs = 0;
  let retractMs = 0;
  let pushCpu = 0;
  let retractCpu = 0;
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let r = 0; r < rounds; r++) {
    const rev = 10 + 2 * r;
    // The messages are built first: what is timed is the engine's work (and this thread's GC).
    const pushes: Buffer[] = [];
    for (let s = 1; s <= n; s += batch) {
      const entries: Array<[string, Uint8Array]> = [];
      for (let i = s; i < Math.min(n + 1, s + batch); i++) entries.push([`neighbor/vp${i}`, neighbor(i, rev)]);
      pushes.push(message(entries));
    }
    const gone: Array<[string, Uint8Array]> = [];
    for (let i = 1; i <= n; i++) {
      const del = { ...NeighborState.decode(neighbor(i, rev)), operationType: OperationType.DELETE };
      gone.push([`neighbor/vp${i}`, NeighborState.encode(del).finish()]);
    }
    const retraction = message(gone);
    const t0 = performance.now();
    const c0 = cpu();
    for (const m of pushes) await apply(m);
    const t1 = performance.now();
    const c1 = cpu();
    await apply(retraction);
    if (r > 0) {
      pushMs += t1 - t0;
      retractMs += performance.now() - t1;
      pushCpu += c1 - c0;
      retractCpu += cpu() - c1;
    }
  }
  await engine.close();
  const per = (ms: number): number => Math.round(((ms / (rounds - 1)) * 1000 * 10) / n) / 10;
  process.stdout.write(
    `${JSON.stringify({ neighbors: n, batch, rounds, kind: routed ? 'l3' : 'l2', pushUsPerNeighbor: per(pushMs), retractUsPerNeighbor: per(retractMs), pushCpuUsPerNeighbor: per(pushCpu), retractCpuUsPerNeighbor: per(retractCpu), flowMods })}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`neighbor-churn: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
