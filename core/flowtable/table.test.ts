import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { flowKey, type Action, type Flow } from '../flow';
import { compileNeighbor } from '../pipeline/remote-neighbor-flows';
import { encodeCookie, isOurCookie } from '../pipeline/cookie';
import { MemoryView } from '../pipeline/memview';
import { neighbor, subnet } from '../pipeline/testdata';
import { ownerKey, preferOwner } from '../pipeline/view';
import { fastFlowKey, sameBody } from './key';
import { FlowTable, type FlowDelta } from './table';

const out = (port: number): Action => ({ kind: 'output', port });

function fl(table: number, prio: number, value: number, cookie: bigint, actions: Action[] = [out(1)]): Flow {
  return { table, priority: prio, cookie, match: [{ field: 'reg6', value }], actions };
}

const A = encodeCookie('port', 'a');
const B = encodeCookie('port', 'b');

function keys(d: FlowDelta): { add: string[]; modify: string[]; delete: string[] } {
  const k = (fs: Flow[]): string[] => fs.map((f) => flowKey(f)).sort();
  return { add: k(d.add), modify: k(d.modify), delete: k(d.delete) };
}

test('new flows are ADDs; unchanged re-apply is empty', () => {
  const t = new FlowTable();
  const d = t.apply([{ owner: 'port:a', flows: [fl(0, 1, 1, A), fl(0, 1, 2, A)] }]);
  assert.is(d.add.length, 2);
  assert.equal(t.apply([{ owner: 'port:a', flows: [fl(0, 1, 1, A), fl(0, 1, 2, A)] }]), {
    add: [],
    modify: [],
    delete: [],
  });
  assert.is(t.size, 2);
});

test('changed actions -> MODIFY_STRICT, changed cookie -> ADD, vanished key -> DELETE_STRICT', () => {
  const t = new FlowTable();
  t.apply([{ owner: 'port:a', flows: [fl(0, 1, 1, A), fl(0, 1, 2, A), fl(0, 1, 3, A)] }]);
  const d = t.apply([{ owner: 'port:a', flows: [fl(0, 1, 1, A, [out(2)]), fl(0, 1, 2, B)] }]);
  assert.equal(keys(d), { add: ['0/1/reg6=2,'], modify: ['0/1/reg6=1,'], delete: ['0/1/reg6=3,'] });
  assert.equal(d.modify[0]?.actions, [out(2)]);
  assert.is(d.delete[0]?.cookie, A, 'deletes carry the installed flow');
});

test('shared flows are ref-counted: removing one owner keeps the flow', () => {
  const t = new FlowTable();
  const shared = fl(60, 100, 7, A);
  assert.is(
    t.apply([
      { owner: 'port:a', flows: [shared] },
      { owner: 'port:b', flows: [shared] },
    ]).add.length,
    1,
  );
  assert.equal(t.ownersOf(flowKey(shared)), ['port:a', 'port:b']);
  assert.equal(t.apply([{ owner: 'port:a', flows: [] }]), { add: [], modify: [], delete: [] });
  assert.equal(t.ownersOf(flowKey(shared)), ['port:b']);
  assert.equal(keys(t.apply([{ owner: 'port:b', flows: [] }])).delete, [flowKey(shared)]);
  assert.is(t.size, 0);
  assert.equal(t.keysOf('port:b'), []);
});

test('contested key: the preferred owner wins regardless of order; losing it hands over', () => {
  const local = fl(20, 100, 1, encodeCookie('port', 'p'), [out(3)]);
  const remote = fl(20, 100, 1, encodeCookie('neighbor', 'n'), [out(100)]);
  for (const order of [0, 1]) {
    const t = new FlowTable({ preferOwner });
    const changes = [
      { owner: 'port:p', flows: [local] },
      { owner: 'neighbor:n', flows: [remote] },
    ];
    t.apply(order === 0 ? changes : changes.reverse());
    assert.equal(t.get(flowKey(local))?.actions, [out(3)]);
    const d = t.apply([{ owner: 'port:p', flows: [] }]);
    assert.equal(
      d.add.map((f) => f.cookie),
      [remote.cookie],
      'cookie changed: ADD of the neighbor version',
    );
  }
});

