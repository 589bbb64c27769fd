import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FieldName, MatchField } from '../flow';
import { FIELD_TEXT } from './format';
import { decodeMatch, decodeOxmFields, encodeMatch, fieldSpec, MATCH_FIELDS, writeOxm } from './oxm';
import { ByteWriter } from './writer';
import { throwsCode } from '../../test/openflow-assert';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function encode(match: readonly MatchField[]): Buffer {
  const w = new ByteWriter(16);
  encodeMatch(w, match);
  return w.toBuffer();
}

// Golden TLVs written by hand from OpenFlow 1.3 §7.2.3 (header = class:16 field:7 hm:1 len:8)
// and ovs-fields(7) for the class/field numbers.
const GOLDEN: readonly [MatchField, string][] = [
  [{ field: 'in_port', value: 7 }, '80000004 00000007'],
  [{ field: 'metadata', value: 0x5, mask: 0xff }, '80000510 0000000000000005 00000000000000ff'],
  [{ field: 'eth_dst', value: 0x020000000001 }, '80000606 020000000001'],
  [{ field: 'eth_src', value: 0x0a0b0c0d0e0f }, '80000806 0a0b0c0d0e0f'],
  [{ field: 'eth_type', value: 0x0800 }, '80000a02 0800'],
  [{ field: 'vlan_vid', value: 0x100a }, '80000c02 100a'],
  [{ field: 'ip_dscp', value: 46 }, '80001001 2e'],
  [{ field: 'ip_proto', value: 6 }, '80001401 06'],
  [{ field: 'ipv4_src', value: 0x0a000001 }, '80001604 0a000001'],
  [{ field: 'ipv4_dst', value: 0x0a000100, mask: 0xffffff00 }, '80001908 0a000100 ffffff00'],
  [{ field: 'tcp_src', value: 1024 }, '80001a02 0400'],
  [{ field: 'tcp_dst', value: 80 }, '80001c02 0050'],
  [{ field: 'udp_src', value: 68 }, '80001e02 0044'],
  [{ field: 'udp_dst', value: 67 }, '80002002 0043'],
  [{ field: 'icmpv4_type', value: 8 }, '80002601 08'],
  [{ field: 'icmpv4_code', value: 0 }, '80002801 00'],
  [{ field: 'arp_op', value: 1 }, '80002a02 0001'],
  [{ field: 'arp_spa', value: 0x0a000001 }, '80002c04 0a000001'],
  [{ field: 'arp_tpa', value: 0x0a000005 }, '80002e04 0a000005'],
  [{ field: 'arp_sha', value: 0x020000000077 }, '80003006 020000000077'],
  [{ field: 'arp_tha', value: 0x020000000078 }, '80003206 020000000078'],
  [{ field: 'tun_id', value: 0x64 }, '80004c08 0000000000000064'],
  [{ field: 'reg0', value: 1 }, '00010004 00000001'],
  [{ field: 'reg6', value: 0x14 }, '00010c04 00000014'],
  [{ field: 'reg9', value: 3, mask: 0xf }, '00011308 00000003 0000000f'],
  [{ field: 'ip_ttl', value: 64 }, '00013a01 40'],
  [{ field: 'tun_ipv4_src', value: 0x01010101 }, '00013e04 01010101'],
  [{ field: 'tun_ipv4_dst', value: 0xc0000201 }, '00014004 c0000201'],
  [{ field: 'tcp_flags', value: 0x002, mask: 0x012 }, '00014504 0002 0012'],
  [{ field: 'conj_id', value: 7 }, '00014a04 00000007'],
  [{ field: 'ct_state', value: 0x22, mask: 0x23 }, '0001d308 00000022 00000023'],
  [{ field: 'ct_zone', value: 5 }, '0001d402 0005'],
  [{ field: 'ct_mark', value: 1, mask: 1 }, '0001d708 00000001 00000001'],
];

test('each field encodes to its hand-written OXM/NXM TLV, and decodes back', () => {
  for (const [m, want] of GOLDEN) {
    const w = new ByteWriter(16);
    writeOxm(w, fieldSpec(m.field), m.value, m.mask);
    assert.is(w.toBuffer().toString('hex'), hex(want).toString('hex'), `encode ${m.field}`);
    const tlv = hex(want);
    assert.equal(decodeOxmFields(tlv, 0, tlv.length), [m], `decode ${m.field}`);
  }
});

