// alcor-bench southbound: one VPC-wide neighbor change reaching N hosts, through gRPC or NATS JetStream.
//
// The control side (this process) uses the real southbound code: gRPC = one AgentStream per host and one
// send each (what the control service does today); NATS = NatsLink publishes the change once on the VPC's
// subject (NatsLink.sendShared, the control service's own VPC path) and counts the agents' acks. The N
// agents run in a child process (perf/southbound-agents.ts), so controlCpuMs (process.cpuUsage of this
// process, from the send to the last reply, user + system) is the control side's alone. WARMUP_ROUNDS
// changes run first (connections, consumers, and the JIT: compiling the per-host code on its first rounds
// runs on V8's threads, counted by cpuUsage), then --rounds timed changes one after the other; the result is
// the median change by control CPU. nats-server is started on loopback (test/nats.ts) unless --nats names
// one. The last output line is JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import { GoalStateV2 } from '../proto';
import { hostIp, makeGoalState } from '../control/testing/fixtures';
import { AgentStream, DEFAULT_STREAM_OPTIONS } from '../control/southbound/agent-stream';
import { NatsLink } from '../control/southbound/nats-link';
import { ControlMetrics } from '../control/metrics';
import { createLogger } from '../control/log';
import { vpcSubject } from '../core/southbound/nats-wire';
import { NatsServer } from '../test/nats';
import { processCpuMs } from './proc-cpu';

export interface SouthboundBenchOptions {
  readonly hosts: number;
  readonly transport: 'grpc' | 'nats';
  readonly nats?: string;
  readonly progress?: (line: string) => void;
  /** Write a CPU profile of the control side during the timed change here. */
  readonly cpuProf?: string;
  /** Timed changes (after the warm-up); the result is the median one by control CPU. */
  readonly rounds?: number;
}

const DEFAULT_ROUNDS = 5;
/** Untimed changes first: one left the JIT compiling the per-host code during the first timed ones. */
const WARMUP_ROUNDS = 3;
const SETTLE_MS = 300;

export interface SouthboundBenchResult {
  readonly bench: 'southbound';
  readonly transport: 'grpc' | 'nats';
  readonly hosts: number;
  readonly messageBytes: number;
  readonly controlSends: number;
  readonly setupMs: number;
  readonly allAckedMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly controlCpuMs: number;
  /** Of which in the kernel (socket reads and writes). */
  readonly controlSysMs: number;
  readonly rounds: number;
  /** Every timed change's control CPU, sorted. */
  readonly controlCpuMsAll: readonly number[];
  /**
   * Not the control's, reported so nothing is hidden: the median change's CPU in the simulated agents'
   * process and in the nats-server the bench started (null over gRPC or with --nats), at 10 ms resolution.
   */
  readonly agentsCpuMs: number;
  readonly brokerCpuMs: number | null;
  /** The agents' and the broker's CPU of every timed change (sorted), as controlCpuMsAll. */
  readonly agentsCpuMsAll: readonly number[];
  readonly brokerCpuMsAll: readonly number[] | null;
  /** NATS: messages the control's connection received and sent for the median change (publish, counts...). */
  readonly controlNatsMsgsIn: number | null;
  readonly controlNatsMsgsOut: number | null;
}

const VPC = 'vpc-1';

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

function startAgents(transport: string, hosts: number, nats: string | undefined): Promise<[ChildProcess, number[]]> {
  const child = spawn(
    process.execPath,
    [path.join(__dirname, 'southbound-agents.js'), JSON.stringify({ transport, hosts, nats, vpc: VPC })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`simulated agents exited with ${code}`)));
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.includes('"ready"'));
      if (line !== undefined) resolve([child, (JSON.parse(line) as { ports: number[] }).ports]);
    });
  });
}

/** One round over gRPC: a send per host; per-host latency until its reply. */
async function grpcRound(streams: readonly AgentStream[], msg: Buffer): Promise<number[]> {
  const t0 = performance.now();
  return Promise.all(streams.map((s) => s.send(msg).then(() => performance.now() - t0)));
}

/**
 * One round over NATS, through the control service's own path (NatsLink.sendShared, as vpc-fanout.ts
 * uses it): one publish on the VPC subject naming every host, and a reply awaited from each host.
 */
async function natsRound(link: NatsLink, hosts: readonly string[], msg: Buffer): Promise<number[]> {
  const t0 = performance.now();
  const replies = link.sendShared(vpcSubject(VPC), msg, hosts, 60_000);
  return Promise.all([...replies.values()].map((p) => p.then(() => performance.now() - t0)));
}

/** With --cpu-prof: a V8 CPU profile of this (the control) process during `fn` only. */
async function profiled<T>(file: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (file === undefined) return fn();
  const session = new inspector.Session();
  session.connect();
  const post = (method: string): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, (e, r) => (e ? reject(e) : resolve(r))));
  await post('Profiler.enable');
  await post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    fs.writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  }
}

/** Asks the agents' process to write its profile (see southbound-agents.ts) and waits until it did. */
function agentsProfiled(child: ChildProcess, file: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (c: Buffer): void => {
      if (!c.toString().includes('"profiled"')) return;
      child.stdout?.off('data', on);
      resolve();
    };
    child.stdout?.on('data', on);
    child.stdin?.write(`prof-stop ${file}\n`);
  });
}

