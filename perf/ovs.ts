// alcor-bench ovs: one GoalStateV2 (1 port + N neighbors) pushed over gRPC to a real `alcor-agent run`
// on a sandboxed OVS, timed from sending the (pre-encoded) bytes until the reply — by which time every
// flow is installed (the agent replies after the bundle's barrier). Baseline, same run, same bridge:
// the same flow set (from `alcor-agent compile`) loaded with `ovs-ofctl -O OpenFlow14 --bundle
// add-flows`, after deleting our flows.
// Both sides are timed warm: agentMs is the second push of the goal state (after deleting the first),
// so neither the agent's JIT nor OVS's first growth of its tables is in the ratio; agentColdMs is the
// first push, reported beside it. Before it, the bench's own client is warmed on a sink (perf/push-sink.ts),
// so that only the agent's first push is cold, as an independent client would see it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { GoalStateOperationReply, OperationStatus, OperationType } from '../proto';
import { OUR_FLOWS, countOurFlows, startAgent, until, xdpCounters, type AgentProcess } from '../agent/e2e-helpers';
import { OvsSandbox } from '../test/sandbox';
import { GoalStateV2 } from '../proto';
import { HOST_A, NEIGHBORS_PORT, neighborsGoalStateV2 } from '../test/fixtures/goalstates';
import { addNeighborsPortVm, neighborsFixtureFile } from './fixture-file';
import { warmPushClient } from './push-sink';
import { percentile } from './report/stats';
import { floorBundle, replayBundle } from './openflow-floor';
import {
  WARM_UP_ADD_BUNDLE,
  WARM_UP_DELETE_BUNDLE,
  WARM_UP_FLOWS,
  warmUpAdds,
  warmUpDelete,
} from '../agent/ovs-warm-up';
import { processMemoryMB } from './proc-memory';
import { processCpuMs } from './proc-cpu';
import { daemonPid } from '../test/sandbox/pids';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'alcor-agent.js');

export type BenchDataplane = 'ovs' | 'ebpf' | 'both';

export interface OvsBenchOptions {
  readonly neighbors: number;
  readonly workers?: number;
  /** The agent's --dataplane: with ebpf, XDP answers ARP and a neighbor needs one flow fewer. */
  readonly dataplane?: BenchDataplane;
  /** Warm pushes (and warm floor replays) timed; agentMs and floorMs are their medians. Default: warmRoundsFor. */
  readonly warmRounds?: number;
  readonly progress?: (line: string) => void;
}

/**
 * A 10k push takes ~200 ms, where one other process's burst moves the ratio by 10-20%: three rounds each side
 * and their medians. Above 100k a round takes seconds and varies by a few percent: one.
 */
export interface AppliedSplit {
  readonly prepareMs: number;
  readonly bundleMs: number;
  readonly bundleAddMs: number;
  readonly bundleCommitMs: number;
  readonly totalMs: number;
}

/** The timings of the agent's next "goal state applied" log line after `from` lines (null if none comes in 10 s). */
async function appliedSplit(agent: AgentProcess, from: number): Promise<AppliedSplit | null> {
  const find = (): Record<string, unknown> | undefined =>
    agent.logs.slice(from).find((l) => l.msg === 'goal state applied');
  // Logged just after the reply went out (setImmediate): it may trail the reply by a moment.
  await until('the goal state applied line', async () => find() !== undefined).catch(() => undefined);
  const l = find();
  if (l === undefined) return null;
  const ms = (k: string): number => Math.round(Number(l[k]) / 100) / 10;
  return {
    prepareMs: ms('prepareUs'),
    bundleMs: ms('bundleUs'),
    bundleAddMs: ms('bundleAddUs'),
    bundleCommitMs: ms('bundleCommitUs'),
    totalMs: ms('totalUs'),
  };
}

/** A CPU clock of the agent and ovs-vswitchd: cpu() reads it, cpu(since) says how much each used since. */
function cpuOf(agentPid: number | undefined, ovsPid: number | null) {
  return (since?: { agent: number; ovs: number }): { agent: number; ovs: number } => {
    const now = { agent: processCpuMs(agentPid), ovs: processCpuMs(ovsPid) };
    return since === undefined ? now : { agent: now.agent - since.agent, ovs: now.ovs - since.ovs };
  };
}

export function warmRoundsFor(neighbors: number): number {
  return neighbors <= 100_000 ? 3 : 1;
}