test('a whole ofp_match: OXM type, length without padding, padded to 8, prerequisites first', () => {
  // Given out of order: arp_tpa before eth_type.
  const got = encode([
    { field: 'arp_tpa', value: 0x0a000005 },
    { field: 'eth_type', value: 0x0806 },
  ]);
  assert.is(got.toString('hex'), hex('0001 0012  80000a02 0806  80002e04 0a000005  000000000000').toString('hex'));
});

test('empty match is type OXM, length 4, padded to 8', () => {
  assert.is(encode([]).toString('hex'), '0001000400000000');
});

test('every field round-trips through encodeMatch/decodeMatch in canonical order', () => {
  const allFields: MatchField[] = [
    { field: 'eth_type', value: 0x0800 },
    { field: 'ip_proto', value: 6 },
    ...GOLDEN.map(([m]) => m).filter(
      (m) =>
        ![
          'eth_type',
          'ip_proto',
          'udp_src',
          'udp_dst',
          'icmpv4_type',
          'icmpv4_code',
          'arp_op',
          'arp_spa',
          'arp_tpa',
          'arp_sha',
          'arp_tha',
        ].includes(m.field),
    ),
  ];
  const bytes = encode(allFields);
  assert.is(bytes.length % 8, 0);
  const { match, next } = decodeMatch(bytes, 0);
  assert.is(next, bytes.length);
  const order = (f: FieldName): number => fieldSpec(f).order;
  assert.equal(
    match,
    [...allFields].sort((a, b) => order(a.field) - order(b.field)),
  );
  const arp: MatchField[] = [
    { field: 'eth_type', value: 0x0806 },
    { field: 'arp_op', value: 2 },
    { field: 'arp_spa', value: 0x0a000000, mask: 0xff000000 },
    { field: 'arp_tpa', value: 1 },
    { field: 'arp_sha', value: 0x020000000000, mask: 0xff0000000000 },
    { field: 'arp_tha', value: 0xffffffffffff },
  ];
  assert.equal(decodeMatch(encode(arp), 0).match, arp);
  const icmp: MatchField[] = [
    { field: 'eth_type', value: 0x0800 },
    { field: 'ip_proto', value: 1 },
    { field: 'icmpv4_type', value: 3 },
    { field: 'icmpv4_code', value: 4 },
  ];
  assert.equal(decodeMatch(encode(icmp), 0).match, icmp);
});

test('decode accepts the spellings OVS sends back: NXM_OF_*, NXM_NX_TUN_ID, ONF tcp_flags', () => {
  // NXM_OF_ETH_TYPE (0x0000, 3), NXM_NX_TUN_ID (0x0001, 16), ONFOXM_ET_TCP_FLAGS (0xffff, 42, exp 0x4f4e4600).
  const tlvs = hex('00000602 0806  00012008 0000000000000009  ffff5508 4f4e4600 0002 0012');
  assert.equal(decodeOxmFields(tlvs, 0, tlvs.length), [
    { field: 'tun_id', value: 9 },
    { field: 'eth_type', value: 0x0806 },
    { field: 'tcp_flags', value: 2, mask: 0x12 },
  ]);
});

test('decode rejects fields Flow cannot hold and truncated TLVs, with codes', () => {
  const ipv6Src = hex('80003410 00000000000000000000000000000001');
  throwsCode(() => decodeOxmFields(ipv6Src, 0, ipv6Src.length), 'OF_UNSUPPORTED_MATCH', /class 0x8000 field 26/);
  const short = hex('80000004 0000');
  throwsCode(() => decodeOxmFields(short, 0, short.length), 'OF_TRUNCATED');
});

