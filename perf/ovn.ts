// alcor-bench ovn: 1 local port + N remote ports in one L2 segment, on our agent and on OVN, in the same run on
// the same machine, one after the other (each system gets both cores to itself).
//
// Ours (perf/ovs.ts's method): a real `alcor-agent run` on a sandboxed OVS. Cold = the first push of the goal
// state after the agent started (the bench's client warmed first on a sink: perf/push-sink.ts); warm = the same push again after deleting it. Both are timed until the reply,
// which the agent sends after the bundle's barrier, i.e. with every flow on br-int.
//
// OVN (test/ovn): NB + SB + ovn-northd + ovn-controller for hv1 on its own sandboxed OVS; the remote ports'
// chassis are fake. "Every flow" is the count before the remote ports plus 3 per remote port (test/ovn/segment.ts).
// In this order, on one OVN sandbox:
// - recompute: hv1 cut off from the SB while the N ports are added and bound, then reconnected; timed from the
//   reconnect (the full-recompute path; northd's work is done before the clock starts);
// - add one: one more port, from its NB transaction until its flows are in;
// - restart: ovn-controller killed, br-int emptied, a new ovn-controller started; timed from its start;
// - incremental: the ports removed, a fresh ovn-controller settled, then the N ports added to the NB while it is
//   connected; timed from the first NB transaction.
// Each OVN mode has a time limit; one that hits it is null and ovnNote says how far it got.
//
// Add one on ours: a single-neighbor goal state after the warm push, timed until the reply.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { OperationType } from '../proto';
import { countOurFlows, startAgent, type AgentProcess } from '../agent/e2e-helpers';
import { OvsSandbox } from '../test/sandbox';
import { GoalStateV2 } from '../proto';
import { HOST_A, neighborsGoalStateV2 } from '../test/fixtures/goalstates';
import { OvnSandbox, peakRssMB } from '../test/ovn/sandbox';
import {
  addRemotePorts,
  createSegment,
  expectedFlows,
  fakeChassis,
  remotePort,
  settledFlowCount,
  waitForFlows,
  LOCAL_PORT,
  SEGMENT_REMOTE_FLOWS,
  SWITCH,
} from '../test/ovn/segment';
import { keepOnlyPort, syncSb, type FakeChassis, type LogicalPort } from '../test/ovn/db';
import { addNeighborsPortVm, neighborsFixtureFile } from './fixture-file';
import { oneNeighbor, pushRaw } from './ovs';
import { warmPushClient } from './push-sink';

/** Port tunnel keys are 15 bits: a logical switch holds at most this many ports (northd: "tunnel ids exhausted"). */
export const OVN_MAX_PORTS_PER_SWITCH = 32767;
export const DEFAULT_OVN_TIMEOUT_S = 150;
export const DEFAULT_CHASSIS = 16;
/** Setting up the segment and settling (no remote ports yet) is not what is measured; it only must not hang. */
const SETUP_TIMEOUT_MS = 120_000;

export interface OvnBenchOptions {
  readonly neighbors: number;
  /** Limit for each OVN mode (incremental, recompute, add one), in seconds. */
  readonly ovnTimeoutS?: number;
  /** Fake remote hypervisors the remote ports are spread over. */
  readonly chassis?: number;
  readonly workers?: number;
  readonly progress?: (line: string) => void;
}

export interface AgentSide {
  readonly agentColdMs: number;
  readonly agentMs: number;
  readonly agentFlows: number;
  readonly agentPeakRssMB: number | null;
  readonly agentAddOneMs: number;
}

export interface OvnSide {
  readonly ovnIncrementalMs: number | null;
  readonly ovnRecomputeMs: number | null;
  readonly ovnAddOneMs: number | null;
  readonly ovnFlows: number | null;
  readonly ovnBaseFlows: number | null;
  readonly ovnControllerPeakRssMB: number | null;
  readonly ovnIncrementalRssMB: number | null;
  readonly ovnRecomputeRssMB: number | null;
  /** ovn-controller restarted (process start) against the full SB, and its peak RSS. */
  readonly ovnRestartMs: number | null;
  readonly ovnRestartRssMB: number | null;
  readonly ovnNote: string | null;
}

