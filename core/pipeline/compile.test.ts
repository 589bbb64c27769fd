import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Flow, flowKey } from '../flow';
import { FlowTable } from '../flowtable/table';
import { fastFlowKey } from '../flowtable/key';
import type { Resource } from '../model';
import { formatFlows as formatFlowLines } from '../openflow/format';
import { compileAll, compileAllByOwner, compileOwner, compileResource } from './compile';
import { compilePort } from './port-flows';
import { compileNeighbor } from './remote-neighbor-flows';
import { encodeCookie } from './cookie';
import { dependents, dependentsOfOfport, dependentsOfTunnel, type ResourceChange } from './dependents';
import { GOLDEN } from './golden';
import { MemoryView } from './memview';
import { Priority } from './priorities';
import { TABLES, TABLE_LIST, tableById, tableNameOf } from './tables';
import { neighbor, port, router, rule, scenario, securityGroup, subnet } from './testdata';
import { ownerKey, preferOwner, type OwnerRef } from './view';

function must<T>(x: T | undefined): T {
  if (x === undefined) throw new Error('fixture missing');
  return x;
}

/** Flows as sorted lines with the pipeline's table names (core/openflow/format.ts). */
const formatFlows = (flows: Iterable<Flow>): string[] => formatFlowLines(flows, { tableNames: tableNameOf });
const strip = (lines: string[]): string[] => lines.map((l) => l.replace(/^cookie=[^ ,]+, /, ''));

test('golden flows for every owner (infra, ports, flood, router, neighbors)', () => {
  const got: Record<string, string[]> = {};
  for (const o of compileAllByOwner(scenario())) got[ownerKey(o.owner)] = strip(formatFlows(o.flows));
  assert.equal(Object.keys(got).sort(), Object.keys(GOLDEN).sort());
  for (const [owner, lines] of Object.entries(GOLDEN)) assert.equal(got[owner], lines, owner);
});

test("every flow carries its owner's cookie", () => {
  for (const o of compileAllByOwner(scenario())) {
    const c = encodeCookie(o.owner.kind, o.owner.id);
    for (const f of o.flows) assert.is(f.cookie, c, ownerKey(o.owner));
  }
});

test('matches are canonical (fast key == flowKey) and keys are unique across owners', () => {
  const seen = new Map<string, string>();
  for (const o of compileAllByOwner(scenario())) {
    for (const f of o.flows) {
      const k = flowKey(f);
      assert.is(fastFlowKey(f), k);
      assert.not.ok(seen.has(k), `${k} owned by ${seen.get(k)} and ${ownerKey(o.owner)}`);
      seen.set(k, ownerKey(o.owner));
    }
  }
});

test('every goto and resubmit names a declared table; goto only goes forward', () => {
  for (const f of compileAll(scenario())) {
    assert.ok(tableById(f.table), `table ${f.table}`);
    if (f.goto !== undefined) {
      assert.ok(tableById(f.goto), `goto ${f.goto}`);
      assert.ok(f.goto > f.table, `goto ${f.goto} from ${f.table}`);
    }
    for (const a of f.actions)
      if (a.kind === 'resubmit' || (a.kind === 'ct' && a.table !== undefined)) assert.ok(tableById(a.table ?? -1));
  }
  assert.is(
    compileAll(scenario()).filter((f) => f.priority === 0).length,
    TABLE_LIST.length,
    'one miss flow per table',
  );
});

