import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import {
  chunksOf,
  encodeReplyRecord,
  hostSubject,
  listHas,
  okReplyBody,
  REPLY_OK,
  replyRecordHead,
  seqGap,
  parseChunkHeader,
  Reassembler,
  sha256Hex,
  vpcSubject,
} from './nats-wire';

test('subjects: dots in a host IP become underscores', () => {
  assert.is(hostSubject('10.0.0.1'), 'alcor.gs.host.10_0_0_1');
  assert.is(vpcSubject(1001), 'alcor.gs.vpc.1001');
});

test('a reply record gives back its kind, id and body; anything else is not one', () => {
  const r = encodeReplyRecord(REPLY_OK, 'c1.42', okReplyBody(7));
  const head = replyRecordHead(r);
  assert.equal(head, { kind: REPLY_OK, id: 'c1.42', body: 7 });
  assert.is(r.readUInt32BE(head?.body ?? 0), 7);
  assert.is(replyRecordHead(Buffer.from([9, 0])), null);
  assert.is(replyRecordHead(Buffer.from([1, 200, 65])), null);
  assert.is(replyRecordHead(Buffer.alloc(0)), null);
});

test('seqGap: a jump from the same sender only', () => {
  assert.not.ok(seqGap(null, 'c1.5'));
  assert.not.ok(seqGap('c1.4', 'c1.5'));
  assert.ok(seqGap('c1.4', 'c1.7'));
  assert.not.ok(seqGap('c1.4', 'c2.9'), 'a new control process starts its own count');
  assert.not.ok(seqGap('c1.9', 'c1.3'), 'a redelivery is no gap');
});

test('listHas: whole items only', () => {
  assert.ok(listHas('10.0.0.1,10.0.0.12', '10.0.0.12'));
  assert.ok(listHas('10.0.0.1,10.0.0.12', '10.0.0.1'));
  assert.not.ok(listHas('10.0.0.12,110.0.0.1', '10.0.0.1'));
  assert.not.ok(listHas('', '10.0.0.1'));
  assert.not.ok(listHas('10.0.0.1', ''));
});

test('a message cut into chunks comes back identical, in any order and with redeliveries', () => {
  const msg = randomBytes(300_000);
  const sha = sha256Hex(msg);
  const chunks = chunksOf(msg, 64 * 1024);
  assert.ok(chunks.length > 4);
  const r = new Reassembler();
  const order = [...chunks].reverse();
  let out = null;
  for (const c of [...order.slice(0, 2), ...order]) {
    const res = r.add('m1', c, sha, c.data);
    if (res.kind === 'complete') out = res.message;
  }
  assert.ok(out !== null && Buffer.compare(out, msg) === 0);
  assert.is(r.pendingMessages(), 0);
});

test('a corrupted chunk fails the checksum instead of being applied', () => {
  const msg = randomBytes(10_000);
  const chunks = chunksOf(msg, 5000);
  const r = new Reassembler();
  let last = null;
  for (const c of chunks) last = r.add('m', c, sha256Hex(msg), c.index === 1 ? Buffer.alloc(c.data.length) : c.data);
  assert.equal(last, { kind: 'bad', reason: 'checksum mismatch' });
});

test('chunk headers: bad ones are refused', () => {
  assert.equal(parseChunkHeader('2/3'), { index: 2, count: 3 });
  assert.equal(parseChunkHeader(undefined), { index: 0, count: 1 });
  assert.is(parseChunkHeader('3/3'), null);
  assert.is(parseChunkHeader('x'), null);
});

test.run();
