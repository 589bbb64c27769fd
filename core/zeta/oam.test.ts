import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFlowMod, formatFlow } from '../openflow';
import { tableNameOf } from '../pipeline/tables';
import { directPathFlow, directPathKey, isDirectPathCookie } from './direct-path';
import { encodeOam, judgeOam, parseOam, type OamDeletion, type OamInjection } from './oam';

const INJECT: OamInjection = {
  op: 'inject',
  srcIp: 0x0adb000b, // 10.219.0.11
  dstIp: 0x0adb0062, // 10.219.0.98
  srcPort: 0,
  dstPort: 0,
  proto: 1,
  vni: 1001,
  instIp: 0x0adb0063,
  instMac: 0x020000190063,
  nodeIp: 0xc0000233,
  nodeMac: 0x02000005e0051,
  idleTimeout: 30,
};

test('an injection and a deletion parse back to what was encoded', () => {
  assert.equal(parseOam(encodeOam(INJECT)), INJECT);
  const del: OamDeletion = { op: 'delete', srcIp: 1, dstIp: 2, srcPort: 80, dstPort: 8080, proto: 6, vni: 0xabcdef };
  assert.equal(parseOam(encodeOam(del)), del);
  // C struct padding after the fields is ignored.
  assert.equal(parseOam(new Uint8Array([...encodeOam(INJECT), 0, 0])), INJECT);
});

test('byte order: network order except the idle timeout (host order, as ACA reads it)', () => {
  const b = encodeOam(INJECT);
  assert.equal([...b.subarray(0, 4)], [0, 0, 0, 0]);
  assert.equal([...b.subarray(17, 20)], [0x00, 0x03, 0xe9]);
  assert.equal([...b.subarray(40, 42)], [30, 0]);
});

test('drops: short, unknown op code, bad values, and messages for another port or VNI', () => {
  const b = encodeOam(INJECT);
  assert.equal(parseOam(b.subarray(0, 19)), { op: 'drop', reason: 'truncated' });
  assert.equal(parseOam(b.subarray(0, 41)), { op: 'drop', reason: 'truncated' });
  const op2 = b.slice();
  op2[3] = 2;
  assert.equal(parseOam(op2), { op: 'drop', reason: 'unknown_op' });
  const proto = b.slice();
  proto[16] = 99;
  assert.equal(parseOam(proto), { op: 'drop', reason: 'bad_value' });
  const noNode = encodeOam({ ...INJECT, nodeIp: 0 });
  assert.equal(parseOam(noNode), { op: 'drop', reason: 'bad_value' });
  const ports = (vni: number): number | undefined => (vni === 1001 ? 8300 : undefined);
  assert.equal(judgeOam(parseOam(b), 8300, ports), INJECT);
  assert.equal(judgeOam(parseOam(b), 8301, ports), { op: 'drop', reason: 'wrong_port' });
  assert.equal(judgeOam(parseOam(encodeOam({ ...INJECT, vni: 7 })), 8300, ports), {
    op: 'drop',
    reason: 'unknown_vni',
  });
});

test('the direct-path flow: ACA match and rewrites, its own cookie family, encodable with an idle timeout', () => {
  const f = directPathFlow(INJECT, 100);
  assert.ok(isDirectPathCookie(f.cookie));
  assert.is(
    formatFlow(f, { tableNames: tableNameOf }).replace(/^cookie=[^ ,]+, /, ''),
    'table=L2Forwarding, priority=50,icmp,reg0=0x1/0x3,reg6=0x3e9,nw_src=10.219.0.11,nw_dst=10.219.0.98 actions=set_field:0x3e9->tun_id,set_field:192.0.2.51->tun_dst,set_field:02:00:00:19:00:63->eth_dst,set_field:10.219.0.99->ip_dst,output:100',
  );
  const tcp = directPathFlow({ ...INJECT, proto: 6, srcPort: 0, dstPort: 80 }, 100);
  assert.equal(
    tcp.match.map((m) => m.field),
    ['reg0', 'reg6', 'eth_type', 'ip_proto', 'ipv4_src', 'ipv4_dst', 'tcp_dst'],
  );
  assert.equal(directPathKey(INJECT).match, f.match);
  const bytes = encodeFlowMod(f, 'add', 1, undefined, { idleTimeout: 30 });
  assert.is((bytes[26] << 8) | bytes[27], 30, 'idle_timeout');
  assert.throws(() => encodeFlowMod(f, 'add', 1, undefined, { idleTimeout: 70000 }), /idle timeout/);
});

test.run();
