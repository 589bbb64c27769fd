// Shared by the sharded-mode tests (sharded.test.ts, handover.test.ts): test agents in batches,
// replica command lines, and polling helpers.
import type { EtcdServer } from '../../test/etcd';
import { hostIp, httpJson } from './fixtures';
import type { ReplicaProcess } from './replica-process';
import { TestAgent } from './test-agent';

export const LEASE_TTL_SEC = 3;

/** n test agents for hosts 1..n, started 50 at a time, not recording message bodies. */
export async function startAgents(n: number): Promise<TestAgent[]> {
  const out: TestAgent[] = [];
  for (let i = 0; i < n; i += 50) {
    const chunk = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, j) => TestAgent.start(hostIp(i + j + 1))),
    );
    out.push(...chunk);
  }
  for (const a of out) a.recordMessages = false;
  return out;
}

export function replicaArgs(etcd: EtcdServer, id: string, leaseTtlSec = LEASE_TTL_SEC): string[] {
  return [
    '--listen',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
    '--etcd',
    etcd.url,
    '--replica-id',
    id,
    '--lease-ttl',
    String(leaseTtlSec),
    '--backoff-max',
    '500',
    '--result-timeout',
    '60000',
    '--log-level',
    'warn',
  ];
}

/** Hosts the replica owns, from its /metrics; throws with its logs if it has exited. */
export async function owned(r: ReplicaProcess): Promise<number> {
  if (r.proc.exitCode !== null || r.proc.signalCode !== null)
    throw new Error(`replica exited (${r.proc.exitCode ?? r.proc.signalCode}):\n${r.logs()}`);
  const res = await httpJson(r.httpBase, 'GET', '/metrics');
  const m = /alcor_control_hosts_owned (\d+)/.exec(String(res.json));
  return Number(m?.[1] ?? -1);
}

/** Polls `check` every 50 ms; resolves with the ms it took, throws after `timeoutMs`. */
export async function eventually(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean> | boolean,
): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await check()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}
