import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Action, canonicalMatch, type Flow, OFPP_IN_PORT, OFPP_LOCAL } from '../flow';
import { OFP14_VERSION, OFPFF } from './constants';
import { decodeFlowStats, decodeFlowStatsEntries, encodeFlowMod, writeFlowMod } from './flowmod';
import { ByteWriter } from './writer';
import { throwsCode } from '../../test/openflow-assert';

const hex = (s: string): string => s.replace(/\s+/g, '');

const ARP: Flow = {
  table: 20,
  priority: 50,
  cookie: 5n,
  match: [
    { field: 'eth_type', value: 0x0806 },
    { field: 'arp_tpa', value: 0x0a000005 },
  ],
  actions: [{ kind: 'output', port: 3 }],
  goto: 30,
};

// ofp_flow_mod, OpenFlow 1.3 §7.3.4.1, written out by hand.
const ARP_ADD =
  '04 0e 0068 00000011' + // header: version 1.3, FLOW_MOD, 104 bytes, xid 0x11
  '0000000000000005 0000000000000000' + // cookie, cookie_mask
  '14 00 0000 0000 0032' + // table 20, ADD, idle 0, hard 0, priority 50
  'ffffffff ffffffff ffffffff 0000 0000' + // buffer_id NO_BUFFER, out_port ANY, out_group ANY, flags, pad
  '0001 0012 80000a02 0806 80002e04 0a000005 000000000000' + // ofp_match (OXM), padded to 24
  '0004 0018 00000000 0000 0010 00000003 0000 000000000000' + // APPLY_ACTIONS(output:3)
  '0001 0008 1e 000000'; // GOTO_TABLE 30

test('FLOW_MOD ADD matches the hand-written bytes', () => {
  assert.is(encodeFlowMod(ARP, 'add', 0x11).toString('hex'), hex(ARP_ADD));
});

test('MODIFY_STRICT differs only in the command; DELETE_STRICT carries no instructions', () => {
  const mod = encodeFlowMod(ARP, 'modify_strict', 0x11).toString('hex');
  assert.is(mod, hex(ARP_ADD).replace(/^(.{50})00/, '$102'));
  const del = encodeFlowMod(ARP, 'delete_strict', 0x12, OFP14_VERSION);
  assert.is(del.length, 72);
  assert.is(del[0], 5, 'version byte is the parameter');
  assert.is(del.readUInt16BE(2), 72);
  assert.is(del[25], 4, 'OFPFC_DELETE_STRICT');
});

test('cookie mask and flags are written where the spec puts them', () => {
  const b = encodeFlowMod(ARP, 'delete_strict', 1, OFP14_VERSION, {
    cookieMask: 0xffff_0000_0000_0000n,
    flags: OFPFF.CHECK_OVERLAP,
  });
  assert.is(b.readBigUInt64BE(16), 0xffff_0000_0000_0000n);
  assert.is(b.readUInt16BE(44), OFPFF.CHECK_OVERLAP);
});

test('a drop flow has no instructions; goto without actions has only GOTO_TABLE', () => {
  const drop = encodeFlowMod({ table: 0, priority: 0, cookie: 0n, match: [], actions: [] }, 'add', 1);
  assert.is(drop.length, 56);
  const goto = encodeFlowMod({ table: 0, priority: 0, cookie: 0n, match: [], actions: [], goto: 1 }, 'add', 1);
  assert.is(goto.subarray(56).toString('hex'), hex('0001 0008 01 000000'));
});

test('over 65535 bytes is OF_MESSAGE_TOO_LONG and leaves the writer where it was', () => {
  const huge: Flow = { ...ARP, actions: Array.from({ length: 5000 }, (): Action => ({ kind: 'output', port: 1 })) };
  const w = new ByteWriter(64);
  writeFlowMod(w, ARP, 'add', 1);
  const before = w.pos;
  throwsCode(() => writeFlowMod(w, huge, 'add', 2), 'OF_MESSAGE_TOO_LONG', /65535/);
  assert.is(w.pos, before);
  // 4090 outputs: 48 + 24 + 8 + 4090*16 = 65520 bytes, just under the limit.
  const fits: Flow = {
    ...ARP,
    goto: undefined,
    actions: Array.from({ length: 4090 }, (): Action => ({ kind: 'output', port: 1 })),
  };
  assert.is(writeFlowMod(w, fits, 'add', 3), 65520);
});

