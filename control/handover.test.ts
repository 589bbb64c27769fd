// Graceful shutdown of a replica (SIGTERM): it releases its lease, so its hosts move at once instead of after
// the lease TTL. Real etcd, real agent gRPC servers, replica processes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2 } from '../proto';
import { EtcdServer } from '../test/etcd';
import { requirePrereqs } from '../test/prereq';
import { httpJson, makeGoalState, pushGoalStates } from './testing/fixtures';
import { ReplicaProcess } from './testing/replica-process';
import { eventually, owned, replicaArgs, startAgents } from './testing/sharded';

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
