// Pure planning for the pinned-map mirror: diff, packing, ARP entry building. No kernel needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeArpKey, decodeArpValue, encodeArpKey, encodeArpValue } from './arp-responder';
import {
  byteString,
  bytesOf,
  desiredArpEntries,
  entriesFromPacked,
  packMapSyncPlan,
  planMapSync,
} from './ebpf-dataplane';

const bs = (...b: number[]): string => String.fromCharCode(...b);

test('planMapSync: upserts new and changed, deletes unwanted, counts unchanged', () => {
  const current = new Map([
    ['aa', bs(1)],
    ['bb', bs(2)],
    ['cc', bs(3)],
  ]);
  const desired = new Map([
    ['aa', bs(1)],
    ['bb', bs(9)],
    ['dd', bs(4)],
  ]);
  const plan = planMapSync(desired, current);
  assert.equal(plan.upserts, [
    ['bb', bs(9)],
    ['dd', bs(4)],
  ]);
  assert.equal(plan.deletes, ['cc']);
  assert.is(plan.unchanged, 1);
});

test('planMapSync: equal sets need nothing; empty desired deletes everything', () => {
  const m = new Map([['k1', bs(1, 2)]]);
  assert.equal(planMapSync(m, new Map(m)), { upserts: [], deletes: [], unchanged: 1 });
  assert.equal(planMapSync(new Map(), m), { upserts: [], deletes: ['k1'], unchanged: 0 });
});

test('byteString/bytesOf round-trip every byte value, 8-byte fast path included', () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.equal(bytesOf(byteString(all)), all);
  for (let off = 0; off + 8 <= 256; off += 8) {
    assert.is(byteString(all, off, 8), all.toString('latin1', off, off + 8));
  }
  assert.is(byteString(all.subarray(10, 14)), bs(10, 11, 12, 13));
  assert.is(byteString(new Uint8Array(all.buffer, all.byteOffset + 250, 6)), bs(250, 251, 252, 253, 254, 255));
});

test('packMapSyncPlan packs keys/values and rejects wrong sizes', () => {
  const packed = packMapSyncPlan(
    { upserts: [[bs(1, 0, 0, 0), bs(7, 7)]], deletes: [bs(2, 0, 0, 0)], unchanged: 0 },
    4,
    2,
  );
  assert.equal([...packed.upsertKeys], [1, 0, 0, 0]);
  assert.equal([...packed.upsertValues], [7, 7]);
  assert.equal([...packed.deleteKeys], [2, 0, 0, 0]);
  assert.throws(
    () => packMapSyncPlan({ upserts: [[bs(1, 0, 0, 0), bs(1)]], deletes: [], unchanged: 0 }, 4, 2),
    /value of 1 bytes/,
  );
  assert.throws(() => packMapSyncPlan({ upserts: [], deletes: ['abc'], unchanged: 0 }, 4, 2), /key of 3 bytes/);
});

test('entriesFromPacked splits a dump', () => {
  const m = entriesFromPacked(Buffer.from([1, 2, 3, 4]), Buffer.from([9, 8]), 2, 2, 1);
  assert.equal(
    [...m.entries()],
    [
      [bs(1, 2), bs(9)],
      [bs(3, 4), bs(8)],
    ],
  );
});

test('arp key/value codecs: scope host order, IPv4 network order, MAC + pad', () => {
  const key = encodeArpKey(7, '10.1.2.3');
  assert.is(key.toString('hex'), '070000000a010203');
  assert.equal(decodeArpKey(key), { scope: 7, ip: '10.1.2.3' });
  const val = encodeArpValue('02:AA:bb:cc:dd:0e');
  assert.is(val.toString('hex'), '02aabbccdd0e0000');
  assert.is(decodeArpValue(val), '02:aa:bb:cc:dd:0e');
  const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;
  for (const bad of ['10.1.2', '10.1.2.256', '10.1..2', '10.1.2.3.4', '1234.1.1.1', 'a.b.c.d', '']) {
    assert.throws(() => encodeArpKey(1, bad), code('EBADIP'), bad);
  }
  assert.throws(() => encodeArpKey(-1, '10.1.2.3'), code('EBADSCOPE'));
  assert.throws(() => encodeArpKey(2 ** 32, '10.1.2.3'), code('EBADSCOPE'));
  for (const bad of ['02:aa:bb', '02:aa:bb:cc:dd:zz', '02:aa:bb:cc:dd:0e:', '02.aa.bb.cc.dd.0e']) {
    assert.throws(() => encodeArpValue(bad), code('EBADMAC'), bad);
  }
  assert.is(encodeArpValue('02-aa-bb-cc-dd-0e').toString('hex'), '02aabbccdd0e0000');
});

test('desiredArpEntries: duplicates collapse, conflicting MACs are reported and the first kept', () => {
  const { entries, conflicts } = desiredArpEntries([
    { scope: 1, ip: '10.0.0.1', mac: '02:00:00:00:00:01' },
    { scope: 1, ip: '10.0.0.1', mac: '02:00:00:00:00:01' },
    { scope: 2, ip: '10.0.0.1', mac: '02:00:00:00:00:02' },
    { scope: 1, ip: '10.0.0.2', mac: '02:00:00:00:00:03' },
    { scope: 1, ip: '10.0.0.2', mac: '02:00:00:00:00:04' },
  ]);
  assert.is(entries.size, 3);
  assert.is(decodeArpValue(bytesOf(entries.get(byteString(encodeArpKey(1, '10.0.0.2'))) ?? '')), '02:00:00:00:00:03');
  assert.equal(conflicts, [{ scope: 1, ip: '10.0.0.2', macs: ['02:00:00:00:00:03', '02:00:00:00:00:04'] }]);
});

test('planMapSync over 40k entries', () => {
  const desired = new Map<string, string>();
  const current = new Map<string, string>();
  const k = Buffer.alloc(8);
  for (let i = 0; i < 40_000; i++) {
    k.writeUInt32LE(i, 4);
    const key = byteString(k);
    if (i % 4 !== 0) desired.set(key, bs(1));
    if (i % 2 === 0) current.set(key, bs(i % 8 === 2 ? 2 : 1));
  }
  const plan = planMapSync(desired, current);
  assert.is(plan.deletes.length, 10_000);
  assert.is(plan.upserts.length + plan.unchanged, desired.size);
  assert.is(plan.upserts.length, 20_000 + 5_000);
});

test.run();
