import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalState, GoalStateV2 } from '../../proto';
import { fullGoalStateBytes, fullGoalStateV2Bytes } from '../../test/fixtures/goalstates';
import {
  WT_EGROUP,
  WT_I32,
  WT_I64,
  WT_LEN,
  WT_SGROUP,
  bytes,
  entry,
  len,
  m,
  s,
  tag,
  u,
  varint,
} from '../../test/wire-writer';
import { describeWireProblem, findInvalidUtf8, scanMessage, type WireProblem } from './scan';

function problem(buf: Uint8Array, name = 'GoalStateV2'): WireProblem {
  const r = scanMessage(buf, name);
  if (r.kind !== 'corrupt') throw new Error(`expected a problem, scan said ok (${r.fieldCount} fields)`);
  return r.problem;
}

/** Offsets where a top-level field starts or the message ends: the only places a cut leaves a valid message. */
function topLevelBoundaries(buf: Uint8Array): Set<number> {
  const out = new Set<number>([0]);
  let pos = 0;
  const readVarint = (): number => {
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = buf[pos++] ?? 0;
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 128;
    }
  };
  while (pos < buf.length) {
    const t = readVarint();
    if (t % 8 === 0) readVarint();
    else {
      const length = readVarint();
      pos += length;
    }
    out.add(pos);
  }
  return out;
}

const full = fullGoalStateV2Bytes();

test('the full fixtures scan clean', () => {
  const v2 = scanMessage(full, 'GoalStateV2');
  assert.is(v2.kind, 'ok');
  assert.ok(v2.kind === 'ok' && v2.fieldCount > 300, 'every field is visited');
  assert.is(scanMessage(fullGoalStateBytes(), 'GoalState').kind, 'ok');
  assert.is(scanMessage(new Uint8Array(0), 'GoalStateV2').kind, 'ok', 'an empty message is valid');
});

test('a cut is reported exactly when it does not fall on a top-level field boundary', () => {
  const boundaries = topLevelBoundaries(full);
  for (let cut = 0; cut < full.length; cut++) {
    const r = scanMessage(full.subarray(0, cut), 'GoalStateV2');
    if (boundaries.has(cut)) {
      assert.is(r.kind, 'ok', `cut at ${cut} is a field boundary`);
    } else {
      assert.is(r.kind, 'corrupt', `cut at ${cut}`);
      if (r.kind === 'corrupt') {
        assert.ok(r.problem.offset <= cut, `offset ${r.problem.offset} lies before the cut ${cut}`);
        assert.match(r.problem.code, /^E_WIRE_TRUNCATED_/);
      }
    }
  }
});

test('truncated length names the field, its need and what is left', () => {
  const buf = bytes(u(1, 102), [...tag(7, WT_LEN), ...varint(212), ...new Array<number>(40).fill(0x41)]);
  const p = problem(buf);
  assert.is(p.code, 'E_WIRE_TRUNCATED_LENGTH');
  assert.is(p.offset, 2);
  assert.is(p.path, '');
  assert.is(
    describeWireProblem('GoalStateV2', p),
    'corrupt GoalStateV2 at byte 2: length-delimited field 7 (neighbor_states) needs 212 bytes, 40 left',
  );
});

test('problems deep inside carry the field path and the absolute offset', () => {
  const fixedIp = m(10, u(1, 0), s(2, 'subnet'), [...tag(3, WT_LEN), ...varint(50), 0x31]); // ip_address claims 50 bytes, has 1
  const buf = bytes(
    u(1, 102),
    entry(7, 'n1', u(1, 1), m(2, s(3, 'n1'))),
    entry(7, 'n2', u(1, 1), m(2, s(3, 'n2'), fixedIp)),
  );
  const p = problem(buf);
  assert.is(p.code, 'E_WIRE_TRUNCATED_LENGTH');
  assert.is(p.path, 'neighbor_states[1].value.configuration.fixed_ips[0]');
  assert.is(p.detail, 'length-delimited field 3 (ip_address) needs 50 bytes, 1 left');
  assert.is(buf[p.offset], tag(3, WT_LEN)[0], 'the offset points at the tag of the broken field');
});

test('invalid wire types 6 and 7, field number 0 and too-large field numbers', () => {
  const six = problem(bytes(u(1, 1), [...tag(3, 6), 0]));
  assert.is(six.code, 'E_WIRE_BAD_WIRE_TYPE');
  assert.is(six.offset, 2);
  assert.is(six.detail, 'field 3 (vpc_states) has invalid wire type 6');
  assert.is(problem(bytes([...tag(99, 7)])).code, 'E_WIRE_BAD_WIRE_TYPE');
  const zero = problem(bytes([0x02, 0x00]));
  assert.is(zero.code, 'E_WIRE_BAD_FIELD_NUMBER');
  assert.is(zero.detail, 'tag has field number 0 (wire type 2)');
  assert.is(problem(bytes([...varint(2 ** 29 * 8), 0])).code, 'E_WIRE_BAD_FIELD_NUMBER');
});

