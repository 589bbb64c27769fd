// alcor-bench api: latency of the resource API, per kind and operation, from the HTTP call until every
// affected agent acknowledged (`?wait=true`, like `ovn-nbctl --wait=hv`).
//
// Layout as in `alcor-bench control`: one embedded control replica in its own node process, the agents in
// this process (control/testing/test-agent.ts: the agent's real gRPC server with a recording applier). One
// VPC; N ports spread round-robin over H hosts, created one request at a time so each latency is one change.
// Measured per kind (vpc, subnet, port, router, security group): create, update, delete; p50/p99/max.
// Port create also reports how many agents acknowledged each one (1 when the VPC is above --neighbor-limit
// and neighbors are resolved on demand; H when every host gets the new neighbor). The last line is JSON.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, type OptionSpec } from '../core/cli/args';
import type { CliIo, SubcommandModule } from '../core/cli/commands';
import { hostIp, httpJson } from '../control/testing/fixtures';
import { ReplicaProcess } from '../control/testing/replica-process';
import { TestAgent } from '../control/testing/test-agent';

export interface ApiBenchOptions {
  readonly hosts: number;
  readonly ports: number;
  readonly samples: number;
  readonly neighborLimit: number;
  /** The ports' group has Neutron's default remote-group rule (every member is in every host's rules). */
  readonly remoteGroup?: boolean;
  readonly progress?: (line: string) => void;
}

