// alcor-bench vms: the seed notes' stress test on real parts. H sandboxed OVS hosts (test/sandbox), one real
// `alcor-agent run` process each, the VMs as network namespaces on veth ports (plugged first, as Nova does),
// and a control service in its own process driven only through the resource API: network, subnet and router,
// then every VM's port at once (?wait=true, so ACTIVE means every agent acknowledged). Each VM's guest shell
// (scenario/guest.ts) then runs busybox udhcpc and pings its gateway and a VM on another host. Per VM: ms from
// the first port create until ACTIVE, leased, and pinging (the gateway and the remote VM both answered). Then
// every port is deleted at once.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, type OptionSpec } from '../core/cli/args';
import type { CliIo, SubcommandModule } from '../core/cli/commands';
import { startAgent, type AgentProcess } from '../agent/e2e-helpers';
import { tapNameFor } from '../agent/ovsdb';
import { ReplicaProcess } from '../control/testing/replica-process';
import { type OvsSandbox, type Vm, type VmOptions } from '../test/sandbox';
import { badInteger } from './scenario/bed';
import { writeReport, type Sample } from './report/report';
import { msSince } from './report/stats';
import { cdfChart } from './report/svg';
import { OUTPUT_OPTIONS } from './scenario/options';
import { Guest, uptimeSeconds, writeLeaseHook } from './scenario/guest';
import { plugVms, startMeshedHosts } from './scenario/vm-hosts';
import {
  hostUnderlay,
  newTimes,
  recordGuest,
  summarizeTimes,
  vmMac,
  type VmTimes,
  type VmsSummary,
} from './scenario/vm-times';
import { runOvnVms, type OvnVmsResult } from './vms-ovn';
import { SIMULATED_VMS_HELP, SIMULATED_VMS_OPTIONS, runSimulatedCli } from './vms-simulated-cli';

export interface VmsOptions {
  readonly vms: number;
  readonly hosts: number;
  /** One bulk POST holding every port instead of one POST per port (all sent at once). */
  readonly bulk?: boolean;
  readonly out?: string;
  /** 'ovn': after our run, the same scenario on OVN on fresh hosts (perf/vms-ovn.ts), reported beside ours. */
  readonly baseline?: 'ovn';
  /** The OVN run's time limit, once for the VMs and once for the delete (default 150 s). */
  readonly ovnTimeoutMs?: number;
  readonly progress?: (line: string) => void;
}

export interface VmsResult extends VmsSummary {
  readonly bench: 'vms';
  readonly vms: number;
  readonly hosts: number;
  readonly bulk: boolean;
  /** All ports deleted at once, until every agent acknowledged. */
  readonly deleteMs: number;
  readonly setupMs: number;
  readonly report?: string;
  /** With --baseline ovn: OVN's run of the same scenario, or null (then ovnNote says why). */
  readonly ovn?: OvnVmsResult | null;
  readonly ovnNote?: string | null;
}