test('bad table, priority, goto and cookie are errors with codes', () => {
  throwsCode(() => encodeFlowMod({ ...ARP, table: 255 }, 'add', 1), 'OF_BAD_VALUE', /table 255/);
  throwsCode(() => encodeFlowMod({ ...ARP, priority: 70000 }, 'add', 1), 'OF_BAD_VALUE', /priority/);
  throwsCode(() => encodeFlowMod({ ...ARP, goto: 20 }, 'add', 1), 'OF_BAD_ACTION', /later table/);
  throwsCode(() => encodeFlowMod({ ...ARP, cookie: -1n }, 'add', 1), 'OF_BAD_VALUE', /cookie/);
  throwsCode(() => encodeFlowMod({ ...ARP, cookie: 1n << 64n }, 'add', 1), 'OF_BAD_VALUE', /cookie/);
});

test('actions whose prerequisites the match lacks are refused, as OVS would (OFPBAC_MATCH_INCONSISTENT)', () => {
  const bare: Flow = { table: 0, priority: 1, cookie: 0n, match: [{ field: 'reg0', value: 1 }], actions: [] };
  throwsCode(
    () => encodeFlowMod({ ...bare, actions: [{ kind: 'ct', commit: true, zone: 1 }] }, 'add', 1),
    'OF_ACTION_PREREQ',
    /ct\(\) needs IP.*eth_type=0x0800/,
  );
  throwsCode(
    () => encodeFlowMod({ ...bare, actions: [{ kind: 'set_field', field: 'ipv4_src', value: 1 }] }, 'add', 1),
    'OF_ACTION_PREREQ',
    /ipv4_src/,
  );
  throwsCode(
    () =>
      encodeFlowMod(
        { ...bare, actions: [{ kind: 'move', src: 'arp_sha', srcOfs: 0, dst: 'eth_dst', dstOfs: 0, nBits: 48 }] },
        'add',
        1,
      ),
    'OF_ACTION_PREREQ',
    /arp_sha.*0x0806/,
  );
  const ipFlow: Flow = { ...bare, match: [{ field: 'eth_type', value: 0x0800 }] };
  throwsCode(
    () => encodeFlowMod({ ...ipFlow, actions: [{ kind: 'set_field', field: 'tcp_dst', value: 1 }] }, 'add', 1),
    'OF_ACTION_PREREQ',
    /ip_proto=6/,
  );
  encodeFlowMod(
    {
      ...ipFlow,
      actions: [
        { kind: 'ct', commit: true, zone: 1 },
        { kind: 'set_field', field: 'ipv4_src', value: 1 },
      ],
    },
    'add',
    1,
  );
  // A delete carries no actions, so their prerequisites do not matter.
  encodeFlowMod({ ...bare, actions: [{ kind: 'ct', commit: true, zone: 1 }] }, 'delete_strict', 1);
});

/** ofp_flow_stats (§7.3.5.2) around a FLOW_MOD's match and instructions, as OVS would reply. */
function statsEntry(flow: Flow): Buffer {
  const fm = encodeFlowMod(flow, 'add', 1);
  const head = Buffer.alloc(48);
  head.writeUInt16BE(48 + fm.length - 48, 0);
  head[2] = flow.table;
  head.writeUInt32BE(12, 4); // duration_sec
  head.writeUInt16BE(flow.priority, 12);
  head.writeBigUInt64BE(flow.cookie, 24);
  head.writeBigUInt64BE(99n, 32); // packet_count
  return Buffer.concat([head, fm.subarray(48)]);
}

