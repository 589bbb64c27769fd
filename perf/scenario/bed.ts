// The test bed of the resource-API scenarios (api, ramp, mix): one embedded control replica in its own node
// process, H simulated agents in this process (control/testing/test-agent.ts: the agent's real gRPC server
// with a recording applier), all registered and connected before anything is timed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hostIp, httpJson } from '../../control/testing/fixtures';
import { ReplicaProcess } from '../../control/testing/replica-process';
import { TestAgent } from '../../control/testing/test-agent';
import { msSince } from '../report/stats';

export interface Bed {
  readonly base: string;
  readonly agents: readonly TestAgent[];
  readonly setupMs: number;
  /** One HTTP call, timed from now (or from `fromNs`, a process.hrtime.bigint() reading) until the answer. */
  call(method: string, p: string, body?: unknown, fromNs?: bigint): Promise<CallResult>;
  close(): Promise<void>;
}

export interface CallResult {
  readonly ms: number;
  readonly status: number;
  readonly json: Record<string, unknown>;
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startBed(hosts: number, neighborLimit: number, say: (l: string) => void): Promise<Bed> {
  const t0 = Date.now();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bench-'));
  const agents: TestAgent[] = [];
  let replica: ReplicaProcess | null = null;
  const close = async (): Promise<void> => {
    await replica?.kill('SIGKILL');
    for (const a of agents) await a.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < hosts; i += 100) {
      const n = Math.min(100, hosts - i);
      agents.push(...(await Promise.all(Array.from({ length: n }, (_, j) => TestAgent.start(hostIp(i + j + 1))))));
    }
    for (const a of agents) a.recordMessages = false;
    const args = ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--log-level', 'warn', '--data-dir', dataDir];
    replica = await ReplicaProcess.start([...args, '--neighbor-limit', String(neighborLimit)]);
    const base = replica.httpBase;
    const body = agents.map((a) => ({ hostIp: a.hostIp, agent: a.address }));
    const reg = await httpJson(base, 'POST', '/v1/hosts', body);
    if (reg.status !== 200) throw new Error(`registering agents failed: ${JSON.stringify(reg.json)}`);
    await until('every agent stream up', 120000, async () => {
      const m = await httpJson(base, 'GET', '/metrics');
      const x = /^alcor_control_agents_connected (\S+)$/m.exec(String(m.json));
      return Number(x?.[1]) === hosts;
    });
    const setupMs = Date.now() - t0;
    say(`${hosts} agents connected (${setupMs} ms)`);
    const call = async (method: string, p: string, b?: unknown, fromNs?: bigint): Promise<CallResult> => {
      const start = fromNs ?? process.hrtime.bigint();
      try {
        const r = await httpJson(base, method, p, b);
        const json = (typeof r.json === 'object' && r.json !== null ? r.json : { body: r.json }) as Record<
          string,
          unknown
        >;
        return { ms: msSince(start), status: r.status, json };
      } catch (err: unknown) {
        return { ms: msSince(start), status: 0, json: { error: (err as Error).message } };
      }
    };
    return { base, agents, setupMs, call, close };
  } catch (err: unknown) {
    await close();
    throw err;
  }
}

/** An integer option check shared by the scenario CLIs: the message to print, or null when fine. */
export function badInteger(name: string, v: number, min: number): string | null {
  return Number.isInteger(v) && v >= min ? null : `--${name} must be an integer >= ${min}`;
}