test('a missing prerequisite is an error that says what to add', () => {
  throwsCode(
    () => encode([{ field: 'tcp_dst', value: 80 }]),
    'OF_MATCH_PREREQ',
    /tcp_dst.*add eth_type=0x0800, ip_proto=6/,
  );
  throwsCode(
    () =>
      encode([
        { field: 'eth_type', value: 0x0800 },
        { field: 'tcp_dst', value: 80 },
      ]),
    'OF_MATCH_PREREQ',
    /add ip_proto=6/,
  );
  throwsCode(
    () =>
      encode([
        { field: 'eth_type', value: 0x0800 },
        { field: 'ip_proto', value: 17 },
        { field: 'tcp_dst', value: 80 },
      ]),
    'OF_MATCH_PREREQ',
  );
  throwsCode(() => encode([{ field: 'arp_tpa', value: 1 }]), 'OF_MATCH_PREREQ', /arp_tpa.*eth_type=0x0806/);
  throwsCode(
    () =>
      encode([
        { field: 'eth_type', value: 0x0806 },
        { field: 'ipv4_dst', value: 1 },
      ]),
    'OF_MATCH_PREREQ',
    /eth_type=0x0800/,
  );
  throwsCode(
    () =>
      encode([
        { field: 'eth_type', value: 0x86dd },
        { field: 'ip_proto', value: 1 },
        { field: 'icmpv4_type', value: 1 },
      ]),
    'OF_MATCH_PREREQ',
  );
  throwsCode(() => encode([{ field: 'ip_ttl', value: 1 }]), 'OF_MATCH_PREREQ');
  // A masked eth_type does not satisfy a prerequisite (and eth_type is not maskable anyway).
  throwsCode(
    () =>
      encode([
        { field: 'eth_type', value: 0x0800, mask: 0xffff },
        { field: 'ipv4_dst', value: 1 },
      ]),
    'OF_MATCH_MASK_NOT_ALLOWED',
  );
  // IPv6 satisfies the generic IP prerequisite of tcp ports.
  encode([
    { field: 'eth_type', value: 0x86dd },
    { field: 'ip_proto', value: 6 },
    { field: 'tcp_dst', value: 22 },
  ]);
});

test('bad values, masks and duplicates are errors with codes', () => {
  throwsCode(() => encode([{ field: 'reg0', value: 2 ** 32 }]), 'OF_BAD_VALUE', /reg0/);
  throwsCode(() => encode([{ field: 'reg0', value: -1 }]), 'OF_BAD_VALUE');
  throwsCode(() => encode([{ field: 'reg0', value: 1.5 }]), 'OF_BAD_VALUE');
  throwsCode(() => encode([{ field: 'vlan_vid', value: 0x2000 }]), 'OF_BAD_VALUE');
  throwsCode(() => encode([{ field: 'reg0', value: 3, mask: 1 }]), 'OF_MATCH_VALUE_OUTSIDE_MASK');
  throwsCode(() => encode([{ field: 'metadata', value: 2 ** 40, mask: 0xffffffff }]), 'OF_MATCH_VALUE_OUTSIDE_MASK');
  throwsCode(() => encode([{ field: 'ct_zone', value: 1, mask: 1 }]), 'OF_MATCH_MASK_NOT_ALLOWED');
  throwsCode(
    () =>
      encode([
        { field: 'reg1', value: 1 },
        { field: 'reg1', value: 2 },
      ]),
    'OF_MATCH_DUPLICATE_FIELD',
    /reg1/,
  );
  throwsCode(() => encode([{ field: 'nope' as FieldName, value: 1 }]), 'OF_UNKNOWN_FIELD');
  // A failed encode leaves the writer usable.
  const w = new ByteWriter(16);
  assert.throws(() => encodeMatch(w, [{ field: 'tcp_dst', value: 80 }]));
  assert.is(w.pos, 0);
});

test('64-bit fields keep values above 2^32 exactly', () => {
  const m: MatchField[] = [{ field: 'metadata', value: 0x12_3456_789a, mask: 0xff_ffff_ffff }];
  assert.is(encode(m).subarray(4, 24).toString('hex'), '80000510' + '000000123456789a' + '000000ffffffffff');
  assert.equal(decodeMatch(encode(m), 0).match, m);
});

test('the codec knows every FieldName (format.ts holds a compile-time complete Record of them)', () => {
  assert.equal([...MATCH_FIELDS].sort(), Object.keys(FIELD_TEXT).sort());
  const golden = new Set(GOLDEN.map(([m]) => m.field));
  const noGolden = MATCH_FIELDS.filter((f) => !golden.has(f) && !/^reg[1-578]$/.test(f));
  assert.equal(noGolden, [], 'every field but the repetitive registers has a golden TLV');
});

test.run();
