import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GROUP_TABLE, type Flow } from '../flow';
import { encodeActions } from './actions';
import { OFP14_VERSION, OFPT } from './constants';
import { formatGroup } from './format';
import { decodeGroupDescs, encodeGroupDescRequest, writeGroupMod } from './groupmod';
import { ByteWriter } from './writer';

const BUCKET_A = [
  { kind: 'set_field', field: 'tun_ipv4_dst', value: 0xc000020a },
  { kind: 'output', port: 100 },
] as const;
const BUCKET_B = [
  { kind: 'set_field', field: 'tun_ipv4_dst', value: 0xc000020b },
  { kind: 'output', port: 100 },
] as const;

const entry: Flow = {
  table: GROUP_TABLE,
  priority: 9,
  cookie: 1n,
  match: [],
  actions: [{ kind: 'bucket' }, ...BUCKET_A, { kind: 'bucket' }, ...BUCKET_B],
};

function hex(w: ByteWriter): string {
  return Buffer.from(w.view()).toString('hex');
}

function actionsHex(actions: Flow['actions']): string {
  const w = new ByteWriter(64);
  encodeActions(w, actions);
  return hex(w);
}

test('GROUP_MOD: header, command, select type, group id, then one ofp_bucket per bucket', () => {
  const w = new ByteWriter(64);
  writeGroupMod(w, entry, 'add_or_mod', 7, OFP14_VERSION);
  const a = actionsHex(BUCKET_A);
  const b = actionsHex(BUCKET_B);
  const bucket = (acts: string): string =>
    (16 + acts.length / 2).toString(16).padStart(4, '0') + '0001' + 'ffffffff' + 'ffffffff' + '00000000' + acts;
  const body = '8000' + '01' + '00' + '00000009' + bucket(a) + bucket(b);
  const len = 8 + body.length / 2;
  assert.is(
    hex(w),
    '05' + OFPT.GROUP_MOD.toString(16).padStart(2, '0') + len.toString(16).padStart(4, '0') + '00000007' + body,
  );
});

test('GROUP_MOD delete carries no bucket; modify is command 1', () => {
  const w = new ByteWriter(64);
  writeGroupMod(w, entry, 'delete', 1, OFP14_VERSION);
  assert.is(hex(w), '050f001000000001' + '0002' + '01' + '00' + '00000009');
  const m = new ByteWriter(64);
  writeGroupMod(m, entry, 'modify', 1, OFP14_VERSION);
  assert.is(hex(m).slice(16, 20), '0001');
});

test('GROUP_MOD refuses a flow and an out-of-range group id, writing nothing', () => {
  const w = new ByteWriter(64);
  assert.throws(() => writeGroupMod(w, { ...entry, table: 60 }, 'add', 1, OFP14_VERSION), /group table/);
  assert.throws(() => writeGroupMod(w, { ...entry, priority: 0xffffff01 }, 'add', 1, OFP14_VERSION), /group id/);
  assert.is(w.pos, 0);
});

test('a group entry prints as ovs-ofctl dump-groups does', () => {
  assert.is(
    formatGroup(entry),
    'group_id=9,type=select,bucket=actions=set_field:192.0.2.10->tun_dst,output:100,bucket=actions=set_field:192.0.2.11->tun_dst,output:100',
  );
});

/** The ofp_group_desc of a group entry: its GROUP_MOD body with the command's place taken by the length. */
function groupDesc(e: Flow): Buffer {
  const w = new ByteWriter(128);
  writeGroupMod(w, e, 'add', 1, OFP14_VERSION);
  const body = Buffer.from(w.view().subarray(8));
  body.writeUInt16BE(body.length, 0);
  return body;
}

test('GROUP_DESC: the request has no body; a reply body gives each group id, type and bucket count', () => {
  assert.is(
    encodeGroupDescRequest(3, OFP14_VERSION).toString('hex'),
    '0512001000000003' + '0007' + '0000' + '00000000',
  );
  const one = { ...entry, priority: 1, actions: [{ kind: 'bucket' }, ...BUCKET_A] } as Flow;
  const body = Buffer.concat([groupDesc(entry), groupDesc(one)]);
  assert.equal(decodeGroupDescs(body), [
    { groupId: 9, type: 1, buckets: 2 },
    { groupId: 1, type: 1, buckets: 1 },
  ]);
  assert.equal(decodeGroupDescs(new Uint8Array(0)), []);
  assert.throws(() => decodeGroupDescs(body.subarray(0, body.length - 3)), /out of range|truncated/);
  const badBucket = Buffer.from(body);
  badBucket.writeUInt16BE(4, 8);
  assert.throws(() => decodeGroupDescs(badBucket), /ofp_bucket length 4/);
});

test.run();
