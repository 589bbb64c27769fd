// Graceful shutdown of a replica (SIGTERM): it releases its lease, so its hosts move at once instead of after
// the lease TTL. Real etcd, real agent gRPC servers, replica processes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2 } from '../proto';
import { EtcdServer } from '../test/etcd';
import { requirePrereqs } from '../test/prereq';
import { hostIp, httpJson, makeGoalState, pushGoalStates } from './testing/fixtures';
import { ReplicaProcess } from './testing/replica-process';
import { TestAgent } from './testing/test-agent';

const LEASE_TTL_SEC = 3;

async function startAgents(n: number): Promise<TestAgent[]> {
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

function replicaArgs(etcd: EtcdServer, id: string, leaseTtlSec = LEASE_TTL_SEC): string[] {
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

async function owned(r: ReplicaProcess): Promise<number> {
  if (r.proc.exitCode !== null || r.proc.signalCode !== null)
    throw new Error(`replica exited (${r.proc.exitCode ?? r.proc.signalCode}):\n${r.logs()}`);
  const res = await httpJson(r.httpBase, 'GET', '/metrics');
  const m = /alcor_control_hosts_owned (\d+)/.exec(String(res.json));
  return Number(m?.[1] ?? -1);
}

async function eventually(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await check()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

if (requirePrereqs(['etcd'])) {
  test('graceful shutdown releases the lease: hosts move at once, long before the TTL', async () => {
    const etcd = await EtcdServer.start();
    const agents = await startAgents(40);
    const replicas: ReplicaProcess[] = [];
    try {
      for (const id of ['g0', 'g1']) replicas.push(await ReplicaProcess.start(replicaArgs(etcd, id, 30)));
      const [g0, g1] = replicas as [ReplicaProcess, ReplicaProcess];
      await httpJson(
        g0.httpBase,
        'POST',
        '/v1/hosts',
        agents.map((a) => ({ hostIp: a.hostIp, agent: a.address })),
      );
      await pushGoalStates(g0.grpcAddress, [
        GoalStateV2.encode(makeGoalState({ hosts: agents.map((a) => a.hostIp), portsPerHost: 1 })).finish(),
      ]);
      await eventually('both own some', 5000, async () => (await owned(g0)) > 0 && (await owned(g1)) > 0);
      assert.ok(agents.every((a) => a.applied.size === 2));
      const code = await g1.kill('SIGTERM');
      assert.is(code, 0);
      const ms = await eventually('g0 owns every host', 5000, async () => (await owned(g0)) === agents.length);
      assert.ok(ms < 5000, `handover took ${ms} ms with a 30 s TTL`);
    } finally {
      for (const r of replicas) await r.kill('SIGKILL');
      for (const a of agents) await a.stop();
      await etcd.stop();
    }
  });

  test.after(() => {
    setTimeout(() => process.exit(), 200);
  });
  test.run();
}
