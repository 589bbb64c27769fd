// validateSize: a host's message after a goal state, sized against the agents' limit: what it already
// holds, plus what the goal state lists for it, minus what the goal state deletes; unknown keys do not count.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationType, ResourceType } from '../../proto';
import { encodeHostGoalState, encodeResourceEntry, type ParsedGoalState, type ParsedResource } from '../resources';
import { StateCache } from '../store/store';
import { validateSize } from './validate';

const state = (bytes: number): Uint8Array => new Uint8Array(bytes);

function port(id: string, bytes: number, operation = OperationType.CREATE): ParsedResource {
  return { key: `port/${id}`, type: ResourceType.PORT, id, state: state(bytes), operation };
}

function goalState(resources: readonly ParsedResource[], hosts: Record<string, readonly string[]>): ParsedGoalState {
  return { resources: new Map(resources.map((r) => [r.key, r])), hosts: new Map(Object.entries(hosts)) };
}

const LIMIT = 1000;
const tooLarge = (f: () => void): boolean => {
  try {
    f();
    return false;
  } catch (e: unknown) {
    return (e as { code?: string }).code === 'MESSAGE_TOO_LARGE';
  }
};

test('a new host: what the goal state gives it, its deletes and unknown keys not counted', () => {
  const cache = new StateCache();
  const small = goalState([port('a', 400), port('b', 400)], { h1: ['port/a', 'port/b', 'port/unknown'] });
  assert.not.ok(tooLarge(() => validateSize(small, 0, cache, LIMIT)));
  const big = goalState([port('a', 400), port('b', 400), port('c', 400)], { h1: ['port/a', 'port/b', 'port/c'] });
  assert.ok(tooLarge(() => validateSize(big, 0, cache, LIMIT)));
  const deleting = goalState([port('a', 400), port('b', 400), port('c', 400, OperationType.DELETE)], {
    h1: ['port/a', 'port/b', 'port/c'],
  });
  assert.not.ok(tooLarge(() => validateSize(deleting, 0, cache, LIMIT)));
});

test('a host that holds resources: they count, unless the goal state deletes them', () => {
  const cache = new StateCache();
  cache.putResource('port/a', state(400));
  cache.putResource('port/b', state(400));
  cache.setHost('h1', { version: 1, keys: new Set(['port/a', 'port/b']) });
  const adding = goalState([port('c', 400)], { h1: ['port/c'] });
  assert.ok(
    tooLarge(() => validateSize(adding, 0, cache, LIMIT)),
    'held a and b plus c',
  );
  const swapping = goalState([port('a', 400, OperationType.DELETE), port('c', 400)], { h1: ['port/a', 'port/c'] });
  assert.not.ok(
    tooLarge(() => validateSize(swapping, 0, cache, LIMIT)),
    'a deleted, c added',
  );
  const again = goalState([port('a', 400)], { h1: ['port/a'] });
  assert.not.ok(
    tooLarge(() => validateSize(again, 0, cache, LIMIT)),
    'a held and listed again counts once',
  );
});

test('the message itself over the limit is refused whatever the hosts', () => {
  assert.ok(tooLarge(() => validateSize(goalState([], {}), LIMIT + 1, new StateCache(), LIMIT)));
});

test('the quick bound never lets through a host message the exact count refuses (multi-byte ids, held keys)', () => {
  const cache = new StateCache();
  const heldKeys: string[] = [];
  for (let i = 0; i < 20; i++) {
    const id = `é€${i}`.repeat(1 + (i % 4));
    cache.putResource(`port/${id}`, state(30 + i * 7));
    heldKeys.push(`port/${id}`);
  }
  cache.putResource('port/gone', state(50));
  cache.deleteResource('port/gone');
  cache.setHost('h1', { version: 1, keys: new Set(heldKeys) });
  const incoming = Array.from({ length: 30 }, (_, i) => port(`ü${i}€`.repeat(1 + (i % 3)), 10 + i * 11));
  const gs = goalState(incoming, {
    h1: incoming.map((r) => r.key),
    h2: [...incoming.slice(0, 10).map((r) => r.key), ...heldKeys.slice(0, 5)],
  });
  // Each host's message as it would be encoded: the limit one byte under the largest must be refused.
  const stateOf = (k: string): Uint8Array =>
    (gs.resources.get(k)?.state ?? cache.resources.get(k)?.state) as Uint8Array;
  const size = (host: string, keys: readonly string[]): number =>
    encodeHostGoalState(
      host,
      keys,
      keys.map((k) => encodeResourceEntry(k, stateOf(k))),
    ).length;
  const largest = Math.max(
    size('h1', [...new Set([...heldKeys, ...incoming.map((r) => r.key)])]),
    size('h2', gs.hosts.get('h2') as string[]),
  );
  assert.ok(largest > 1000, `largest host message ${largest}`);
  assert.ok(tooLarge(() => validateSize(gs, 0, cache, largest - 1)));
  assert.not.ok(tooLarge(() => validateSize(gs, 0, cache, largest * 2)));
});

test.run();
