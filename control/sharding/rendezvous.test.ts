import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ownerOf, runnerUpOf } from './rendezvous';

const hosts = Array.from({ length: 3000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.7`);

test('hosts spread evenly over replicas', () => {
  const counts = new Map<string, number>();
  for (const h of hosts) {
    const o = ownerOf(h, ['a', 'b', 'c']) ?? '';
    counts.set(o, (counts.get(o) ?? 0) + 1);
  }
  for (const r of ['a', 'b', 'c']) assert.ok(Math.abs((counts.get(r) ?? 0) - 1000) < 150, `${r}: ${counts.get(r)}`);
});

test('when a replica leaves only its hosts move, and they spread over the survivors', () => {
  const before = new Map(hosts.map((h) => [h, ownerOf(h, ['a', 'b', 'c'])]));
  const moved = new Map<string, number>();
  for (const h of hosts) {
    const after = ownerOf(h, ['a', 'c']);
    if (before.get(h) !== 'b') assert.is(after, before.get(h));
    else moved.set(after ?? '', (moved.get(after ?? '') ?? 0) + 1);
  }
  assert.ok((moved.get('a') ?? 0) > 300 && (moved.get('c') ?? 0) > 300);
});

test('no replicas, no owner; order of the member list does not matter', () => {
  assert.is(ownerOf('10.0.0.1', []), null);
  for (const h of hosts.slice(0, 100)) assert.is(ownerOf(h, ['x', 'y', 'z']), ownerOf(h, ['z', 'x', 'y']));
});

test("the runner-up is exactly the host's next owner when its owner leaves", () => {
  const replicas = ['a', 'b', 'c', 'd'];
  for (const h of hosts.slice(0, 500)) {
    const owner = ownerOf(h, replicas) ?? '';
    const next = runnerUpOf(h, replicas);
    assert.is.not(next, owner);
    assert.is(
      next,
      ownerOf(
        h,
        replicas.filter((r) => r !== owner),
      ),
    );
  }
  assert.is(runnerUpOf('10.0.0.1', ['a']), null);
  assert.is(runnerUpOf('10.0.0.1', []), null);
});

test.run();