test('a delete followed by an identical add in one batch cancels out', () => {
  const t = new FlowTable();
  const f = fl(0, 1, 1, A);
  t.apply([{ owner: 'port:a', flows: [f] }]);
  assert.equal(
    t.apply([
      { owner: 'port:a', flows: [] },
      { owner: 'port:b', flows: [{ ...f }] },
    ]),
    { add: [], modify: [], delete: [] },
  );
  assert.equal(t.ownersOf(flowKey(f)), ['port:b']);
  // And an add then delete of a new key in one batch gives nothing either.
  assert.equal(
    t.apply([
      { owner: 'port:c', flows: [fl(0, 1, 9, A)] },
      { owner: 'port:c', flows: [] },
    ]),
    { add: [], modify: [], delete: [] },
  );
});

test('duplicate keys within one owner: the last flow wins, one entry', () => {
  const t = new FlowTable();
  const d = t.apply([{ owner: 'port:a', flows: [fl(0, 1, 1, A), fl(0, 1, 1, A, [out(9)])] }]);
  assert.is(d.add.length, 1);
  assert.equal(d.add[0]?.actions, [out(9)]);
});

test('minimality: one neighbor added to 10k gives exactly its 2 flows', () => {
  const view = new MemoryView({ localTunnelIp: 1, tunnelOfport: 100 });
  view.put(subnet('s', { cidr: '10.0.0.0/8', vni: 42 }));
  const mk = (i: number) =>
    neighbor(`n${i}`, {
      mac: `02:00:00:${((i >> 16) & 255).toString(16)}:${((i >> 8) & 255).toString(16)}:${(i & 255).toString(16)}`,
      host: '192.0.2.9',
      ips: [{ subnetId: 's', ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }],
    });
  const t = new FlowTable({ preferOwner });
  const all = [];
  for (let i = 0; i < 10_000; i++) {
    const n = mk(i);
    all.push({ owner: ownerKey({ kind: 'neighbor', id: n.id }), flows: compileNeighbor(n, view) });
  }
  assert.is(t.apply(all).add.length, 20_000);
  const extra = mk(10_000);
  const d = t.apply([{ owner: ownerKey({ kind: 'neighbor', id: extra.id }), flows: compileNeighbor(extra, view) }]);
  assert.equal([d.add.length, d.modify.length, d.delete.length], [2, 0, 0]);
  const gone = t.apply([{ owner: ownerKey({ kind: 'neighbor', id: 'n5' }), flows: [] }]);
  assert.equal([gone.add.length, gone.modify.length, gone.delete.length], [0, 0, 2]);
});

test('reconcile: stale, missing, modified, re-cookied and foreign flows', () => {
  const t = new FlowTable({ isOurs: isOurCookie });
  const keep = fl(0, 1, 1, A);
  const changed = fl(0, 1, 2, A, [out(5)]);
  const recookied = fl(0, 1, 3, B);
  const missing = fl(0, 1, 4, A);
  t.apply([
    { owner: 'port:a', flows: [keep, changed, missing] },
    { owner: 'port:b', flows: [recookied] },
  ]);
  const foreign = fl(0, 1, 99, 0x42n);
  const stale = fl(0, 1, 77, A);
  const installed = [keep, fl(0, 1, 2, A, [out(6)]), fl(0, 1, 3, A), stale, foreign];
  const d = t.reconcile(installed);
  assert.equal(keys(d), { add: ['0/1/reg6=3,', '0/1/reg6=4,'], modify: ['0/1/reg6=2,'], delete: ['0/1/reg6=77,'] });
  assert.equal(t.reconcile([keep, changed, recookied, missing, foreign]), { add: [], modify: [], delete: [] });
});

