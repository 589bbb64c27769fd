import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromGoalStateV2 } from '../goalstate/normalize';
import { ResourceStore } from '../goalstate/store';
import { neighbor, port, subnet, v2, type Entry } from '../goalstate/testkit';
import type { Flow } from '../flow';
import { FlowTable } from '../flowtable/table';
import { compileAllByOwner, compileOwner } from './compile';
import { dependents } from './dependents';
import { StoreView } from './storeview';
import { formatFlows as formatFlowLines } from '../openflow/format';
import { tableNameOf } from './tables';
import { ownerKey, preferOwner } from './view';

const formatFlows = (flows: Iterable<Flow>): string[] => formatFlowLines(flows, { tableNames: tableNameOf });

function apply(store: ResourceStore, entries: Entry[]) {
  const plan = store.plan(fromGoalStateV2(v2(entries)));
  store.commit(plan);
  return plan;
}

test('the store drives the compiler: goal state in, flows out, store changes recompile incrementally', () => {
  const store = new ResourceStore();
  const ofports = new Map<string, number>();
  const view = new StoreView(store, {
    localTunnelIp: 0xc0000201,
    tunnelOfport: 100,
    ofportOf: (id) => ofports.get(id),
  });
  apply(store, [subnet('sn1'), port('p1'), neighbor('n1', { hostIpAddress: '192.0.2.77' })]);
  ofports.set('p1', 5);
  const table = new FlowTable({ preferOwner });
  table.apply(compileAllByOwner(view).map((o) => ({ owner: ownerKey(o.owner), flows: o.flows })));
  const lines = formatFlows(table.flows());
  assert.ok(
    lines.some((l) => l.includes(' table=Classifier,') && l.includes('in_port=5')),
    'port classified',
  );
  assert.ok(
    lines.some((l) => l.includes('->tun_dst') && l.includes('192.0.2.77')),
    'neighbor tunnelled',
  );

  // A subnet update (new VNI) flows through the store's change list into dependents().
  const plan = apply(store, [subnet('sn1', { tunnelId: 4242 }, 2)]);
  const owners = plan.changes.flatMap((c) => dependents(c, view));
  table.apply(owners.map((o) => ({ owner: ownerKey(o), flows: compileOwner(o, view) })));
  const fresh = new FlowTable({ preferOwner });
  fresh.apply(compileAllByOwner(view).map((o) => ({ owner: ownerKey(o.owner), flows: o.flows })));
  assert.equal(formatFlows(table.flows()), formatFlows(fresh.flows()));
  assert.ok(
    formatFlows(table.flows()).some((l) => l.includes('reg6=0x1092')),
    'new VNI in use',
  );
});

test.run();
