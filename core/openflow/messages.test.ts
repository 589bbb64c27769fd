import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Flow } from '../flow';
import { OFP13_VERSION, OFP14_VERSION, OFPT } from './constants';
import { OpenFlowError } from './errors';
import { encodeFlowMod } from './flowmod';
import { OpenFlowFramer } from './framing';
import {
  BUNDLE_ATOMIC_ORDERED,
  decodeMessage,
  decodePortDescs,
  describeError,
  encodeBarrierRequest,
  encodeBundleControl,
  encodeBundledFlowMods,
  encodeEchoReply,
  encodeEchoRequest,
  encodeFeaturesRequest,
  encodeFlowStatsRequest,
  encodeHello,
  encodePacketOut,
  encodePortDescRequest,
  encodeSetConfig,
  negotiateVersion,
  type OfMessage,
  writeBundledFlowMod,
} from './messages';
import { ByteWriter } from './writer';

const hex = (s: string): string => s.replace(/\s+/g, '');
const buf = (s: string): Buffer => Buffer.from(hex(s), 'hex');

/** Fills in the header length so hand-written messages stay readable. */
function msg(s: string): Buffer {
  const b = buf(s);
  b.writeUInt16BE(b.length, 2);
  return b;
}

function kind<K extends OfMessage['kind']>(m: OfMessage, k: K): Extract<OfMessage, { kind: K }> {
  assert.is(m.kind, k);
  return m as Extract<OfMessage, { kind: K }>;
}

const ARP: Flow = {
  table: 20,
  priority: 50,
  cookie: 5n,
  match: [
    { field: 'eth_type', value: 0x0806 },
    { field: 'arp_tpa', value: 0x0a000005 },
  ],
  actions: [{ kind: 'output', port: 3 }],
};

// Hand-written from OpenFlow 1.3.5 §7.1-7.5 and 1.4.1 §7.3.9.
test('fixed messages match the spec layouts', () => {
  // HELLO: header version = highest offered; OFPHET_VERSIONBITMAP with bits 4 and 5.
  assert.is(encodeHello(1).toString('hex'), hex('05 00 0010 00000001 0001 0008 00000030'));
  assert.is(encodeHello(1, [OFP13_VERSION]).toString('hex'), hex('04 00 0010 00000001 0001 0008 00000010'));
  assert.is(encodeEchoRequest(7, OFP13_VERSION, Buffer.from([1, 2])).toString('hex'), hex('04 02 000a 00000007 0102'));
  assert.is(encodeEchoReply(7, OFP14_VERSION).toString('hex'), hex('05 03 0008 00000007'));
  assert.is(encodeFeaturesRequest(2, OFP13_VERSION).toString('hex'), hex('04 05 0008 00000002'));
  assert.is(encodeSetConfig(3, OFP13_VERSION, 0, 0xffff).toString('hex'), hex('04 09 000c 00000003 0000 ffff'));
  assert.is(encodeBarrierRequest(5, OFP14_VERSION).toString('hex'), hex('05 14 0008 00000005'));
  assert.is(encodePortDescRequest(7, OFP13_VERSION).toString('hex'), hex('04 12 0010 00000007 000d 0000 00000000'));
  // Flow stats, all tables: table OFPTT_ALL, out_port/out_group ANY, cookie/mask 0, empty OXM match.
  assert.is(
    encodeFlowStatsRequest(6, OFP14_VERSION).toString('hex'),
    hex(
      '05 12 0038 00000006 0001 0000 00000000  ff 000000 ffffffff ffffffff 00000000 0000000000000000 0000000000000000 0001 0004 00000000',
    ),
  );
  assert.is(
    encodeFlowStatsRequest(6, OFP13_VERSION, { table: 20, cookie: 0xabn, cookieMask: 0xffn })
      .subarray(16, 48)
      .toString('hex'),
    hex('14 000000 ffffffff ffffffff 00000000 00000000000000ab 00000000000000ff'),
  );
});

test('PACKET_OUT: buffer_id, in_port, actions_len, pad, actions, data', () => {
  const b = encodePacketOut(4, OFP13_VERSION, {
    inPort: 0xfffffffd,
    actions: [{ kind: 'output', port: 1 }],
    data: buf('deadbeef'),
  });
  assert.is(
    b.toString('hex'),
    hex('04 0d 002c 00000004 ffffffff fffffffd 0010 000000000000  0000 0010 00000001 0000 000000000000  deadbeef'),
  );
});

