import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Action, OFPP_CONTROLLER, OFPP_IN_PORT } from '../flow';
import { decodeActions, encodeAction, encodeActions } from './actions';
import { ByteWriter } from './writer';
import { throwsCode } from '../../test/openflow-assert';

const hex = (s: string): string => s.replace(/\s+/g, '');

function bytes(a: Action): string {
  const w = new ByteWriter(16);
  encodeAction(w, a);
  return w.toBuffer().toString('hex');
}

// Hand-written from OpenFlow 1.3 §7.2.5 (ofp_action_output, ofp_action_set_field,
// ofp_action_nw_ttl) and OVS nicira-ext.h layouts documented in ovs-actions(7).
const GOLDEN: readonly [Action, string][] = [
  [{ kind: 'output', port: 3 }, '0000 0010 00000003 0000 000000000000'],
  [{ kind: 'output', port: OFPP_IN_PORT }, '0000 0010 fffffff8 0000 000000000000'],
  [{ kind: 'controller', maxLen: 128 }, '0000 0010 fffffffd 0080 000000000000'],
  [{ kind: 'set_field', field: 'eth_src', value: 0x020000000077 }, '0019 0010 80000806 020000000077 0000'],
  [{ kind: 'set_field', field: 'reg6', value: 0x10 }, '0019 0010 00010c04 00000010 00000000'],
  [{ kind: 'set_field', field: 'tun_ipv4_dst', value: 0x0a010101 }, '0019 0010 00014004 0a010101 00000000'],
  [{ kind: 'set_field', field: 'ip_dscp', value: 8 }, '0019 0010 80001001 08 00000000000000'],
  [{ kind: 'set_field', field: 'tun_id', value: 0x123456789a }, '0019 0010 80004c08 000000123456789a'],
  // NXAST_REG_LOAD: ofs_nbits = ofs << 6 | (n_bits - 1).
  [
    { kind: 'load', field: 'reg6', value: 5, ofs: 0, nBits: 16 },
    'ffff 0018 00002320 0007 000f 00010c04 0000000000000005',
  ],
  [
    { kind: 'load', field: 'reg0', value: 1, ofs: 5, nBits: 1 },
    'ffff 0018 00002320 0007 0140 00010004 0000000000000001',
  ],
  [
    { kind: 'load', field: 'tun_id', value: 2, ofs: 0, nBits: 64 },
    'ffff 0018 00002320 0007 003f 80004c08 0000000000000002',
  ],
  // NXAST_REG_MOVE: n_bits, src_ofs, dst_ofs, src, dst.
  [
    { kind: 'move', src: 'reg0', srcOfs: 0, dst: 'reg1', dstOfs: 8, nBits: 8 },
    'ffff 0018 00002320 0006 0008 0000 0008 00010004 00010204',
  ],
  [
    { kind: 'move', src: 'eth_src', srcOfs: 0, dst: 'eth_dst', dstOfs: 0, nBits: 48 },
    'ffff 0018 00002320 0006 0030 0000 0000 80000806 80000606',
  ],
  // NXAST_RESUBMIT_TABLE: in_port 0xfff8 (OFPP_IN_PORT, i.e. unchanged), table, pad.
  [{ kind: 'resubmit', table: 30 }, 'ffff 0010 00002320 000e fff8 1e 000000'],
  // NXAST_CT: flags, zone_src, zone_imm, recirc_table, pad[3], alg, nested actions.
  [
    { kind: 'ct', commit: true, zone: 5, table: 30, setMark: 1 },
    'ffff 0028 00002320 0023 0001 00000000 0005 1e 000000 0000' + '0019 0010 0001d604 00000001 00000000',
  ],
  [{ kind: 'ct', commit: false, zone: 0 }, 'ffff 0018 00002320 0023 0000 00000000 0000 ff 000000 0000'],
  // NXAST_CONJUNCTION: clause (0-based), n_clauses, id.
  [{ kind: 'conjunction', id: 7, clause: 1, nClauses: 2 }, 'ffff 0010 00002320 0022 00 02 00000007'],
  [{ kind: 'conjunction', id: 0xffffffff, clause: 3, nClauses: 3 }, 'ffff 0010 00002320 0022 02 03 ffffffff'],
  [{ kind: 'dec_ttl' }, '0018 0008 00000000'],
  // OFPAT_GROUP: group_id.
  [{ kind: 'group', id: 0x12345 }, '0016 0008 00012345'],
];

test('each action encodes to its hand-written bytes (8-byte aligned) and decodes back', () => {
  for (const [a, want] of GOLDEN) {
    const got = bytes(a);
    assert.is(got, hex(want), `encode ${JSON.stringify(a)}`);
    assert.is((got.length / 2) % 8, 0, 'multiple of 8');
    const buf = Buffer.from(got, 'hex');
    assert.equal(decodeActions(buf, 0, buf.length), [a], `decode ${a.kind}`);
  }
});

