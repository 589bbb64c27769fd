// alcor-bench southbound: one VPC-wide neighbor change reaching N hosts, through gRPC or NATS JetStream.
//
// The control side (this process) uses the real southbound code: gRPC = one AgentStream per host and one
// send each (what the control service does today); NATS = NatsLink publishes the change once on the VPC's
// subject and counts the agents' replies on alcor.gs.reply.>. The N agents run in a child process
// (perf/southbound-agents.ts), so controlCpuMs (process.cpuUsage of this process, from the send to the last
// reply, user + system) is the control side's alone. A warm-up round runs first (connections, consumers).
// nats-server is started on loopback (test/nats.ts) unless --nats names one. The last output line is JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { GoalStateOperationReply, GoalStateV2 } from '../proto';
import { makeGoalState } from '../control/testing/fixtures';
import { AgentStream, DEFAULT_STREAM_OPTIONS } from '../control/southbound/agent-stream';
import { NatsLink } from '../control/southbound/nats-link';
import { ControlMetrics } from '../control/metrics';
import { createLogger } from '../control/log';
import { REPLY_PREFIX, vpcSubject } from '../core/southbound/nats-wire';
import { NatsServer } from '../test/nats';

export interface SouthboundBenchOptions {
  readonly hosts: number;
  readonly transport: 'grpc' | 'nats';
  readonly nats?: string;
  readonly progress?: (line: string) => void;
}

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

class NatsSide {
  private waiting: { n: number; t0: number; lat: number[]; done: () => void } | null = null;

  constructor(
    readonly link: NatsLink,
    readonly nc: NatsConnection,
  ) {
    nc.subscribe(`${REPLY_PREFIX}>`, {
      callback: (_e: Error | null, m: Msg) => {
        GoalStateOperationReply.decode(m.data); // the control service reads every reply, as over gRPC
        const w = this.waiting;
        if (w === null) return;
        w.lat.push(performance.now() - w.t0);
        if (w.lat.length >= w.n) w.done();
      },
    });
  }

  /** One round over NATS: one publish on the VPC subject; per-host latency until each agent's reply. */
  round(hosts: number, msg: Buffer): Promise<number[]> {
    return new Promise((resolve, reject) => {
      const lat: number[] = [];
      this.waiting = { n: hosts, t0: performance.now(), lat, done: () => resolve(lat) };
      this.link.send(vpcSubject(VPC), msg, null).catch(reject);
    });
  }
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
      const nc: NatsConnection = await connect({ servers: natsUrl as string });
      stops.push(() => nc.close());
      const side = new NatsSide(link as NatsLink, nc);
      round = (msg) => side.round(o.hosts, msg);
    }
    await round(change('warm'));
    const setupMs = performance.now() - setup0;
    say('warm; timing one VPC-wide neighbor change');
    const msg = change('timed');
    const cpu0 = process.cpuUsage();
    const lat = (await round(msg)).sort((a, b) => a - b);
    const cpu = process.cpuUsage(cpu0);
    return {
      bench: 'southbound',
      transport: o.transport,
      hosts: o.hosts,
      messageBytes: msg.length,
      controlSends: o.transport === 'grpc' ? o.hosts : 1,
      setupMs: Math.round(setupMs),
      allAckedMs: Math.round((lat[lat.length - 1] ?? 0) * 10) / 10,
      p50Ms: Math.round(percentile(lat, 50) * 10) / 10,
      p99Ms: Math.round(percentile(lat, 99) * 10) / 10,
      controlCpuMs: Math.round((cpu.user + cpu.system) / 100) / 10,
    };
  } finally {
    for (const s of stops.reverse()) await s();
    await server?.stop();
  }
}
