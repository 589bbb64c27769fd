// The on-demand neighbor index with the etcd store: a replica that did not make a commit keeps its index in
// step through the watch (puts, updates, deletes), and a replica started later builds it from the load.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2, NeighborState, OperationType, ResourceType } from '../../proto';
import { EtcdServer } from '../../test/etcd';
import { requirePrereqs } from '../../test/prereq';
import { silentLogger } from '../log';
import { parseGoalStateV2 } from '../resources';
import { eventually } from '../testing/sharded';
import { EtcdStore } from './etcd-store';

function goalState(neighbors: Record<string, string>, op = OperationType.CREATE): ReturnType<typeof parseGoalStateV2> {
  const gs = GoalStateV2.fromPartial({
    formatVersion: 102,
    hostResources: {
      '192.0.2.7': { resources: Object.keys(neighbors).map((id) => ({ type: ResourceType.NEIGHBOR, id })) },
    },
  });
  for (const [id, ip] of Object.entries(neighbors)) {
    gs.neighborStates[id] = NeighborState.fromPartial({
      operationType: op,
      configuration: {
        id,
        macAddress: '02:00:00:00:00:01',
        fixedIps: [{ subnetId: 's', ipAddress: ip, tunnelId: 21 }],
      },
    });
  }
  return parseGoalStateV2(GoalStateV2.encode(gs).finish());
}

if (requirePrereqs(['etcd'])) {
  test('a replica keeps the index through the etcd watch; a late replica builds it from the load', async () => {
    const etcd = await EtcdServer.start();
    const store = (id: string): EtcdStore =>
      new EtcdStore({ endpoints: [etcd.url], prefix: '/nbr/', replicaId: id, log: silentLogger });
    const writer = store('r0');
    const watcher = store('r1');
    let late: EtcdStore | null = null;
    try {
      await writer.start();
      await watcher.start();
      const sees = (s: EtcdStore, ip: string, want: string[]) =>
        eventually(`${s === watcher ? 'r1' : 'r2'} sees ${ip} -> [${want.join(',')}]`, 10000, () => {
          const got = s.cache.neighbors.lookup(ip, 21).sort();
          return got.length === want.length && got.every((k, i) => k === want[i]);
        });
      await writer.commit(goalState({ n1: '10.1.0.1', n2: '10.1.0.2', n3: '10.1.0.3' }), 'r0');
      await sees(watcher, '10.1.0.2', ['neighbor/n2']);
      await writer.commit(goalState({ n2: '10.1.0.22' }), 'r0');
      await sees(watcher, '10.1.0.22', ['neighbor/n2']);
      await sees(watcher, '10.1.0.2', []);
      await writer.commit(goalState({ n3: '10.1.0.3' }, OperationType.DELETE), 'r0');
      await sees(watcher, '10.1.0.3', []);
      late = store('r2');
      await late.start();
      await sees(late, '10.1.0.1', ['neighbor/n1']);
      await sees(late, '10.1.0.22', ['neighbor/n2']);
      assert.equal(late.cache.neighbors.lookup('10.1.0.3', 21), []);
      assert.is(late.cache.neighbors.size, watcher.cache.neighbors.size);
    } finally {
      await late?.close();
      await watcher.close();
      await writer.close();
      await etcd.stop();
    }
  });

  // The etcd3 client can keep retry timers alive for a while after close(); do not let them hold the run.
  test.after(() => {
    setTimeout(() => process.exit(), 200);
  });
  test.run();
}
