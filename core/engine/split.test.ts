// Issue 13: the splitter's work and memory per input byte are bounded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_TOP_LEVEL_FIELDS, SplitError, splitGoalState } from './split';

/** `08 00` (field 1 varint 0) `count` times: legal protobuf, no resource at all. */
function repeatedFormatVersion(count: number): Uint8Array {
  const b = new Uint8Array(2 * count);
  for (let i = 0; i < b.length; i += 2) b[i] = 0x08;
  return b;
}

/** A v2 neighbor_states entry (field 7) with key `id` and an empty value. */
function neighborEntry(id: string): Uint8Array {
  const key = new TextEncoder().encode(id);
  return Uint8Array.from([0x3a, key.length + 2, 0x0a, key.length, ...key]);
}

test('issue 13 defect "one message kills the agent": a repeated small top-level field beyond the field limit is refused by the splitter (GOALSTATE_WIRE) naming the byte', () => {
  const bytes = repeatedFormatVersion(MAX_TOP_LEVEL_FIELDS + 1);
  let caught: unknown;
  try {
    splitGoalState(bytes, 2, 2, 1000, 63);
  } catch (e: unknown) {
    caught = e;
  }
  assert.ok(caught instanceof SplitError, String(caught));
  assert.is(caught.code, 'GOALSTATE_WIRE');
  assert.is(caught.offset, 2 * MAX_TOP_LEVEL_FIELDS);
  assert.match(caught.message, `at byte ${2 * MAX_TOP_LEVEL_FIELDS}`);
});

test('issue 13: adjacent shared fields are framed as one range; chunks still carry every byte of them', () => {
  const lead = repeatedFormatVersion(10_000);
  const n = neighborEntry('n-1');
  const tail = repeatedFormatVersion(5_000);
  const msg = new Uint8Array(lead.length + n.length + tail.length);
  msg.set(lead, 0);
  msg.set(n, lead.length);
  msg.set(tail, lead.length + n.length);
  const split = splitGoalState(msg, 2, 2, 1000, 63);
  assert.is(split.neighborCount, 1);
  const sizes = split.chunks.map((c) => c[0]?.size);
  // Each partition's first chunk: every shared byte; the owner also the neighbor.
  assert.equal(
    [...sizes].sort((a, b) => (a ?? 0) - (b ?? 0)),
    [lead.length + tail.length, msg.length],
  );
  const owner = split.chunks.find((c) => c[0]?.size === msg.length)?.[0];
  const copy = owner?.bytes ?? new Uint8Array();
  assert.equal(copy.subarray(0, lead.length), lead);
  assert.equal(copy.subarray(lead.length, lead.length + tail.length), tail);
  assert.equal(copy.subarray(lead.length + tail.length), n);
});

test('a goal state at the field limit still splits', () => {
  const split = splitGoalState(repeatedFormatVersion(MAX_TOP_LEVEL_FIELDS), 2, 2, 1000, 63);
  assert.is(split.neighborCount, 0);
});

test.run();