test("arpAnswers 'none' drops exactly the ArpResponder answer flows (ports, neighbors, gateways)", () => {
  const isAnswer = (f: { table: number; priority: number }): boolean =>
    f.table === TABLES.ArpResponder.id && f.priority === Priority.Normal;
  const withFlows = compileAllByOwner(scenario());
  const v = scenario();
  v.arpAnswers = 'none';
  const without = compileAllByOwner(v);
  const answeredBy = new Set<string>();
  for (const o of withFlows) if (o.flows.some(isAnswer)) answeredBy.add(o.owner.kind);
  assert.equal([...answeredBy].sort(), ['neighbor', 'port', 'router']);
  assert.equal(
    without.map((o) => [ownerKey(o.owner), formatFlows(o.flows)]),
    withFlows.map((o) => [ownerKey(o.owner), formatFlows(o.flows.filter((f) => !isAnswer(f)))]),
  );
  // The rest of the ArpResponder table stays: miss, punt, probe and own-IP skips.
  const arpTable = without.flatMap((o) => o.flows).filter((f) => f.table === TABLES.ArpResponder.id);
  assert.ok(arpTable.some((f) => f.priority === Priority.Miss));
  assert.ok(arpTable.some((f) => f.priority === Priority.Punt));
  assert.ok(arpTable.filter((f) => f.priority === Priority.High).length >= 2);
});

test('determinism: same input gives the same flows in the same order, whatever the insertion order', () => {
  const a = compileAll(scenario());
  const b = compileAll(scenario());
  assert.equal(a, b);
  const v = scenario();
  const reversed = new MemoryView({ localTunnelIp: v.localTunnelIp, tunnelOfport: v.tunnelOfport });
  const all: Resource[] = [
    ...v.subnets.values(),
    ...v.securityGroups(),
    ...v.ports(),
    ...v.neighbors(),
    ...v.routers(),
  ];
  for (const r of all.reverse()) reversed.put(r);
  for (const [k, o] of v.ofports) reversed.ofports.set(k, o);
  assert.equal(formatFlows(compileAll(reversed)), formatFlows(a));
});

test('a port compiles nothing until its interface exists, when admin-down, or when its subnet is unknown', () => {
  const v = scenario();
  const p3 = v.port('p3');
  assert.ok(p3);
  if (p3 === undefined) return;
  assert.equal(compilePort(p3, v), []);
  v.ofports.set('p3', 7);
  assert.ok(compilePort(p3, v).length > 0);
  assert.equal(compilePort({ ...p3, adminStateUp: false }, v), []);
  assert.equal(compilePort({ ...p3, fixedIps: [{ subnetId: 'nope', ip: 1 }] }, v), []);
  assert.equal(compilePort({ ...p3, fixedIps: [] }, v), []);
});

test('a port whose security groups are not held gets conntrack but no accept rules (default deny)', () => {
  const v = scenario();
  v.put(port('p9', { mac: '02:00:00:00:00:09', ips: [['s1', '10.0.1.99']], sgs: ['missing'] }));
  v.ofports.set('p9', 9);
  const sg = strip(formatFlows(compileOwner({ kind: 'port', id: 'p9' }, v))).filter((l) => l.includes('Sg'));
  assert.equal(
    sg.filter((l) => l.startsWith('table=EgressSg') || l.startsWith('table=IngressSg')),
    [
      'table=EgressSgConntrack, priority=100,ip,in_port=9 actions=ct(table=EgressSgRules,zone=9)',
      'table=IngressSgConntrack, priority=100,ip,reg7=0x9 actions=ct(table=IngressSgRules,zone=9)',
    ],
  );
});

test('remote group with no members gives no flows; bad port range gives no flows, no crash', () => {
  const v = new MemoryView({ localTunnelIp: 1, tunnelOfport: 100 });
  v.put(subnet('s', { cidr: '10.0.0.0/24', vni: 9 }));
  v.put(
    securityGroup('g', [
      rule('a', { direction: 'egress', remoteGroupId: 'empty' }),
      rule('b', { direction: 'egress', protocol: 'tcp', portMin: 9, portMax: 3 }),
    ]),
  );
  v.put(port('p', { mac: '02:00:00:00:00:01', ips: [['s', '10.0.0.2']], sgs: ['g'] }));
  v.ofports.set('p', 5);
  const rules = compilePort(must(v.port('p')), v).filter((f) => f.table === 41);
  assert.equal(rules, []);
});