export type OvnBenchResult = { readonly bench: 'ovn'; readonly neighbors: number } & AgentSide &
  OvnSide & {
    readonly ovnFlowsPerRemotePort: number | null;
    readonly chassis: number;
    readonly ovnTimeoutS: number;
    readonly speedup: number | null;
    /** 1-minute load average at the start and the end: on a shared 2-core machine every number moves with it. */
    readonly loadAvg: readonly [number, number];
  };

const round1 = (x: number): number => Math.round(x * 10) / 10;
const roundOrNull = (x: number | null): number | null => (x === null ? null : round1(x));

export async function runOvnBench(opts: OvnBenchOptions): Promise<OvnBenchResult> {
  const log = opts.progress ?? (() => undefined);
  const ovnTimeoutS = opts.ovnTimeoutS ?? DEFAULT_OVN_TIMEOUT_S;
  const chassis = opts.chassis ?? DEFAULT_CHASSIS;
  const loadAtStart = os.loadavg()[0] ?? 0;
  const agent = await runAgentSide(opts, log);
  const ovn = await runOvnSide(opts.neighbors, chassis, ovnTimeoutS * 1000, log);
  const times = [ovn.ovnIncrementalMs, ovn.ovnRecomputeMs].filter((t): t is number => t !== null);
  const perPort =
    ovn.ovnFlows === null || ovn.ovnBaseFlows === null
      ? null
      : round1((ovn.ovnFlows - ovn.ovnBaseFlows - SEGMENT_REMOTE_FLOWS) / opts.neighbors);
  return {
    bench: 'ovn',
    neighbors: opts.neighbors,
    ...agent,
    ...ovn,
    ovnFlowsPerRemotePort: perPort,
    chassis,
    ovnTimeoutS,
    speedup: times.length === 0 ? null : Math.round((Math.min(...times) / agent.agentColdMs) * 100) / 100,
    loadAvg: [round1(loadAtStart), round1(os.loadavg()[0] ?? 0)],
  };
}

async function runAgentSide(opts: OvnBenchOptions, log: (line: string) => void): Promise<AgentSide> {
  const sb = await OvsSandbox.start({ name: 'ovnbagent' });
  let agent: AgentProcess | undefined;
  try {
    await addNeighborsPortVm(sb);
    log(`ours: building 1 port + ${opts.neighbors} neighbors`);
    const bytes = fs.readFileSync(await neighborsFixtureFile(opts.neighbors));
    const workers = String(opts.workers ?? Math.min(os.availableParallelism(), 16));
    agent = await startAgent(sb, ['--tunnel-ip', HOST_A.ip, '--tunnel-ofport', '100', '--workers', workers], 60_000);
    const address = `127.0.0.1:${agent.grpcPort}`;
    await warmPushClient(bytes, pushRaw);
    log('ours: first push to the fresh agent (cold)');
    const tCold = performance.now();
    await pushRaw(address, bytes);
    const agentColdMs = performance.now() - tCold;
    log('ours: deleting it, then pushing it again (warm)');
    const deletion = neighborsGoalStateV2(opts.neighbors, {
      hostResources: false,
      operationType: OperationType.DELETE,
    });
    await pushRaw(address, GoalStateV2.encode(deletion).finish());
    const t0 = performance.now();
    await pushRaw(address, bytes);
    const agentMs = performance.now() - t0;
    const agentFlows = await countOurFlows(sb);
    log('ours: adding one neighbor');
    const one = oneNeighbor(opts.neighbors + 1);
    const t1 = performance.now();
    await pushRaw(address, one);
    const agentAddOneMs = performance.now() - t1;
    const pid = agent.child.pid;
    const agentPeakRssMB = pid === undefined ? null : peakRssMB(pid);
    return {
      agentColdMs: round1(agentColdMs),
      agentMs: round1(agentMs),
      agentFlows,
      agentPeakRssMB,
      agentAddOneMs: Math.round(agentAddOneMs * 100) / 100,
    };
  } finally {
    await agent?.stop().catch(() => undefined);
    await sb.stop();
  }
}

