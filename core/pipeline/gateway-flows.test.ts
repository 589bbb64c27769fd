import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GROUP_TABLE, groupBuckets, type Flow } from '../flow';
import { FlowTable } from '../flowtable/table';
import type { Gateway, Vpc } from '../model';
import { formatFlow } from '../openflow/format';
import { compileAll, compileAllByOwner, compileOwner } from './compile';
import { dependents, dependentsOfTunnel } from './dependents';
import { gatewayGroupId, gatewayOwner } from './gateway-flows';
import type { MemoryView } from './memview';
import { tableNameOf } from './tables';
import { ip, mac, scenario } from './testdata';
import { ownerKey, preferOwner } from './view';

function vpc(id: string, gatewayIds: string[]): Vpc {
  return {
    kind: 'vpc',
    id,
    revision: 1,
    requestId: 'r',
    projectId: 'p',
    name: id,
    cidr: undefined,
    tunnelId: 0,
    gatewayIds,
  };
}

function zeta(id: string, nodes: [string, string][], type: Gateway['gatewayType'] = 'zeta'): Gateway {
  return {
    kind: 'gateway',
    id,
    revision: 1,
    requestId: 'r',
    gatewayType: type,
    destinations: nodes.map(([i, m]) => ({ ip: ip(i), mac: mac(m) })),
    oamPort: 8300,
  };
}

const NODES: [string, string][] = [
  ['172.16.62.251', '52:54:00:62:02:51'],
  ['172.16.62.250', '52:54:00:62:02:50'],
];

/** The golden world (VNIs 5001, 5002 in vpc1) with vpc1 on ZETA gateway zg. */
function world(): MemoryView {
  const v = scenario();
  v.put(vpc('vpc1', ['zg']));
  v.put(zeta('zg', NODES));
  return v;
}

const text = (flows: readonly Flow[]): string[] =>
  flows.map((f) => formatFlow(f, { tableNames: tableNameOf }).replace(/^cookie=[^ ,]+, /, ''));

test('a ZETA gateway: a two-bucket select group and, per VNI, flood, unknown unicast and ARP flows', () => {
  const v = world();
  const g = gatewayGroupId('zg', v);
  const flows = compileOwner(gatewayOwner('zg'), v);
  assert.equal(text(flows), [
    `group_id=${g},type=select,bucket=actions=set_field:172.16.62.250->tun_dst,set_field:52:54:00:62:02:50->eth_dst,output:100,bucket=actions=set_field:172.16.62.251->tun_dst,set_field:52:54:00:62:02:51->eth_dst,output:100`,
    'table=ArpResponder, priority=20,arp,reg0=0x1/0x3,reg6=0x1389,arp_op=1 actions=goto_table:ServiceResponder',
    `table=L2Forwarding, priority=150,reg0=0x1/0x7,reg6=0x1389,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=set_field:0x1389->tun_id,group:${g},load:0x1->NXM_NX_REG0[2],resubmit(,L2Forwarding)`,
    `table=L2Forwarding, priority=20,reg0=0x1/0x3,reg6=0x1389,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=set_field:0x1389->tun_id,group:${g}`,
    'table=ArpResponder, priority=20,arp,reg0=0x1/0x3,reg6=0x138a,arp_op=1 actions=goto_table:ServiceResponder',
    `table=L2Forwarding, priority=150,reg0=0x1/0x7,reg6=0x138a,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=set_field:0x138a->tun_id,group:${g},load:0x1->NXM_NX_REG0[2],resubmit(,L2Forwarding)`,
    `table=L2Forwarding, priority=20,reg0=0x1/0x3,reg6=0x138a,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=set_field:0x138a->tun_id,group:${g}`,
  ]);
  assert.is(flows[0]?.table, GROUP_TABLE);
  assert.is(groupBuckets(flows[0] as Flow).length, 2, 'one bucket per destination');
  assert.ok(g >= 1 && g <= 0x7ffffffe);
});

