// The sticky neighbor set: a VPC's first `limit` bound ports in creation order are pushed, whatever order they
// were added in (every replica and restart computes the same set), and one port's change moves at most one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PushedSet } from './pushed';

const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();

/** The set the rule gives: the first `limit` of `ports` by (create revision, id). */
function expected(ports: ReadonlyMap<string, number>, limit: number): string[] {
  const order = [...ports].sort(([a, ra], [b, rb]) => (ra !== rb ? ra - rb : a < b ? -1 : a > b ? 1 : 0));
  return order
    .slice(0, limit)
    .map(([id]) => id)
    .sort();
}

test('crossing the limit retracts nothing; a pushed port leaving promotes the oldest on-demand one', () => {
  const s = new PushedSet(2);
  assert.equal(s.add('p1', 1), []);
  assert.equal(s.add('p2', 2), []);
  assert.equal(s.add('p3', 3), []);
  assert.equal(s.add('p4', 4), []);
  assert.equal(sorted(s.pushed), ['p1', 'p2']);
  assert.equal(sorted(s.onDemand), ['p3', 'p4']);
  assert.equal(s.remove('p4'), [], 'an on-demand port leaving moves nothing');
  assert.equal(s.remove('p1'), ['p3']);
  assert.equal(sorted(s.pushed), ['p2', 'p3']);
  // An older port bound later (created before, bound now) takes the newest pushed one's place.
  assert.equal(s.add('p0', 0), ['p3']);
  assert.equal(sorted(s.pushed), ['p0', 'p2']);
  assert.equal(sorted(s.onDemand), ['p3']);
  // The same create revision again (an update) moves nothing.
  assert.equal(s.add('p0', 0), []);
  assert.equal(new PushedSet(0).add('x', 1), [], 'limit 0: everything on demand');
});

test('any order of adds and removes gives the set the rule gives, and says which other ports moved', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (const limit of [0, 1, 3, 10]) {
    const s = new PushedSet(limit);
    const live = new Map<string, number>();
    for (let step = 0; step < 3000; step++) {
      const id = `p${rand(40)}`;
      const was = new Set(s.pushed);
      let moved: string[];
      if (live.has(id) && rand(2) === 0) {
        moved = s.remove(id);
        live.delete(id);
      } else {
        // Mostly an update (same create revision); sometimes the key was re-created.
        const rev = live.has(id) && rand(4) > 0 ? (live.get(id) as number) : rand(25);
        moved = s.add(id, rev);
        live.set(id, rev);
      }
      const want = expected(live, limit);
      assert.equal(sorted(s.pushed), want, `limit ${limit}, step ${step}`);
      assert.equal(sorted(s.onDemand), [...live.keys()].filter((p) => !want.includes(p)).sort());
      const flipped = [...live.keys(), ...was].filter((p) => p !== id && was.has(p) !== s.pushed.has(p));
      // Every port that changed sides is named (a re-created port may name one that went and came back).
      for (const p of flipped) assert.ok(moved.includes(p), `limit ${limit}, step ${step}: ${p} moved`);
      assert.ok(moved.length <= 2);
    }
    // Another replica, or a restart, adding the same ports in another order: the same set.
    const other = new PushedSet(limit);
    for (const [id, rev] of [...live].reverse()) other.add(id, rev);
    assert.equal(sorted(other.pushed), sorted(s.pushed));
  }
});

test.run();
