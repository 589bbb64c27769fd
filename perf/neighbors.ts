// alcor-bench neighbors: the seed notes' DPM latency as a port's neighbor count grows. One real `alcor-agent run`
// on a sandboxed OVS (test/sandbox) holds port np0 (a VM namespace plugged on it, so it is ACTIVE); a second,
// simulated host (control/testing/test-agent.ts: the agent's real gRPC server, recording only) holds the rest of
// the VPC. An in-process control service, driven only through the resource API, pushes every port of the VPC
// to the real agent as a neighbor (its neighbor limit is set above the last step). At each step the VPC is
// grown to N neighbors with bulk creates on the simulated host, then np0 is updated K times (its security
// group, back and forth) with ?wait=true: each sample is from the API call until both agents acknowledged.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, type OptionSpec } from '../core/cli/args';
import type { CliIo, SubcommandModule } from '../core/cli/commands';
import { startAgent, type AgentProcess } from '../agent/e2e-helpers';
import { tapNameFor } from '../agent/ovsdb';
import { startControl, type ControlHandle } from '../control/server';
import { silentLogger } from '../control/log';
import { httpJson } from '../control/testing/fixtures';
import { TestAgent } from '../control/testing/test-agent';
import { OvsSandbox } from '../test/sandbox';
import { badInteger } from './scenario/bed';
import { OUTPUT_OPTIONS } from './scenario/options';
import { writeReport, type Sample } from './report/report';
import { msSince, stats, type Stats } from './report/stats';
import { cdfChart, logXyChart } from './report/svg';

export interface NeighborsOptions {
  /** Neighbor counts to measure at, ascending. */
  readonly steps: readonly number[];
  readonly samples: number;
  /** Ports per bulk create while growing the VPC. */
  readonly chunk: number;
  readonly out?: string;
  readonly progress?: (line: string) => void;
}

export interface NeighborsStep extends Stats {
  readonly neighbors: number;
  /** Time to grow the VPC from the previous step to this one (bulk creates, every agent acknowledged). */
  readonly growMs: number;
  readonly failed: number;
  /** The real agent's alcor_agent_flows_installed after the step: grows with the neighbors it holds. */
  readonly agentFlows: number;
}

export interface NeighborsResult {
  readonly bench: 'neighbors';
  readonly samples: number;
  readonly steps: readonly NeighborsStep[];
  /** The one quoted for Alcor's DPM (issue #425 of futurewei-cloud/alcor): another system, other hardware. */
  readonly referenceTarget: { readonly neighbors: 10000; readonly ms: 20 };
  readonly failed: number;
  readonly errors: readonly string[];
  readonly setupMs: number;
  readonly loadAvg: readonly number[];
  readonly report?: string;
}

/** Alcor's DPM with simulated ACAs, 1 port + N neighbors, total latency (futurewei-cloud/alcor#399). */
const ALCOR_DPM_399: ReadonlyArray<{ x: number; y: number }> = [
  { x: 1, y: 12 },
  { x: 1000, y: 373 },
  { x: 10000, y: 5147 },
];

const REAL_HOST = '192.0.2.1';
const REMOTE_HOST = '192.0.2.2';
const PORT = 'np0';

interface Rig {
  sb: OvsSandbox | null;
  agent: AgentProcess | null;
  remote: TestAgent | null;
  ctl: ControlHandle | null;
  readonly dir: string;
}

