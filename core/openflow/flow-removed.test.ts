// FLOW_REMOVED decoding: the fields of a message shaped as OVS sends it, every reason name, and
// (fuzzed) no input that throws: random bytes, valid messages cut short or damaged end in a reason.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzz, mutate, mutationArb, type Mutation } from '../../test/fuzz';
import { OFP14_VERSION, OFPT } from './constants';
import { decodeFlowRemoved } from './flow-removed';
import { decodeMessage } from './messages';
import { decodeMatch, encodeMatch } from './oxm';
import { ByteWriter } from './writer';

interface Fields {
  readonly cookie: bigint;
  readonly priority: number;
  readonly reason: number;
  readonly table: number;
  readonly idle: number;
  readonly packets: number;
}

/** ofp_flow_removed as OVS writes it (OpenFlow 1.4): fixed part, then an OXM match padded to 8. */
function flowRemoved(f: Fields): Uint8Array {
  const w = new ByteWriter(128);
  w.u8(OFP14_VERSION);
  w.u8(OFPT.FLOW_REMOVED);
  w.u16(0);
  w.u32(0);
  w.u64hl(Number(f.cookie >> 32n), Number(f.cookie & 0xffff_ffffn));
  w.u16(f.priority);
  w.u8(f.reason);
  w.u8(f.table);
  w.u32(3); // duration_sec
  w.u32(5000); // duration_nsec
  w.u16(f.idle);
  w.u16(0);
  w.u64n(f.packets);
  w.u64n(f.packets * 98);
  encodeMatch(w, [
    { field: 'eth_type', value: 0x0800 },
    { field: 'ip_proto', value: 1 },
    { field: 'ipv4_dst', value: 0x0adb0062 },
  ]);
  w.patchU16(2, w.pos);
  return new Uint8Array(w.view());
}

const SAMPLE: Fields = { cookie: 0xa1c1_0000_1234_5678n, priority: 50, reason: 0, table: 60, idle: 1, packets: 2 };

test('FLOW_REMOVED: cookie, priority, reason, table, timeouts and counts; the match is left as bytes', () => {
  const r = decodeFlowRemoved(flowRemoved(SAMPLE));
  if (!r.ok) throw new Error(r.reason);
  const v = r.value;
  assert.is(v.cookie, SAMPLE.cookie);
  assert.is(v.priority, 50);
  assert.is(v.reasonName, 'idle_timeout');
  assert.is(v.tableId, 60);
  assert.is(v.durationSec, 3);
  assert.is(v.idleTimeout, 1);
  assert.is(v.packetCount, 2n);
  assert.is(v.byteCount, 196n);
  assert.equal(decodeMatch(v.match, 0).match, [
    { field: 'eth_type', value: 0x0800 },
    { field: 'ip_proto', value: 1 },
    { field: 'ipv4_dst', value: 0x0adb0062 },
  ]);
});

test('FLOW_REMOVED reasons by name; decodeMessage routes the message to the same decoder', () => {
  const names = [0, 1, 2, 3, 4, 5, 9].map((reason) => {
    const r = decodeFlowRemoved(flowRemoved({ ...SAMPLE, reason }));
    return r.ok ? r.value.reasonName : r.reason;
  });
  assert.equal(names, [
    'idle_timeout',
    'hard_timeout',
    'delete',
    'group_delete',
    'meter_delete',
    'eviction',
    'reason_9',
  ]);
  const m = decodeMessage(flowRemoved({ ...SAMPLE, reason: 2 }));
  assert.is(m.kind, 'flow_removed');
  if (m.kind === 'flow_removed') assert.ok(m.removed.ok && m.removed.value.reasonName === 'delete');
});

test('FLOW_REMOVED: malformed messages give a reason', () => {
  const good = flowRemoved(SAMPLE);
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, 20), /needs 56/],
    [Uint8Array.from([...good, 0, 0, 0, 0, 0, 0, 0, 0]), /header says/],
    [Uint8Array.from(good, (b, i) => (i === 0 ? 6 : b)), /version 6/],
    [Uint8Array.from(good, (b, i) => (i === 49 ? 0 : b)), /match type 0/],
    [Uint8Array.from(good, (b, i) => (i === 51 ? 0xf0 : b)), /match length 240/],
  ];
  for (const [bytes, why] of cases) {
    const r = decodeFlowRemoved(bytes);
    assert.ok(!r.ok && why.test(r.reason), JSON.stringify(r));
  }
});

const fieldsArb = fc.record({
  cookie: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
  priority: fc.nat({ max: 0xffff }),
  reason: fc.nat({ max: 255 }),
  table: fc.nat({ max: 254 }),
  idle: fc.nat({ max: 0xffff }),
  packets: fc.nat({ max: 2 ** 40 }),
});

test('FLOW_REMOVED fuzz: random, truncated and damaged bytes never throw', () => {
  fuzz('random bytes', { runs: 3000, timeMs: 2000 }, [fc.uint8Array({ maxLength: 120 })], (bytes) => {
    decodeFlowRemoved(bytes);
    decodeFlowRemoved(Uint8Array.from([OFP14_VERSION, OFPT.FLOW_REMOVED, 0, bytes.length + 4, ...bytes]));
  });
  const cut: [fc.Arbitrary<Uint8Array>, fc.Arbitrary<number>] = [fieldsArb.map(flowRemoved), fc.nat()];
  fuzz('cut short', { runs: 2000, timeMs: 2000 }, cut, (full, at) => {
    assert.not.ok(decodeFlowRemoved(full.subarray(0, at % full.length)).ok);
  });
  const damaged: [fc.Arbitrary<Uint8Array>, fc.Arbitrary<Mutation[]>] = [
    fieldsArb.map(flowRemoved),
    fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
  ];
  fuzz('damaged', { runs: 2000, timeMs: 2000 }, damaged, (bytes, ms) => {
    const r = decodeFlowRemoved(ms.reduce((b, m) => mutate(b, m), bytes));
    if (r.ok) assert.ok(r.value.match.length >= 4);
  });
});

test.run();
