// The one partition rule (placement.ts), whichever form the id comes in: the string, or its bytes
// on the wire (as split.ts sees it), with and without pins.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hash32 } from '../pipeline/cookie';
import { CONTEST_PARTITION, Placement, partitionOf, partitionOfNeighbor } from './placement';

const IDS = ['nbr-1', 'nbr-2', 'a', '', 'ünïcode-id', '邻居-7', 'x'.repeat(64)];

test('an id goes to hash32(id) % parts, from its string or its UTF-8 bytes', () => {
  for (const parts of [1, 2, 3, 7]) {
    const placement = new Placement(parts);
    for (const id of IDS) {
      const want = parts <= 1 ? 0 : hash32(id) % parts;
      assert.is(partitionOfNeighbor(id, parts), want, `${id} of ${parts}`);
      assert.is(partitionOf(hash32(id), parts), want);
      assert.is(placement.of(hash32(id), id), want);
      const bytes = new TextEncoder().encode(`[${id}]`);
      assert.is(placement.ofBytes(bytes, 1, bytes.length - 1), want, `bytes of ${id} of ${parts}`);
    }
  }
});

test('a pinned id goes to the contest partition in every form; an unpinned one does not move', () => {
  const placement = new Placement(3, ['邻居-7', 'nbr-2']);
  for (const id of IDS) {
    const pinned = id === '邻居-7' || id === 'nbr-2';
    const want = pinned ? CONTEST_PARTITION : partitionOfNeighbor(id, 3);
    const bytes = new TextEncoder().encode(id);
    assert.is(placement.of(hash32(id), id), want, id);
    assert.is(placement.ofBytes(bytes, 0, bytes.length), want, `bytes of ${id}`);
  }
});

test.run();
