// alcor-bench ovn: 1 local port + N remote ports in one L2 segment, on our agent and on OVN, in the same run on
// the same machine, one after the other (each system gets both cores to itself).
//
// Ours (perf/ovs.ts's method): a real `alcor-agent run` on a sandboxed OVS. Cold = the first push of the goal
// state after the agent started; warm = the same push again after deleting it. Both are timed until the reply,
// which the agent sends after the bundle's barrier, i.e. with every flow on br-int.
//
// OVN (test/ovn): NB + SB + ovn-northd + ovn-controller for hv1 on its own sandboxed OVS; the remote ports'
// chassis are fake. Incremental = the ports arrive in the NB while ovn-controller is connected, timed from the
// first NB transaction until br-int holds every flow. Recompute = ovn-controller killed, br-int's flows deleted,
// and a new ovn-controller started against the SB that already holds everything (a restart), timed from its start.
// "Every flow" is the count before the remote ports plus 3 per remote port (test/ovn/segment.ts).
//
// Add one: with each system holding N remote ports, one more arrives (a single-neighbor goal state; one NB port),
// timed until its flows are installed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { OperationType } from '../proto';
import { startAgent, type AgentProcess } from '../agent/e2e-helpers';
import { tapNameFor } from '../agent/ovsdb';
import { OvsSandbox } from '../test/sandbox';
import { GoalStateV2 } from '../proto';
import { HOST_A, NEIGHBORS_PORT, neighborsGoalStateV2 } from '../test/fixtures/goalstates';
import { OvnSandbox, peakRssMB } from '../test/ovn/sandbox';
import {
  addRemotePorts,
  bindRemotePorts,
  createSegment,
  expectedFlows,
  fakeChassis,
  remotePort,
  settledFlowCount,
  waitForFlows,
  FLOWS_PER_REMOTE_PORT,
  SEGMENT_REMOTE_FLOWS,
} from '../test/ovn/segment';
import { syncSb } from '../test/ovn/db';
import { neighborsFixtureFile } from './fixture-file';
import { countOurFlows, oneNeighbor, pushRaw } from './ovs';

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
  readonly ovnNote: string | null;
}

export type OvnBenchResult = { readonly bench: 'ovn'; readonly neighbors: number } & AgentSide &
  OvnSide & {
    readonly ovnFlowsPerRemotePort: number | null;
    readonly chassis: number;
    readonly ovnTimeoutS: number;
    readonly speedup: number | null;
  };

const round1 = (x: number): number => Math.round(x * 10) / 10;
const roundOrNull = (x: number | null): number | null => (x === null ? null : round1(x));

export async function runOvnBench(opts: OvnBenchOptions): Promise<OvnBenchResult> {
  const log = opts.progress ?? (() => undefined);
  const ovnTimeoutS = opts.ovnTimeoutS ?? DEFAULT_OVN_TIMEOUT_S;
  const chassis = opts.chassis ?? DEFAULT_CHASSIS;
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
  };
}