const ALL_KINDS: readonly Flow[] = [
  ARP,
  {
    table: 1,
    priority: 10,
    cookie: 0xffff_ffff_ffff_ffffn,
    match: [
      { field: 'in_port', value: 7 },
      { field: 'metadata', value: 0x1_0000_0005, mask: 0x1_ffff_ffff },
      { field: 'reg0', value: 1 },
      { field: 'reg5', value: 2, mask: 3 },
      { field: 'tun_id', value: 0x64 },
      { field: 'tun_ipv4_src', value: 0x01010101 },
      { field: 'tun_ipv4_dst', value: 0x02020200, mask: 0xffffff00 },
      { field: 'conj_id', value: 9 },
      { field: 'ct_state', value: 0x22, mask: 0x23 },
      { field: 'ct_zone', value: 5 },
      { field: 'ct_mark', value: 1, mask: 1 },
      { field: 'eth_src', value: 0x020000000001 },
      { field: 'eth_dst', value: 0x020000000000, mask: 0xffffff000000 },
      { field: 'eth_type', value: 0x0800 },
      { field: 'vlan_vid', value: 0x100a },
      { field: 'ip_proto', value: 6 },
      { field: 'ip_dscp', value: 10 },
      { field: 'ip_ttl', value: 3 },
      { field: 'ipv4_src', value: 0x0a000000, mask: 0xff000000 },
      { field: 'ipv4_dst', value: 0x0a000001 },
      { field: 'tcp_src', value: 1024, mask: 0xfc00 },
      { field: 'tcp_dst', value: 80 },
      { field: 'tcp_flags', value: 2, mask: 0x12 },
    ],
    actions: [
      { kind: 'output', port: OFPP_IN_PORT },
      { kind: 'output', port: OFPP_LOCAL },
      { kind: 'controller', maxLen: 0xffff },
      { kind: 'set_field', field: 'tun_ipv4_dst', value: 0x0a010101 },
      { kind: 'load', field: 'reg6', value: 5, ofs: 0, nBits: 16 },
      { kind: 'move', src: 'reg0', srcOfs: 0, dst: 'reg1', dstOfs: 8, nBits: 8 },
      { kind: 'resubmit', table: 30 },
      { kind: 'ct', commit: true, zone: 5, table: 30, setMark: 1 },
      { kind: 'ct', commit: false, zone: 0 },
      { kind: 'dec_ttl' },
    ],
    goto: 5,
  },
  {
    table: 4,
    priority: 0,
    cookie: 0n,
    match: [
      { field: 'eth_type', value: 0x0800 },
      { field: 'ip_proto', value: 17 },
      { field: 'udp_src', value: 68 },
      { field: 'udp_dst', value: 67 },
    ],
    actions: [
      { kind: 'conjunction', id: 7, clause: 1, nClauses: 2 },
      { kind: 'conjunction', id: 8, clause: 2, nClauses: 3 },
    ],
  },
  { table: 0, priority: 0x8000, cookie: 1n, match: [], actions: [] },
];

test('Flow -> FLOW_MOD -> flow stats -> Flow is the identity for every field and action kind', () => {
  const body = Buffer.concat(ALL_KINDS.map(statsEntry));
  assert.equal(decodeFlowStats(body), ALL_KINDS);
});

test('decodeFlowStats returns the match in canonical order whatever order it was sent in', () => {
  const shuffled: Flow = { ...ARP, match: [...ARP.match].reverse() };
  const [got] = decodeFlowStats(statsEntry(shuffled));
  assert.equal(got?.match, canonicalMatch(shuffled.match));
});

test('decodeFlowStats rejects truncated and unsupported entries with codes', () => {
  const entry = statsEntry(ARP);
  throwsCode(() => decodeFlowStats(entry.subarray(0, 40)), 'OF_TRUNCATED');
  const badLen = Buffer.from(entry);
  badLen.writeUInt16BE(entry.length + 8, 0);
  throwsCode(() => decodeFlowStats(badLen), 'OF_BAD_MESSAGE');
  // WRITE_ACTIONS instead of APPLY_ACTIONS.
  const writeActions = Buffer.from(entry);
  writeActions.writeUInt16BE(3, 48 + 24);
  throwsCode(() => decodeFlowStats(writeActions), 'OF_UNSUPPORTED_INSTRUCTION');
});

test('decodeFlowStatsEntries keeps going past flows Flow cannot express, with their cookie', () => {
  const good = statsEntry(ARP);
  const odd = Buffer.from(statsEntry({ ...ARP, cookie: 0x99n }));
  odd.writeUInt16BE(3, 48 + 24); // WRITE_ACTIONS
  const entries = decodeFlowStatsEntries(Buffer.concat([good, odd, good]));
  assert.equal(
    entries.map((e) => e.kind),
    ['flow', 'unsupported', 'flow'],
  );
  const bad = entries[1];
  assert.ok(
    bad?.kind === 'unsupported' &&
      bad.cookie === 0x99n &&
      bad.code === 'OF_UNSUPPORTED_INSTRUCTION' &&
      bad.table === 20,
  );
  const first = entries[0];
  assert.ok(first?.kind === 'flow' && first.packetCount === 99n);
});

test.run();