export interface OvsBenchResult {
  readonly bench: 'ovs';
  readonly dataplane: BenchDataplane;
  readonly neighbors: number;
  readonly flows: number;
  /**
   * The same goal state pushed again to the same agent after deleting it: warm JIT, warm OVS (the headline).
   * The median of `agentWarmRunsMs`, each a deletion then the push.
   */
  readonly agentMs: number;
  readonly agentWarmRunsMs: readonly number[];
  /** The first goal state after the agent started: cold JIT, and OVS's first bulk install. */
  readonly agentColdMs: number;
  /**
   * The agent's own account of the cold push and of the last warm one (its "goal state applied" log line), so that
   * OVS's share shows apart from the agent's: `totalMs` is the agent's time for the push (what the bench's figure
   * has beyond it is the message's transfer and gRPC); `prepareMs` until the first chunk was planned and the bundle
   * opened, `bundleMs` from there to the reply; `bundleAddMs` from the bundle's open until OVS answered the adds'
   * barrier (flow-mods stream out while later chunks are planned), `bundleCommitMs` the commit, to OVS's reply.
   */
  readonly agentColdSplit: AppliedSplit | null;
  readonly agentWarmSplit: AppliedSplit | null;
  /**
   * CPU time (all threads, /proc/<pid>/stat, 10 ms ticks) of the agent and of ovs-vswitchd during the cold push and
   * during a warm one (median of the rounds): on a loaded machine, wall time measures the neighbours as much as us.
   */
  readonly agentColdCpuMs: number;
  readonly agentWarmCpuMs: number;
  readonly ovsColdCpuMs: number;
  readonly ovsWarmCpuMs: number;
  readonly baselineMs: number;
  readonly ratio: number;
  readonly messageBytes: number;
  readonly failedStatuses: number;
  /** Median reply time of single-neighbor goal states sent afterwards on one long-lived stream. */
  readonly incrementalMedianMs: number | null;
  /**
   * The switch's own floor (perf/openflow-floor.ts): the agent's bundle for this goal state replayed
   * pre-encoded on a fresh sandboxed OVS (cold), then again after deleting it (warm), to the barrier.
   */
  readonly floorColdMs: number;
  /** The median of `floorWarmRunsMs`, each a deletion then the replay. */
  readonly floorMs: number;
  readonly floorWarmRunsMs: readonly number[];
  /** agentMs / floorMs and agentColdMs / floorColdMs: how close the agent comes to what OVS itself needs. */
  readonly agentPerFloor: number;
  readonly agentColdPerFloorCold: number;
  /** The agent's peak resident memory over the whole run (VmHWM: cold push, delete, warm push, singles). */
  readonly agentPeakRssMB: number;
  /** Its resident memory once the pushes are done and it has been idle (AFTER_SETTLE_MS). */
  readonly agentRssAfterMB: number;
  /**
   * With an XDP dataplane: from the warm push until XDP's arp_table held every neighbor, or was full (262,144
   * entries; the agent fills it after the bundle's commit, so this can end after agentMs), and the entries it
   * then held. Null with ovs.
   */
  readonly arpReadyMs: number | null;
  readonly arpEntries: number | null;
}

/** Single-neighbor goal states timed after the bulk one (in steady state: see SETTLE_MS). */
const SINGLES = 1001;
/** Pause after the bulk push, so the singles do not time the agent's clean-up of it (GC of 100k+ objects). */
const SETTLE_MS = 1000;
/** Idle time before the agent's resident memory is read after the pushes (its collector runs when idle). */
const AFTER_SETTLE_MS = 3000;

/** A GoalStateV2 holding just neighbor i, pre-encoded. */
export function oneNeighbor(i: number): Uint8Array {
  const gs = neighborsGoalStateV2(1, { startIndex: i, hostResources: false });
  return GoalStateV2.encode({ ...gs, vpcStates: {}, subnetStates: {}, portStates: {} }).finish();
}

/**
 * Sends `messages` one after another on one stream (as a control service does), each after the
 * previous reply; returns each message's reply time in ms.
 */
function pushSequence(address: string, messages: readonly Uint8Array[]): Promise<number[]> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(
      '/alcor.schema.GoalStateProvisioner/PushGoalStatesStream',
      (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
      (b: Buffer) => b,
    );
    const times: number[] = [];
    let sentAt = 0;
    const sendNext = (): void => {
      const m = messages[times.length];
      if (m === undefined) {
        call.end();
        return;
      }
      sentAt = performance.now();
      call.write(m);
    };
    call.on('data', () => {
      times.push(performance.now() - sentAt);
      sendNext();
    });
    call.on('error', (e: Error) => {
      client.close();
      reject(e);
    });
    call.on('status', () => {
      client.close();
      resolve(times);
    });
    sendNext();
  });
}

