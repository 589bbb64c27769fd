// Pure planning for the pinned-map mirror: diff, packing, ARP entry building. No kernel needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeArpKey, decodeArpValue, encodeArpKey, encodeArpValue } from './arp-responder';
import { desiredArpEntries, entriesFromPacked, keyBytes, keyId, packMapSyncPlan, planMapSync } from './ebpf-dataplane';

const v = (...b: number[]): Uint8Array => Uint8Array.from(b);

test('planMapSync: upserts new and changed, deletes unwanted, counts unchanged', () => {
  const current = new Map<string, Uint8Array>([
    ['aa', v(1)],
    ['bb', v(2)],
    ['cc', v(3)],
  ]);
  const desired = new Map<string, Uint8Array>([
    ['aa', v(1)],
    ['bb', v(9)],
    ['dd', v(4)],
  ]);
  const plan = planMapSync(desired, current);
  assert.equal(plan.upserts, [
    ['bb', v(9)],
    ['dd', v(4)],
  ]);
  assert.equal(plan.deletes, ['cc']);
  assert.is(plan.unchanged, 1);
});

test('planMapSync: equal sets need nothing; empty desired deletes everything', () => {
  const m = new Map<string, Uint8Array>([['k1', v(1, 2)]]);
  assert.equal(planMapSync(m, new Map(m)), { upserts: [], deletes: [], unchanged: 1 });
  assert.equal(planMapSync(new Map(), m), { upserts: [], deletes: ['k1'], unchanged: 0 });
});

test('keyId/keyBytes round-trip every byte value', () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.equal(keyBytes(keyId(all)), all);
  assert.is(keyId(all.subarray(10, 14)), keyId(Buffer.from([10, 11, 12, 13])));
});

test('packMapSyncPlan packs keys/values and rejects wrong sizes', () => {
  const k1 = keyId(Buffer.from([1, 0, 0, 0]));
  const k2 = keyId(Buffer.from([2, 0, 0, 0]));
  const packed = packMapSyncPlan({ upserts: [[k1, v(7, 7)]], deletes: [k2], unchanged: 0 }, 4, 2);
  assert.equal([...packed.upsertKeys], [1, 0, 0, 0]);
  assert.equal([...packed.upsertValues], [7, 7]);
  assert.equal([...packed.deleteKeys], [2, 0, 0, 0]);
  assert.throws(() => packMapSyncPlan({ upserts: [[k1, v(1)]], deletes: [], unchanged: 0 }, 4, 2), /value of 1 bytes/);
  assert.throws(() => packMapSyncPlan({ upserts: [], deletes: ['abc'], unchanged: 0 }, 4, 2), /key of 3 bytes/);
});

test('entriesFromPacked splits a dump', () => {
  const m = entriesFromPacked(Buffer.from([1, 2, 3, 4]), Buffer.from([9, 8]), 2, 2, 1);
  assert.equal([...m.keys()], [keyId(v(1, 2)), keyId(v(3, 4))]);
  assert.equal([...(m.get(keyId(v(3, 4))) ?? [])], [8]);
});

test('arp key/value codecs: scope host order, IPv4 network order, MAC + pad', () => {
  const key = encodeArpKey(7, '10.1.2.3');
  assert.is(key.toString('hex'), '070000000a010203');
  assert.equal(decodeArpKey(key), { scope: 7, ip: '10.1.2.3' });
  const val = encodeArpValue('02:AA:bb:cc:dd:0e');
  assert.is(val.toString('hex'), '02aabbccdd0e0000');
  assert.is(decodeArpValue(val), '02:aa:bb:cc:dd:0e');
  assert.throws(
    () => encodeArpKey(1, '10.1.2'),
    (e: unknown) => (e as { code?: string }).code === 'EBADIP',
  );
  assert.throws(
    () => encodeArpKey(1, '10.1.2.256'),
    (e: unknown) => (e as { code?: string }).code === 'EBADIP',
  );
  assert.throws(
    () => encodeArpKey(-1, '10.1.2.3'),
    (e: unknown) => (e as { code?: string }).code === 'EBADSCOPE',
  );
  assert.throws(
    () => encodeArpValue('02:aa:bb'),
    (e: unknown) => (e as { code?: string }).code === 'EBADMAC',
  );
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
  assert.is(decodeArpValue(entries.get(keyId(encodeArpKey(1, '10.0.0.2'))) ?? v()), '02:00:00:00:00:03');
  assert.equal(conflicts, [{ scope: 1, ip: '10.0.0.2', macs: ['02:00:00:00:00:03', '02:00:00:00:00:04'] }]);
});

test('planMapSync over 40k entries', () => {
  const desired = new Map<string, Uint8Array>();
  const current = new Map<string, Uint8Array>();
  for (let i = 0; i < 40_000; i++) {
    const k = Buffer.alloc(8);
    k.writeUInt32LE(i, 4);
    const id = keyId(k);
    if (i % 4 !== 0) desired.set(id, v(1));
    if (i % 2 === 0) current.set(id, v(i % 8 === 2 ? 2 : 1));
  }
  const plan = planMapSync(desired, current);
  assert.is(plan.deletes.length, 10_000);
  assert.is(plan.upserts.length + plan.unchanged, desired.size);
  assert.is(plan.upserts.length, 20_000 + 5_000);
});

test.run();
