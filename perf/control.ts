// alcor-bench control: how fast the control plane gets one big goal state to every agent.
//
// Layout: the control replica runs in its own node process (embedded mode, or N replicas over a real etcd
// with --etcd), the agents are real @grpc/grpc-js servers, one per host on its own loopback port, all in
// this process (control/testing/test-agent.ts: reply SUCCESS per resource). Agents are registered through
// the HTTP API and their streams warmed up (the first connection's full push) before timing.
//
// Measured: one GoalStateV2 with `hosts` x `portsPerHost` ports, one subnet and a few shared neighbors,
// pushed northbound on PushGoalStatesStream, on a connection opened before the clock starts. totalMs = until the northbound reply (which waits for every
// agent's acknowledgement); per host = until that host's agent was handed its message (taken before the
// agent reads it; the bench's agents share this process's one event loop, so a host late in that queue
// still waits for the others: benchCpuMs and benchLoopBusy say how much of the time that was).
// `--autocannon` adds an HTTP API load run (GET /v1/hosts/<ip>, GET /v1/shards) with autocannon.
// The last output line is JSON.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GoalStateV2, OperationStatus } from '../proto';
import { formatHelp, isCliError, parseArgs, type OptionSpec } from '../core/cli/args';
import type { CliIo, SubcommandModule } from '../core/cli/commands';
import { connectNorthbound, hostIp, httpJson, makeGoalState, pushGoalStates } from '../control/testing/fixtures';
import { fullCollection } from '../core/engine/full-gc';
import { ReplicaProcess } from '../control/testing/replica-process';
import { TestAgent } from '../control/testing/test-agent';
import { EtcdServer } from '../test/etcd';
import { processCpuMs, processMinorFaults } from './proc-cpu';

export interface ControlBenchOptions {
  readonly hosts: number;
  readonly portsPerHost: number;
  readonly sharedNeighbors?: number;
  /** Replicas over a real etcd (started here on loopback); 0 = embedded single process. */
  readonly etcdReplicas?: number;
  readonly autocannon?: boolean;
  readonly autocannonSec?: number;
  /** Write a CPU profile of the (first) replica into this directory (node --cpu-prof; it is stopped gracefully). */
  readonly replicaProfileDir?: string;
  readonly progress?: (line: string) => void;
}

export interface HttpBenchResult {
  readonly path: string;
  readonly requestsPerSec: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly errors: number;
  readonly non2xx: number;
}

export interface ControlBenchResult {
  readonly bench: 'control';
  readonly mode: 'embedded' | 'etcd';
  readonly replicas: number;
  readonly hosts: number;
  readonly portsPerHost: number;
  readonly resources: number;
  readonly statuses: number;
  readonly failedStatuses: number;
  readonly messageBytes: number;
  readonly setupMs: number;
  readonly totalMs: number;
  /** Per host, until its agent received its message: the first host, the median, the 99th percentile. */
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU the replica(s) used from the push until the northbound reply (user + system). */
  readonly replicaCpuMs: number;
  /** Minor page faults of the replica(s) over the same time (fresh memory touched: ~30 us each on these VMs). */
  readonly replicaMinorFaults: number;
  /** CPU this process (the in-process agents and the northbound client) used over the same time. */
  readonly benchCpuMs: number;
  /**
   * Share of that time this process's event loop was busy (0..1): near 1 would mean the agents, not the control
   * service, set the pace (their receive times are taken on this loop).
   */
  readonly benchLoopBusy: number;
  readonly http?: readonly HttpBenchResult[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metric(base: string, name: string): Promise<number> {
  const res = await httpJson(base, 'GET', '/metrics');
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(String(res.json));
  return Number(m?.[1] ?? NaN);
}

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, res: AutocannonResult) => void) => unknown;