const NO_OVN: OvnSide = {
  ovnIncrementalMs: null,
  ovnRecomputeMs: null,
  ovnAddOneMs: null,
  ovnFlows: null,
  ovnBaseFlows: null,
  ovnControllerPeakRssMB: null,
  ovnIncrementalRssMB: null,
  ovnRecomputeRssMB: null,
  ovnRestartMs: null,
  ovnRestartRssMB: null,
  ovnNote: null,
};

async function runOvnSide(
  n: number,
  chassisCount: number,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<OvnSide> {
  // +2: the local port, and the one added at the end.
  if (n + 2 > OVN_MAX_PORTS_PER_SWITCH) {
    return {
      ...NO_OVN,
      ovnNote:
        `not run: 1 local + ${n} remote + 1 added ports exceed OVN's ${OVN_MAX_PORTS_PER_SWITCH} ports per ` +
        'logical switch (15-bit port tunnel keys)',
    };
  }
  const ovn = await OvnSandbox.start({ name: 'ovnbench' });
  try {
    return await measureOvn(ovn, n, chassisCount, timeoutMs, log);
  } finally {
    await ovn.stop();
  }
}

/** One OVN run's state, shared by its modes. */
interface OvnRun {
  readonly ovn: OvnSandbox;
  readonly n: number;
  readonly chassis: readonly FakeChassis[];
  readonly ports: readonly LogicalPort[];
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
  readonly notes: string[];
  /** Flows on br-int with the local port and no remote port. */
  base: number;
  /** Remote ports now in the NB. */
  remote: number;
}

interface Timed {
  readonly ms: number | null;
  readonly flows: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measureOvn(
  ovn: OvnSandbox,
  n: number,
  chassisCount: number,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<OvnSide> {
  const chassis = fakeChassis(Math.min(chassisCount, n));
  log(`OVN: segment with the local port and ${chassis.length} fake chassis`);
  await createSegment(ovn, chassis);
  const firstPid = await ovn.startController();
  const base = await settledFlowCount(ovn, Date.now() + SETUP_TIMEOUT_MS);
  const ports = Array.from({ length: n }, (_, i) => remotePort(i + 1));
  const r: OvnRun = { ovn, n, chassis, ports, timeoutMs, log, notes: [], base, remote: 0 };

  const recompute = await recomputeMode(r);
  const addOne = recompute.ms === null ? null : await addOneMode(r);
  const ovnRecomputeRssMB = peakRssMB(firstPid);
  const restart = await restartMode(r);
  const incremental = await incrementalMode(r);
  const rss = [ovnRecomputeRssMB, restart.rssMB, incremental.rssMB].filter((x): x is number => x !== null);
  return {
    ovnIncrementalMs: roundOrNull(incremental.ms),
    ovnRecomputeMs: roundOrNull(recompute.ms),
    ovnRestartMs: roundOrNull(restart.ms),
    ovnAddOneMs: addOne === null || addOne.ms === null ? null : Math.round(addOne.ms * 100) / 100,
    ovnFlows: recompute.ms !== null ? recompute.flows : incremental.flows,
    ovnBaseFlows: base,
    ovnControllerPeakRssMB: rss.length === 0 ? null : Math.max(...rss),
    ovnIncrementalRssMB: incremental.rssMB,
    ovnRecomputeRssMB,
    ovnRestartRssMB: restart.rssMB,
    ovnNote: r.notes.length === 0 ? null : r.notes.join('; '),
  };
}

/** Waits for every flow of the ports now in the NB; on the limit, notes how far br-int got. */
async function untilAllFlows(r: OvnRun, mode: string, startedAt: number): Promise<Timed> {
  const target = expectedFlows(r.base, r.remote);
  const got = await waitForFlows(r.ovn, target, startedAt, Date.now() + r.timeoutMs);
  if (got.ms === null) {
    r.notes.push(`${mode}: ${got.flows} of ${target} flows on br-int at the ${Math.round(r.timeoutMs / 1000)} s limit`);
  }
  return got;
}

/**
 * hv1 cut off from the SB while the N ports are added and bound, then reconnected: ovn-controller recomputes from
 * the full contents (shared/reference/ovn-baseline.md's recompute path). Timed from the reconnect.
 */
async function recomputeMode(r: OvnRun): Promise<Timed> {
  r.log(`OVN recompute: ${r.n} remote ports added while ovn-controller is cut off from the SB (${r.base} flows)`);
  await r.ovn.setSbConnected(false);
  const deadline = Date.now() + SETUP_TIMEOUT_MS;
  while (await r.ovn.controllerConnected()) {
    if (Date.now() > deadline) throw new Error('ovn-controller stayed connected to the SB');
    await sleep(50);
  }
  await addRemotePorts(r.ovn, r.ports, r.chassis, deadline);
  r.remote = r.n;
  // northd must have seen the bindings too: the ARP responders exist only for ports that are up.
  await syncSb(r.ovn.nb, SETUP_TIMEOUT_MS);
  r.log('OVN recompute: reconnecting ovn-controller');
  const t0 = performance.now();
  await r.ovn.setSbConnected(true);
  return untilAllFlows(r, 'recompute', t0);
}

/** One more remote port while ovn-controller holds N: timed from the NB transaction until its 3 flows are in. */
async function addOneMode(r: OvnRun): Promise<Timed> {
  r.log('OVN add one: one more remote port');
  const t0 = performance.now();
  // As in the bulk, port k sits on chassis (k-1) mod C; a one-port list binds to the first chassis it is given.
  const onChassis = r.chassis.slice(r.n % r.chassis.length);
  await addRemotePorts(r.ovn, [remotePort(r.n + 1)], onChassis, Date.now() + r.timeoutMs);
  r.remote = r.n + 1;
  return untilAllFlows(r, 'add one', t0);
}

/**
 * ovn-controller killed and started again, br-int emptied in between: timed from the process start. A new process
 * learns its local datapaths before it asks for their ports (conditional monitoring), so the ports arrive as
 * changes and go through the same per-port handlers as the incremental path.
 */
async function restartMode(r: OvnRun): Promise<Timed & { readonly rssMB: number | null }> {
  r.log('OVN restart: ovn-controller killed, br-int emptied, ovn-controller started');
  await r.ovn.stopController({ kill: true });
  await r.ovn.ovs.ofctl(['-O', 'OpenFlow15', 'del-flows', 'br-int']);
  const t0 = performance.now();
  const pid = await r.ovn.startController();
  const got = await untilAllFlows(r, 'restart', t0);
  return { ...got, rssMB: peakRssMB(pid) };
}

/**
 * The ports removed again, a fresh ovn-controller settled on the local port alone, then the N ports added to the
 * NB while it is connected: timed from the first NB transaction until br-int holds every flow.
 */
async function incrementalMode(r: OvnRun): Promise<Timed & { readonly rssMB: number | null }> {
  r.log('OVN incremental: removing the remote ports, restarting ovn-controller on the local port alone');
  await r.ovn.stopController({ kill: true });
  await keepOnlyPort(r.ovn.nb, SWITCH, LOCAL_PORT.name);
  r.remote = 0;
  await syncSb(r.ovn.nb, SETUP_TIMEOUT_MS);
  await r.ovn.ovs.ofctl(['-O', 'OpenFlow15', 'del-flows', 'br-int']);
  const pid = await r.ovn.startController();
  const base = await settledFlowCount(r.ovn, Date.now() + SETUP_TIMEOUT_MS);
  if (base !== r.base) r.notes.push(`incremental: ${base} flows before the ports, not ${r.base} as at the start`);
  r.base = base;
  r.log(`OVN incremental: ${r.n} remote ports into the NB with ovn-controller connected`);
  const t0 = performance.now();
  let got: Timed = { ms: null, flows: -1 };
  try {
    await addRemotePorts(r.ovn, r.ports, r.chassis, Date.now() + r.timeoutMs);
    r.remote = r.n;
    got = await untilAllFlows(r, 'incremental', t0);
  } catch (e: unknown) {
    r.notes.push(`incremental: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { ...got, rssMB: peakRssMB(pid) };
}