/**
 * One PushGoalStatesStream call with bytes the client does not re-encode. Resolves when the reply's
 * bytes are in: decoding a million statuses is the caller's work, not the agent's, so it happens
 * outside the timed span (`failedStatuses`).
 */
export function pushRaw(address: string, bytes: Uint8Array): Promise<Buffer> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 512 * 2 ** 20,
    'grpc.max_receive_message_length': 512 * 2 ** 20,
  });
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(
      '/alcor.schema.GoalStateProvisioner/PushGoalStatesStream',
      (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
      (b: Buffer) => b,
    );
    let reply: Buffer | undefined;
    call.on('data', (r: Buffer) => {
      reply = r;
      call.end();
    });
    call.on('error', (e: Error) => {
      client.close();
      reject(e);
    });
    call.on('status', () => {
      client.close();
      if (reply === undefined) reject(new Error('no reply'));
      else resolve(reply);
    });
    call.write(bytes);
  });
}

/** The statuses of a reply pushRaw received that are not SUCCESS. */
export function failedStatuses(reply: Buffer): number {
  return GoalStateOperationReply.decode(reply).operationStatuses.filter(
    (s) => s.operationStatus !== OperationStatus.SUCCESS,
  ).length;
}

export async function runOvsBench(opts: OvsBenchOptions): Promise<OvsBenchResult> {
  const log = opts.progress ?? (() => undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bench-ovs-'));
  const sb = await OvsSandbox.start({ name: 'benchovs' });
  // Maps are pinned on bpffs; a directory of this run's own, removed at the end.
  const pinDir = `/sys/fs/bpf/alcor-bench-ovs-${process.pid}`;
  let agent: AgentProcess | undefined;
  try {
    const vm = await addNeighborsPortVm(sb);
    log(`building 1 port + ${opts.neighbors} neighbors`);
    const file = await neighborsFixtureFile(opts.neighbors);
    const bytes = fs.readFileSync(file);
    const workers = String(opts.workers ?? Math.min(os.availableParallelism(), 16));
    const dataplane = opts.dataplane ?? 'ovs';
    const xdp = dataplane === 'ovs' ? [] : ['--dataplane', dataplane, '--xdp-netns', sb.netns, '--bpf-pin-dir', pinDir];
    agent = await startAgent(
      sb,
      ['--tunnel-ip', HOST_A.ip, '--tunnel-ofport', '100', '--workers', workers, '--metrics', '127.0.0.1:0', ...xdp],
      60_000,
    );
    const address = `127.0.0.1:${agent.grpcPort}`;
    log('warming the bench client on a sink');
    await warmPushClient(bytes, pushRaw);
    log(`pushing ${bytes.length} bytes to the agent (cold)`);
    const coldFrom = agent.logs.length;
    const vswitchd = daemonPid(sb.rundir, 'ovs-vswitchd');
    const cpu = cpuOf(agent.child.pid, vswitchd);
    const cpuCold = cpu();
    const tCold = performance.now();
    await pushRaw(address, bytes);
    const agentColdMs = performance.now() - tCold;
    const coldCpu = cpu(cpuCold);
    const agentColdSplit = await appliedSplit(agent, coldFrom);
    // A long-running agent is warm: delete everything, then time the same push again. The baseline
    // below also runs against an OVS that has installed (and freed) this many flows before.
    log('deleting it, then pushing it again (warm), timed per round');
    const deletion = neighborsGoalStateV2(opts.neighbors, {
      hostResources: false,
      operationType: OperationType.DELETE,
    });
    const deletionBytes = GoalStateV2.encode(deletion).finish();
    const rounds = opts.warmRounds ?? warmRoundsFor(opts.neighbors);
    const arpTable = dataplane === 'ovs' ? null : arpTableWatch(agent);
    const agentWarmRunsMs: number[] = [];
    const warmCpus: { agent: number; ovs: number }[] = [];
    let reply: Buffer = Buffer.alloc(0);
    let t0 = 0;
    let warmFrom = 0;
    for (let i = 0; i < rounds; i++) {
      const deletionFrom = agent.logs.length;
      await pushRaw(address, deletionBytes);
      await arpTable?.until((n) => !(n >= opts.neighbors)); // NaN: not attached, so not full either
      await appliedSplit(agent, deletionFrom); // so that the deletion's line is not taken for the push's
      warmFrom = agent.logs.length;
      const cpuWarm = cpu();
      t0 = performance.now();
      reply = await pushRaw(address, bytes);
      agentWarmRunsMs.push(performance.now() - t0);
      warmCpus.push(cpu(cpuWarm));
    }
    const agentMs = median(agentWarmRunsMs);
    const agentWarmSplit = await appliedSplit(agent, warmFrom);
    // Above arp_table's capacity the agent fills it to the brim (alcor_agent_xdp_arp_wanted says how many more).
    const arp =
      arpTable === null ? null : await arpTable.until((n, capacity) => n >= Math.min(opts.neighbors, capacity));
    const arpReadyMs = arp === null ? null : arp.atMs - t0;
    const failed = failedStatuses(reply);
    const flows = await countOurFlows(sb);
    log(`timing ${SINGLES} single-neighbor goal states on one stream`);
    // The fixture numbers neighbors up to 1e6 (ACA's scheme): at a million there are none left to add.
    const singleCount = Math.max(0, Math.min(SINGLES, 1_000_000 - opts.neighbors));
    const singles = Array.from({ length: singleCount }, (_, i) => oneNeighbor(opts.neighbors + 1 + i));
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const times = (await pushSequence(address, singles)).sort((x, y) => x - y);
    const incrementalMedianMs = times.length === 0 ? null : times[Math.floor(times.length / 2)];
    const pid = agent.child.pid as number;
    const agentPeakRssMB = processMemoryMB(pid).peakMB;
    await new Promise((r) => setTimeout(r, AFTER_SETTLE_MS));
    const agentRssAfterMB = processMemoryMB(pid).rssMB;
    await agent.stop(); // graceful: the flows stay
    // The baseline loads the bulk goal state's flows only.
    await sb.ofctl(['del-flows', 'br-int', OUR_FLOWS], { timeoutMs: 10 * 60_000 });
    agent = undefined;

    log('baseline: the same flows with ovs-ofctl --bundle add-flows');
    const text = await run(
      process.execPath,
      [
        BIN,
        'compile',
        file,
        '--tunnel-ip',
        HOST_A.ip,
        '--tunnel-ofport',
        '100',
        '--ofport',
        `${vm.iface}=${vm.ofport}`,
        '--dataplane',
        dataplane,
      ],
      {
        maxBuffer: 2 ** 31,
      },
    );
    const flowsFile = path.join(dir, 'flows.txt');
    fs.writeFileSync(flowsFile, text.stdout);
    const t1 = performance.now();
    // 2M flows take ovs-ofctl minutes to parse and send on this VM: no 30 s limit here.
    await sb.ofctl(['-O', 'OpenFlow14', '--bundle', 'add-flows', 'br-int', flowsFile], { timeoutMs: 30 * 60_000 });
    const baselineMs = performance.now() - t1;
    const baselineFlows = await countOurFlows(sb);
    if (baselineFlows !== flows) log(`note: agent installed ${flows} flows, ovs-ofctl ${baselineFlows}`);
    const arpAnswers = dataplane === 'ebpf' ? 'none' : 'flows';
    const ofports = new Map([[NEIGHBORS_PORT.id, vm.ofport]]);
    const floor = await measureFloor(bytes, ofports, Number(workers), arpAnswers, flows, rounds, log);
    const round = (x: number): number => Math.round(x * 10) / 10;
    const ratioOf = (a: number, b: number): number => Math.round((a / b) * 1000) / 1000;
    return {
      bench: 'ovs',
      dataplane,
      neighbors: opts.neighbors,
      flows,
      agentMs: round(agentMs),
      agentWarmRunsMs: agentWarmRunsMs.map(round),
      agentColdMs: round(agentColdMs),
      agentColdSplit,
      agentWarmSplit,
      agentColdCpuMs: coldCpu.agent,
      agentWarmCpuMs: median(warmCpus.map((c) => c.agent)),
      ovsColdCpuMs: coldCpu.ovs,
      ovsWarmCpuMs: median(warmCpus.map((c) => c.ovs)),
      baselineMs: round(baselineMs),
      ratio: Math.round((agentMs / baselineMs) * 1000) / 1000,
      messageBytes: bytes.length,
      failedStatuses: failed,
      incrementalMedianMs: incrementalMedianMs === null ? null : Math.round(incrementalMedianMs * 100) / 100,
      floorColdMs: round(floor.coldMs),
      floorMs: round(median(floor.warmRunsMs)),
      floorWarmRunsMs: floor.warmRunsMs.map(round),
      agentPerFloor: ratioOf(agentMs, median(floor.warmRunsMs)),
      agentColdPerFloorCold: ratioOf(agentColdMs, floor.coldMs),
      agentPeakRssMB,
      agentRssAfterMB,
      arpReadyMs: arpReadyMs === null ? null : round(arpReadyMs),
      arpEntries: arp === null ? null : arp.entries,
    };
  } finally {
    await agent?.stop().catch(() => undefined);
    await sb.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(pinDir, { recursive: true, force: true });
  }
}

/**
 * The floor, on a sandbox of its own so that the cold replay meets an OVS that never held these flows (only the agent's start-up warm-up), as
 * the agent's cold push did: the replay, then `rounds` times a deletion and the replay again (warm).
 */
async function measureFloor(
  goalState: Uint8Array,
  ofports: ReadonlyMap<string, number>,
  workers: number,
  arpAnswers: 'flows' | 'none',
  expectFlows: number,
  rounds: number,
  log: (line: string) => void,
): Promise<{ coldMs: number; warmRunsMs: number[] }> {
  log("floor: planning the agent's bundle, then replaying it pre-encoded on a fresh OVS");
  const host = { tunnelIp: HOST_A.ip, tunnelOfport: 100, ofports };
  const bundle = await floorBundle(goalState, host, workers, arpAnswers);
  const sb = await OvsSandbox.start({ name: 'benchfloor' });
  try {
    // The agent warms its switch at start (agent/ovs-warm-up.ts): the floor's switch gets the same, or
    // cold / floor would credit the agent with OVS's own first growth.
    await replayWarmUp(sb.mgmtSocket());
    const coldMs = await replayBundle(sb.mgmtSocket(), bundle);
    const warmRunsMs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      await sb.ofctl(['del-flows', 'br-int', OUR_FLOWS], { timeoutMs: 10 * 60_000 });
      warmRunsMs.push(await replayBundle(sb.mgmtSocket(), bundle));
    }
    // The same flows, or the comparison means nothing: the bundle's, plus the agent's start-up flows.
    const installed = await countOurFlows(sb);
    if (installed !== bundle.flows || bundle.flows > expectFlows)
      throw new Error(`floor installed ${installed} of its ${bundle.flows} flows; the agent holds ${expectFlows}`);
    log(
      `floor: ${bundle.deltas.length} chunks, ${bundle.bytes} bytes: cold ${Math.round(coldMs)} ms, warm ${warmRunsMs.map(Math.round).join(', ')} ms`,
    );
    return { coldMs, warmRunsMs };
  } finally {
    await sb.stop();
  }
}