async function api(base: string, method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(`${base}${p}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err: unknown) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${method} ${p}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

interface Rig {
  readonly sandboxes: OvsSandbox[];
  readonly agents: AgentProcess[];
  readonly vms: Vm[];
  readonly guests: Guest[];
  control: ReplicaProcess | null;
  readonly dir: string;
}

/** Hosts one after another (each links to every earlier one); their VMs and agents in parallel across hosts. */
async function buildRig(o: VmsOptions, rig: Rig, say: (l: string) => void): Promise<void> {
  await startMeshedHosts('bvm', o.hosts, rig.sandboxes);
  say(`${o.hosts} OVS hosts up`);
  const vmOptions = (i: number): VmOptions => {
    const portId = `vp${i}`;
    return { name: `vm${i}`, mac: vmMac(i), ip: '169.254.0.1/16', iface: tapNameFor(portId), portId, mtu: 1450 };
  };
  rig.vms.push(...(await plugVms(rig.sandboxes, o.vms, vmOptions, say)));
  say(`${o.vms} VM namespaces plugged`);
  const started = await Promise.all(
    rig.sandboxes.map((sb, h) =>
      startAgent(sb, ['--tunnel-ip', hostUnderlay(h), '--tunnel-ofport', '100', '--workers', '1'], 60_000),
    ),
  );
  rig.agents.push(...started);
  say(`${o.hosts} agents running`);
  // The control service in a process of its own, as operators run it (and out of reach of this one's spawns).
  const args = ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--log-level', 'warn'];
  rig.control = await ReplicaProcess.start([
    ...args,
    ...['--data-dir', path.join(rig.dir, 'control'), '--result-timeout', '60000', '--reply-timeout', '60000'],
    ...['--backoff-max', '300'],
  ]);
  const hosts = rig.agents.map((a, h) => ({ hostIp: hostUnderlay(h), agent: `127.0.0.1:${a.grpcPort}` }));
  await api(rig.control.httpBase, 'POST', '/v1/hosts', hosts);
}

const portBody = (o: VmsOptions, i: number): Record<string, unknown> => ({
  id: `vp${i}`,
  subnet: 'net',
  host: hostUnderlay(i % o.hosts),
  mac: vmMac(i),
  securityGroups: ['open'],
});

/** One VM's life after its port create was sent at `t0`: ACTIVE, then its guest boots. */
async function bringUp(
  base: string,
  rig: Rig,
  o: VmsOptions,
  i: number,
  t0: bigint,
  ips: string[],
  t: VmTimes,
  bulk: Promise<BulkAnswer> | null,
): Promise<void> {
  const guest = rig.guests[i] as Guest;
  let port: Record<string, unknown>;
  try {
    if (bulk === null) {
      port = await api(base, 'POST', '/v1/ports?wait=true', portBody(o, i));
      t.activeMs = msSince(t0);
    } else {
      const b = await bulk;
      port = b.items[i] as Record<string, unknown>;
      t.activeMs = b.atMs;
    }
    if (port.status !== 'ACTIVE') {
      t.activeMs = undefined;
      throw new Error(`vp${i}: ${String(port.status)} ${String(port.statusReason ?? '')}`);
    }
  } catch (err: unknown) {
    guest.stop();
    throw err;
  }
  ips[i] = String(port.ip);
  guest.go();
  // The guest pings a VM on the next host, whose address is known once that VM's port answered.
  const peer = (i + 1) % o.vms;
  for (let w = 0; ips[peer] === undefined; w++) {
    if (w > 3000) {
      guest.stop();
      throw new Error(`vm${i}: its peer vm${peer} never got a port`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  guest.peer(ips[peer] as string);
}

interface BulkAnswer {
  readonly items: ReadonlyArray<Record<string, unknown>>;
  readonly atMs: number;
}

const SERIES = [
  ['port ACTIVE', (t: VmTimes) => t.activeMs],
  ['DHCP lease', (t: VmTimes) => t.leaseMs],
  ['pinging', (t: VmTimes) => t.upMs],
] as const;

/** One chart, both systems: with a baseline, ours are `alcor ...` and OVN's `OVN ...` (ACTIVE there is `up`). */
const SEED_150_VMS = [
  ['seed notes, Alcor, 150 VMs all up (other hw)', 5600],
  ['seed notes, Neutron, 150 VMs (other hw)', 20000],
] as const;

function vmsReport(dir: string, result: VmsResult, times: readonly VmTimes[], ovnTimes: readonly VmTimes[]): void {
  const samples: Sample[] = [];
  const systems =
    ovnTimes.length === 0 ? [['', times] as const] : [['alcor ', times] as const, ['OVN ', ovnTimes] as const];
  for (const [prefix, list] of systems) {
    for (const t of list) {
      for (const [name, pick] of SERIES) {
        const ms = pick(t);
        const series = prefix === 'OVN ' && name === 'port ACTIVE' ? 'OVN port up' : `${prefix}${name}`;
        if (ms !== undefined) samples.push({ series, ms, ok: true });
      }
    }
  }
  const names = [...new Set(samples.map((s) => s.series))];
  const series = names.map((name) => ({ name, samplesMs: samples.filter((s) => s.series === name).map((s) => s.ms) }));
  // The seed notes' whole-set times for 150 VMs, drawn as a step where every VM was up: other systems, other hardware.
  for (const [name, ms] of SEED_150_VMS) series.push({ name, samplesMs: [ms] });
  const vs = ovnTimes.length === 0 ? '' : ', and the same VMs on OVN (ovn-controller per host, native DHCP)';
  writeReport(dir, {
    title: `alcor-bench vms: ${result.vms} VMs on ${result.hosts} OVS hosts`,
    description:
      `Real alcor-agent processes on sandboxed OVS, VMs as namespaces, everything through the resource API${vs}. ` +
      'Times from the first port create. Seed notes (other hardware, OpenStack, real VMs): Alcor 5.6 s, Neutron 20 s for 150 VMs.',
    result,
    charts: [cdfChart('time to connectivity (CDF over VMs)', series)],
    samples,
  });
}

function summarize(o: VmsOptions, times: readonly VmTimes[], deleteMs: number, setupMs: number): VmsResult {
  const { allUpMs, p50UpMs, p99UpMs, active, lease, up, failed, errors } = summarizeTimes(times);
  return {
    bench: 'vms',
    vms: o.vms,
    hosts: o.hosts,
    bulk: o.bulk === true,
    ...{ allUpMs, p50UpMs, p99UpMs, active, lease, up, deleteMs, failed, errors, setupMs },
    ...(o.out === undefined ? {} : { report: o.out }),
  };
}

export async function runVms(o: VmsOptions): Promise<VmsResult> {
  const say = o.progress ?? (() => undefined);
  const ours = await runAlcor(o);
  let result: VmsResult = ours.result;
  let ovnTimes: readonly VmTimes[] = [];
  if (o.baseline === 'ovn') {
    try {
      const ovn = await runOvnVms({
        vms: o.vms,
        hosts: o.hosts,
        timeoutMs: o.ovnTimeoutMs ?? 150_000,
        progress: say,
      });
      ovnTimes = ovn.times;
      const notes = [
        ...(ovn.result.failed > 0 ? [`${ovn.result.failed} of ${o.vms} VMs on OVN not pinging (see ovn.errors)`] : []),
        ...(ovn.result.deleteMs < 0 ? ['the delete did not reach every OVN chassis within the time limit'] : []),
      ];
      const note = notes.length === 0 ? null : notes.join('; ');
      result = { ...result, ovn: ovn.result, ovnNote: note };
    } catch (err: unknown) {
      result = { ...result, ovn: null, ovnNote: `OVN could not run: ${(err as Error).message}` };
    }
  }
  if (o.out !== undefined) {
    vmsReport(o.out, result, ours.times, ovnTimes);
    say(`report: ${o.out}/report.html`);
  }
  return result;
}

async function runAlcor(o: VmsOptions): Promise<{ readonly result: VmsResult; readonly times: VmTimes[] }> {
  const say = o.progress ?? (() => undefined);
  const setupStart = Date.now();
  const rig: Rig = {
    sandboxes: [],
    agents: [],
    vms: [],
    guests: [],
    control: null,
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bench-vms-')),
  };
  try {
    await buildRig(o, rig, say);
    const base = (rig.control as ReplicaProcess).httpBase;
    await api(base, 'POST', '/v1/vpcs', { id: 'vpc', cidr: '10.30.0.0/16' });
    const subnet = await api(base, 'POST', '/v1/subnets', { id: 'net', vpc: 'vpc', cidr: '10.30.0.0/16' });
    await api(base, 'POST', '/v1/security-groups', {
      id: 'open',
      rules: [{ direction: 'ingress', remoteCidr: '10.30.0.0/16' }, { direction: 'egress' }],
    });
    // The gateway answers ping from the router's flows.
    await api(base, 'POST', '/v1/routers?wait=true', { id: 'r', subnets: ['net'] });
    const hook = writeLeaseHook(rig.dir);
    for (const vm of rig.vms) rig.guests.push(new Guest(vm.netns, hook, String(subnet.gatewayIp)));
    const setupMs = Date.now() - setupStart;
    say(`network ready (${setupMs} ms); creating ${o.vms} ports at once`);
    const times = newTimes(o.vms, o.hosts);
    const ips: string[] = [];
    const t0 = process.hrtime.bigint();
    const uptime0 = uptimeSeconds();
    let up = 0;
    const ticker = setInterval(() => say(`${up}/${o.vms} VMs pinging (${Math.round(msSince(t0))} ms)`), 2000);
    // --bulk: one request with every port (one transaction); otherwise one request per port, all at once.
    const bulk = !o.bulk
      ? null
      : api(
          base,
          'POST',
          '/v1/ports?wait=true',
          times.map((_, i) => portBody(o, i)),
        ).then((r) => ({ items: r.items as ReadonlyArray<Record<string, unknown>>, atMs: msSince(t0) }));
    await Promise.all(
      times.map(async (t, i) => {
        try {
          await bringUp(base, rig, o, i, t0, ips, t, bulk);
        } catch (err: unknown) {
          t.error = (err as Error).message;
        }
        recordGuest(t, i, await (rig.guests[i] as Guest).done, uptime0);
        if (t.upMs !== undefined) up++;
      }),
    );
    clearInterval(ticker);
    const upCount = times.filter((t) => t.upMs !== undefined).length;
    say(`${upCount}/${o.vms} VMs pinging; deleting every port at once`);
    const d0 = process.hrtime.bigint();
    await Promise.all(times.map((_, i) => api(base, 'DELETE', `/v1/ports/vp${i}?wait=true`).catch(() => undefined)));
    return { result: summarize(o, times, Math.round(msSince(d0)), setupMs), times };
  } finally {
    for (const g of rig.guests) g.stop();
    await rig.control?.kill('SIGTERM');
    await Promise.all(rig.agents.map((a) => a.stop().catch(() => undefined)));
    for (const sb of rig.sandboxes) await sb.stop().catch(() => undefined);
    fs.rmSync(rig.dir, { recursive: true, force: true });
  }
}

const OPTIONS = [
  {
    name: 'vms',
    type: 'number',
    default: 10,
    metavar: 'N',
    help: 'VMs (network namespaces), round-robin over the hosts',
  },
  {
    name: 'hosts',
    type: 'number',
    default: 2,
    metavar: 'H',
    help: 'sandboxed OVS hosts, one alcor-agent each (at least 2)',
  },
  {
    name: 'bulk',
    type: 'boolean',
    help: 'one bulk POST holding every port (default: one POST per port, all sent at once)',
  },
  {
    name: 'baseline',
    type: 'string',
    metavar: 'ovn',
    help: 'after our run, run the same VMs on OVN (fresh hosts, ovn-controller each, native DHCP); both reported',
  },
  {
    name: 'ovn-timeout-s',
    type: 'number',
    default: 150,
    metavar: 'S',
    help: 'with --baseline ovn: OVN time limit for the VMs (and again for the delete); late VMs count as failed',
  },
  ...SIMULATED_VMS_OPTIONS,
  ...OUTPUT_OPTIONS,
] as const satisfies readonly OptionSpec[];

const HELP = {
  usage:
    'alcor-bench vms [--vms N] [--hosts H | --simulated-hosts H [--agent-processes P]] [--bulk] [--baseline ovn [--ovn-timeout-s S]] [--out DIR] [--json]',
  description:
    'The stress test end to end: H sandboxed OVS hosts with real alcor-agent processes, N VMs as namespaces.\n' +
    'Through the resource API: network, subnet, router, then every port at once; each VM runs udhcpc and pings\n' +
    'its gateway and a VM on another host. Needs root, OVS, busybox. Last line: JSON (allUpMs, p50UpMs, failed...).\n' +
    'With --baseline ovn (needs ovn-central, ovn-host) the same VMs then run on OVN on fresh hosts; the JSON gains\n' +
    '`ovn` (the same fields, or null) and `ovnNote`, and the report plots both systems on one CDF.\n' +
    SIMULATED_VMS_HELP,
  options: OPTIONS,
  footer:
    'Examples:\n  sudo ALCOR_SANDBOX_TAG=me alcor-bench vms --vms 10 --hosts 2 --json\n' +
    '  sudo ALCOR_SANDBOX_TAG=me alcor-bench vms --vms 150 --hosts 3 --baseline ovn --json --out /tmp/vms\n' +
    '  alcor-bench vms --vms 2400 --simulated-hosts 100 --json',
};

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(OPTIONS, argv, io.env).options;
  if (o['simulated-hosts'] > 0 && o.baseline !== undefined) {
    io.stderr('alcor-bench vms: --baseline needs real OVS hosts (--hosts), not --simulated-hosts\n');
    return 2;
  }
  if (o['simulated-hosts'] > 0) return runSimulatedCli(o, io);
  const bad =
    badInteger('vms', o.vms, 2) ??
    badInteger('hosts', o.hosts, 2) ??
    (o.hosts > 200 ? '--hosts must be <= 200' : null) ??
    (o.vms > 60000 ? '--vms must be <= 60000' : null) ??
    (o.baseline !== undefined && o.baseline !== 'ovn' ? `--baseline must be ovn, got '${o.baseline}'` : null) ??
    badInteger('ovn-timeout-s', o['ovn-timeout-s'], 1);
  if (bad !== null) {
    io.stderr(`alcor-bench vms: ${bad}\n`);
    return 2;
  }
  const result = await runVms({
    vms: o.vms,
    hosts: o.hosts,
    bulk: o.bulk === true,
    ...(o.baseline === 'ovn' ? { baseline: 'ovn' as const, ovnTimeoutMs: o['ovn-timeout-s'] * 1000 } : {}),
    progress: (line) => io.stderr(`${line}\n`),
    ...(o.out === undefined ? {} : { out: o.out }),
  });
  io.stdout(`${JSON.stringify(result)}\n`);
  // OVN failing is the baseline's result, not ours: only our own failures set the exit code.
  return result.failed === 0 ? 0 : 1;
}

export const command: SubcommandModule = { help: HELP, run };