test('fast key and body comparison agree with flowKey/flowBody', () => {
  const f: Flow = {
    table: 3,
    priority: 9,
    cookie: A,
    match: [
      { field: 'eth_dst', value: 5 },
      { field: 'in_port', value: 2 },
      { field: 'reg0', value: 1, mask: 3 },
    ],
    actions: [],
  };
  assert.is(fastFlowKey(f), flowKey(f), 'unsorted match falls back to the canonical key');
  assert.ok(sameBody(f, { ...f, actions: [] }));
  assert.not.ok(sameBody(f, { ...f, goto: 4 }));
  assert.not.ok(sameBody(f, { ...f, cookie: B }));
});

// ---- property: incremental apply == full reconcile ---------------------------------------------

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomFlows(rnd: () => number, owner: string): Flow[] {
  const n = Math.floor(rnd() * 6);
  const flows: Flow[] = [];
  for (let i = 0; i < n; i++) {
    // A small key space so that owners collide; a small body space so that bodies repeat.
    const cookieOwner = rnd() < 0.8 ? owner : `x${Math.floor(rnd() * 3)}`;
    flows.push(
      fl(Math.floor(rnd() * 2), 100, Math.floor(rnd() * 12), encodeCookie('port', cookieOwner), [
        out(Math.floor(rnd() * 3)),
      ]),
    );
  }
  return flows;
}

type Installed = Map<string, Flow>;

function install(installed: Installed, d: FlowDelta): void {
  for (const f of d.delete) {
    assert.ok(installed.has(flowKey(f)), 'delete of a flow that is not installed');
    installed.delete(flowKey(f));
  }
  for (const f of d.modify) {
    const cur = installed.get(flowKey(f));
    assert.ok(cur !== undefined && cur.cookie === f.cookie, 'modify of a missing flow or with a new cookie');
    installed.set(flowKey(f), f);
  }
  for (const f of d.add) installed.set(flowKey(f), f);
}

const norm = (d: FlowDelta): string[] =>
  [
    ...d.add.map((f) => `add ${flowKey(f)} ${f.cookie} ${JSON.stringify(f.actions)}`),
    ...d.modify.map((f) => `mod ${flowKey(f)} ${f.cookie} ${JSON.stringify(f.actions)}`),
    ...d.delete.map((f) => `del ${flowKey(f)}`),
  ].sort();

test('property: incremental apply of random changes == full reconcile, and converges the switch', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = prng(seed);
    const owners = ['port:a', 'port:b', 'port:c', 'neighbor:d', 'router:e'];
    const incremental = new FlowTable({ preferOwner });
    const state = new Map<string, Flow[]>();
    const installed: Installed = new Map();
    for (let round = 0; round < 8; round++) {
      const batch = [];
      const nChanges = 1 + Math.floor(rnd() * 4);
      for (let i = 0; i < nChanges; i++) {
        const owner = owners[Math.floor(rnd() * owners.length)] ?? 'port:a';
        const flows = rnd() < 0.2 ? [] : randomFlows(rnd, owner);
        batch.push({ owner, flows });
        state.set(owner, flows);
      }
      const before = [...installed.values()];
      const d = incremental.apply(batch);
      // The same end state built from scratch, reconciled against what the switch had.
      const full = new FlowTable({ preferOwner });
      full.apply([...state].sort(() => rnd() - 0.5).map(([owner, flows]) => ({ owner, flows })));
      assert.equal(norm(d), norm(full.reconcile(before)), `seed ${seed} round ${round}`);
      install(installed, d);
      assert.equal(
        [...installed.values()].map((f) => `${flowKey(f)} ${f.cookie}`).sort(),
        [...full.flows()].map((f) => `${flowKey(f)} ${f.cookie}`).sort(),
        `seed ${seed} round ${round}: switch converged`,
      );
      const adds = new Set(d.add.map((f) => flowKey(f)));
      assert.is(adds.size, d.add.length, 'no key added twice');
    }
  }
});

test.run();
