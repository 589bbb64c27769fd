// alcor-bench api: latency of the resource API per kind (VPC, subnet, port, router, security group) and operation
// (create, update, delete), with two timings each:
//   answered: the HTTP call without ?wait, until the API answered (validated, stored, queued for the DPM);
//   acked:    the same operation on a sibling resource with ?wait=true, until every affected agent
//             acknowledged (like `ovn-nbctl --wait=hv`).
// Between the two a barrier (a ?wait=true write that touches no agent) lets the first one's agent work finish,
// so the acked call starts from a quiet system. Layout: perf/scenario/bed.ts (one control replica process,
// simulated agents). N ports are spread round-robin over H hosts in one VPC; the count of agents reached per port
// create shows whether neighbors were pushed to every host (below --neighbor-limit) or resolved on demand.
import { parseArgs, type OptionSpec } from '../core/cli/args';
import type { CliIo, SubcommandModule } from '../core/cli/commands';
import { hostIp } from '../control/testing/fixtures';
import { badInteger, startBed, type Bed, type CallResult } from './scenario/bed';
import { writeReport, type Sample } from './report/report';
import { stats, type Stats } from './report/stats';
import { cdfChart } from './report/svg';
import { OUTPUT_OPTIONS } from './scenario/options';

export interface ApiBenchOptions {
  readonly hosts: number;
  readonly ports: number;
  readonly samples: number;
  readonly neighborLimit: number;
  /** The ports' group has Neutron's default remote-group rule (every member is in every host's rules). */
  readonly remoteGroup?: boolean;
  readonly progress?: (line: string) => void;
  /** Directory for report.html and the raw samples. */
  readonly out?: string;
}

export type Timing = 'answered' | 'acked';

export interface ApiBenchResult {
  readonly bench: 'api';
  readonly hosts: number;
  readonly ports: number;
  readonly neighborLimit: number;
  readonly remoteGroup: boolean;
  readonly setupMs: number;
  /** kind -> operation -> timing -> stats. */
  readonly kinds: Record<string, Record<string, Partial<Record<Timing, Stats>>>>;
  /** Agents that received something per port create (p50 / max). */
  readonly agentsPerPortCreate: { readonly p50: number; readonly max: number };
  /** ?wait=true port creates whose answer was not ACTIVE (an agent did not acknowledge in time). */
  readonly notActive: number;
  readonly errors: number;
  readonly report?: string;
}

const BARRIER = '/v1/security-groups/bench-barrier?wait=true';

/** Records samples and counts failed calls; `timed` runs one call, `barrier` waits for the agents to go quiet. */
class Recorder {
  readonly samples: Sample[] = [];
  errors = 0;
  private readonly t0 = Date.now();
  constructor(
    private readonly bed: Bed,
    readonly say: (l: string) => void,
  ) {}