test('neighbors: nothing for one on this host or without a tunnel port; subnet missing skips that IP', () => {
  const v = scenario();
  assert.equal(compileOwner({ kind: 'neighbor', id: 'n2' }, v), []);
  const n1 = must(v.neighbor('n1'));
  assert.is(compileNeighbor(n1, v).length, 5);
  v.tunnelOfport = undefined;
  assert.equal(compileNeighbor(n1, v), []);
  v.tunnelOfport = 100;
  const lost = neighbor('nx', {
    mac: '02:00:00:00:01:09',
    host: '192.0.2.9',
    ips: [{ subnetId: 'gone', ip: '10.9.9.9' }],
  });
  assert.equal(compileNeighbor(lost, v), []);
});

test('an L2 neighbor is exactly 2 flows: L2 to the tunnel and an ARP responder entry', () => {
  const v = scenario();
  const n = neighbor('n7', { mac: '02:00:00:00:07:07', host: '192.0.2.7', ips: [{ subnetId: 's1', ip: '10.0.1.77' }] });
  assert.equal(strip(formatFlows(compileNeighbor(n, v))), [
    'table=ArpResponder, priority=100,arp,reg6=0x1389,arp_tpa=10.0.1.77,arp_op=1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:02:00:00:00:07:07->eth_src,set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:02:00:00:00:07:07->arp_sha,set_field:10.0.1.77->arp_spa,IN_PORT',
    'table=L2Forwarding, priority=100,reg0=0x1/0x3,reg6=0x1389,dl_dst=02:00:00:00:07:07 actions=set_field:0x1389->tun_id,set_field:192.0.2.7->tun_dst,output:100',
  ]);
});

test('resources without flows of their own compile to nothing; gone owners compile to nothing', () => {
  const v = scenario();
  const s1 = must(v.subnet('s1'));
  assert.equal(compileResource(s1, v), []);
  assert.equal(compileResource(must(v.securityGroup('web')), v), []);
  assert.ok(compileResource(must(v.router('r1')), v).length > 0);
  for (const kind of ['port', 'neighbor', 'router'] as const) assert.equal(compileOwner({ kind, id: 'nope' }, v), []);
  assert.equal(compileOwner({ kind: 'flood', id: '424242' }, v), []);
});

test('DVR: routing to a remote L3 neighbor leaves with the DVR MAC; the receiver restores the gateway MAC', () => {
  const lines = strip(formatFlows(compileAll(scenario())));
  const has = (s: string): void => assert.ok(lines.includes(s), s);
  has(
    'table=L3Routing, priority=340,ip,reg6=0x1389,dl_dst=fa:16:3e:00:01:01,nw_dst=10.0.2.0/24 actions=dec_ttl,set_field:fe:16:11:00:00:00->eth_src,load:0x138a->NXM_NX_REG6[],goto_table:L3Resolve',
  );
  has(
    'table=L3Resolve, priority=100,ip,reg6=0x138a,nw_dst=10.0.2.20 actions=set_field:02:00:00:00:01:01->eth_dst,goto_table:L2Forwarding',
  );
  has(
    'table=L2Forwarding, priority=100,reg0=0x1/0x3,reg6=0x138a,dl_dst=02:00:00:00:01:01 actions=set_field:0x138a->tun_id,set_field:192.0.2.2->tun_dst,output:100',
  );
  has(
    'table=Classifier, priority=200,ip,tun_id=0x1389,in_port=100,dl_src=fe:16:11:00:00:00,nw_dst=10.0.1.0/24 actions=set_field:fa:16:3e:00:01:01->eth_src,load:0x1389->NXM_NX_REG6[],load:0x2->NXM_NX_REG0[0..1],goto_table:L2Forwarding',
  );
  // A local destination gets the gateway MAC of its subnet as source right away.
  has(
    'table=L3Resolve, priority=100,ip,reg6=0x1389,nw_dst=10.0.1.10 actions=set_field:02:00:00:00:00:01->eth_dst,set_field:fa:16:3e:00:01:01->eth_src,goto_table:L2Forwarding',
  );
});

// ---- dependents: incremental recompilation reaches the same table as a full compile ------------

