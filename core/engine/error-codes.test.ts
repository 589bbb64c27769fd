// The agent answers an engine failure as bad input only when its code is one core lists
// (GOALSTATE_INPUT_CODES); that needs the code to survive the piscina worker boundary, where
// structured cloning drops an Error's own properties. These tests pin it for both engine shapes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GOALSTATE_INPUT_CODES, codeOf, errorKind, packForThread, unpackFromThread } from '../errors';
import { Engine } from './engine';

/** A GoalStateV2 whose one neighbor entry frames correctly but does not decode (a truncated inner field). */
function undecodableNeighbor(): Uint8Array {
  const entry = [0x12, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff];
  return Uint8Array.from([0x3a, entry.length, ...entry]);
}

/** A GoalStateV2 whose framing is wrong: a neighbor entry claims 80 bytes, 1 follows. */
const BAD_FRAMING = Uint8Array.from([0x3a, 0x50, 0x01]);

async function failureOf(engine: Engine, bytes: Uint8Array): Promise<unknown> {
  try {
    await engine.prepare(bytes, 2);
  } catch (e: unknown) {
    return e;
  }
  throw new Error('prepare accepted bytes that are no goal state');
}

for (const workers of [0, 1, 2]) {
  test(`workers=${workers}: a decode error thrown in a partition arrives with its code`, async () => {
    const engine = await Engine.create({ workers });
    try {
      const e = await failureOf(engine, undecodableNeighbor());
      assert.is(codeOf(e), 'GOALSTATE_DECODE', String(e));
      assert.is(errorKind(e, GOALSTATE_INPUT_CODES), 'input');
      assert.ok(e instanceof Error && /corrupt GoalStateV2/.test(e.message), String(e));
      // The engine took everything back: a good (empty) goal state still plans.
      const ok = await engine.prepare(new Uint8Array(0), 2);
      await engine.abort(ok.txns);
    } finally {
      await engine.close();
    }
  });

  test(`workers=${workers}: a framing error (split on the main thread) has its code`, async () => {
    const engine = await Engine.create({ workers });
    try {
      const e = await failureOf(engine, BAD_FRAMING);
      assert.is(codeOf(e), 'GOALSTATE_WIRE');
      assert.is(errorKind(e, GOALSTATE_INPUT_CODES), 'input');
    } finally {
      await engine.close();
    }
  });
}

test('packForThread/unpackFromThread: the code survives structured cloning; uncoded errors stay internal', () => {
  const coded = Object.assign(new Error('boom'), { code: 'GOALSTATE_DECODE' });
  assert.is(codeOf(structuredClone(coded)), undefined, 'structured cloning drops the code (why packing exists)');
  const back = unpackFromThread(structuredClone(packForThread(coded)));
  assert.is(codeOf(back), 'GOALSTATE_DECODE');
  assert.is((back as Error).message, 'boom');

  const plain = unpackFromThread(structuredClone(packForThread(new Error('a bug'))));
  assert.is(codeOf(plain), undefined);
  assert.is(errorKind(plain, GOALSTATE_INPUT_CODES), 'internal');
  assert.is(errorKind(Object.assign(new Error('x'), { code: 'TXN_OPEN' }), GOALSTATE_INPUT_CODES), 'internal');
});

test.run();
