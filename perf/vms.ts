// alcor-bench vms: the seed notes' stress test on real parts. H sandboxed OVS hosts (test/sandbox), one real
// `alcor-agent run` process each, the VMs as network namespaces on veth ports (plugged first, as Nova does),
// and an in-process control service driven only through the resource API: network, subnet and router, then
// every VM's port at once (?wait=true, so ACTIVE means every agent acknowledged). Each VM then runs busybox
// udhcpc and pings its gateway and a VM on another host. Per VM: ms from the first port create until ACTIVE,
// leased, and pinging (the gateway and the remote VM both answered). Then every port is deleted at once.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, type OptionSpec } from '../core/cli/args';
import type { CliIo, SubcommandModule } from '../core/cli/commands';
import { startAgent, type AgentProcess } from '../agent/e2e-helpers';
import { tapNameFor } from '../agent/ovsdb';
import { startControl, type ControlHandle } from '../control/server';
import { silentLogger } from '../control/log';
import { OvsSandbox, type Vm } from '../test/sandbox';
import { badInteger } from './scenario/bed';
import { writeReport, type Sample } from './report/report';
import { msSince, percentile, stats, type Stats } from './report/stats';
import { cdfChart } from './report/svg';
import { OUTPUT_OPTIONS } from './scenario/options';
import { SIMULATED_VMS_HELP, SIMULATED_VMS_OPTIONS, runSimulatedCli } from './vms-simulated-cli';

export interface VmsOptions {
  readonly vms: number;
  readonly hosts: number;
  /** One bulk POST holding every port instead of one POST per port (all sent at once). */
  readonly bulk?: boolean;
  readonly out?: string;
  readonly progress?: (line: string) => void;
}

interface VmTimes {
  readonly vm: string;
  readonly host: number;
  activeMs?: number;
  leaseMs?: number;
  upMs?: number;
  error?: string;
}

export interface VmsResult {
  readonly bench: 'vms';
  readonly vms: number;
  readonly hosts: number;
  readonly bulk: boolean;
  /** First port create until the last VM pinged its gateway and its remote VM. */
  readonly allUpMs: number;
  readonly p50UpMs: number;
  readonly p99UpMs: number;
  readonly active: Stats;
  readonly lease: Stats;
  readonly up: Stats;
  /** All ports deleted at once, until every agent acknowledged. */
  readonly deleteMs: number;
  readonly failed: number;
  readonly errors: readonly string[];
  readonly setupMs: number;
  readonly report?: string;
}

