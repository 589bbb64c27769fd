// alcor-bench vms --simulated-hosts H: the seed notes' 2,400-VM deployment on the control path alone. H
// simulated hosts in child processes (perf/engine-agents.ts: the agent's real gRPC server and real engine per
// host, no OVS), an in-process control service driven only through the resource API, as perf/vms.ts does on
// real OVS: VPC, subnet, security group and router, then every VM's port at once (one POST each with
// ?wait=true, or one bulk POST), so a port's time is from the first create until every agent the change
// reaches acknowledged it and the port is ACTIVE. Then every port is deleted at once, timed the same way.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startControl, type ControlHandle } from '../control/server';
import { silentLogger } from '../control/log';
import { DEFAULT_NEIGHBOR_LIMIT } from '../control/dpm/dpm';
import { hostIp } from '../control/testing/fixtures';
import type { EngineAgentsArgs, EngineHostSpec } from './engine-agents';
import { writeReport, type Sample } from './report/report';
import { msSince, percentile, stats, type Stats } from './report/stats';
import { cdfChart } from './report/svg';
import { processCpuMs } from './proc-cpu';

export interface SimulatedVmsOptions {
  readonly vms: number;
  /** Simulated hosts (engine + gRPC server each, no OVS). */
  readonly hosts: number;
  readonly bulk?: boolean;
  /** Child processes the simulated hosts are spread over (default 1). */
  readonly agentProcesses?: number;
  /** The control service's --neighbor-limit (default: the control service's default). */
  readonly neighborLimit?: number;
  readonly out?: string;
  readonly progress?: (line: string) => void;
}

export interface SimulatedVmsResult {
  readonly bench: 'vms';
  readonly simulated: true;
  readonly vms: number;
  readonly hosts: number;
  readonly bulk: boolean;
  readonly agentProcesses: number;
  readonly neighborLimit: number;
  /** First port create until the last port was ACTIVE (every agent the creates reach acknowledged). */
  readonly allUpMs: number;
  readonly p50UpMs: number;
  readonly p99UpMs: number;
  readonly active: Stats;
  /** Every port deleted at once, until the last delete was acknowledged by every agent. */
  readonly deleteMs: number;
  readonly delete: Stats;
  readonly failed: number;
  readonly errors: readonly string[];
  /** Flow-mods the simulated hosts' engines computed, and goal states they applied (creates and deletes). */
  readonly flowMods: number;
  readonly goalStates: number;
  readonly setupMs: number;
  /**
   * CPU ms of each phase: `control` is this process (the control service and the bench's HTTP client), `engines`
   * the simulated hosts' processes (/proc, 10 ms resolution). Wall time on a shared machine says little.
   */
  readonly cpuMs: { readonly create: PhaseCpu; readonly delete: PhaseCpu };
  /** os.loadavg() (1, 5, 15 min) when the creates started: the machine is shared. */
  readonly loadAvg: readonly number[];
  readonly report?: string;
}

export interface PhaseCpu {
  readonly control: number;
  readonly engines: number;
}

/** CPU ms so far of this process and of the simulated hosts' children. */
function cpuNow(children: readonly AgentChild[]): PhaseCpu {
  const u = process.cpuUsage();
  return {
    control: (u.user + u.system) / 1000,
    engines: children.reduce((sum, c) => sum + processCpuMs(c.child.pid), 0),
  };
}

const cpuSince = (a: PhaseCpu, b: PhaseCpu): PhaseCpu => ({
  control: Math.round(b.control - a.control),
  engines: Math.round(b.engines - a.engines),
});

/** Sockets to the API: every request is sent at once, they queue here rather than as 2,400 connections. */
const MAX_SOCKETS = 256;

interface Answer {
  readonly status: number;
  readonly json: Record<string, unknown>;
}