test('truncated and overflowing varints', () => {
  const cut = problem(bytes([0x08, 0x80]));
  assert.is(cut.code, 'E_WIRE_TRUNCATED_VARINT');
  assert.is(cut.offset, 1);
  assert.is(cut.detail, 'field 1 (format_version) varint is cut off after 1 byte');
  assert.is(problem(bytes([0x88])).detail, 'tag varint is cut off after 1 byte');
  const tenth = problem(bytes([0x08, ...new Array<number>(9).fill(0xff), 0x02]));
  assert.is(tenth.code, 'E_WIRE_VARINT_OVERFLOW');
  assert.is(tenth.detail, 'field 1 (format_version) varint overflows 64 bits');
  assert.is(problem(bytes([0x08, ...new Array<number>(11).fill(0xff)])).code, 'E_WIRE_VARINT_OVERFLOW');
  assert.is(
    scanMessage(bytes([0x08, ...new Array<number>(9).fill(0xff), 0x01]), 'GoalStateV2').kind,
    'ok',
    'max uint64 is fine',
  );
});

test('a known field with the wrong wire type is reported', () => {
  const p = problem(bytes(s(1, 'x')));
  assert.is(p.code, 'E_WIRE_WIRE_TYPE_MISMATCH');
  assert.is(p.detail, 'field 1 (format_version) has wire type 2 (length-delimited), expected 0 (varint)');
  assert.is(
    problem(bytes(u(5, 3))).detail,
    'field 5 (port_states) has wire type 0 (varint), expected 2 (length-delimited)',
  );
});

test('unknown fields of every wire type are skipped, groups must close', () => {
  const unknown = bytes(
    u(1, 102),
    u(50, 7),
    [...tag(51, WT_I64), 1, 2, 3, 4, 5, 6, 7, 8],
    [...tag(52, WT_I32), 1, 2, 3, 4],
    len(53, [0xff, 0xfe]),
    [...tag(54, WT_SGROUP), ...u(1, 5), ...tag(55, WT_SGROUP), ...tag(55, WT_EGROUP), ...tag(54, WT_EGROUP)],
    entry(3, 'vpc', u(1, 1), m(2, s(3, 'vpc'), u(77, 1))),
  );
  assert.is(scanMessage(unknown, 'GoalStateV2').kind, 'ok');
  assert.equal(GoalStateV2.decode(unknown).vpcStates['vpc']?.configuration?.id, 'vpc', 'the generated decoder agrees');
  assert.is(problem(bytes([...tag(54, WT_SGROUP), ...u(1, 5)])).code, 'E_WIRE_BAD_GROUP');
  assert.is(problem(bytes([...tag(54, WT_EGROUP)])).code, 'E_WIRE_BAD_GROUP');
  assert.is(problem(bytes([...tag(54, WT_I64), 1, 2, 3])).code, 'E_WIRE_TRUNCATED_FIXED');
});

test('invalid UTF-8 in a string field is reported at the bad byte', () => {
  const key = [...tag(1, WT_LEN), 3, 0x61, 0xc3, 0x28]; // 'a', then a broken 2-byte sequence
  const buf = bytes(len(3, [...key, ...m(2, u(1, 1))]));
  const p = problem(buf);
  assert.is(p.code, 'E_WIRE_BAD_UTF8');
  assert.is(p.path, 'vpc_states[0].key');
  assert.is(buf[p.offset], 0xc3);
  assert.is(scanMessage(buf, 'GoalStateV2', { checkUtf8: false }).kind, 'ok', 'the check can be switched off');
});

test('findInvalidUtf8 follows RFC 3629', () => {
  const enc = (t: string): Uint8Array => new TextEncoder().encode(t);
  const valid = enc('ascii é € 😀 \u{10ffff}');
  assert.is(findInvalidUtf8(valid, 0, valid.length), -1);
  const at = (...b: number[]): number => findInvalidUtf8(Uint8Array.from(b), 0, b.length);
  assert.is(at(0x41, 0xc0, 0x80), 1, 'overlong 2-byte');
  assert.is(at(0xe0, 0x80, 0x80), 0, 'overlong 3-byte');
  assert.is(at(0xed, 0xa0, 0x80), 0, 'UTF-16 surrogate');
  assert.is(at(0xf4, 0x90, 0x80, 0x80), 0, 'above U+10FFFF');
  assert.is(at(0x80), 0, 'lone continuation byte');
  assert.is(at(0x41, 0xe2, 0x82), 1, 'sequence cut by the end');
  assert.is(at(0xff), 0);
});

test('v1 GoalState uses repeated fields, and the scanner knows the difference', () => {
  const v1 = bytes(u(1, 101), m(5, u(1, 1), m(2, s(3, 'n1'))));
  assert.is(scanMessage(v1, 'GoalState').kind, 'ok');
  assert.is(GoalState.decode(v1).neighborStates[0]?.configuration?.id, 'n1');
  const p = problem(bytes(m(5, u(1, 1), m(2, u(3, 5)))), 'GoalState');
  assert.is(p.path, 'neighbor_states[0].configuration');
  assert.is(p.code, 'E_WIRE_WIRE_TYPE_MISMATCH');
});

test('random corruption: the scanner never throws, and what it accepts the generated decoder decodes', () => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  let rejected = 0;
  for (let round = 0; round < 2000; round++) {
    const buf = Uint8Array.from(full);
    const flips = 1 + rand(4);
    for (let k = 0; k < flips; k++) buf[rand(buf.length)] = rand(256);
    const r = scanMessage(buf, 'GoalStateV2');
    if (r.kind === 'corrupt') {
      rejected++;
      assert.ok(r.problem.offset >= 0 && r.problem.offset <= buf.length);
      assert.not.match(describeWireProblem('GoalStateV2', r.problem), /\n/);
    } else {
      GoalStateV2.decode(buf);
    }
  }
  // Most random bytes land in ASCII string content, where a different ASCII byte is still valid.
  assert.ok(rejected > 200, `structural corruptions are caught (${rejected}/2000)`);
});

test.run();