/** The agent's start-up switch warm-up, sent by the floor's client: its flows added, then deleted. */
async function replayWarmUp(socketPath: string): Promise<void> {
  const adds = warmUpAdds();
  const bytes = (ds: readonly Uint8Array[]): number => ds.reduce((n, d) => n + d.length, 0);
  await replayBundle(socketPath, {
    bundleId: WARM_UP_ADD_BUNDLE,
    deltas: adds,
    bytes: bytes(adds),
    flows: WARM_UP_FLOWS,
  });
  const del = [warmUpDelete()];
  await replayBundle(socketPath, { bundleId: WARM_UP_DELETE_BUNDLE, deltas: del, bytes: bytes(del), flows: 0 });
}

/** XDP's arp_table size as the agent's /metrics reports it, polled until a condition holds (10 min at most). */
function arpTableWatch(agent: AgentProcess): {
  until(ok: (entries: number, capacity: number) => boolean): Promise<{ atMs: number; entries: number }>;
} {
  return {
    async until(ok) {
      const deadline = performance.now() + 10 * 60_000;
      for (;;) {
        const { entries, capacity } = await xdpCounters(agent, NEIGHBORS_PORT.id);
        if (ok(entries, capacity)) return { atMs: performance.now(), entries };
        if (performance.now() > deadline) throw new Error(`arp_table still at ${entries} entries after 10 minutes`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

function median(xs: readonly number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
}