function freshTable(v: MemoryView): FlowTable {
  const t = new FlowTable({ preferOwner });
  t.apply(compileAllByOwner(v).map((o) => ({ owner: ownerKey(o.owner), flows: o.flows })));
  return t;
}

function recompile(t: FlowTable, owners: readonly OwnerRef[], v: MemoryView): void {
  t.apply(owners.map((o) => ({ owner: ownerKey(o), flows: compileOwner(o, v) })));
}

function sameAsFull(t: FlowTable, v: MemoryView, what: string): void {
  assert.equal(formatFlows(t.flows()), formatFlows(freshTable(v).flows()), what);
}

function change(v: MemoryView, after: Resource): ResourceChange {
  return { before: v.put(after), after };
}

test('dependents: every kind of change, recompiled incrementally, equals a full recompile', () => {
  const v = scenario();
  const t = freshTable(v);
  const step = (what: string, c: ResourceChange): void => {
    recompile(t, dependents(c, v), v);
    sameAsFull(t, v, what);
  };
  const s1 = must(v.subnet('s1'));
  step('subnet gateway MAC changes', change(v, { ...s1, gateway: { ip: s1.gateway?.ip ?? 0, mac: 0xfa163e000199 } }));
  step('subnet VNI changes', change(v, { ...(v.subnet('s1') ?? s1), tunnelId: 6001 }));
  const web = must(v.securityGroup('web'));
  step('SG rules change', change(v, { ...web, rules: web.rules.slice(1) }));
  const p2 = must(v.port('p2'));
  step('port joins a remote group', change(v, { ...p2, securityGroupIds: ['web'] }));
  const p3 = must(v.port('p3'));
  step('remote member changes IP', change(v, { ...p3, fixedIps: [{ subnetId: 's2', ip: 0x0a000263 }] }));
  v.ofports.set('p3', 12);
  recompile(t, dependentsOfOfport('p3', v), v);
  sameAsFull(t, v, 'port interface appears');
  const r1 = must(v.router('r1'));
  step('router loses a subnet', change(v, { ...r1, subnets: r1.subnets.slice(0, 1) }));
  step('router gets it back', change(v, r1));
  const n1 = must(v.neighbor('n1'));
  step('neighbor moves host', change(v, { ...n1, hostIp: 0xc0000263 }));
  step('port deleted', { before: v.remove('port', 'p1'), after: undefined });
  step('neighbor deleted', { before: v.remove('neighbor', 'n3'), after: undefined });
  step('new port in a new subnet', change(v, subnet('s3', { cidr: '10.0.3.0/24', vni: 5003 })));
  step('new port', change(v, port('p5', { mac: '02:00:00:00:00:05', ips: [['s3', '10.0.3.5']] })));
  v.ofports.set('p5', 15);
  recompile(t, dependentsOfOfport('p5', v), v);
  sameAsFull(t, v, 'p5 interface appears');
  step('router created', change(v, router('r2', 'fe:16:11:00:00:00', [{ subnetId: 's3' }])));
  v.tunnelOfport = 200;
  recompile(t, dependentsOfTunnel(v), v);
  sameAsFull(t, v, 'tunnel port renumbered');
});

test('dependents: a neighbor change recompiles only that neighbor', () => {
  const v = scenario();
  const n1 = must(v.neighbor('n1'));
  assert.equal(dependents({ before: n1, after: { ...n1, hostIp: 5 } }, v), [{ kind: 'neighbor', id: 'n1' }]);
});

test('dependents: subnet change reaches ports, neighbors, routers and floods', () => {
  const v = scenario();
  const s1 = must(v.subnet('s1'));
  const got = dependents({ before: s1, after: { ...s1, tunnelId: 9 } }, v)
    .map(ownerKey)
    .sort();
  assert.equal(got, [
    'flood:5001',
    'flood:9',
    'neighbor:n1',
    'neighbor:n2',
    'neighbor:n3',
    'port:p1',
    'port:p2',
    'router:r1',
  ]);
});

test.run();
