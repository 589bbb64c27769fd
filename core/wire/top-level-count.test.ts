import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TopLevelFieldCounter } from './top-level-count';

/** field 1 varint 300, field 7 LEN 3 bytes, field 3 fixed32, field 9 fixed64: four fields. */
const MSG = Uint8Array.from([
  0x08, 0xac, 0x02, 0x3a, 0x03, 0x08, 0x08, 0x08, 0x1d, 1, 2, 3, 4, 0x49, 1, 2, 3, 4, 5, 6, 7, 8,
]);

test('counts top-level fields only, whatever the chunk boundaries', () => {
  for (let cut = 0; cut <= MSG.length; cut++) {
    const c = new TopLevelFieldCounter(100);
    assert.is(c.feed(MSG.subarray(0, cut)), -1);
    assert.is(c.feed(MSG.subarray(cut)), -1);
    assert.is(c.fields, 4, `cut at ${cut}`);
  }
});

test('issue 13: reports the offset of the first field past the limit', () => {
  const c = new TopLevelFieldCounter(3);
  const msg = new Uint8Array(20);
  for (let i = 0; i < msg.length; i += 2) msg[i] = 0x08;
  assert.is(c.feed(msg.subarray(0, 5)), -1);
  assert.is(c.feed(msg.subarray(5)), 6);
});

test('malformed framing stops the count without a verdict', () => {
  assert.is(new TopLevelFieldCounter(1).feed(Uint8Array.from([0x0f, 0x08, 0x00, 0x08, 0x00])), -1);
  // field number 0: zero padding is not a run of fields
  assert.is(new TopLevelFieldCounter(1).feed(new Uint8Array(100)), -1);
});

test.run();