async function call(base: string, method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await httpJson(base, method, p, body);
  const json = (typeof r.json === 'object' && r.json !== null ? r.json : { body: r.json }) as Record<string, unknown>;
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

async function buildRig(o: NeighborsOptions, rig: Rig, say: (l: string) => void): Promise<string> {
  rig.sb = await OvsSandbox.start({ name: 'bnb0', underlay: { ip: `${REAL_HOST}/24` } });
  await rig.sb.addVm({
    name: 'nvm0',
    mac: '02:cf:01:00:00:01',
    ip: '169.254.0.1/16',
    iface: tapNameFor(PORT),
    portId: PORT,
  });
  rig.agent = await startAgent(
    rig.sb,
    ['--tunnel-ip', REAL_HOST, '--tunnel-ofport', '100', '--metrics', '127.0.0.1:0'],
    60_000,
  );
  rig.remote = await TestAgent.start(REMOTE_HOST);
  rig.remote.recordMessages = false;
  say('OVS host with a real agent, and a simulated host, up');
  rig.ctl = await startControl(
    {
      listen: '127.0.0.1:0',
      http: '127.0.0.1:0',
      etcd: null,
      dataDir: path.join(rig.dir, 'control'),
      replicaId: 'bench',
      prefix: '/bench/',
      leaseTtlSec: 5,
      ackMode: 'agents',
      resultTimeoutMs: 300_000,
      replyTimeoutMs: 300_000,
      backoffMaxMs: 300,
      logLevel: 'warn',
      neighborLimit: Math.max(...o.steps) + 10,
      agents: new Map([
        [REAL_HOST, `127.0.0.1:${rig.agent.grpcPort}`],
        [REMOTE_HOST, rig.remote.address],
      ]),
    },
    silentLogger,
  );
  const base = `http://127.0.0.1:${rig.ctl.httpPort}`;
  // A /12 holds the 100k-neighbor step (and ten times more).
  await call(base, 'POST', '/v1/vpcs', { id: 'vpc', cidr: '10.64.0.0/10' });
  await call(base, 'POST', '/v1/subnets', { id: 'net', vpc: 'vpc', cidr: '10.64.0.0/12' });
  for (const id of ['open', 'alt'])
    await call(base, 'POST', '/v1/security-groups', {
      id,
      rules: [{ direction: 'ingress', remoteCidr: '10.64.0.0/10' }, { direction: 'egress' }],
    });
  const port = await call(base, 'POST', '/v1/ports?wait=true', {
    id: PORT,
    subnet: 'net',
    host: REAL_HOST,
    mac: '02:cf:01:00:00:01',
    securityGroups: ['open'],
  });
  if (port.status !== 'ACTIVE') throw new Error(`${PORT} is ${String(port.status)}: ${String(port.statusReason)}`);
  return base;
}

/** Bulk creates on the simulated host until the VPC holds `to` ports besides np0. */
async function grow(base: string, from: number, to: number, chunk: number, say: (l: string) => void): Promise<void> {
  let last = Date.now();
  for (let at = from; at < to; at += chunk) {
    const n = Math.min(chunk, to - at);
    const bodies = Array.from({ length: n }, (_, j) => ({
      id: `nb${at + j}`,
      subnet: 'net',
      host: REMOTE_HOST,
      securityGroups: ['open'],
    }));
    await call(base, 'POST', '/v1/ports?wait=true', bodies);
    if (Date.now() - last > 2000 || at + n === to) {
      say(`  ${at + n}/${to} neighbors`);
      last = Date.now();
    }
  }
}

/** K updates of np0, each until every agent acknowledged; ms per successful sample. */
async function measure(base: string, k: number, errors: string[]): Promise<{ ms: number[]; failed: number }> {
  const ms: number[] = [];
  let failed = 0;
  for (let i = 0; i < k; i++) {
    const groups = [i % 2 === 0 ? 'alt' : 'open'];
    const t0 = process.hrtime.bigint();
    try {
      const r = await call(base, 'PATCH', `/v1/ports/${PORT}?wait=true`, { securityGroups: groups });
      const took = msSince(t0);
      if (r.status !== 'ACTIVE') throw new Error(`${PORT}: ${String(r.status)} ${String(r.statusReason ?? '')}`);
      ms.push(took);
    } catch (e: unknown) {
      failed++;
      if (errors.length < 5) errors.push((e as Error).message);
    }
  }
  return { ms, failed };
}

function neighborsReport(dir: string, result: NeighborsResult, samples: readonly Sample[]): void {
  const line = (name: string, pick: (s: NeighborsStep) => number): { name: string; points: XyPoints } => ({
    name,
    points: result.steps.map((s) => ({ x: s.neighbors, y: pick(s) })),
  });
  const charts = [
    logXyChart('one port update, API call to every agent acknowledged', 'neighbors in the VPC', 'latency (ms)', [
      line('ours p50', (s) => s.p50Ms),
      line('ours p99', (s) => s.p99Ms),
      { name: 'Alcor DPM target (other)', points: [{ x: 10000, y: 20 }] },
      { name: 'Alcor DPM #399 (other hw)', points: ALCOR_DPM_399 },
    ]),
    cdfChart(
      'update latency per step (CDF)',
      result.steps.map((s) => ({
        name: `${s.neighbors} neighbors`,
        samplesMs: samples.filter((x) => x.series === `${s.neighbors} neighbors`).map((x) => x.ms),
      })),
    ),
  ];
  writeReport(dir, {
    title: 'alcor-bench neighbors: one port update as its VPC grows',
    description:
      'A real alcor-agent on sandboxed OVS holds the port and every other port of the VPC as a neighbor; the ' +
      'rest of the VPC is on a simulated host. Each sample: a PATCH of the port with ?wait=true, from the call ' +
      "until both agents acknowledged. Alcor's figures are another system on other hardware: the DPM target of " +
      '20 ms for 10k neighbors (futurewei-cloud/alcor#425) and its DPM with simulated ACAs, 1 port + N neighbors (#399).',
    result,
    charts,
    samples,
  });
}

type XyPoints = ReadonlyArray<{ x: number; y: number }>;

async function agentFlows(agent: AgentProcess): Promise<number> {
  const prom = await fetch(`http://127.0.0.1:${agent.metricsPort ?? 0}/metrics`).then((r) => r.text());
  return Number(/^alcor_agent_flows_installed (\d+)/m.exec(prom)?.[1] ?? NaN);
}

export async function runNeighbors(o: NeighborsOptions): Promise<NeighborsResult> {
  const say = o.progress ?? (() => undefined);
  const t0 = Date.now();
  const rig: Rig = {
    sb: null,
    agent: null,
    remote: null,
    ctl: null,
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bench-neighbors-')),
  };
  try {
    const base = await buildRig(o, rig, say);
    const setupMs = Date.now() - t0;
    const loadAvg = os.loadavg().map((x) => Math.round(x * 100) / 100);
    const steps: NeighborsStep[] = [];
    const samples: Sample[] = [];
    const errors: string[] = [];
    let have = 0;
    for (const n of o.steps) {
      say(`step ${steps.length + 1}/${o.steps.length}: growing the VPC to ${n} neighbors`);
      const g0 = Date.now();
      await grow(base, have, n, o.chunk, say);
      have = n;
      const growMs = Date.now() - g0;
      const m = await measure(base, o.samples, errors);
      for (const ms of m.ms) samples.push({ series: `${n} neighbors`, ms, ok: true });
      const st = stats(m.ms);
      const flows = await agentFlows(rig.agent as AgentProcess);
      steps.push({ neighbors: n, growMs, failed: m.failed, agentFlows: flows, ...st });
      say(
        `  ${n} neighbors: p50 ${st.p50Ms} ms, p99 ${st.p99Ms} ms, max ${st.maxMs} ms (grown in ${growMs} ms, ${flows} flows)`,
      );
    }
    const result: NeighborsResult = {
      bench: 'neighbors',
      samples: o.samples,
      steps,
      referenceTarget: { neighbors: 10000, ms: 20 },
      failed: steps.reduce((s, x) => s + x.failed, 0),
      errors,
      setupMs,
      loadAvg,
      ...(o.out === undefined ? {} : { report: o.out }),
    };
    if (o.out !== undefined) {
      neighborsReport(o.out, result, samples);
      say(`report: ${o.out}/report.html`);
    }
    return result;
  } finally {
    await rig.ctl?.stop();
    await rig.agent?.stop().catch(() => undefined);
    await rig.remote?.stop();
    await rig.sb?.stop().catch(() => undefined);
    fs.rmSync(rig.dir, { recursive: true, force: true });
  }
}

const OPTIONS = [
  {
    name: 'steps',
    type: 'string',
    default: '1,1000,10000,100000',
    metavar: 'N,N,...',
    help: 'neighbor counts to measure at, ascending',
  },
  { name: 'samples', type: 'number', default: 20, metavar: 'K', help: 'port updates timed at each step' },
  { name: 'chunk', type: 'number', default: 5000, metavar: 'C', help: 'ports per bulk create while growing' },
  ...OUTPUT_OPTIONS,
] as const satisfies readonly OptionSpec[];

const HELP = {
  usage: 'alcor-bench neighbors [--steps 1,1000,10000,100000] [--samples K] [--chunk C] [--out DIR] [--json]',
  description:
    "One port's update as its VPC grows: a real alcor-agent on sandboxed OVS holds the port and every other port\n" +
    'of the VPC as a neighbor (the others are on a simulated host). At each step the VPC grows to N neighbors, then\n' +
    'K updates of the port are timed from the API call until every agent acknowledged (p50/p95/p99/max per step).\n' +
    "Needs root and OVS. Alcor's DPM target, 20 ms for 10k neighbors, is shown as another system's figure.",
  options: OPTIONS,
  footer: 'Example:\n  sudo ALCOR_SANDBOX_TAG=me alcor-bench neighbors --steps 1,1000,10000 --samples 20 --json',
};

/** `--steps` as ascending positive integers, or the message to print. */
export function parseSteps(text: string): number[] | string {
  const steps = text.split(',').map((x) => Number(x.trim()));
  if (text.trim() === '' || steps.some((n) => !Number.isInteger(n) || n < 1))
    return `--steps must be positive integers separated by commas, got ${JSON.stringify(text)}`;
  if (steps.some((n, i) => i > 0 && n <= (steps[i - 1] as number))) return '--steps must be ascending';
  if ((steps[steps.length - 1] as number) > 1_000_000) return '--steps must be <= 1000000';
  return steps;
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(OPTIONS, argv, io.env).options;
  const steps = parseSteps(o.steps);
  const bad =
    (typeof steps === 'string' ? steps : null) ??
    badInteger('samples', o.samples, 1) ??
    badInteger('chunk', o.chunk, 1);
  if (bad !== null || typeof steps === 'string') {
    io.stderr(`alcor-bench neighbors: ${bad ?? ''}\n`);
    return 2;
  }
  const result = await runNeighbors({
    steps,
    samples: o.samples,
    chunk: o.chunk,
    progress: (line) => io.stderr(`${line}\n`),
    ...(o.out === undefined ? {} : { out: o.out }),
  });
  io.stdout(`${JSON.stringify(result)}\n`);
  return result.failed === 0 ? 0 : 1;
}

export const command: SubcommandModule = { help: HELP, run };