test('VPCs without a ZETA gateway compile exactly as before', () => {
  const before = text(compileAll(scenario()));
  for (const setup of [
    (v: MemoryView) => v.put(vpc('vpc1', [])),
    (v: MemoryView) => v.put(zeta('zg', NODES)),
    (v: MemoryView) => (v.put(vpc('vpc1', ['zg'])), v.put(zeta('zg', NODES, 'default'))),
    (v: MemoryView) => (v.put(vpc('vpc1', ['zg'])), v.put(zeta('zg', []))),
    (v: MemoryView) => (v.put(vpc('other', ['zg'])), v.put(zeta('zg', NODES))),
    (v: MemoryView) => v.put(vpc('vpc1', ['missing'])),
  ]) {
    const v = scenario();
    setup(v);
    assert.equal(text(compileAll(v)), before);
  }
  const v = world();
  v.tunnelOfport = undefined;
  assert.equal(compileOwner(gatewayOwner('zg'), v), [], 'no tunnel port: nothing');
});

test('group ids: deterministic, independent of arrival order, probed past a collision', () => {
  const a = world();
  a.put(zeta('zz', NODES));
  const b = scenario();
  b.put(zeta('zz', NODES));
  b.put(zeta('zg', NODES));
  b.put(vpc('vpc1', ['zg']));
  assert.is(gatewayGroupId('zg', a), gatewayGroupId('zg', b));
  assert.is.not(gatewayGroupId('zg', a), gatewayGroupId('zz', a));
  // Two ids with one FNV-1a hash: the second sorted one moves on by one.
  const v = scenario();
  const [x, y] = ['costarring', 'liquid'];
  v.put(zeta(x, NODES));
  v.put(zeta(y, NODES));
  assert.is(gatewayGroupId(y, v), (gatewayGroupId(x, v) % 0x7ffffffe) + 1);
});

test('dependents: a VPC change recompiles its old and new gateways; gateways follow the tunnel', () => {
  const v = world();
  const keys = (os: { kind: string; id: string }[]): string[] => os.map((o) => `${o.kind}:${o.id}`);
  assert.equal(keys(dependents({ before: vpc('vpc1', ['old']), after: vpc('vpc1', ['zg']) }, v)), [
    'gateway:old',
    'gateway:zg',
  ]);
  assert.equal(keys(dependents({ before: undefined, after: zeta('zg', NODES) }, v)), ['gateway:zg']);
  assert.ok(keys(dependentsOfTunnel(v)).includes('gateway:zg'));
  const s = v.subnet('s1');
  assert.ok(s !== undefined && keys(dependents({ before: s, after: s }, v)).includes('gateway:zg'));
  assert.ok(preferOwner('flood:1', 'gateway:zg') < 0);
});

test('flow table: new destinations modify the group in place; leaving the VPC deletes flows and group', () => {
  const v = world();
  const t = new FlowTable({ preferOwner });
  t.apply(compileAllByOwner(v).map((o) => ({ owner: ownerKey(o.owner), flows: o.flows })));
  const owner = ownerKey(gatewayOwner('zg'));
  v.put(zeta('zg', [...NODES, ['172.16.62.252', '52:54:00:62:02:52']]));
  const changed = t.apply([{ owner, flows: compileOwner(gatewayOwner('zg'), v) }]);
  assert.is(changed.add.length + changed.delete.length, 0);
  assert.is(changed.modify.length, 1);
  assert.is(groupBuckets(changed.modify[0] as Flow).length, 3);
  v.put(vpc('vpc1', []));
  const gone = t.apply([{ owner, flows: compileOwner(gatewayOwner('zg'), v) }]);
  assert.is(gone.delete.length, 7, 'the group and 3 flows per VNI');
  assert.equal(text(t.reconcile([]).add).sort(), text(compileAll(scenario())).sort());
});

test.run();
