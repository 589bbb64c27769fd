// How the apply path answers a goal state the engine refused: bad input only for a code core lists
// (INVALID_ARG), anything else FAILURE for every resource (our fault, never "bad input"), and a
// gRPC error only when nothing can be named. The real engine's decode error, thrown in a worker
// thread, must still count as input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Engine } from '../core/engine/engine';
import { GoalStateV2, OperationStatus, ResourceType } from '../proto';
import { fullGoalStateV2 } from '../test/fixtures/goalstates';
import { refusalOf } from './apply-path';
import { isGoalStateValidationError } from './grpc/server';

const coded = (code: string): Error => Object.assign(new Error('boom'), { code });
const fullBytes = (): Uint8Array => GoalStateV2.encode(fullGoalStateV2()).finish();

test('a goal-state input code is bad input: a validation error for INVALID_ARG', () => {
  const r = refusalOf(coded('GOALSTATE_DECODE'), fullBytes(), 2);
  assert.is(r.kind, 'input');
  assert.ok(r.kind === 'input' && isGoalStateValidationError(r.error));
});

test('an uncoded error or an engine fault code is ours: FAILURE for every resource, neighbors included', () => {
  const gs = fullGoalStateV2();
  for (const e of [new Error('a bug in a worker'), coded('ENGINE_REPLY'), coded('TXN_OPEN')]) {
    const r = refusalOf(e, fullBytes(), 2);
    assert.is(r.kind, 'failure', String(e));
    if (r.kind !== 'failure') continue;
    assert.ok(r.statuses.length > 0);
    assert.ok(r.statuses.every((s) => s.status === OperationStatus.FAILURE && s.reason.includes('agent fault')));
    const neighbors = r.statuses.filter((s) => s.resourceType === ResourceType.NEIGHBOR).map((s) => s.resourceId);
    assert.equal(neighbors.sort(), Object.keys(gs.neighborStates).sort());
    assert.ok(r.statuses.some((s) => s.resourceType === ResourceType.PORT));
  }
});

test('our fault on bytes that do not decode here either: the error goes up (gRPC INTERNAL)', () => {
  assert.is(refusalOf(new Error('a bug'), Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), 1).kind, 'fault');
});

test("the engine's decode error from a worker thread is still bad input", async () => {
  const engine = await Engine.create({ workers: 1 });
  try {
    const entry = [0x12, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff];
    const bytes = Uint8Array.from([0x3a, entry.length, ...entry]);
    const e = await engine.prepare(bytes, 2).then(
      () => assert.unreachable('prepare accepted an undecodable neighbor'),
      (err: unknown) => err,
    );
    assert.is(refusalOf(e, bytes, 2).kind, 'input');
  } finally {
    await engine.close();
  }
});

test.run();
