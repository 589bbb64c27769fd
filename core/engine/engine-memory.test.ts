// The engine under memory pressure: a restoring prepare (a restart's replay) writes no lane
// flow-mods, a window holds a partition to what its consumer released, a segment torn down with
// its neighbors stays in the lane, and collect() leaves the held state as it was. Apart from
// engine.test.ts, which is close to the per-file time limit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2, OperationType } from '../../proto';
import { engineWith, flowsText } from '../../test/engine-runs';
import { neighborsGoalStateV2, neighborsGoalStateV2Bytes } from '../../test/fixtures/goalstates';
import { flowModTexts as deltaText } from '../../test/flowmod-text';

test('restoring: the same held flows and the same next deltas as a push, without the lane flow-mod bytes', async () => {
  const bytes = neighborsGoalStateV2Bytes(400);
  const pushed = await engineWith(2);
  const restored = await engineWith(2);
  const sizeOf = (p: { deltas: readonly Uint8Array[] }): number => p.deltas.reduce((n, d) => n + d.length, 0);
  const a = await pushed.prepare(bytes, 2);
  const b = await restored.prepare(bytes, 2, { restoring: true });
  assert.is(b.add, a.add, 'the same flows are counted');
  assert.ok(sizeOf(b) < sizeOf(a) / 10, `lane flow-mods not written: ${sizeOf(b)} of ${sizeOf(a)} bytes`);
  await pushed.commit(a.txns);
  await restored.commit(b.txns);
  assert.equal(flowsText(await restored.desiredFlows()), flowsText(await pushed.desiredFlows()));
  // What comes next is planned against the same held state.
  const gone = neighborsGoalStateV2(5, { startIndex: 3, hostResources: false, operationType: OperationType.DELETE });
  const next = GoalStateV2.encode({ ...gone, vpcStates: {}, subnetStates: {}, portStates: {} }).finish();
  const x = await pushed.prepare(next, 2);
  const y = await restored.prepare(next, 2);
  assert.equal(deltaText(y.deltas), deltaText(x.deltas));
  await pushed.close();
  await restored.close();
});

test('window: a partition waits for releases, never more than the window unreleased, and gives the same flow-mods', async () => {
  const bytes = neighborsGoalStateV2Bytes(50_000, { hostResources: false });
  const e = await engineWith(2);
  const reference = await engineWith(0);
  let unreleased = 0;
  let most = 0;
  const got: string[] = [];
  const held: (() => void)[] = [];
  // The consumer gives one delta back per turn of the event loop, as a slow socket would.
  let pumping = true;
  const pump = (): void => {
    held.shift()?.();
    if (pumping) setImmediate(pump);
  };
  pump();
  const p = await e.prepare(bytes, 2, {
    window: 1,
    onDelta: (d, _bundle, release) => {
      got.push(...deltaText([d])); // read before release: the bytes are reused after it
      most = Math.max(most, ++unreleased);
      held.push(() => {
        unreleased--;
        release();
      });
    },
  });
  pumping = false;
  for (const r of held.splice(0)) r();
  assert.ok(most <= 2, `at most one unreleased delta per partition, saw ${most}`);
  const r = await reference.prepare(bytes, 2);
  assert.equal(got.sort(), deltaText(r.deltas).sort());
  assert.is(p.add, r.add);
  await e.abort(p.txns);
  await e.close();
  await reference.close();
});

test('a subnet torn down with its neighbors in one goal state: the same deletes inline and in chunks', async () => {
  const create = neighborsGoalStateV2Bytes(30_000);
  const teardown = neighborsGoalStateV2Bytes(30_000, { hostResources: false, operationType: OperationType.DELETE });
  const results: { deletes: string[]; statuses: string; left: string[] }[] = [];
  for (const workers of [0, 2]) {
    const e = await engineWith(workers);
    const a = await e.prepare(create, 2);
    await e.commit(a.txns);
    const got: Uint8Array[] = [];
    const d = await e.prepare(teardown, 2, workers > 0 ? { onDelta: (x) => got.push(x.slice()) } : {});
    await e.commit(d.txns);
    results.push({
      deletes: deltaText(workers > 0 ? got : d.deltas).sort(),
      statuses: JSON.stringify([...d.statuses]),
      left: flowsText(await e.desiredFlows()),
    });
    await e.close();
  }
  assert.equal(results[1].deletes, results[0].deletes);
  assert.is(results[1].statuses, results[0].statuses);
  assert.equal(results[1].left, results[0].left);
});

test('collect: a full collection in every thread, the held state untouched', async () => {
  for (const workers of [0, 2]) {
    const e = await engineWith(workers);
    const a = await e.prepare(neighborsGoalStateV2Bytes(1000), 2);
    await e.commit(a.txns);
    const before = flowsText(await e.desiredFlows());
    await e.collect();
    assert.equal(flowsText(await e.desiredFlows()), before);
    await e.close();
  }
});

test.run();