async function runAgentSide(opts: OvnBenchOptions, log: (line: string) => void): Promise<AgentSide> {
  const sb = await OvsSandbox.start({ name: 'ovnbagent' });
  let agent: AgentProcess | undefined;
  try {
    await sb.addVm({
      name: 'vm1',
      mac: NEIGHBORS_PORT.mac,
      ip: `${NEIGHBORS_PORT.ip}/8`,
      iface: tapNameFor(NEIGHBORS_PORT.id),
    });
    log(`ours: building 1 port + ${opts.neighbors} neighbors`);
    const bytes = fs.readFileSync(await neighborsFixtureFile(opts.neighbors));
    const workers = String(opts.workers ?? Math.min(os.availableParallelism(), 16));
    agent = await startAgent(sb, ['--tunnel-ip', HOST_A.ip, '--tunnel-ofport', '100', '--workers', workers], 60_000);
    const address = `127.0.0.1:${agent.grpcPort}`;
    log('ours: first push to the fresh agent (cold)');
    const tCold = performance.now();
    await pushRaw(address, bytes);
    const agentColdMs = performance.now() - tCold;
    log('ours: deleting it, then pushing it again (warm)');
    const deletion = neighborsGoalStateV2(opts.neighbors, { hostResources: false, operationType: OperationType.DELETE });
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

async function measureOvn(
  ovn: OvnSandbox,
  n: number,
  chassisCount: number,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<OvnSide> {
  const notes: string[] = [];
  const limitS = Math.round(timeoutMs / 1000);
  const chassis = fakeChassis(Math.min(chassisCount, n));
  log(`OVN: segment with the local port and ${chassis.length} fake chassis`);
  await createSegment(ovn, chassis);
  const firstPid = await ovn.startController();
  const base = await settledFlowCount(ovn, Date.now() + SETUP_TIMEOUT_MS);
  const target = expectedFlows(base, n);
  const ports = Array.from({ length: n }, (_, i) => remotePort(i + 1));

  log(`OVN incremental: ${n} remote ports into the NB with ovn-controller connected (${base} flows before)`);
  const deadline = Date.now() + timeoutMs;
  const t0 = performance.now();
  let incremental: { ms: number | null; flows: number } = { ms: null, flows: -1 };
  try {
    await addRemotePorts(ovn, ports, chassis, deadline);
    incremental = await waitForFlows(ovn, target, t0, deadline);
  } catch (e: unknown) {
    notes.push(`incremental: ${e instanceof Error ? e.message : String(e)}`);
  }
  const ovnIncrementalRssMB = peakRssMB(firstPid);
  if (incremental.ms === null && notes.length === 0) {
    notes.push(`incremental: ${incremental.flows} of ${target} flows on br-int at the ${limitS} s limit`);
  }

  log('OVN recompute: ovn-controller restarted against the full SB, br-int emptied first');
  await ovn.stopController({ kill: true });
  // Whatever the incremental pass did not get to: every port bound, and northd caught up (ARP responders need up).
  await bindRemotePorts(ovn, ports, chassis, Date.now() + SETUP_TIMEOUT_MS);
  await syncSb(ovn.nb, SETUP_TIMEOUT_MS);
  await ovn.ovs.ofctl(['-O', 'OpenFlow15', 'del-flows', 'br-int']);
  const t1 = performance.now();
  const secondPid = await ovn.startController();
  const recompute = await waitForFlows(ovn, target, t1, Date.now() + timeoutMs);
  if (recompute.ms === null) {
    notes.push(`recompute: ${recompute.flows} of ${target} flows on br-int at the ${limitS} s limit`);
  }
  let ovnAddOneMs: number | null = null;
  if (recompute.ms !== null) {
    log('OVN add one: one more remote port');
    const t2 = performance.now();
    const addDeadline = Date.now() + timeoutMs;
    await addRemotePorts(ovn, [remotePort(n + 1)], chassis.slice(n % chassis.length), addDeadline);
    const added = await waitForFlows(ovn, target + FLOWS_PER_REMOTE_PORT, t2, addDeadline, 20);
    ovnAddOneMs = added.ms === null ? null : Math.round(added.ms * 100) / 100;
    if (added.ms === null) notes.push(`add one: not installed within the ${limitS} s limit`);
  }
  const ovnRecomputeRssMB = peakRssMB(secondPid);
  const rss = [ovnIncrementalRssMB, ovnRecomputeRssMB].filter((x): x is number => x !== null);
  return {
    ovnIncrementalMs: roundOrNull(incremental.ms),
    ovnRecomputeMs: roundOrNull(recompute.ms),
    ovnAddOneMs,
    ovnFlows: recompute.ms !== null ? recompute.flows : incremental.flows,
    ovnBaseFlows: base,
    ovnControllerPeakRssMB: rss.length === 0 ? null : Math.max(...rss),
    ovnIncrementalRssMB,
    ovnRecomputeRssMB,
    ovnNote: notes.length === 0 ? null : notes.join('; '),
  };
}