test('an action list round-trips in order', () => {
  const list = GOLDEN.map(([a]) => a);
  const w = new ByteWriter(8);
  encodeActions(w, list);
  assert.equal(decodeActions(w.buffer, 0, w.pos), list);
});

test('output to CONTROLLER asks for the whole packet and reads back as controller', () => {
  assert.is(bytes({ kind: 'output', port: OFPP_CONTROLLER }), hex('0000 0010 fffffffd ffff 000000000000'));
});

test('a ct with a nested NXAST_REG_LOAD of ct_mark (as ovs-ofctl writes it) decodes as setMark', () => {
  const nestedLoad = 'ffff 0018 00002320 0007 001f 0001d604 0000000000000003';
  const buf = Buffer.from(hex('ffff 0030 00002320 0023 0001 00000000 0002 ff 000000 0000' + nestedLoad), 'hex');
  assert.equal(decodeActions(buf, 0, buf.length), [{ kind: 'ct', commit: true, zone: 2, setMark: 3 }]);
});

test('bad actions are errors with codes', () => {
  throwsCode(() => bytes({ kind: 'set_field', field: 'eth_type', value: 0x800 }), 'OF_FIELD_NOT_WRITABLE', /eth_type/);
  throwsCode(() => bytes({ kind: 'load', field: 'ct_state', value: 1, ofs: 0, nBits: 1 }), 'OF_FIELD_NOT_WRITABLE');
  throwsCode(() => bytes({ kind: 'set_field', field: 'in_port', value: 1 }), 'OF_FIELD_NOT_WRITABLE');
  throwsCode(() => bytes({ kind: 'set_field', field: 'ct_mark', value: 1 }), 'OF_FIELD_NOT_WRITABLE', /setMark/);
  throwsCode(() => bytes({ kind: 'set_field', field: 'reg0', value: 2 ** 32 }), 'OF_BAD_VALUE');
  throwsCode(
    () => bytes({ kind: 'load', field: 'reg0', value: 1, ofs: 30, nBits: 4 }),
    'OF_BAD_ACTION',
    /outside reg0/,
  );
  throwsCode(
    () => bytes({ kind: 'load', field: 'reg0', value: 16, ofs: 0, nBits: 4 }),
    'OF_BAD_ACTION',
    /fit in 4 bits/,
  );
  throwsCode(() => bytes({ kind: 'move', src: 'reg0', srcOfs: 0, dst: 'reg1', dstOfs: 0, nBits: 0 }), 'OF_BAD_ACTION');
  throwsCode(() => bytes({ kind: 'resubmit', table: 255 }), 'OF_BAD_ACTION');
  throwsCode(() => bytes({ kind: 'ct', commit: true, zone: 70000 }), 'OF_BAD_ACTION');
  throwsCode(() => bytes({ kind: 'conjunction', id: 1, clause: 3, nClauses: 2 }), 'OF_BAD_ACTION', /clause 3/);
  throwsCode(() => bytes({ kind: 'conjunction', id: 1, clause: 0, nClauses: 2 }), 'OF_BAD_ACTION');
  throwsCode(() => bytes({ kind: 'conjunction', id: 1, clause: 1, nClauses: 1 }), 'OF_BAD_ACTION');
  throwsCode(() => bytes({ kind: 'output', port: -1 }), 'OF_BAD_ACTION');
  throwsCode(() => bytes({ kind: 'controller', maxLen: 0x10000 }), 'OF_BAD_ACTION');
  throwsCode(() => bytes({ kind: 'bogus' } as unknown as Action), 'OF_BAD_ACTION');
  throwsCode(() => bytes({ kind: 'group', id: 0xffffff01 }), 'OF_BAD_ACTION');
  throwsCode(() => bytes({ kind: 'bucket' }), 'OF_BAD_ACTION', /group entry/);
});

test('decode rejects actions Flow cannot hold and bad lengths, with codes', () => {
  const setQueue = Buffer.from(hex('0015 0008 00000001'), 'hex');
  throwsCode(() => decodeActions(setQueue, 0, setQueue.length), 'OF_UNSUPPORTED_ACTION', /type 21/);
  const learn = Buffer.from(hex('ffff 0010 00002320 0010 000000000000'), 'hex');
  throwsCode(() => decodeActions(learn, 0, learn.length), 'OF_UNSUPPORTED_ACTION', /subtype 16/);
  const badLen = Buffer.from(hex('0000 000c 00000003 0000 0000'), 'hex');
  throwsCode(() => decodeActions(badLen, 0, badLen.length), 'OF_BAD_MESSAGE');
  const short = Buffer.from(hex('0000 0010'), 'hex');
  throwsCode(() => decodeActions(short, 0, short.length), 'OF_TRUNCATED');
});

test.run();