const hostUnderlay = (h: number): string => `192.0.2.${h + 1}`;
const vmMac = (i: number): string =>
  `02:cf:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

async function api(base: string, method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

/** busybox udhcpc in the VM; the script configures the lease as a guest's DHCP client would. */
async function lease(vm: Vm, dir: string): Promise<void> {
  const script = path.join(dir, `${vm.name}.sh`);
  fs.writeFileSync(
    script,
    '#!/bin/sh\nif [ "$1" = bound ]; then ip addr flush dev eth0; ip addr add $ip/$mask dev eth0; ip route replace default via $router; touch ' +
      path.join(dir, `${vm.name}.bound`) +
      '; fi\nexit 0\n',
    { mode: 0o755 },
  );
  const r = await vm.exec(['busybox', 'udhcpc', '-f', '-q', '-n', '-t', '10', '-T', '1', '-i', 'eth0', '-s', script], {
    timeoutMs: 30_000,
  });
  if (r.code !== 0 || !fs.existsSync(path.join(dir, `${vm.name}.bound`)))
    throw new Error(`${vm.name}: no DHCP lease (${(r.stderr || r.stdout).trim().slice(0, 200)})`);
}

/** Pings until one echo comes back (the flows may still be landing on the other host), at most `tries` times. */
async function pingUntil(vm: Vm, ip: string, tries: number): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if ((await vm.exec(['ping', '-c1', '-W1', ip])).code === 0) return;
  }
  throw new Error(`${vm.name}: no answer from ${ip} after ${tries} pings`);
}

interface Rig {
  readonly sandboxes: OvsSandbox[];
  readonly agents: AgentProcess[];
  readonly vms: Vm[];
  ctl: ControlHandle | null;
  readonly dir: string;
}

async function buildRig(o: VmsOptions, rig: Rig, say: (l: string) => void): Promise<void> {
  for (let h = 0; h < o.hosts; h++) {
    const peers = rig.sandboxes.map((s) => s.name);
    const sb = await OvsSandbox.start({
      name: `bvm${h}`,
      underlay: { ip: `${hostUnderlay(h)}/24`, ...(peers.length > 0 ? { peer: peers } : {}) },
    });
    rig.sandboxes.push(sb);
  }
  say(`${o.hosts} OVS hosts up`);
  for (let i = 0; i < o.vms; i++) {
    const sb = rig.sandboxes[i % o.hosts] as OvsSandbox;
    const portId = `vp${i}`;
    rig.vms.push(
      await sb.addVm({
        name: `vm${i}`,
        mac: vmMac(i),
        ip: '169.254.0.1/16',
        iface: tapNameFor(portId),
        portId,
        mtu: 1450,
      }),
    );
  }
  say(`${o.vms} VM namespaces plugged`);
  for (let h = 0; h < o.hosts; h++) {
    const args = ['--tunnel-ip', hostUnderlay(h), '--tunnel-ofport', '100', '--workers', '1'];
    rig.agents.push(await startAgent(rig.sandboxes[h] as OvsSandbox, args, 60_000));
  }
  say(`${o.hosts} agents running`);
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
      resultTimeoutMs: 60000,
      replyTimeoutMs: 60000,
      backoffMaxMs: 300,
      logLevel: 'warn',
      agents: new Map(rig.agents.map((a, h) => [hostUnderlay(h), `127.0.0.1:${a.grpcPort}`])),
    },
    silentLogger,
  );
}

interface BulkAnswer {
  readonly items: ReadonlyArray<Record<string, unknown>>;
  readonly atMs: number;
}

const portBody = (o: VmsOptions, i: number): Record<string, unknown> => ({
  id: `vp${i}`,
  subnet: 'net',
  host: hostUnderlay(i % o.hosts),
  mac: vmMac(i),
  securityGroups: ['open'],
});

/** One VM's life after its port create was sent at `t0`: ACTIVE, lease, pings. */
async function bringUp(
  base: string,
  rig: Rig,
  o: VmsOptions,
  i: number,
  t0: bigint,
  gateway: string,
  ips: string[],
  t: VmTimes,
  bulk: Promise<BulkAnswer> | null,
): Promise<void> {
  let port: Record<string, unknown>;
  if (bulk === null) {
    port = await api(base, 'POST', '/v1/ports?wait=true', portBody(o, i));
    t.activeMs = msSince(t0);
  } else {
    // Timed when the one answer came, not when this VM's turn to read it came (the others spawn udhcpc first).
    const b = await bulk;
    port = b.items[i] as Record<string, unknown>;
    t.activeMs = b.atMs;
  }
  if (port.status !== 'ACTIVE') {
    t.activeMs = undefined;
    throw new Error(`vp${i}: ${String(port.status)} ${String(port.statusReason ?? '')}`);
  }
  ips[i] = String(port.ip);
  const vm = rig.vms[i] as Vm;
  await lease(vm, rig.dir);
  t.leaseMs = msSince(t0);
  await pingUntil(vm, gateway, 10);
  // A VM on the next host; its address is known once its port answered, which may take a moment.
  const peer = (i + 1) % o.vms === i ? i : (i + 1) % o.vms;
  for (let w = 0; ips[peer] === undefined; w++) {
    if (w > 3000) throw new Error(`vm${i}: its peer vm${peer} never got a port`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await pingUntil(vm, ips[peer] as string, 20);
  t.upMs = msSince(t0);
}

function vmsReport(dir: string, result: VmsResult, times: readonly VmTimes[]): void {
  const samples: Sample[] = [];
  for (const t of times) {
    if (t.activeMs !== undefined) samples.push({ series: 'port ACTIVE', ms: t.activeMs, ok: true });
    if (t.leaseMs !== undefined) samples.push({ series: 'DHCP lease', ms: t.leaseMs, ok: true });
    if (t.upMs !== undefined) samples.push({ series: 'pinging', ms: t.upMs, ok: true });
  }
  const series = ['port ACTIVE', 'DHCP lease', 'pinging'].map((name) => ({
    name,
    samplesMs: samples.filter((s) => s.series === name).map((s) => s.ms),
  }));
  writeReport(dir, {
    title: `alcor-bench vms: ${result.vms} VMs on ${result.hosts} OVS hosts`,
    description:
      'Real alcor-agent processes on sandboxed OVS, VMs as namespaces, everything through the resource API. ' +
      'Times from the first port create. Seed notes (other hardware, OpenStack, real VMs): Alcor 5.6 s, Neutron 20 s for 150 VMs.',
    result,
    charts: [cdfChart('time to connectivity (CDF over VMs)', series)],
    samples,
  });
}

function summarize(o: VmsOptions, times: readonly VmTimes[], deleteMs: number, setupMs: number): VmsResult {
  const upMs = times.filter((t) => t.upMs !== undefined).map((t) => t.upMs as number);
  const sorted = [...upMs].sort((a, b) => a - b);
  const failed = times.filter((t) => t.upMs === undefined);
  const of = (pick: (t: VmTimes) => number | undefined): Stats =>
    stats(times.map(pick).filter((x): x is number => x !== undefined));
  return {
    bench: 'vms',
    vms: o.vms,
    hosts: o.hosts,
    bulk: o.bulk === true,
    allUpMs: failed.length === 0 ? Math.round(sorted[sorted.length - 1] ?? 0) : -1,
    p50UpMs: Math.round(percentile(sorted, 50)),
    p99UpMs: Math.round(percentile(sorted, 99)),
    active: of((t) => t.activeMs),
    lease: of((t) => t.leaseMs),
    up: stats(upMs),
    deleteMs,
    failed: failed.length,
    errors: failed.slice(0, 5).map((t) => t.error ?? `${t.vm}: unknown`),
    setupMs,
    ...(o.out === undefined ? {} : { report: o.out }),
  };
}

export async function runVms(o: VmsOptions): Promise<VmsResult> {
  const say = o.progress ?? (() => undefined);
  const setupStart = Date.now();
  const rig: Rig = {
    sandboxes: [],
    agents: [],
    vms: [],
    ctl: null,
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bench-vms-')),
  };
  try {
    await buildRig(o, rig, say);
    const base = `http://127.0.0.1:${(rig.ctl as ControlHandle).httpPort}`;
    await api(base, 'POST', '/v1/vpcs', { id: 'vpc', cidr: '10.30.0.0/16' });
    const subnet = await api(base, 'POST', '/v1/subnets', { id: 'net', vpc: 'vpc', cidr: '10.30.0.0/16' });
    await api(base, 'POST', '/v1/security-groups', {
      id: 'open',
      rules: [{ direction: 'ingress', remoteCidr: '10.30.0.0/16' }, { direction: 'egress' }],
    });
    // The gateway answers ping from the router's flows.
    await api(base, 'POST', '/v1/routers?wait=true', { id: 'r', subnets: ['net'] });
    const setupMs = Date.now() - setupStart;
    say(`network ready (${setupMs} ms); creating ${o.vms} ports at once`);
    const times: VmTimes[] = Array.from({ length: o.vms }, (_, i) => ({ vm: `vm${i}`, host: i % o.hosts }));
    const ips: string[] = [];
    const t0 = process.hrtime.bigint();
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
      times.map((t, i) =>
        bringUp(base, rig, o, i, t0, String(subnet.gatewayIp), ips, t, bulk).then(
          () => void up++,
          (err: unknown) => void (t.error = (err as Error).message),
        ),
      ),
    );
    clearInterval(ticker);
    const upCount = times.filter((t) => t.upMs !== undefined).length;
    say(`${upCount}/${o.vms} VMs pinging; deleting every port at once`);
    const d0 = process.hrtime.bigint();
    await Promise.all(times.map((_, i) => api(base, 'DELETE', `/v1/ports/vp${i}?wait=true`).catch(() => undefined)));
    const result = summarize(o, times, Math.round(msSince(d0)), setupMs);
    if (o.out !== undefined) {
      vmsReport(o.out, result, times);
      say(`report: ${o.out}/report.html`);
    }
    return result;
  } finally {
    await rig.ctl?.stop();
    for (const a of rig.agents) await a.stop().catch(() => undefined);
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
  ...SIMULATED_VMS_OPTIONS,
  ...OUTPUT_OPTIONS,
] as const satisfies readonly OptionSpec[];

