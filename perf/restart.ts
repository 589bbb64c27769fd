// alcor-bench restart: how long an agent holding N neighbors takes from `kill -9` to ready again,
// and how many flow-mods its restart sends (issue 14: 1M neighbors, ≤ 5 s, zero flow-mods).
//
// A real `alcor-agent run` on a sandboxed OVS, with its default state dir, gets one GoalStateV2
// (1 port + N neighbors) and, optionally, single-neighbor goal states after it (so the restart
// replays a log of many messages, not one). It is killed with SIGKILL and started again with the
// same flags; restartMs runs from the new process's spawn to its "agent ready" line. The phases come
// from the restarted agent's own log lines (replay, converge). The flows OVS holds are counted
// before the kill and after the restart: a restart must leave them as they were.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { countOurFlows, startAgent, until, type AgentProcess } from '../agent/e2e-helpers';
import { OvsSandbox } from '../test/sandbox';
import { HOST_A } from '../test/fixtures/goalstates';
import { addNeighborsPortVm, neighborsFixtureFile } from './fixture-file';
import { failedStatuses, oneNeighbor, pushRaw } from './ovs';

export interface RestartBenchOptions {
  readonly neighbors: number;
  /** Single-neighbor goal states pushed after the big one (each one more record in the log). */
  readonly singles: number;
  readonly workers?: number;
  readonly progress?: (line: string) => void;
}

export interface RestartBenchResult {
  readonly bench: 'restart';
  readonly neighbors: number;
  readonly singles: number;
  readonly flows: number;
  /** Spawn of the restarted agent to its ready line. */
  readonly restartMs: number;
  /** Flow-mods the restart's converge sent (the ready line's convergeFlowMods). */
  readonly restartFlowMods: number;
  /** Our flows in OVS after the restart (should equal `flows`). */
  readonly flowsAfter: number;
  /** The restarted agent's phases, from its log: log replay, start-up converge (dump + diff + bundle). */
  readonly replayMs: number | null;
  readonly replayedGoalStates: number | null;
  readonly convergeMs: number | null;
  /** Of replayMs, waiting for the log files (read while OVSDB connects and the workers start). */
  readonly waitedForLogMs: number | null;
  /**
   * After a trusted start that matched OVS by flow count: the flow-by-flow check the agent runs once
   * ready (dump outside the serial queue, diff in it), and the flow-mods it sent.
   */
  readonly verifyMs: number | null;
  readonly verifyFlowMods: number | null;
  /** When the restarted agent logged each step, in ms from its spawn (its log lines' timestamps). */
  readonly timelineMs: Readonly<Record<string, number>>;
  /** The state dir's size on disk before the kill. */
  readonly stateDirMB: number;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    total += e.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return total;
}

const logField = (agent: AgentProcess, msg: string, field: string): number | null => {
  const line = agent.logs.find((l) => l.msg === msg && typeof l[field] === 'number');
  return line === undefined ? null : (line[field] as number);
};

/** The restarted agent's start-up steps: the first log line of each, by message. */
const STEPS: Readonly<Record<string, string>> = {
  bridge: 'bridge ensured',
  engine: 'engine ready',
  replayed: 'goal-state log replayed',
  counted: 'installed flows match the restored state in number; each is checked after start-up',
  ready: 'agent ready',
};

function timeline(agent: AgentProcess, spawnedAt: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [step, msg] of Object.entries(STEPS)) {
    const line = agent.logs.find((l) => l.msg === msg);
    if (typeof line?.ts === 'string') out[step] = Date.parse(line.ts) - spawnedAt;
  }
  return out;
}

export async function runRestartBench(opts: RestartBenchOptions): Promise<RestartBenchResult> {
  const log = opts.progress ?? (() => undefined);
  const sb = await OvsSandbox.start({ name: 'benchrst' });
  let agent: AgentProcess | undefined;
  try {
    await addNeighborsPortVm(sb);
    const bytes = fs.readFileSync(await neighborsFixtureFile(opts.neighbors));
    const workers = String(opts.workers ?? Math.min(os.availableParallelism(), 16));
    const args = ['--tunnel-ip', HOST_A.ip, '--tunnel-ofport', '100', '--workers', workers];
    agent = await startAgent(sb, args, 60_000);
    const address = `127.0.0.1:${agent.grpcPort}`;
    log(`pushing 1 port + ${opts.neighbors} neighbors (${bytes.length} bytes)`);
    const reply = await pushRaw(address, bytes);
    const failed = failedStatuses(reply);
    if (failed > 0) throw new Error(`${failed} statuses of the big push were not SUCCESS`);
    log(`pushing ${opts.singles} single-neighbor goal states`);
    for (let i = 0; i < opts.singles; i++) await pushRaw(address, oneNeighbor(opts.neighbors + 1 + i));
    const flows = await countOurFlows(sb);
    const stateDir = `${sb.rundir}/alcor-agent/br-int`;
    const stateDirMB = Math.round(dirBytes(stateDir) / 1e5) / 10;
    log(`kill -9, then a restart (${flows} flows installed, state dir ${stateDirMB} MB)`);
    await agent.kill9();
    agent = undefined;
    const t0 = performance.now();
    const spawnedAt = Date.now();
    agent = await startAgent(sb, args, 10 * 60_000);
    const restartMs = performance.now() - t0;
    const ready = agent.logs.find((l) => l.msg === 'agent ready');
    const a = agent;
    const trustedByCount = a.logs.some((l) => String(l.msg).startsWith('installed flows match the restored state'));
    if (trustedByCount) {
      log('waiting for the background flow check');
      await until(
        'the background flow check',
        async () => a.logs.some((l) => l.msg === 'restored flows verified'),
        10 * 60_000,
      );
    }
    const flowsAfter = await countOurFlows(sb);
    const verifyUs = logField(agent, 'restored flows verified', 'elapsedUs');
    const convergeUs = logField(agent, 'converged', 'elapsedUs');
    return {
      bench: 'restart',
      neighbors: opts.neighbors,
      singles: opts.singles,
      flows,
      restartMs: Math.round(restartMs),
      restartFlowMods: Number(ready?.convergeFlowMods ?? -1),
      flowsAfter,
      replayMs: logField(agent, 'goal-state log replayed', 'ms'),
      replayedGoalStates: logField(agent, 'goal-state log replayed', 'goalStates'),
      convergeMs: convergeUs === null ? null : Math.round(convergeUs / 1000),
      waitedForLogMs: logField(agent, 'goal-state log replayed', 'waitedForReadMs'),
      verifyMs: verifyUs === null ? null : Math.round(verifyUs / 1000),
      verifyFlowMods: logField(agent, 'restored flows verified', 'flowMods'),
      timelineMs: timeline(agent, spawnedAt),
      stateDirMB,
    };
  } finally {
    await agent?.stop().catch(() => undefined);
    await sb.stop();
  }
}