export async function runSouthboundBench(o: SouthboundBenchOptions): Promise<SouthboundBenchResult> {
  const say = o.progress ?? ((): void => undefined);
  const setup0 = performance.now();
  let server: NatsServer | undefined;
  let natsUrl = o.nats;
  if (o.transport === 'nats' && natsUrl === undefined) {
    server = await NatsServer.start();
    natsUrl = server.url;
  }
  const stops: Array<() => Promise<void> | void> = [];
  try {
    // The link declares the stream, which the agents' consumers need.
    let link: NatsLink | undefined;
    if (o.transport === 'nats') {
      link = new NatsLink({ servers: [natsUrl as string] }, createLogger('error', 'bench'), new ControlMetrics());
      link.start();
      stops.push(() => link?.close());
      if (!(await link.waitUp(20_000))) throw new Error(`NATS at ${natsUrl} not reachable`);
    }
    say(`starting ${o.hosts} simulated agents (${o.transport})`);
    const [child, ports] = await startAgents(o.transport, o.hosts, natsUrl);
    const agentsProf =
      o.cpuProf === undefined ? undefined : `${o.cpuProf.replace(/\.cpuprofile$/, '')}.agents.cpuprofile`;
    stops.push(() => {
      child.removeAllListeners('exit');
      child.stdin?.end();
    });
    const change = (tag: string): Buffer =>
      Buffer.from(GoalStateV2.encode(makeGoalState({ hosts: [], portsPerHost: 0, sharedNeighbors: 1, tag })).finish());
    let round: (msg: Buffer) => Promise<number[]>;
    if (o.transport === 'grpc') {
      const streams = ports.map((p) => new AgentStream(`127.0.0.1:${p}`, DEFAULT_STREAM_OPTIONS));
      for (const s of streams) s.start();
      stops.push(() => streams.forEach((s) => s.stop()));
      while (!streams.every((s) => s.connected())) await new Promise((r) => setTimeout(r, 20));
      round = (msg) => grpcRound(streams, msg);
    } else {
      const names = Array.from({ length: o.hosts }, (_, i) => hostIp(i));
      round = (msg) => natsRound(link as NatsLink, names, msg);
    }
    for (let w = 0; w < WARMUP_ROUNDS; w++) await round(change(`warm-${w}`));
    const setupMs = performance.now() - setup0;
    const rounds = o.rounds ?? DEFAULT_ROUNDS;
    say(`warm; timing ${rounds} VPC-wide neighbor changes, one at a time`);
    const timed: Array<{
      lat: number[];
      cpu: NodeJS.CpuUsage;
      bytes: number;
      agents: number;
      broker: number;
      msgs: { in: number; out: number } | null;
    }> = [];
    for (let r = 0; r < rounds; r++) {
      // Work left from the previous round (the JIT's and GC's background threads) is not this change's.
      await new Promise((res) => setTimeout(res, SETTLE_MS));
      const msg = change(`timed-${r}`);
      const others0 = [processCpuMs(child.pid), processCpuMs(server?.pid)];
      const last = r === rounds - 1;
      if (last && agentsProf !== undefined) child.stdin?.write('prof-start\n');
      // Measured inside the profile, so the profiler's own work (writing it out) is not counted.
      const [lat, cpu, msgs] = await profiled(last ? o.cpuProf : undefined, async () => {
        const msgs0 = link?.messageCounts() ?? null;
        const cpu0 = process.cpuUsage();
        const l = await round(msg);
        const c = process.cpuUsage(cpu0);
        const m = link?.messageCounts() ?? null;
        const d = m === null || msgs0 === null ? null : { in: m.in - msgs0.in, out: m.out - msgs0.out };
        return [l.sort((a, b) => a - b), c, d] as const;
      });
      if (last && agentsProf !== undefined) await agentsProfiled(child, agentsProf);
      const agents = processCpuMs(child.pid) - (others0[0] as number);
      const broker = processCpuMs(server?.pid) - (others0[1] as number);
      timed.push({ lat, cpu, bytes: msg.length, agents, broker, msgs });
    }
    // The median change by CPU; its own latencies.
    timed.sort((a, b) => a.cpu.user + a.cpu.system - (b.cpu.user + b.cpu.system));
    const med = timed[Math.floor(timed.length / 2)] as (typeof timed)[number];
    const ms = (us: number): number => Math.round(us / 100) / 10;
    const r1 = (v: number): number => Math.round(v * 10) / 10;
    return {
      bench: 'southbound',
      transport: o.transport,
      hosts: o.hosts,
      rounds,
      messageBytes: med.bytes,
      controlSends: o.transport === 'grpc' ? o.hosts : 1,
      setupMs: Math.round(setupMs),
      allAckedMs: r1(med.lat[med.lat.length - 1] ?? 0),
      p50Ms: r1(percentile(med.lat, 50)),
      p99Ms: r1(percentile(med.lat, 99)),
      controlCpuMs: ms(med.cpu.user + med.cpu.system),
      controlSysMs: ms(med.cpu.system),
      controlCpuMsAll: timed.map((t) => ms(t.cpu.user + t.cpu.system)).sort((a, b) => a - b),
      agentsCpuMs: med.agents,
      brokerCpuMs: Number.isNaN(med.broker) ? null : med.broker,
      agentsCpuMsAll: timed.map((t) => t.agents).sort((a, b) => a - b),
      brokerCpuMsAll: Number.isNaN(med.broker) ? null : timed.map((t) => t.broker).sort((a, b) => a - b),
      controlNatsMsgsIn: med.msgs?.in ?? null,
      controlNatsMsgsOut: med.msgs?.out ?? null,
    };
  } finally {
    for (const s of stops.reverse()) await s();
    await server?.stop();
  }
}
