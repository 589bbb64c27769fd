// etcd down: owned hosts keep being served from memory (agent restarts get their full state), and no goal
// state is acknowledged while it cannot be made durable. After etcd returns, goal states flow again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EtherType, GoalStateV2, OperationStatus, Protocol, RequestType } from '../proto';
import { EtcdServer } from '../test/etcd';
import { requirePrereqs } from '../test/prereq';
import { ControlConfig } from './config';
import { silentLogger } from './log';
import { startControl } from './server';
import { hostIp, makeGoalState, pushGoalStates, requestGoalStates } from './testing/fixtures';
import { TestAgent } from './testing/test-agent';

function config(etcd: EtcdServer): ControlConfig {
  return {
    listen: '127.0.0.1:0',
    http: '127.0.0.1:0',
    etcd: [etcd.url],
    dataDir: '/nonexistent',
    replicaId: 'outage',
    prefix: '/outage/',
    leaseTtlSec: 3,
    ackMode: 'agents',
    resultTimeoutMs: 20000,
    replyTimeoutMs: 10000,
    backoffMaxMs: 300,
    logLevel: 'warn',
    agents: new Map(),
  };
}

if (requirePrereqs(['etcd'])) {
  test('etcd down: hosts served from memory, nothing acknowledged that is not durable', async () => {
    const etcd = await EtcdServer.start();
    const agents = await Promise.all([1, 2, 3, 4].map((i) => TestAgent.start(hostIp(i))));
    const ctl = await startControl(
      { ...config(etcd), agents: new Map(agents.map((a) => [a.hostIp, a.address])) },
      silentLogger,
    );
    const grpcAddr = `127.0.0.1:${ctl.grpcPort}`;
    const hosts = agents.map((a) => a.hostIp);
    try {
      const [r1] = await pushGoalStates(grpcAddr, [
        GoalStateV2.encode(makeGoalState({ hosts, portsPerHost: 2, tag: 'one' })).finish(),
      ]);
      assert.is(r1?.operationStatuses.length, 12);
      assert.ok(agents.every((a) => a.applied.size === 3));

      await etcd.kill();

      // an agent restart is served from memory
      const a0 = agents[0] as TestAgent;
      await a0.restart(20);
      await a0.waitFor(() => a0.applied.size === 3, 10000, 'full re-push from memory while etcd is down');
      const a1 = agents[1] as TestAgent;
      const before = a1.received;
      const rr = await requestGoalStates(
        grpcAddr,
        {
          formatVersion: 1,
          stateRequests: [
            {
              requestType: RequestType.AGENT_RESTARTED,
              requestId: 'x',
              tunnelId: 0,
              sourceIp: '',
              sourcePort: 0,
              destinationIp: '',
              destinationPort: 0,
              ethertype: EtherType.IPV4,
              protocol: Protocol.TCP,
            },
          ],
        },
        a1.hostIp,
      );
      assert.is(rr.operationStatuses[0]?.operationStatus, OperationStatus.SUCCESS);
      await a1.waitFor(() => a1.received > before, 5000, 'AGENT_RESTARTED answered from memory');
      assert.ok(ctl.membership.active(), 'an unreachable etcd does not fence the replica');

      // a goal state that cannot be made durable is refused, and not pushed
      let refused: unknown = null;
      try {
        await pushGoalStates(
          grpcAddr,
          [GoalStateV2.encode(makeGoalState({ hosts, portsPerHost: 1, tag: 'lost' })).finish()],
          30000,
        );
      } catch (err: unknown) {
        refused = err;
      }
      assert.ok(refused !== null, 'push refused while etcd is down');
      assert.is((refused as { code?: number }).code, 14, 'gRPC UNAVAILABLE');
      assert.ok(agents.every((a) => ![...a.applied.keys()].some((k) => k.includes('-lost-'))));

      // etcd back: goal states are accepted and pushed again
      await etcd.restart();
      let r3;
      const t0 = Date.now();
      for (;;) {
        try {
          [r3] = await pushGoalStates(grpcAddr, [
            GoalStateV2.encode(makeGoalState({ hosts, portsPerHost: 1, tag: 'three' })).finish(),
          ]);
          break;
        } catch (err: unknown) {
          if (Date.now() - t0 > 20000) throw err;
          await new Promise((r) => setTimeout(r, 300));
        }
      }
      assert.is(r3?.operationStatuses.length, 8);
      assert.ok(r3?.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS));
      assert.ok(agents.every((a) => a.applied.size === 5));
    } finally {
      await ctl.stop();
      for (const a of agents) await a.stop();
      await etcd.stop();
    }
  });

  // The etcd3 client can keep retry timers alive for a while after close(); do not let them hold the run.
  test.after(() => {
    setTimeout(() => process.exit(), 200);
  });
  test.run();
}