  async timed(series: string, method: string, p: string, body?: unknown): Promise<CallResult> {
    const r = await this.bed.call(method, p, body);
    const ok = r.status >= 200 && r.status < 300;
    if (!ok && ++this.errors <= 3) this.say(`${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
    if (series !== '') this.samples.push({ series, ms: r.ms, atMs: Date.now() - this.t0, ok });
    return r;
  }

  async barrier(): Promise<void> {
    await this.timed('', 'PATCH', BARRIER, { rules: [] });
  }

  /** `count` times: op(i, false) timed as answered, barrier, op(i, true) timed as acked. */
  async both(kind: string, op: string, count: number, call: (i: number, wait: boolean) => Promise<unknown>) {
    for (let i = 0; i < count; i++) {
      await call(i, false);
      await this.barrier();
      await call(i, true);
    }
    this.say(`${kind} ${op}: ${count * 2} calls`);
  }
}

const q = (wait: boolean): string => (wait ? '?wait=true' : '');
const sfx = (wait: boolean): string => (wait ? 'w' : 'n');
const tm = (wait: boolean): Timing => (wait ? 'acked' : 'answered');

/** VPCs, subnets, routers and security groups that no port uses: API + store cost, no agent work. */
async function unusedKinds(rec: Recorder, k: number, phase: 'create' | 'update' | 'delete'): Promise<void> {
  const s = (kind: string, wait: boolean): string => `${kind}/${phase}/${tm(wait)}`;
  const id = (p: string, i: number, wait: boolean): string => `${p}${sfx(wait)}${i}`;
  if (phase === 'create') {
    await rec.both('vpc', phase, k, (i, w) =>
      rec.timed(s('vpc', w), 'POST', `/v1/vpcs${q(w)}`, { id: id('bv', i, w), cidr: '10.200.0.0/16' }),
    );
    await rec.both('subnet', phase, k, (i, w) =>
      rec.timed(s('subnet', w), 'POST', `/v1/subnets${q(w)}`, {
        id: id('bs', i, w),
        vpc: id('bv', i, w),
        cidr: '10.200.1.0/24',
      }),
    );
    await rec.both('securityGroup', phase, k, (i, w) =>
      rec.timed(s('securityGroup', w), 'POST', `/v1/security-groups${q(w)}`, {
        id: id('bg', i, w),
        rules: [{ direction: 'egress' }],
      }),
    );
    await rec.both('router', phase, k, (i, w) =>
      rec.timed(s('router', w), 'POST', `/v1/routers${q(w)}`, { id: id('br', i, w), subnets: [id('bs', i, w)] }),
    );
    return;
  }
  if (phase === 'update') {
    await rec.both('vpc', phase, k, (i, w) =>
      rec.timed(s('vpc', w), 'PATCH', `/v1/vpcs/${id('bv', i, w)}${q(w)}`, { cidr: '10.200.0.0/15' }),
    );
    await rec.both('subnet', phase, k, (i, w) =>
      rec.timed(s('subnet', w), 'PATCH', `/v1/subnets/${id('bs', i, w)}${q(w)}`, { dhcp: false }),
    );
    await rec.both('securityGroup', phase, k, (i, w) =>
      rec.timed(s('securityGroup', w), 'PATCH', `/v1/security-groups/${id('bg', i, w)}${q(w)}`, { rules: [] }),
    );
    await rec.both('router', phase, k, (i, w) =>
      rec.timed(s('router', w), 'PATCH', `/v1/routers/${id('br', i, w)}${q(w)}`, { subnets: [] }),
    );
    return;
  }
  await rec.both('router', phase, k, (i, w) =>
    rec.timed(s('router', w), 'DELETE', `/v1/routers/${id('br', i, w)}${q(w)}`),
  );
  await rec.both('securityGroup', phase, k, (i, w) =>
    rec.timed(s('securityGroup', w), 'DELETE', `/v1/security-groups/${id('bg', i, w)}${q(w)}`),
  );
  await rec.both('subnet', phase, k, (i, w) =>
    rec.timed(s('subnet', w), 'DELETE', `/v1/subnets/${id('bs', i, w)}${q(w)}`),
  );
  await rec.both('vpc', phase, k, (i, w) => rec.timed(s('vpc', w), 'DELETE', `/v1/vpcs/${id('bv', i, w)}${q(w)}`));
}

/** The VPC under test: a big subnet for the ports, a second one for the in-VPC router, one security group. */
async function setupVpc(rec: Recorder, remoteGroup: boolean): Promise<void> {
  await rec.timed('', 'POST', '/v1/security-groups', { id: 'bench-barrier', rules: [] });
  await rec.timed('', 'POST', '/v1/vpcs', { id: 'vpc', cidr: '10.64.0.0/12' });
  await rec.timed('', 'POST', '/v1/subnets', { id: 'net', vpc: 'vpc', cidr: '10.64.0.0/14' });
  await rec.timed('', 'POST', '/v1/subnets', { id: 'net2', vpc: 'vpc', cidr: '10.72.0.0/24' });
  await rec.timed('', 'POST', '/v1/security-groups', {
    id: 'default',
    rules: remoteGroup
      ? [
          { direction: 'ingress', remoteGroup: 'default' },
          { direction: 'ingress', ethertype: 'IPv6', remoteGroup: 'default' },
          { direction: 'egress' },
        ]
      : [{ direction: 'ingress', remoteCidr: '10.64.0.0/12' }, { direction: 'egress' }],
  });
}

/** Port creates alternate: even ones without ?wait (answered, then a barrier), odd ones with ?wait=true (acked). */
async function portCreates(
  rec: Recorder,
  bed: Bed,
  o: ApiBenchOptions,
): Promise<{ perCreate: number[]; notActive: number }> {
  const received = (): number[] => bed.agents.map((a) => a.received);
  const perCreate: number[] = [];
  let notActive = 0;
  const t0 = Date.now();
  for (let i = 0; i < o.ports; i++) {
    const wait = i % 2 === 1;
    const before = received();
    const body = { id: `p${i}`, subnet: 'net', host: hostIp((i % o.hosts) + 1), securityGroups: ['default'] };
    const r = await rec.timed(`port/create/${tm(wait)}`, 'POST', `/v1/ports${q(wait)}`, body);
    if (!wait) await rec.barrier();
    else if (r.json.status !== 'ACTIVE') notActive++;
    // Below the limit every host of the VPC gets the new neighbor; above it only the port's host is told.
    const op = i < o.neighborLimit ? 'create-neighbors-pushed' : 'create-neighbors-on-demand';
    rec.samples.push({ series: `port/${op}/${tm(wait)}`, ms: r.ms });
    const after = received();
    perCreate.push(after.filter((x, j) => x > (before[j] as number)).length);
    if ((i + 1) % 1000 === 0) rec.say(`${i + 1} ports (${Date.now() - t0} ms)`);
  }
  return { perCreate, notActive };
}

async function portChanges(rec: Recorder, o: ApiBenchOptions): Promise<void> {
  const k = o.samples;
  const pair = Math.floor(Math.min(k * 5, o.ports) / 2);
  await rec.both('port', 'update', pair, (i, w) =>
    rec.timed(`port/update/${tm(w)}`, 'PATCH', `/v1/ports/p${2 * i + (w ? 1 : 0)}${q(w)}`, { device: `tap${i}` }),
  );
  // A move to the next host: new host, neighbors, old host, each acknowledged before the next step.
  await rec.both('port', 'move', Math.floor(Math.min(k * 2, o.ports) / 2), (i, w) => {
    const n = 2 * i + (w ? 1 : 0);
    return rec.timed(`port/move/${tm(w)}`, 'PATCH', `/v1/ports/p${n}${q(w)}`, {
      host: hostIp(((n + 1) % o.hosts) + 1),
    });
  });
  await rec.timed('router/create-in-vpc/acked', 'POST', '/v1/routers?wait=true', { id: 'r', subnets: ['net', 'net2'] });
}

async function portDeletes(rec: Recorder, ports: number): Promise<void> {
  for (let i = 0; i < ports; i++) {
    const wait = i % 2 === 1;
    await rec.timed(`port/delete/${tm(wait)}`, 'DELETE', `/v1/ports/p${i}${q(wait)}`);
    if (!wait) await rec.barrier();
  }
}

function summarize(samples: readonly Sample[]): ApiBenchResult['kinds'] {
  const by = new Map<string, number[]>();
  for (const s of samples) {
    let l = by.get(s.series);
    if (l === undefined) by.set(s.series, (l = []));
    l.push(s.ms);
  }
  const out: ApiBenchResult['kinds'] = {};
  for (const [series, ms] of by) {
    const [kind, op, timing] = series.split('/') as [string, string, Timing];
    ((out[kind] ??= {})[op] ??= {})[timing] = stats(ms);
  }
  return out;
}

function report(dir: string, result: ApiBenchResult, samples: readonly Sample[]): string {
  const kinds = [...new Set(samples.map((s) => s.series.split('/')[0] as string))];
  const charts = kinds.map((kind) => {
    const series = [...new Set(samples.filter((s) => s.series.startsWith(`${kind}/`)).map((s) => s.series))];
    const data = series.map((name) => ({
      name: name.slice(kind.length + 1),
      samplesMs: samples.filter((s) => s.series === name).map((s) => s.ms),
    }));
    return cdfChart(`${kind}: latency CDF per operation and timing`, data);
  });
  return writeReport(dir, {
    title: 'alcor-bench api: resource API latency per kind',
    description:
      `${result.hosts} simulated agents, ${result.ports} ports in one VPC, --neighbor-limit ${result.neighborLimit}. ` +
      '"answered": the call without ?wait until the API answered; "acked": with ?wait=true until every affected agent acknowledged.',
    result,
    charts,
    samples,
  }).html;
}

export async function runApiBench(opts: ApiBenchOptions): Promise<ApiBenchResult> {
  const say = opts.progress ?? (() => undefined);
  const bed = await startBed(opts.hosts, opts.neighborLimit, say);
  try {
    const rec = new Recorder(bed, say);
    await setupVpc(rec, opts.remoteGroup === true);
    await unusedKinds(rec, opts.samples, 'create');
    const { perCreate, notActive } = await portCreates(rec, bed, opts);
    await portChanges(rec, opts);
    await unusedKinds(rec, opts.samples, 'update');
    await unusedKinds(rec, opts.samples, 'delete');
    await portDeletes(rec, opts.ports);
    const pc = [...perCreate].sort((a, b) => a - b);
    const result: ApiBenchResult = {
      bench: 'api',
      hosts: opts.hosts,
      ports: opts.ports,
      neighborLimit: opts.neighborLimit,
      remoteGroup: opts.remoteGroup === true,
      setupMs: bed.setupMs,
      kinds: summarize(rec.samples),
      agentsPerPortCreate: { p50: pc[Math.floor(pc.length / 2)] ?? 0, max: pc[pc.length - 1] ?? 0 },
      notActive,
      errors: rec.errors,
    };
    if (opts.out === undefined) return result;
    const withReport = { ...result, report: opts.out };
    report(opts.out, withReport, rec.samples);
    say(`report: ${opts.out}/report.html`);
    return withReport;
  } finally {
    await bed.close();
  }
}

const OPTIONS = [
  { name: 'hosts', type: 'number', default: 100, metavar: 'H', help: 'agents (one gRPC server each)' },
  { name: 'ports', type: 'number', default: 5000, metavar: 'N', help: 'ports in the VPC, round-robin over the hosts' },
  {
    name: 'samples',
    type: 'number',
    default: 20,
    metavar: 'K',
    help: 'operations timed per kind and timing besides port creates',
  },
  {
    name: 'neighbor-limit',
    type: 'number',
    default: 1000,
    metavar: 'N',
    help: "the control service's --neighbor-limit (above it, neighbors are resolved on demand)",
  },
  {
    name: 'remote-group',
    type: 'boolean',
    help: "the ports' security group allows ingress from its own members (Neutron's default group) instead of a CIDR",
  },
  ...OUTPUT_OPTIONS,
] as const satisfies readonly OptionSpec[];

const HELP = {
  usage: 'alcor-bench api [--hosts H] [--ports N] [--samples K] [--out DIR] [--json]',
  description:
    'Latency of the resource API per kind and operation (create/update/delete; p50/p95/p99/max), timed two ways:\n' +
    'until the API answered (no ?wait) and until every affected agent acknowledged (?wait=true), with simulated\n' +
    'agents. Half the port creates and deletes are timed each way. Last line: JSON.',
  options: OPTIONS,
  footer: 'Example:\n  alcor-bench api --hosts 100 --ports 5000 --out /tmp/api-report --json',
};

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(OPTIONS, argv, io.env).options;
  for (const [name, v, min] of [
    ['hosts', o.hosts, 1],
    ['ports', o.ports, 2],
    ['samples', o.samples, 1],
    ['neighbor-limit', o['neighbor-limit'], 0],
  ] as const) {
    const bad = badInteger(name, v, min);
    if (bad !== null) {
      io.stderr(`alcor-bench api: ${bad}\n`);
      return 2;
    }
  }
  const result = await runApiBench({
    hosts: o.hosts,
    ports: o.ports,
    samples: o.samples,
    neighborLimit: o['neighbor-limit'],
    remoteGroup: o['remote-group'],
    progress: (line) => io.stderr(`${line}\n`),
    ...(o.out === undefined ? {} : { out: o.out }),
  });
  io.stdout(`${JSON.stringify(result)}\n`);
  return result.errors === 0 && result.notActive === 0 ? 0 : 1;
}

export const command: SubcommandModule = { help: HELP, run };
