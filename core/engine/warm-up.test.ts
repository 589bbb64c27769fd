// Engine.warmUp: a fresh engine plans a synthetic push and takes it back. Whatever it warmed, the
// engine must come out of it holding what a fresh one holds, and plan the next goal state exactly
// as a fresh one does.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { engineWith, flowsText } from '../../test/engine-runs';
import { HOST_A, neighborsGoalStateV2Bytes } from '../../test/fixtures/goalstates';
import { flowModTexts } from '../../test/flowmod-text';
import { GoalStateV2 } from '../../proto';
import { warmUpGoalState } from './warm-up';

for (const workers of [0, 2]) {
  test(`warm-up (${workers} workers): nothing held after it, and the next push planned as by a fresh engine`, async () => {
    const warmed = await engineWith(workers);
    const fresh = await engineWith(workers);
    await warmed.warmUp(HOST_A.ip, 3000, 2);
    assert.equal(flowsText(await warmed.desiredFlows()), flowsText(await fresh.desiredFlows()));
    assert.equal(await warmed.snapshot(), await fresh.snapshot());

    const bytes = neighborsGoalStateV2Bytes(500);
    const a = await fresh.prepare(bytes, 2);
    const b = await warmed.prepare(bytes, 2);
    assert.equal(
      [...b.statuses].map((s) => s.status),
      [...a.statuses].map((s) => s.status),
    );
    assert.equal(flowModTexts(b.deltas), flowModTexts(a.deltas));
    assert.is(b.add, a.add);
    await warmed.commit(b.txns);
    await fresh.commit(a.txns);
    assert.equal(flowsText(await warmed.desiredFlows()), flowsText(await fresh.desiredFlows()));
    await warmed.close();
    await fresh.close();
  });
}

test('the warm-up goal state is a valid goal state of one port and the neighbors asked for', () => {
  assert.throws(() => warmUpGoalState(0, HOST_A.ip), /1 to 280000/);
  const gs = GoalStateV2.decode(warmUpGoalState(1000, HOST_A.ip));
  assert.is(Object.keys(gs.neighborStates).length, 1000);
  assert.is(Object.keys(gs.portStates).length, 1);
  const confs = Object.values(gs.neighborStates).map((n) => n.configuration);
  assert.is(new Set(confs.map((c) => c?.fixedIps[0].ipAddress)).size, 1000, 'every neighbor has its own IP');
  assert.is(new Set(confs.map((c) => c?.macAddress)).size, 1000, 'and its own MAC');
  assert.ok(
    confs.every((c) => c?.name === c?.id && /^100\.1\d\d\.1\d\d\.1\d\d$/.test(c?.fixedIps[0].ipAddress ?? '')),
    'each entry is its own neighbor, in 100.100-127.x.x',
  );
});

test.run();