const HELP = {
  usage:
    'alcor-bench vms [--vms N] [--hosts H | --simulated-hosts H [--agent-processes P]] [--bulk] [--out DIR] [--json]',
  description:
    'The stress test end to end: H sandboxed OVS hosts with real alcor-agent processes, N VMs as namespaces.\n' +
    'Through the resource API: network, subnet, router, then every port at once; each VM runs udhcpc and pings\n' +
    'its gateway and a VM on another host. Needs root, OVS, busybox. Last line: JSON (allUpMs, p50UpMs, failed...).\n' +
    SIMULATED_VMS_HELP,
  options: OPTIONS,
  footer:
    'Examples:\n  sudo ALCOR_SANDBOX_TAG=me alcor-bench vms --vms 10 --hosts 2 --json\n' +
    '  alcor-bench vms --vms 2400 --simulated-hosts 100 --json',
};

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(OPTIONS, argv, io.env).options;
  if (o['simulated-hosts'] > 0) return runSimulatedCli(o, io);
  const bad =
    badInteger('vms', o.vms, 2) ??
    badInteger('hosts', o.hosts, 2) ??
    (o.hosts > 200 ? '--hosts must be <= 200' : null) ??
    (o.vms > 60000 ? '--vms must be <= 60000' : null);
  if (bad !== null) {
    io.stderr(`alcor-bench vms: ${bad}\n`);
    return 2;
  }
  const result = await runVms({
    vms: o.vms,
    hosts: o.hosts,
    bulk: o.bulk === true,
    progress: (line) => io.stderr(`${line}\n`),
    ...(o.out === undefined ? {} : { out: o.out }),
  });
  io.stdout(`${JSON.stringify(result)}\n`);
  return result.failed === 0 ? 0 : 1;
}

export const command: SubcommandModule = { help: HELP, run };