async function autocannonRun(url: string, durationSec: number): Promise<AutocannonResult> {
  // autocannon ships no types; this is the subset used here.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const autocannon = require('autocannon') as Autocannon;
  return new Promise((resolve, reject) =>
    autocannon({ url, connections: 50, pipelining: 1, duration: durationSec }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

/**
 * gRPC copies the message into a fresh buffer of its size to frame it: 17.5 MB of first-touched memory, which on
 * these VMs (page faults of ~30 us) cost this process 100-250 ms before its first byte went out. glibc maps such a
 * buffer on its own and unmaps it when freed, but freeing a mapped chunk (up to 32 MiB) raises that limit to its
 * size and the heap's trim limit to twice that: so one buffer of that size is freed, then a second, now from the
 * heap, is touched and freed, and the framing copy reuses it.
 */
function warmFramingMemory(messageBytes: number): void {
  Buffer.allocUnsafe(messageBytes + 64 * 1024)[0] = 0;
  fullCollection();
  Buffer.allocUnsafe(messageBytes + 64 * 1024).fill(0);
  fullCollection();
}

export async function runControlBench(opts: ControlBenchOptions): Promise<ControlBenchResult> {
  const say = opts.progress ?? (() => undefined);
  const replicasWanted = opts.etcdReplicas ?? 0;
  const setupStart = Date.now();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bench-control-'));
  const agents: TestAgent[] = [];
  const replicas: ReplicaProcess[] = [];
  let etcd: EtcdServer | null = null;
  try {
    for (let i = 0; i < opts.hosts; i += 100) {
      const n = Math.min(100, opts.hosts - i);
      agents.push(...(await Promise.all(Array.from({ length: n }, (_, j) => TestAgent.start(hostIp(i + j + 1))))));
    }
    for (const a of agents) {
      a.recordMessages = false;
      a.trackApplied = false;
    }
    say(`${agents.length} agents listening (${Date.now() - setupStart} ms)`);

    const profArgs =
      opts.replicaProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.replicaProfileDir}`];
    const common = [
      '--listen',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--log-level',
      'warn',
      '--result-timeout',
      '600000',
      '--reply-timeout',
      '600000',
    ];
    if (replicasWanted > 0) {
      etcd = await EtcdServer.start();
      for (let i = 0; i < replicasWanted; i++) {
        replicas.push(
          await ReplicaProcess.start(
            [...common, '--etcd', etcd.url, '--replica-id', `bench${i}`, '--lease-ttl', '10'],
            undefined,
            i === 0 ? profArgs : [],
          ),
        );
      }
    } else {
      replicas.push(await ReplicaProcess.start([...common, '--data-dir', dataDir], undefined, profArgs));
    }
    const front = replicas[0] as ReplicaProcess;
    const reg = await httpJson(
      front.httpBase,
      'POST',
      '/v1/hosts',
      agents.map((a) => ({ hostIp: a.hostIp, agent: a.address })),
    );
    if (reg.status !== 200) throw new Error(`registering agents failed: ${JSON.stringify(reg.json)}`);
    await until('every agent stream up and warmed', 300000, async () => {
      const counts = await Promise.all(replicas.map((r) => metric(r.httpBase, 'alcor_control_agents_connected')));
      return counts.reduce((a, b) => a + b, 0) === opts.hosts && agents.every((a) => a.received > 0);
    });
    const setupMs = Date.now() - setupStart;
    say(`control ready, all agents connected (${setupMs} ms)`);

    const gs = makeGoalState({
      hosts: agents.map((a) => a.hostIp),
      portsPerHost: opts.portsPerHost,
      sharedNeighbors: opts.sharedNeighbors ?? 10,
      tag: 'bench',
    });
    const bytes = GoalStateV2.encode(gs).finish();
    const resources =
      Object.keys(gs.portStates).length + Object.keys(gs.neighborStates).length + Object.keys(gs.subnetStates).length;
    say(`goal state: ${resources} resources, ${(bytes.length / 1e6).toFixed(1)} MB`);

    // The northbound client is this process's, not the control service's: it is connected before the clock
    // starts (a DPM keeps its connection), and the malloc heap it frames the message in is touched first (see
    // warmFramingMemory). Both were in minMs before.
    const client = await connectNorthbound(front.grpcAddress);
    warmFramingMemory(bytes.length);
    const seen = agents.map((a) => a.received);
    const replicaCpu0 = replicas.map((r) => processCpuMs(r.proc.pid as number));
    const replicaFaults0 = replicas.map((r) => processMinorFaults(r.proc.pid as number));
    const benchCpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const t0 = Date.now();
    const [reply] = await pushGoalStates(client, [bytes], 600000);
    client.close();
    const totalMs = Date.now() - t0;
    const benchLoopBusy = performance.eventLoopUtilization(elu0).utilization;
    const benchCpu = process.cpuUsage(benchCpu0);
    const replicaCpuMs = replicas.reduce(
      (sum, r, i) => sum + processCpuMs(r.proc.pid as number) - (replicaCpu0[i] as number),
      0,
    );
    const replicaMinorFaults = replicas.reduce(
      (sum, r, i) => sum + processMinorFaults(r.proc.pid as number) - (replicaFaults0[i] as number),
      0,
    );
    const perHost = agents.map((a, i) => (a.received > (seen[i] as number) ? a.lastReceivedAtMs - t0 : NaN));
    const missing = perHost.filter((x) => Number.isNaN(x)).length;
    if (missing > 0) throw new Error(`${missing} agents never got the goal state`);
    const sorted = [...perHost].sort((a, b) => a - b);
    const statuses = reply?.operationStatuses.length ?? 0;
    const failed =
      reply?.operationStatuses.filter((s) => s.operationStatus !== OperationStatus.SUCCESS).length ?? statuses;
    say(`pushed in ${totalMs} ms; per host p50 ${percentile(sorted, 50)} ms p99 ${percentile(sorted, 99)} ms`);
    say(`CPU: replica ${replicaCpuMs} ms; this process (agents) loop busy ${Math.round(benchLoopBusy * 100)}%`);

    let http: HttpBenchResult[] | undefined;
    if (opts.autocannon === true) {
      http = [];
      for (const p of [`/v1/hosts/${hostIp(1)}`, '/v1/shards']) {
        const r = await autocannonRun(`${front.httpBase}${p}`, opts.autocannonSec ?? 5);
        http.push({
          path: p,
          requestsPerSec: r.requests.average,
          latencyP50Ms: r.latency.p50,
          latencyP99Ms: r.latency.p99,
          errors: r.errors,
          non2xx: r.non2xx,
        });
        say(`autocannon GET ${p}: ${r.requests.average} req/s, p99 ${r.latency.p99} ms`);
      }
    }
    return {
      bench: 'control',
      mode: replicasWanted > 0 ? 'etcd' : 'embedded',
      replicas: replicas.length,
      hosts: opts.hosts,
      portsPerHost: opts.portsPerHost,
      resources,
      statuses,
      failedStatuses: failed,
      messageBytes: bytes.length,
      setupMs,
      totalMs,
      minMs: sorted[0] ?? 0,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted[sorted.length - 1] ?? 0,
      replicaCpuMs,
      replicaMinorFaults,
      benchCpuMs: Math.round((benchCpu.user + benchCpu.system) / 1000),
      benchLoopBusy: Math.round(benchLoopBusy * 100) / 100,
      ...(http === undefined ? {} : { http }),
    };
  } finally {
    // A profiled replica must exit on its own for node to write the profile.
    for (const r of replicas) await r.kill(opts.replicaProfileDir === undefined ? 'SIGKILL' : 'SIGTERM');
    for (const a of agents) await a.stop();
    await etcd?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const OPTIONS = [
  { name: 'hosts', type: 'number', default: 1000, metavar: 'N', help: 'agents (one gRPC server each)' },
  { name: 'ports-per-host', type: 'number', default: 100, metavar: 'N', help: 'ports per host in the goal state' },
  {
    name: 'shared-neighbors',
    type: 'number',
    default: 10,
    metavar: 'N',
    help: 'neighbors every host gets (stored once)',
  },
  {
    name: 'etcd-replicas',
    type: 'number',
    default: 0,
    metavar: 'N',
    help: 'run N replicas over a local etcd instead of embedded mode',
  },
  { name: 'autocannon', type: 'boolean', help: 'also load the HTTP API with autocannon' },
  { name: 'autocannon-sec', type: 'number', default: 5, metavar: 'S', help: 'seconds per autocannon run' },
  {
    name: 'replica-cpu-prof',
    type: 'string',
    metavar: 'DIR',
    help: 'write a CPU profile of the replica (node --cpu-prof) into DIR',
  },
  { name: 'json', type: 'boolean', help: 'print only the JSON result line' },
] as const satisfies readonly OptionSpec[];

const HELP = {
  usage: 'alcor-bench control [options]',
  description: 'Time until every agent acknowledged one big goal state pushed through alcor-control. Last line: JSON.',
  options: OPTIONS,
};

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(OPTIONS, argv, io.env).options;
  for (const [name, v, min] of [
    ['hosts', o.hosts, 1],
    ['ports-per-host', o['ports-per-host'], 0],
    ['etcd-replicas', o['etcd-replicas'], 0],
  ] as const) {
    if (!Number.isInteger(v) || v < min) {
      io.stderr(`alcor-bench control: --${name} must be an integer >= ${min}\n`);
      return 2;
    }
  }
  const result = await runControlBench({
    hosts: o.hosts,
    portsPerHost: o['ports-per-host'],
    sharedNeighbors: o['shared-neighbors'],
    etcdReplicas: o['etcd-replicas'],
    autocannon: o.autocannon,
    autocannonSec: o['autocannon-sec'],
    ...(o['replica-cpu-prof'] === undefined ? {} : { replicaProfileDir: path.resolve(o['replica-cpu-prof']) }),
    progress: o.json ? undefined : (line) => io.stdout(`${line}\n`),
  });
  io.stdout(`${JSON.stringify(result)}\n`);
  return result.failedStatuses === 0 ? 0 : 1;
}

/** For the alcor-bench dispatcher (perf/cli/main.ts): `export { command } from '../control'` in perf/cli/control.ts. */
export const command: SubcommandModule = { help: HELP, run };

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const io: CliIo = {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    env: process.env,
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(formatHelp(HELP));
    return 0;
  }
  try {
    return await run(argv, io);
  } catch (err: unknown) {
    io.stderr(`alcor-bench control: ${isCliError(err) ? err.message : String((err as Error).stack ?? err)}\n`);
    return isCliError(err) ? 2 : 1;
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    () => process.exit(1),
  );
}
