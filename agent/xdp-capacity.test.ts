// withinCapacity: above arp_table's capacity the agent keeps the same subset for the same state, instead of a
// batch the full map refuses whole (which left XDP with no answers at all at 1M neighbors).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withinCapacity } from './xdp-arp';

test('at or under capacity: the entries as they are', () => {
  const m = new Map([
    ['b', 1],
    ['a', 2],
  ]);
  assert.is(withinCapacity(m, 2), m);
});

test('over capacity: the smallest keys, whatever the insertion order', () => {
  const one = withinCapacity(
    new Map([
      ['c', 3],
      ['a', 1],
      ['b', 2],
    ]),
    2,
  );
  const two = withinCapacity(
    new Map([
      ['b', 2],
      ['c', 3],
      ['a', 1],
    ]),
    2,
  );
  assert.equal(
    [...one],
    [
      ['a', 1],
      ['b', 2],
    ],
  );
  assert.equal([...two], [...one]);
});

test.run();