function request(agent: http.Agent, port: number, method: string, p: string, body?: unknown): Promise<Answer> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: '127.0.0.1', port, method, path: p, headers: data ? { 'content-type': 'application/json' } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> });
          } catch {
            resolve({ status: res.statusCode ?? 0, json: { body: text } });
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

interface AgentChild {
  readonly child: ChildProcess;
  readonly ports: number[];
  /** The child's counters line, once stdin closed and it answered. */
  readonly counters: Promise<{ flowMods: number; goalStates: number }>;
}

function startAgentChild(args: EngineAgentsArgs): Promise<AgentChild> {
  // The parent's node flags too: `node --cpu-prof` profiles the simulated hosts as well.
  const argv = [...process.execArgv, path.join(__dirname, 'engine-agents.js'), JSON.stringify(args)];
  const child = spawn(process.execPath, argv, {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buf = '';
  let onLine: (() => void) | null = null;
  child.stdout?.on('data', (c: Buffer) => {
    buf += c.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    onLine?.();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const nthLine = (n: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (lines.length > n) resolve(lines[n] as string);
      };
      onLine = check;
      check();
      void exited.then((code) => reject(new Error(`simulated hosts exited with ${code}`)));
    });
  return nthLine(0).then((l) => ({
    child,
    ports: (JSON.parse(l) as { ports: number[] }).ports,
    counters: new Promise((resolve) => {
      // Asked for only at the end (stdin closed); a child that died answers zeros.
      child.stdin?.once('finish', () =>
        nthLine(1).then(
          (x) => resolve(JSON.parse(x) as { flowMods: number; goalStates: number }),
          () => resolve({ flowMods: 0, goalStates: 0 }),
        ),
      );
    }),
  }));
}

/** The hosts, their plugged ports (round-robin, as perf/vms.ts places VMs), split over `procs` children. */
function hostSpecs(o: SimulatedVmsOptions, procs: number): EngineHostSpec[][] {
  const specs: Array<{ ip: string; ports: string[] }> = Array.from({ length: o.hosts }, (_, h) => ({
    ip: hostIp(h + 1),
    ports: [],
  }));
  for (let i = 0; i < o.vms; i++) specs[i % o.hosts]?.ports.push(`vp${i}`);
  const out: EngineHostSpec[][] = Array.from({ length: procs }, () => []);
  specs.forEach((s, h) => out[h % procs]?.push(s));
  return out.filter((l) => l.length > 0);
}

async function waitConnected(port: number, agent: http.Agent, hosts: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const m = await request(agent, port, 'GET', '/metrics');
    const x = /^alcor_control_agents_connected (\S+)$/m.exec(String(m.json.body ?? ''));
    if (Number(x?.[1]) === hosts) return;
    if (Date.now() - t0 > 120_000) throw new Error(`only ${x?.[1] ?? 0} of ${hosts} agent streams up after 120 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface PortTimes {
  upMs?: number;
  deleteMs?: number;
  error?: string;
}

const portBody = (o: SimulatedVmsOptions, i: number): Record<string, unknown> => ({
  id: `vp${i}`,
  subnet: 'net',
  host: hostIp((i % o.hosts) + 1),
  securityGroups: ['open'],
});

/** Every port at once; each one's time until its answer said ACTIVE. */
async function createAll(o: SimulatedVmsOptions, send: Sender, times: PortTimes[], t0: bigint): Promise<void> {
  const check = (i: number, port: Record<string, unknown> | undefined, at: number): void => {
    const t = times[i] as PortTimes;
    if (port?.status === 'ACTIVE') t.upMs = at;
    else t.error = `vp${i}: ${String(port?.status)} ${String(port?.statusReason ?? '')}`;
  };
  if (o.bulk === true) {
    const r = await send(
      'POST',
      '/v1/ports?wait=true',
      times.map((_, i) => portBody(o, i)),
    );
    const at = msSince(t0);
    if (r.status !== 201) throw new Error(`bulk POST: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
    const items = r.json.items as ReadonlyArray<Record<string, unknown>>;
    times.forEach((_, i) => check(i, items[i], at));
    return;
  }
  await Promise.all(
    times.map(async (t, i) => {
      const r = await send('POST', '/v1/ports?wait=true', portBody(o, i)).catch((e: unknown) => ({
        status: 0,
        json: { error: (e as Error).message },
      }));
      if (r.status !== 201) t.error = `vp${i}: ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`;
      else check(i, r.json, msSince(t0));
    }),
  );
}

type Sender = (method: string, p: string, body?: unknown) => Promise<Answer>;

async function setupNetwork(send: Sender): Promise<void> {
  for (const [p, body] of [
    ['/v1/vpcs', { id: 'vpc', cidr: '10.30.0.0/16' }],
    ['/v1/subnets', { id: 'net', vpc: 'vpc', cidr: '10.30.0.0/16' }],
    [
      '/v1/security-groups',
      { id: 'open', rules: [{ direction: 'ingress', remoteCidr: '10.30.0.0/16' }, { direction: 'egress' }] },
    ],
    ['/v1/routers', { id: 'r', subnets: ['net'] }],
  ] as const) {
    const r = await send('POST', `${p}?wait=true`, body);
    if (r.status !== 201) throw new Error(`POST ${p}: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
  }
}

function summarize(
  o: SimulatedVmsOptions,
  times: readonly PortTimes[],
  extra: Pick<SimulatedVmsResult, 'deleteMs' | 'flowMods' | 'goalStates' | 'setupMs' | 'cpuMs' | 'loadAvg'>,
): SimulatedVmsResult {
  const up = times.filter((t) => t.upMs !== undefined).map((t) => t.upMs as number);
  const sorted = [...up].sort((a, b) => a - b);
  const failed = times.filter((t) => t.upMs === undefined);
  return {
    bench: 'vms',
    simulated: true,
    vms: o.vms,
    hosts: o.hosts,
    bulk: o.bulk === true,
    agentProcesses: o.agentProcesses ?? 1,
    neighborLimit: o.neighborLimit ?? DEFAULT_NEIGHBOR_LIMIT,
    allUpMs: failed.length === 0 ? Math.round(sorted[sorted.length - 1] ?? 0) : -1,
    p50UpMs: Math.round(percentile(sorted, 50)),
    p99UpMs: Math.round(percentile(sorted, 99)),
    active: stats(up),
    delete: stats(times.filter((t) => t.deleteMs !== undefined).map((t) => t.deleteMs as number)),
    failed: failed.length,
    errors: failed.slice(0, 5).map((t) => t.error ?? 'unknown'),
    ...extra,
    ...(o.out === undefined ? {} : { report: o.out }),
  };
}

function simulatedReport(dir: string, result: SimulatedVmsResult, times: readonly PortTimes[]): void {
  const samples: Sample[] = [];
  for (const t of times) if (t.upMs !== undefined) samples.push({ series: 'port ACTIVE', ms: t.upMs, ok: true });
  for (const t of times) if (t.deleteMs !== undefined) samples.push({ series: 'port deleted', ms: t.deleteMs });
  const series = ['port ACTIVE', 'port deleted'].map((name) => ({
    name,
    samplesMs: samples.filter((s) => s.series === name).map((s) => s.ms),
  }));
  writeReport(dir, {
    title: `alcor-bench vms: ${result.vms} VMs on ${result.hosts} simulated hosts`,
    description:
      'Every port created at once through the resource API of an in-process control service; simulated hosts run ' +
      "the agent's real gRPC server and engine (no OVS) in child processes. A port's time runs from the first " +
      'create until every agent the change reaches acknowledged it (ACTIVE). Seed notes (other hardware, ' +
      'OpenStack with real VMs, the whole deployment, not the control path alone): 2,400 VMs averaged 35 s.',
    result,
    charts: [cdfChart('time to ACTIVE and to deleted (CDF over ports)', series)],
    samples,
  });
}

async function stopChildren(children: readonly AgentChild[]): Promise<{ flowMods: number; goalStates: number }> {
  const sum = { flowMods: 0, goalStates: 0 };
  for (const c of children) c.child.stdin?.end();
  for (const c of children) {
    const timer = setTimeout(() => c.child.kill('SIGKILL'), 30_000);
    const n = await c.counters;
    clearTimeout(timer);
    sum.flowMods += n.flowMods;
    sum.goalStates += n.goalStates;
  }
  return sum;
}

export async function runSimulatedVms(o: SimulatedVmsOptions): Promise<SimulatedVmsResult> {
  const say = o.progress ?? (() => undefined);
  const setupStart = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bench-vms-sim-'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  const children: AgentChild[] = [];
  let ctl: ControlHandle | null = null;
  try {
    const specs = hostSpecs(o, o.agentProcesses ?? 1);
    for (const hosts of specs) children.push(await startAgentChild({ hosts }));
    const addresses = new Map<string, string>();
    specs.forEach((hs, c) => hs.forEach((h, j) => addresses.set(h.ip, `127.0.0.1:${children[c]?.ports[j]}`)));
    say(`${o.hosts} simulated hosts listening in ${children.length} process(es)`);
    ctl = await startControl(
      {
        listen: '127.0.0.1:0',
        http: '127.0.0.1:0',
        etcd: null,
        dataDir: path.join(dir, 'control'),
        replicaId: 'bench',
        prefix: '/bench/',
        leaseTtlSec: 5,
        ackMode: 'agents',
        resultTimeoutMs: 120_000,
        replyTimeoutMs: 120_000,
        backoffMaxMs: 300,
        logLevel: 'warn',
        agents: addresses,
        ...(o.neighborLimit === undefined ? {} : { neighborLimit: o.neighborLimit }),
      },
      silentLogger,
    );
    const port = ctl.httpPort;
    const send: Sender = (method, p, body) => request(agent, port, method, p, body);
    await waitConnected(port, agent, o.hosts);
    await setupNetwork(send);
    const setupMs = Date.now() - setupStart;
    const loadAvg = os.loadavg().map((x) => Math.round(x * 100) / 100);
    say(
      `network ready, ${o.hosts} agents connected (${setupMs} ms, load ${loadAvg.join(' ')}); ${o.vms} ports at once`,
    );
    const times: PortTimes[] = Array.from({ length: o.vms }, () => ({}));
    const cpu0 = cpuNow(children);
    const t0 = process.hrtime.bigint();
    const ticker = setInterval(() => {
      const up = times.filter((t) => t.upMs !== undefined).length;
      say(`${up}/${o.vms} ports ACTIVE (${Math.round(msSince(t0))} ms)`);
    }, 2000);
    await createAll(o, send, times, t0).finally(() => clearInterval(ticker));
    const upCount = times.filter((t) => t.upMs !== undefined).length;
    say(`${upCount}/${o.vms} ports ACTIVE in ${Math.round(msSince(t0))} ms; deleting every port at once`);
    const cpu1 = cpuNow(children);
    const d0 = process.hrtime.bigint();
    await Promise.all(
      times.map(async (t, i) => {
        const r = await send('DELETE', `/v1/ports/vp${i}?wait=true`).catch(() => ({ status: 0 }));
        if (r.status === 200) t.deleteMs = msSince(d0);
      }),
    );
    const deleteMs = Math.round(msSince(d0));
    const cpuMs = { create: cpuSince(cpu0, cpu1), delete: cpuSince(cpu1, cpuNow(children)) };
    say(
      `deleted in ${deleteMs} ms; CPU ms create ${JSON.stringify(cpuMs.create)}, delete ${JSON.stringify(cpuMs.delete)}`,
    );
    await ctl.stop();
    ctl = null;
    const counters = await stopChildren(children);
    children.length = 0;
    const result = summarize(o, times, { deleteMs, setupMs, cpuMs, loadAvg, ...counters });
    if (o.out !== undefined) {
      simulatedReport(o.out, result, times);
      say(`report: ${o.out}/report.html`);
    }
    return result;
  } finally {
    agent.destroy();
    await ctl?.stop();
    if (children.length > 0) await stopChildren(children);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
