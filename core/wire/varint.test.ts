import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { varint } from '../../test/wire-writer';
import { varintSize, writeVarint } from './varint';

test('size and bytes match the independent test writer at every length boundary up to 2^53', () => {
  const values = [0, 1, 127, 128, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 32 - 1, 2 ** 32];
  values.push(2 ** 35 - 1, 2 ** 35, 2 ** 49, Number.MAX_SAFE_INTEGER);
  for (const v of values) {
    const want = varint(v);
    assert.is(varintSize(v), want.length, `size of ${v}`);
    const out = new Uint8Array(12);
    assert.is(writeVarint(out, 1, v), 1 + want.length, `end of ${v}`);
    assert.equal([...out.subarray(1, 1 + want.length)], want, `bytes of ${v}`);
  }
});

test.run();
