// validateSize: a host's message after a goal state, sized against the agents' limit: what it already
// holds, plus what the goal state lists for it, minus what the goal state deletes; unknown keys do not count.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationType, ResourceType } from '../../proto';
import type { ParsedGoalState, ParsedResource } from '../resources';
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

test.run();
