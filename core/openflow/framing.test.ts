import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OpenFlowError } from './errors';
import { OpenFlowFramer } from './framing';

function msg(type: number, xid: number, bodyLen: number): Buffer {
  const b = Buffer.alloc(8 + bodyLen);
  b[0] = 4;
  b[1] = type;
  b.writeUInt16BE(8 + bodyLen, 2);
  b.writeUInt32BE(xid, 4);
  for (let i = 0; i < bodyLen; i++) b[8 + i] = (xid + i) & 0xff;
  return b;
}

// Header-only, small, one spanning many chunks, and an odd length.
const MESSAGES = [msg(0, 1, 0), msg(2, 2, 5), msg(14, 3, 300), msg(21, 4, 0), msg(19, 5, 17)];
const STREAM = Buffer.concat(MESSAGES);

function feed(chunks: readonly Buffer[]): Buffer[] {
  const f = new OpenFlowFramer();
  const out: Buffer[] = [];
  for (const c of chunks) out.push(...f.push(c).map((m) => Buffer.from(m)));
  assert.is(f.pendingBytes, 0, 'nothing left over');
  return out;
}

test('whole stream in one chunk gives every message', () => {
  assert.equal(feed([STREAM]), MESSAGES);
});

test('every single split point gives the same messages', () => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    assert.equal(feed([STREAM.subarray(0, cut), STREAM.subarray(cut)]), MESSAGES, `split at ${cut}`);
  }
});

test('every pair of split points gives the same messages', () => {
  for (let a = 0; a <= STREAM.length; a += 3) {
    for (let b = a; b <= STREAM.length; b += 7) {
      assert.equal(
        feed([STREAM.subarray(0, a), STREAM.subarray(a, b), STREAM.subarray(b)]),
        MESSAGES,
        `split at ${a},${b}`,
      );
    }
  }
});

test('byte-at-a-time and random splits give the same messages', () => {
  const single: Buffer[] = [];
  for (let i = 0; i < STREAM.length; i++) single.push(STREAM.subarray(i, i + 1));
  assert.equal(feed(single), MESSAGES);
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 500; round++) {
    const chunks: Buffer[] = [];
    let at = 0;
    while (at < STREAM.length) {
      const len = 1 + rand(64);
      chunks.push(STREAM.subarray(at, at + len));
      at += len;
    }
    assert.equal(feed(chunks), MESSAGES, `round ${round}`);
  }
});

test('an incomplete tail is held until the rest arrives', () => {
  const f = new OpenFlowFramer();
  assert.equal(f.push(STREAM.subarray(0, 12)), [MESSAGES[0]]);
  assert.is(f.pendingBytes, 4);
  assert.equal(f.push(Buffer.alloc(0)), []);
});

test('a length below 8 is an error with a code, and the stream stays failed', () => {
  const bad = Buffer.from([4, 0, 0, 7, 0, 0, 0, 1]);
  const f = new OpenFlowFramer();
  assert.equal(f.push(MESSAGES[0] as Buffer), [MESSAGES[0]]);
  try {
    f.push(bad);
    assert.unreachable('should throw');
  } catch (e: unknown) {
    assert.ok(e instanceof OpenFlowError);
    assert.is(e.code, 'OF_FRAME_BAD_LENGTH');
    assert.match(e.message, /length 7/);
  }
  assert.throws(
    () => f.push(MESSAGES[0] as Buffer),
    (e: unknown) => e instanceof OpenFlowError && e.code === 'OF_FRAME_BAD_LENGTH',
  );
});

test('a bad length split across chunks is caught once the header is complete', () => {
  const f = new OpenFlowFramer();
  assert.equal(f.push(Buffer.from([4, 0, 0])), []);
  assert.throws(
    () => f.push(Buffer.from([0, 0, 0, 0, 0])),
    (e: unknown) => e instanceof OpenFlowError && e.code === 'OF_FRAME_BAD_LENGTH',
  );
});

test.run();