test('BUNDLE_CONTROL requests carry id, type and flags', () => {
  assert.is(
    encodeBundleControl(10, OFP14_VERSION, 9, 'open').toString('hex'),
    hex('05 21 0010 0000000a 00000009 0000 0003'),
  );
  assert.is(
    encodeBundleControl(10, OFP14_VERSION, 9, 'close', 0).toString('hex'),
    hex('05 21 0010 0000000a 00000009 0002 0000'),
  );
  assert.is(
    encodeBundleControl(10, OFP14_VERSION, 9, 'commit').toString('hex'),
    hex('05 21 0010 0000000a 00000009 0004 0003'),
  );
  assert.is(
    encodeBundleControl(10, OFP14_VERSION, 9, 'discard', 1).toString('hex'),
    hex('05 21 0010 0000000a 00000009 0006 0001'),
  );
});

test('BUNDLE_ADD_MESSAGE wraps the whole inner FLOW_MOD (same version and xid)', () => {
  const w = new ByteWriter(16);
  writeBundledFlowMod(w, 0x11, OFP14_VERSION, 9, ARP, 'add');
  const inner = encodeFlowMod(ARP, 'add', 0x11, OFP14_VERSION);
  const got = w.toBuffer();
  assert.is(
    got.subarray(0, 16).toString('hex'),
    hex(`05 22 ${(16 + inner.length).toString(16).padStart(4, '0')} 00000011 00000009 0000 0003`),
  );
  assert.equal(got.subarray(16), inner);
});

test('encodeBundledFlowMods writes back-to-back messages with consecutive xids', () => {
  const w = new ByteWriter(16);
  const flows = [ARP, { ...ARP, priority: 51 }, { ...ARP, priority: 52 }];
  const next = encodeBundledFlowMods(w, 3, flows, 'modify_strict', OFP14_VERSION, 100);
  assert.is(next, 103);
  const msgs = new OpenFlowFramer().push(w.toBuffer());
  assert.is(msgs.length, 3);
  msgs.forEach((m, i) => {
    assert.is(m[1], OFPT.BUNDLE_ADD_MESSAGE);
    assert.is(m.readUInt32BE(4), 100 + i);
    assert.is(m.readUInt32BE(8), 3, 'bundle id');
    assert.is(m.readUInt16BE(14), BUNDLE_ATOMIC_ORDERED);
    assert.is(m[16 + 1], OFPT.FLOW_MOD);
    assert.is(m[16 + 25], 2, 'MODIFY_STRICT');
    assert.is(m.readUInt16BE(16 + 30), 50 + i, 'priority');
  });
  // A bad flow stops the batch with the earlier messages intact.
  const before = w.pos;
  assert.throws(() => encodeBundledFlowMods(w, 3, [ARP, { ...ARP, table: 300 }], 'add', OFP14_VERSION, 1));
  assert.ok(w.pos > before && (w.pos - before) % (16 + 96) === 0);
});

test('HELLO decode: bitmap, or no bitmap meaning "up to this version"; negotiation', () => {
  const withBitmap = kind(decodeMessage(msg('06 00 0000 00000001 0001 0008 00000070')), 'hello');
  assert.equal(withBitmap.versions, [4, 5, 6]);
  assert.is(withBitmap.hasBitmap, true);
  assert.is(negotiateVersion([OFP13_VERSION, OFP14_VERSION], withBitmap), OFP14_VERSION);
  const plain = kind(decodeMessage(msg('06 00 0000 00000055')), 'hello');
  assert.is(plain.hasBitmap, false);
  assert.is(negotiateVersion([OFP13_VERSION, OFP14_VERSION], plain), OFP14_VERSION, 'what OVS 3.1 sends');
  const only13 = kind(decodeMessage(msg('04 00 0000 00000001 0001 0008 00000010')), 'hello');
  assert.is(negotiateVersion([OFP13_VERSION, OFP14_VERSION], only13), OFP13_VERSION);
  const old = kind(decodeMessage(msg('01 00 0000 00000001')), 'hello');
  assert.is(negotiateVersion([OFP13_VERSION, OFP14_VERSION], old), undefined);
});

test('FEATURES_REPLY decode: datapath_id as bigint', () => {
  const f = kind(
    decodeMessage(msg('04 06 0000 00000002 00000000a1c0f100 00000100 fe 00 0000 0000004f 00000000')),
    'features_reply',
  );
  assert.is(f.datapathId, 0xa1c0f100n);
  assert.is(f.nBuffers, 256);
  assert.is(f.nTables, 254);
  assert.is(f.capabilities, 0x4f);
  assert.is(f.xid, 2);
});