interface Stats {
  readonly n: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface ApiBenchResult {
  readonly bench: 'api';
  readonly hosts: number;
  readonly ports: number;
  readonly neighborLimit: number;
  readonly remoteGroup: boolean;
  readonly setupMs: number;
  readonly kinds: Record<string, Record<string, Stats>>;
  /** Agents that received something per port create (p50 / max). */
  readonly agentsPerPortCreate: { readonly p50: number; readonly max: number };
  /** Port creates whose answer was not ACTIVE (an agent did not acknowledge in time). */
  readonly notActive: number;
  readonly errors: number;
}

function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0;
  const r = (x: number): number => Math.round(x * 100) / 100;
  return { n: s.length, p50Ms: r(at(50)), p99Ms: r(at(99)), maxMs: r(s[s.length - 1] ?? 0) };
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runApiBench(opts: ApiBenchOptions): Promise<ApiBenchResult> {
  const say = opts.progress ?? (() => undefined);
  const setupStart = Date.now();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bench-api-'));
  const agents: TestAgent[] = [];
  let replica: ReplicaProcess | null = null;
  let errors = 0;
  try {
    for (let i = 0; i < opts.hosts; i += 100) {
      const n = Math.min(100, opts.hosts - i);
      agents.push(...(await Promise.all(Array.from({ length: n }, (_, j) => TestAgent.start(hostIp(i + j + 1))))));
    }
    for (const a of agents) a.recordMessages = false;
    replica = await ReplicaProcess.start([
      '--listen',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--log-level',
      'warn',
      '--data-dir',
      dataDir,
      '--neighbor-limit',
      String(opts.neighborLimit),
    ]);
    const base = replica.httpBase;
    const reg = await httpJson(
      base,
      'POST',
      '/v1/hosts',
      agents.map((a) => ({ hostIp: a.hostIp, agent: a.address })),
    );
    if (reg.status !== 200) throw new Error(`registering agents failed: ${JSON.stringify(reg.json)}`);
    await until('every agent stream up', 120000, async () => {
      const m = await httpJson(base, 'GET', '/metrics');
      const x = /^alcor_control_agents_connected (\S+)$/m.exec(String(m.json));
      return Number(x?.[1]) === opts.hosts;
    });
    const setupMs = Date.now() - setupStart;
    say(`${opts.hosts} agents connected (${setupMs} ms)`);

    const timed = async (
      method: string,
      p: string,
      body?: unknown,
    ): Promise<{ ms: number; json: Record<string, unknown> }> => {
      const t0 = process.hrtime.bigint();
      const r = await httpJson(base, method, p, body);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status >= 300) {
        errors++;
        if (errors <= 3) say(`${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
      }
      return { ms, json: r.json as Record<string, unknown> };
    };
    const kinds: Record<string, Record<string, number[]>> = {};
    const add = (kind: string, op: string, ms: number): void => {
      ((kinds[kind] ??= {})[op] ??= []).push(ms);
    };
    const k = opts.samples;

    // VPCs, subnets, routers and security groups that no port uses: pure API + store cost.
    for (let i = 0; i < k; i++)
      add('vpc', 'create', (await timed('POST', '/v1/vpcs?wait=true', { id: `bv${i}`, cidr: '10.200.0.0/16' })).ms);
    for (let i = 0; i < k; i++)
      add('vpc', 'update', (await timed('PATCH', `/v1/vpcs/bv${i}?wait=true`, { cidr: '10.200.0.0/15' })).ms);
    for (let i = 0; i < k; i++)
      add(
        'subnet',
        'create',
        (await timed('POST', '/v1/subnets?wait=true', { id: `bs${i}`, vpc: `bv${i}`, cidr: '10.200.1.0/24' })).ms,
      );

    // The VPC under test, with one security group (a remote-group rule, as Neutron's default group) and a router.
    await timed('POST', '/v1/vpcs', { id: 'vpc', cidr: '10.64.0.0/12' });
    await timed('POST', '/v1/subnets', { id: 'net', vpc: 'vpc', cidr: '10.64.0.0/14' });
    await timed('POST', '/v1/subnets', { id: 'net2', vpc: 'vpc', cidr: '10.72.0.0/24' });
    for (let i = 0; i < k; i++) {
      add(
        'securityGroup',
        'create',
        (await timed('POST', '/v1/security-groups?wait=true', { id: `bg${i}`, rules: [{ direction: 'egress' }] })).ms,
      );
    }
    await timed('POST', '/v1/security-groups', {
      id: 'default',
      rules: opts.remoteGroup
        ? [
            { direction: 'ingress', remoteGroup: 'default' },
            { direction: 'ingress', ethertype: 'IPv6', remoteGroup: 'default' },
            { direction: 'egress' },
          ]
        : [{ direction: 'ingress', remoteCidr: '10.64.0.0/12' }, { direction: 'egress' }],
    });

    const received = (): number[] => agents.map((a) => a.received);
    const perCreate: number[] = [];
    let notActive = 0;
    const t0 = Date.now();
    for (let i = 0; i < opts.ports; i++) {
      const before = received();
      const r = await timed('POST', '/v1/ports?wait=true', {
        id: `p${i}`,
        subnet: 'net',
        host: hostIp((i % opts.hosts) + 1),
        securityGroups: ['default'],
      });
      add('port', 'create', r.ms);
      // Below the limit every host of the VPC gets the new neighbor; above it only the port's host is told.
      add('port', i < opts.neighborLimit ? 'create-neighbors-pushed' : 'create-neighbors-on-demand', r.ms);
      if (r.json.status !== 'ACTIVE') notActive++;
      const after = received();
      perCreate.push(after.filter((x, j) => x > (before[j] as number)).length);
      if ((i + 1) % 1000 === 0) say(`${i + 1} ports (${Date.now() - t0} ms)`);
    }
    for (let i = 0; i < Math.min(k * 5, opts.ports); i++) {
      add('port', 'update', (await timed('PATCH', `/v1/ports/p${i}?wait=true`, { device: `tap${i}` })).ms);
    }
    for (let i = 0; i < Math.min(k, opts.ports); i++) {
      // A move to the next host: new host, neighbors, old host, each acknowledged before the next step.
      add(
        'port',
        'move',
        (await timed('PATCH', `/v1/ports/p${i}?wait=true`, { host: hostIp(((i + 1) % opts.hosts) + 1) })).ms,
      );
    }
    for (let i = 0; i < k; i++) {
      add('router', 'create', (await timed('POST', '/v1/routers?wait=true', { id: `br${i}`, subnets: [`bs${i}`] })).ms);
    }
    add(
      'router',
      'create-in-vpc',
      (await timed('POST', '/v1/routers?wait=true', { id: 'r', subnets: ['net', 'net2'] })).ms,
    );
    for (let i = 0; i < k; i++)
      add('router', 'update', (await timed('PATCH', `/v1/routers/br${i}?wait=true`, { subnets: [] })).ms);
    for (let i = 0; i < k; i++) add('router', 'delete', (await timed('DELETE', `/v1/routers/br${i}?wait=true`)).ms);
    for (let i = 0; i < k; i++)
      add('securityGroup', 'update', (await timed('PATCH', `/v1/security-groups/bg${i}?wait=true`, { rules: [] })).ms);
    for (let i = 0; i < k; i++)
      add('securityGroup', 'delete', (await timed('DELETE', `/v1/security-groups/bg${i}?wait=true`)).ms);
    for (let i = 0; i < k; i++)
      add('subnet', 'update', (await timed('PATCH', `/v1/subnets/bs${i}?wait=true`, { dhcp: false })).ms);
    for (let i = 0; i < k; i++) add('subnet', 'delete', (await timed('DELETE', `/v1/subnets/bs${i}?wait=true`)).ms);
    for (let i = 0; i < k; i++) add('vpc', 'delete', (await timed('DELETE', `/v1/vpcs/bv${i}?wait=true`)).ms);
    for (let i = 0; i < opts.ports; i++) add('port', 'delete', (await timed('DELETE', `/v1/ports/p${i}?wait=true`)).ms);
    say(`done (${Date.now() - setupStart} ms)`);

    const out: Record<string, Record<string, Stats>> = {};
    for (const [kind, ops] of Object.entries(kinds)) {
      out[kind] = {};
      for (const [op, list] of Object.entries(ops)) (out[kind] as Record<string, Stats>)[op] = stats(list);
    }
    const pc = [...perCreate].sort((a, b) => a - b);
    return {
      bench: 'api',
      hosts: opts.hosts,
      ports: opts.ports,
      neighborLimit: opts.neighborLimit,
      remoteGroup: opts.remoteGroup === true,
      setupMs,
      kinds: out,
      agentsPerPortCreate: { p50: pc[Math.floor(pc.length / 2)] ?? 0, max: pc[pc.length - 1] ?? 0 },
      notActive,
      errors,
    };
  } finally {
    await replica?.kill('SIGKILL');
    for (const a of agents) await a.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const OPTIONS = [
  { name: 'hosts', type: 'number', default: 100, metavar: 'H', help: 'agents (one gRPC server each)' },
  { name: 'ports', type: 'number', default: 5000, metavar: 'N', help: 'ports in the VPC, round-robin over the hosts' },
  { name: 'samples', type: 'number', default: 20, metavar: 'K', help: 'operations timed per kind besides ports' },
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
  { name: 'json', type: 'boolean', help: 'print only the JSON result line' },
] as const satisfies readonly OptionSpec[];

const HELP = {
  usage: 'alcor-bench api [--hosts H] [--ports N] [--json]',
  description:
    'Latency of the resource API per kind (create/update/delete, p50/p99) from the HTTP call until every\naffected agent acknowledged (?wait=true), with simulated agents. Last line: JSON.',
  options: OPTIONS,
  footer: 'Example:\n  alcor-bench api --hosts 100 --ports 5000 --json',
};

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(OPTIONS, argv, io.env).options;
  for (const [name, v, min] of [
    ['hosts', o.hosts, 1],
    ['ports', o.ports, 1],
    ['samples', o.samples, 1],
    ['neighbor-limit', o['neighbor-limit'], 0],
  ] as const) {
    if (!Number.isInteger(v) || v < min) {
      io.stderr(`alcor-bench api: --${name} must be an integer >= ${min}\n`);
      return 2;
    }
  }
  const result = await runApiBench({
    hosts: o.hosts,
    ports: o.ports,
    samples: o.samples,
    neighborLimit: o['neighbor-limit'],
    remoteGroup: o['remote-group'],
    progress: o.json ? undefined : (line) => io.stdout(`${line}\n`),
  });
  io.stdout(`${JSON.stringify(result)}\n`);
  return result.errors === 0 && result.notActive === 0 ? 0 : 1;
}

export const command: SubcommandModule = { help: HELP, run };