test('ERROR decode names type and code and finds the failed request', () => {
  const failed = encodeFlowMod(ARP, 'add', 0x0c).subarray(0, 64);
  const full = Buffer.concat([buf('04 01 0000 0000000c 0002 0004'), failed]);
  full.writeUInt16BE(full.length, 2);
  const err = kind(decodeMessage(full), 'error');
  assert.is(err.typeName, 'OFPET_BAD_ACTION');
  assert.is(err.codeName, 'OFPBAC_BAD_OUT_PORT');
  assert.is(err.failedXid, 0x0c);
  assert.is(err.failedType, OFPT.FLOW_MOD);
  assert.is(describeError(err), 'OFPET_BAD_ACTION / OFPBAC_BAD_OUT_PORT (xid 12)');
  const bundle = kind(decodeMessage(msg('05 01 0000 00000003 0011 000d')), 'error');
  assert.is(`${bundle.typeName}/${bundle.codeName}`, 'OFPET_BUNDLE_FAILED/OFPBFC_MSG_FAILED');
  assert.is(bundle.failedXid, undefined);
  const exp = kind(decodeMessage(msg('04 01 0000 00000004 ffff 0002 00002320 0400000800000004')), 'error');
  assert.is(exp.experimenter, 0x2320);
  assert.is(exp.failedXid, 4);
  assert.match(describeError(exp), /OFPET_EXPERIMENTER.*0x2320/);
  const unknown = kind(decodeMessage(msg('04 01 0000 00000004 0063 0001')), 'error');
  assert.is(unknown.typeName, 'OFPET_99');
});

test('PACKET_IN decode (OF1.3): match with in_port, two pad bytes, then data', () => {
  const p = kind(
    decodeMessage(
      msg(
        '04 0a 0000 00000000 ffffffff 0004 01 05 0000000000000007  0001 000c 80000004 00000003 00000000  0000  deadbeef',
      ),
    ),
    'packet_in',
  );
  assert.is(p.bufferId, 0xffffffff);
  assert.is(p.totalLen, 4);
  assert.is(p.reasonName, 'action');
  assert.is(p.tableId, 5);
  assert.is(p.cookie, 7n);
  assert.is(p.inPort, 3);
  assert.equal(p.match, [{ field: 'in_port', value: 3 }]);
  assert.is(p.data.toString('hex'), 'deadbeef');
});

test('MULTIPART_REPLY decode keeps the MORE flag; port desc bodies in both versions', () => {
  const more = kind(decodeMessage(msg('05 13 0000 00000009 0001 0001 00000000 0102030405060708')), 'multipart_reply');
  assert.is(more.more, true);
  assert.is(more.mpType, 1);
  assert.is(more.body.length, 8);
  const last = kind(decodeMessage(msg('05 13 0000 00000009 0001 0000 00000000')), 'multipart_reply');
  assert.is(last.more, false);
  const name = Buffer.from('tapx'.padEnd(16, '\0')).toString('hex');
  const port13 = `00000007 00000000 020000000001 0000 ${name} 00000000 00000004 ${'00'.repeat(24)}`;
  assert.equal(
    decodePortDescs(buf(port13 + port13), OFP13_VERSION).map((p) => [p.portNo, p.name, p.hwAddr, p.state]),
    [
      [7, 'tapx', 0x020000000001, 4],
      [7, 'tapx', 0x020000000001, 4],
    ],
  );
  const port14 = `fffffffe 0048 0000 020000000002 0000 ${name} 00000001 00000000 0000 0020 ${'00'.repeat(28)}`;
  assert.equal(
    decodePortDescs(buf(port14), OFP14_VERSION).map((p) => [p.portNo, p.name, p.config]),
    [[0xfffffffe, 'tapx', 1]],
  );
  const status = kind(decodeMessage(msg(`04 0c 0000 00000000 00 00000000000000 ${port13}`)), 'port_status');
  assert.is(status.reasonName, 'add');
  assert.is(status.port.name, 'tapx');
});

test('BUNDLE_CONTROL reply decode', () => {
  const r = kind(decodeMessage(msg('05 21 0000 0000000a 00000009 0005 0003')), 'bundle_control');
  assert.is(r.ctrlTypeName, 'commit_reply');
  assert.is(r.bundleId, 9);
  assert.is(r.flags, 3);
});

test('decode errors carry codes; unknown types pass through as other', () => {
  assert.throws(
    () => decodeMessage(buf('04 00 0010 00000001')),
    (e: unknown) => e instanceof OpenFlowError && e.code === 'OF_BAD_MESSAGE',
  );
  assert.throws(
    () => decodeMessage(buf('0400')),
    (e: unknown) => e instanceof OpenFlowError && e.code === 'OF_TRUNCATED',
  );
  assert.throws(
    () => decodeMessage(msg('04 06 0000 00000002 0000')),
    (e: unknown) => e instanceof OpenFlowError && e.code === 'OF_TRUNCATED',
  );
  const other = kind(decodeMessage(msg('04 11 0000 00000001 abcd')), 'other');
  assert.is(other.type, OFPT.TABLE_MOD);
  // A short FLOW_REMOVED does not throw: it arrives unasked (flow-removed.ts).
  const removed = kind(decodeMessage(msg('04 0b 0000 00000001 abcd')), 'flow_removed');
  assert.not.ok(removed.removed.ok);
});

test.run();
