import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationStatus, OperationType, ResourceType } from '../../proto';
import type { Port } from '../model';
import { fromGoalState, fromGoalStateV2 } from './normalize';
import { ResourceStore, StoreError } from './store';
import type { ApplyPlan } from './store';
import { dhcp, gateway, neighbor, port, router, securityGroup, subnet, v1, v2, vpc } from './testkit';
import type { Entry } from './testkit';

const { SUCCESS } = OperationStatus;
const { CREATE, UPDATE, INFO, GET, DELETE } = OperationType;

function planV2(store: ResourceStore, entries: Entry[]): ApplyPlan {
  return store.plan(fromGoalStateV2(v2(entries)));
}

function apply(store: ResourceStore, entries: Entry[]): ApplyPlan {
  const plan = planV2(store, entries);
  store.commit(plan);
  return plan;
}

function codes(plan: ApplyPlan): string[] {
  return plan.statuses.map((s) => `${s.resourceId}:${OperationStatus[s.status]}`);
}

function changed(plan: ApplyPlan): string[] {
  return plan.changes.map(
    (c) => `${c.after === undefined ? '-' : c.before === undefined ? '+' : '~'}${c.kind}:${c.id}`,
  );
}

function storeWithSubnet(): ResourceStore {
  const store = new ResourceStore();
  apply(store, [subnet('sn1'), subnet('sn2', { cidr: '10.0.2.0/24', tunnelId: 30 })]);
  return store;
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e: unknown) {
    if (e instanceof StoreError) return e.code;
    throw e;
  }
  return 'none';
}

test('a goal state of every kind plans one status per op, in op order, and commits', () => {
  const store = new ResourceStore();
  const plan = planV2(store, [
    vpc('vpc1'),
    subnet('sn1'),
    port('p1'),
    neighbor('n1'),
    securityGroup('sg1'),
    dhcp('d1'),
    router('r1'),
    gateway('g1'),
  ]);
  assert.equal(codes(plan), [
    'vpc1:SUCCESS',
    'sn1:SUCCESS',
    'sg1:SUCCESS',
    'g1:SUCCESS',
    'r1:SUCCESS',
    'p1:SUCCESS',
    'n1:SUCCESS',
    'd1:SUCCESS',
  ]);
  assert.equal(plan.statuses[5], {
    resourceId: 'p1',
    resourceType: ResourceType.PORT,
    operationType: CREATE,
    status: SUCCESS,
    reason: '',
  });
  assert.equal(changed(plan), [
    '+vpc:vpc1',
    '+subnet:sn1',
    '+securityGroup:sg1',
    '+gateway:g1',
    '+router:r1',
    '+port:p1',
    '+neighbor:n1',
    '+dhcp:d1',
  ]);
  assert.is(store.size('port'), 0, 'plan does not change the store');
  assert.is(store.generation, 0);
  store.commit(plan);
  assert.is(store.generation, 1);
  for (const k of ['vpc', 'subnet', 'port', 'neighbor', 'securityGroup', 'dhcp', 'router', 'gateway'] as const)
    assert.is(store.size(k), 1, k);
  assert.is(store.port('p1')?.mac, 0xfa163e000001);
  assert.is(store.get('subnet', 'sn1')?.tunnelId, 20);
  assert.is(store.router('r1')?.dvrMac, 0xfe1611000000);
  assert.is(store.dvrMac(), 0xfe1611000000);
  assert.equal([...store.portsInSubnet('sn1')], ['p1']);
  assert.equal([...store.portsInSecurityGroup('sg1')], ['p1']);
  assert.equal([...store.routersForSubnet('sn1')], ['r1']);
  assert.equal(
    [...store.values('neighbor')].map((n) => n.id),
    ['n1'],
  );
});

test('plan() leaves the store exactly as it was', () => {
  const store = storeWithSubnet();
  apply(store, [port('p1'), neighbor('n1'), router('r1'), dhcp('d1')]);
  const before = JSON.stringify(store.snapshot());
  const plan = planV2(store, [
    subnet('sn1', {}, DELETE),
    subnet('sn5', { cidr: '10.0.5.0/24', tunnelId: 50 }),
    port('p1', { name: 'x' }, UPDATE),
    port('p2'),
    neighbor('n1', {}, DELETE),
    router('r1', {}, DELETE),
    dhcp('d1', { ipv4Address: '10.0.1.9' }, UPDATE),
  ]);
  assert.ok(plan.changes.length >= 5);
  assert.is(JSON.stringify(store.snapshot()), before);
  assert.equal([...store.portsInSubnet('sn1')], ['p1']);
  assert.equal([...store.routersForSubnet('sn1')], ['r1']);
  assert.is(store.generation, 2);
});

test('invalid ops become INVALID_ARG statuses with the normalizer reason and change nothing', () => {
  const store = storeWithSubnet();
  const plan = planV2(store, [port('p1', { macAddress: 'nope' }), port('p2')]);
  assert.equal(codes(plan), ['p1:INVALID_ARG', 'p2:SUCCESS']);
  assert.match(plan.statuses[0]?.reason ?? '', "mac_address 'nope' is not a MAC");
  assert.equal(changed(plan), ['+port:p2']);
});

test('idempotent: the same port CREATE twice is SUCCESS twice, the second with no change', () => {
  const store = storeWithSubnet();
  apply(store, [port('p1')]);
  const again = apply(store, [port('p1')]);
  assert.equal(codes(again), ['p1:SUCCESS']);
  assert.equal(again.changes, []);
  assert.equal(again.touches, []);
  // Same content under a newer revision: no change, but the held revision moves on.
  const newer = apply(store, [port('p1', { revisionNumber: 5, requestId: 'other' })]);
  assert.equal(codes(newer), ['p1:SUCCESS']);
  assert.equal(newer.changes, []);
  assert.is(store.port('p1')?.revision, 5);
  assert.equal(codes(planV2(store, [port('p1', { revisionNumber: 4, name: 'changed' })])), ['p1:OUT_OF_ORDER']);
});

test('revision ordering: an older revision is OUT_OF_ORDER and changes nothing; 0 means unordered', () => {
  const store = storeWithSubnet();
  apply(store, [port('p1', { revisionNumber: 5, name: 'v5' })]);
  const old = planV2(store, [port('p1', { revisionNumber: 4, name: 'v4' })]);
  assert.equal(codes(old), ['p1:OUT_OF_ORDER']);
  assert.match(old.statuses[0]?.reason ?? '', 'revision 4 is older than the held revision 5');
  assert.equal(old.changes, []);
  const oldDelete = planV2(store, [port('p1', { revisionNumber: 3 }, DELETE)]);
  assert.equal(codes(oldDelete), ['p1:OUT_OF_ORDER']);
  assert.equal(oldDelete.changes, []);
  assert.equal(
    codes(apply(store, [port('p1', { revisionNumber: 5, name: 'v5b' })])),
    ['p1:SUCCESS'],
    'equal revision applies',
  );
  assert.is(store.port('p1')?.name, 'v5b');
  assert.equal(
    codes(apply(store, [port('p1', { revisionNumber: 0, name: 'unordered' })])),
    ['p1:SUCCESS'],
    'revision 0 in the op: no ordering',
  );
  assert.is(store.port('p1')?.name, 'unordered');
  assert.equal(
    codes(apply(store, [port('p1', { revisionNumber: 1, name: 'after-0' })])),
    ['p1:SUCCESS'],
    'revision 0 held: no ordering',
  );
  assert.is(store.port('p1')?.name, 'after-0');
});

test('GET reads and never changes anything', () => {
  const store = storeWithSubnet();
  apply(store, [port('p1')]);
  const plan = planV2(store, [port('p1', { name: 'different' }, GET), port('p2', {}, GET)]);
  assert.equal(codes(plan), ['p1:SUCCESS', 'p2:FAILURE']);
  assert.match(plan.statuses[1]?.reason ?? '', "port 'p2' is not held");
  assert.equal(plan.changes, []);
  store.commit(plan);
  assert.is(store.port('p1')?.name, 'port-p1');
});

test('DELETE removes; unknown resources are SUCCESS except routers (FAILURE)', () => {
  const store = storeWithSubnet();
  apply(store, [port('p1'), router('r1')]);
  const plan = apply(store, [
    port('p1', {}, DELETE),
    port('ghost', {}, DELETE),
    neighbor('ghost', {}, DELETE),
    router('r1', {}, DELETE),
    router('ghost-r', {}, DELETE),
  ]);
  assert.equal(codes(plan), ['ghost-r:FAILURE', 'r1:SUCCESS', 'ghost:SUCCESS', 'p1:SUCCESS', 'ghost:SUCCESS']);
  assert.match(plan.statuses[0]?.reason ?? '', "router 'ghost-r' is not held");
  assert.is(store.port('p1'), undefined);
  assert.is(store.router('r1'), undefined);
  assert.is(store.portsInSubnet('sn1').size, 0);
  assert.is(store.routersForSubnet('sn1').size, 0);
  assert.is(store.dvrMac(), undefined);
});

test('a port whose subnet is unknown fails and nothing of it is planned', () => {
  const store = new ResourceStore();
  const plan = planV2(store, [
    port('p1', { fixedIps: [{ subnetId: 'nope', ipAddress: '10.0.1.5' }] }),
    port('p2', { fixedIps: [] }),
  ]);
  assert.equal(codes(plan), ['p1:FAILURE', 'p2:INVALID_ARG']);
  assert.match(
    plan.statuses[0]?.reason ?? '',
    "fixed_ips[0] names subnet 'nope', which is neither in this goal state nor held",
  );
  assert.equal(plan.changes, []);
});

test('fixed IPs and DHCP addresses outside their subnet are INVALID_ARG', () => {
  const store = storeWithSubnet();
  const plan = planV2(store, [
    port('p1', { fixedIps: [{ subnetId: 'sn1', ipAddress: '10.0.2.5' }] }),
    neighbor('n1', {
      fixedIps: [
        { subnetId: 'sn1', ipAddress: '10.0.1.6' },
        { subnetId: 'sn2', ipAddress: '10.0.1.7' },
      ],
    }),
    dhcp('d1', { ipv4Address: '10.0.9.5' }),
  ]);
  assert.equal(codes(plan), ['p1:INVALID_ARG', 'n1:INVALID_ARG', 'd1:INVALID_ARG']);
  assert.match(
    plan.statuses[0]?.reason ?? '',
    "port 'p1': fixed_ips[0].ip_address 10.0.2.5 is outside subnet 'sn1' (10.0.1.0/24)",
  );
  assert.match(
    plan.statuses[1]?.reason ?? '',
    "fixed_ips[1].ip_address 10.0.1.7 is outside subnet 'sn2' (10.0.2.0/24)",
  );
  assert.match(plan.statuses[2]?.reason ?? '', "ipv4_address 10.0.9.5 is outside subnet 'sn1'");
  assert.equal(plan.changes, []);
});

test('neighbor, DHCP and router references to unknown subnets fail', () => {
  const store = storeWithSubnet();
  const plan = planV2(store, [
    neighbor('n1', {
      fixedIps: [
        { subnetId: 'sn1', ipAddress: '10.0.1.6' },
        { subnetId: 'gone', ipAddress: '10.0.9.6' },
      ],
    }),
    neighbor('n2'),
    dhcp('d1', { subnetId: 'gone' }),
    router('r1', { subnetRoutingTables: [{ subnetId: 'sn1' }, { subnetId: 'gone' }] }),
  ]);
  assert.equal(codes(plan), ['r1:FAILURE', 'n1:FAILURE', 'n2:SUCCESS', 'd1:FAILURE']);
  assert.match(plan.statuses[0]?.reason ?? '', "subnet_routing_tables[1] names subnet 'gone'");
  assert.match(plan.statuses[1]?.reason ?? '', "fixed_ips[1] names subnet 'gone'");
  assert.match(plan.statuses[3]?.reason ?? '', "subnet 'gone' is neither in this goal state nor held");
  assert.equal(changed(plan), ['+neighbor:n2']);
});

test('subnets satisfy later ports from the same message or from held state; an invalid subnet does not', () => {
  const store = new ResourceStore();
  const sameMessage = apply(store, [subnet('sn1'), port('p1')]);
  assert.equal(codes(sameMessage), ['sn1:SUCCESS', 'p1:SUCCESS']);
  const fromHeld = apply(store, [port('p2', { fixedIps: [{ subnetId: 'sn1', ipAddress: '10.0.1.7' }] })]);
  assert.equal(codes(fromHeld), ['p2:SUCCESS']);
  const invalidSubnet = planV2(store, [
    subnet('sn9', { tunnelId: 0 }),
    port('p9', { fixedIps: [{ subnetId: 'sn9', ipAddress: '10.0.9.5' }] }),
  ]);
  assert.equal(codes(invalidSubnet), ['sn9:INVALID_ARG', 'p9:FAILURE']);
  // v1 works the same way (message order).
  const s1 = new ResourceStore();
  const p = s1.plan(fromGoalState(v1([port('p1'), subnet('sn1')])));
  assert.equal(codes(p), ['sn1:SUCCESS', 'p1:SUCCESS']);
});

test('DVR MAC conflicts are INVALID_ARG, against held routers and within one message', () => {
  const store = storeWithSubnet();
  apply(store, [router('r1')]);
  const conflict = planV2(store, [router('r2', { hostDvrMacAddress: 'fe:16:11:00:00:01' })]);
  assert.equal(codes(conflict), ['r2:INVALID_ARG']);
  assert.match(
    conflict.statuses[0]?.reason ?? '',
    "host_dvr_mac_address fe:16:11:00:00:01 differs from fe:16:11:00:00:00 used by 1 other router(s) (e.g. 'r1')",
  );
  assert.equal(conflict.changes, []);
  assert.equal(codes(planV2(store, [router('r2')])), ['r2:SUCCESS'], 'the same DVR MAC is fine');
  // Within one message: the second router disagrees with the first.
  const fresh = storeWithSubnet();
  const inMessage = planV2(fresh, [router('ra'), router('rb', { hostDvrMacAddress: 'fe:16:11:00:00:02' })]);
  assert.equal(codes(inMessage), ['ra:SUCCESS', 'rb:INVALID_ARG']);
  // The only router may change its own DVR MAC.
  assert.equal(codes(apply(store, [router('r1', { hostDvrMacAddress: 'fe:16:11:00:00:03' })])), ['r1:SUCCESS']);
  assert.is(store.dvrMac(), 0xfe1611000003);
  // Deleting the held router frees the MAC for a different one in the same message? No: deletes run after upserts.
  const swap = planV2(store, [router('r1', {}, DELETE), router('r2', { hostDvrMacAddress: 'fe:16:11:00:00:04' })]);
  assert.equal(codes(swap), ['r1:SUCCESS', 'r2:INVALID_ARG']);
});

test('a subnet cannot be deleted while held ports use it; deleting the ports in the same message works', () => {
  const store = storeWithSubnet();
  apply(store, [port('p1'), port('p2')]);
  const blocked = planV2(store, [subnet('sn1', {}, DELETE)]);
  assert.equal(codes(blocked), ['sn1:FAILURE']);
  assert.match(
    blocked.statuses[0]?.reason ?? '',
    "subnet 'sn1' is still used by 2 port(s) (e.g. 'p1'); delete the ports first",
  );
  const partly = planV2(store, [subnet('sn1', {}, DELETE), port('p1', {}, DELETE)]);
  assert.equal(codes(partly), ['sn1:FAILURE', 'p1:SUCCESS']);
  const together = apply(store, [subnet('sn1', {}, DELETE), port('p1', {}, DELETE), port('p2', {}, DELETE)]);
  assert.equal(codes(together), ['sn1:SUCCESS', 'p1:SUCCESS', 'p2:SUCCESS']);
  assert.equal(changed(together), ['-port:p2', '-port:p1', '-subnet:sn1'], 'children are deleted before their parent');
  assert.is(store.subnet('sn1'), undefined);
  // A port created in the message keeps the subnet alive.
  const s2 = storeWithSubnet();
  assert.equal(codes(planV2(s2, [subnet('sn1', {}, DELETE), port('p5')])), ['sn1:FAILURE', 'p5:SUCCESS']);
  // A port moved away from the subnet in the same message frees it.
  apply(s2, [port('p6')]);
  const moved = planV2(s2, [
    subnet('sn1', {}, DELETE),
    port('p6', { fixedIps: [{ subnetId: 'sn2', ipAddress: '10.0.2.6' }] }, UPDATE),
  ]);
  assert.equal(codes(moved), ['sn1:SUCCESS', 'p6:SUCCESS']);
});

test('commit rejects a plan made before the store changed, or by another store', () => {
  const store = storeWithSubnet();
  const first = planV2(store, [port('p1')]);
  const second = planV2(store, [port('p2')]);
  store.commit(first);
  assert.is(
    codeOf(() => store.commit(second)),
    'STALE_PLAN',
  );
  assert.is(store.port('p2'), undefined);
  assert.is(
    codeOf(() => new ResourceStore().commit(planV2(store, [port('p3')]))),
    'STALE_PLAN',
  );
  // A plan that changes nothing does not invalidate others.
  const third = planV2(store, [port('p3')]);
  store.commit(planV2(store, [port('p1')]));
  store.commit(third);
  assert.ok(store.port('p3'));
  // Discarding is just dropping the plan: the store is as before.
  planV2(store, [port('p1', {}, DELETE)]);
  assert.ok(store.port('p1'));
});

test('revert undoes the most recent commit, indexes included, and only that one', () => {
  const store = storeWithSubnet();
  apply(store, [port('p1'), router('r1'), dhcp('d1'), neighbor('n1', { revisionNumber: 1 })]);
  const before = JSON.stringify(store.snapshot());
  const plan = apply(store, [
    port('p1', { fixedIps: [{ subnetId: 'sn2', ipAddress: '10.0.2.5' }], securityGroupIds: [{ id: 'sgX' }] }, UPDATE),
    port('p2'),
    router('r1', {}, DELETE),
    dhcp('d1', { macAddress: 'fa:16:3e:00:00:07' }, UPDATE),
    neighbor('n1', { revisionNumber: 9 }),
  ]);
  assert.is(plan.touches.length, 1, 'the neighbor only changed revision');
  assert.is(store.neighbor('n1')?.revision, 9);
  const genAfterCommit = store.generation;
  store.revert(plan);
  assert.is(JSON.stringify(store.snapshot()), before);
  assert.equal([...store.portsInSubnet('sn1')], ['p1']);
  assert.is(store.portsInSubnet('sn2').size, 0);
  assert.is(store.portsInSecurityGroup('sgX').size, 0);
  assert.equal([...store.routersForSubnet('sn1')], ['r1']);
  assert.is(store.dvrMac(), 0xfe1611000000);
  assert.is(store.dhcpForMac(0xfa163e000001)?.id, 'd1');
  assert.is(store.dhcpForMac(0xfa163e000007), undefined);
  assert.is(store.generation, genAfterCommit + 1, 'the generation moves on');
  assert.is(
    codeOf(() => store.revert(plan)),
    'STALE_PLAN',
    'a plan is reverted once',
  );
  const a = apply(store, [port('p3')]);
  apply(store, [port('p4')]);
  assert.is(
    codeOf(() => store.revert(a)),
    'STALE_PLAN',
    'only the latest commit',
  );
});

test('indexes follow updates and deletes', () => {
  const store = storeWithSubnet();
  apply(store, [
    subnet('sn3', { cidr: '10.0.3.0/24', tunnelId: 40 }),
    securityGroup('sgA'),
    securityGroup('sgB'),
    port('p1', { securityGroupIds: [{ id: 'sgA' }] }),
    port('p2', { securityGroupIds: [{ id: 'sgA' }, { id: 'sgB' }] }),
  ]);
  assert.equal([...store.portsInSubnet('sn1')].sort(), ['p1', 'p2']);
  assert.equal([...store.portsInSecurityGroup('sgA')].sort(), ['p1', 'p2']);
  assert.equal([...store.portsInSecurityGroup('sgB')], ['p2']);
  // p1 moves to sn2 (two fixed IPs there) and changes security group.
  apply(store, [
    port(
      'p1',
      {
        fixedIps: [
          { subnetId: 'sn2', ipAddress: '10.0.2.5' },
          { subnetId: 'sn2', ipAddress: '10.0.2.6' },
        ],
        securityGroupIds: [{ id: 'sgB' }],
      },
      UPDATE,
    ),
  ]);
  assert.equal([...store.portsInSubnet('sn1')], ['p2']);
  assert.equal([...store.portsInSubnet('sn2')], ['p1']);
  assert.equal([...store.portsInSecurityGroup('sgA')], ['p2']);
  assert.equal([...store.portsInSecurityGroup('sgB')].sort(), ['p1', 'p2']);
  // A subnet held only by a port with two fixed IPs in it frees up when the port goes.
  apply(store, [port('p1', {}, DELETE)]);
  assert.is(store.portsInSubnet('sn2').size, 0);
  assert.equal(codes(apply(store, [subnet('sn2', {}, DELETE)])), ['sn2:SUCCESS']);
  // Routers.
  apply(store, [router('r1', { subnetRoutingTables: [{ subnetId: 'sn1' }, { subnetId: 'sn3' }] })]);
  assert.equal([...store.routersForSubnet('sn3')], ['r1']);
  apply(store, [router('r1', { subnetRoutingTables: [{ subnetId: 'sn1' }] }, UPDATE)]);
  assert.is(store.routersForSubnet('sn3').size, 0);
  assert.equal([...store.routersForSubnet('sn1')], ['r1']);
  apply(store, [port('p2', {}, DELETE), router('r1', {}, DELETE)]);
  assert.is(store.portsInSubnet('sn1').size, 0);
  assert.is(store.portsInSecurityGroup('sgA').size, 0);
  assert.is(store.portsInSecurityGroup('sgB').size, 0);
  assert.is(store.routersForSubnet('sn1').size, 0);
});

test('snapshot round trip through JSON keeps resources, indexes, and idempotency', () => {
  const store = storeWithSubnet();
  const entries = [
    vpc('vpc1'),
    port('p1'),
    neighbor('n1'),
    securityGroup('sg1'),
    dhcp('d1'),
    router('r1'),
    gateway('g1'),
  ];
  apply(store, entries);
  const json = JSON.stringify(store.snapshot());
  const restored = ResourceStore.fromSnapshot(JSON.parse(json));
  for (const k of ['vpc', 'subnet', 'port', 'neighbor', 'securityGroup', 'dhcp', 'router', 'gateway'] as const) {
    assert.is(restored.size(k), store.size(k), k);
    for (const r of store.values(k))
      assert.equal(JSON.parse(JSON.stringify(restored.get(k, r.id))), JSON.parse(JSON.stringify(r)), `${k} ${r.id}`);
  }
  assert.equal([...restored.portsInSubnet('sn1')], ['p1']);
  assert.equal([...restored.portsInSecurityGroup('sg1')], ['p1']);
  assert.equal([...restored.routersForSubnet('sn1')], ['r1']);
  assert.is(restored.dvrMac(), 0xfe1611000000);
  // Undefined fields vanish in JSON; a re-push of the same content must still be a no-op.
  const again = restored.plan(
    fromGoalStateV2(v2([subnet('sn1'), subnet('sn2', { cidr: '10.0.2.0/24', tunnelId: 30 }), ...entries])),
  );
  assert.ok(again.statuses.every((s) => s.status === SUCCESS));
  assert.equal(again.changes, []);
  assert.equal(JSON.stringify(restored.snapshot()), json);
});

test('fromSnapshot rejects malformed input with BAD_SNAPSHOT', () => {
  assert.is(
    codeOf(() => ResourceStore.fromSnapshot(null)),
    'BAD_SNAPSHOT',
  );
  assert.is(
    codeOf(() => ResourceStore.fromSnapshot({ format: 'x' })),
    'BAD_SNAPSHOT',
  );
  assert.is(
    codeOf(() => ResourceStore.fromSnapshot({ format: 'alcor-agent-store/1', resources: { port: {} } })),
    'BAD_SNAPSHOT',
  );
  assert.is(
    codeOf(() =>
      ResourceStore.fromSnapshot({
        format: 'alcor-agent-store/1',
        resources: { port: [{ kind: 'subnet', id: 'x', revision: 1 }] },
      }),
    ),
    'BAD_SNAPSHOT',
  );
  assert.is(
    codeOf(() =>
      ResourceStore.fromSnapshot({
        format: 'alcor-agent-store/1',
        resources: { port: [{ kind: 'port', id: 'x', revision: 1, fixedIps: 3 }] },
      }),
    ),
    'BAD_SNAPSHOT',
  );
  const dup = { kind: 'vpc', id: 'v', revision: 1 };
  assert.is(
    codeOf(() => ResourceStore.fromSnapshot({ format: 'alcor-agent-store/1', resources: { vpc: [dup, dup] } })),
    'BAD_SNAPSHOT',
  );
  assert.is(ResourceStore.fromSnapshot({ format: 'alcor-agent-store/1', resources: {} }).size('port'), 0);
});

test('INFO upserts like CREATE; UPDATE of changed content records before and after', () => {
  const store = new ResourceStore();
  apply(store, [subnet('sn1', {}, INFO)]);
  const before = store.subnet('sn1');
  const plan = apply(store, [subnet('sn1', { name: 'renamed' }, UPDATE)]);
  assert.is(plan.changes.length, 1);
  assert.is(plan.changes[0]?.before, before);
  assert.is(plan.changes[0]?.after, store.subnet('sn1'));
  assert.is(store.subnet('sn1')?.name, 'renamed');
});

test('DHCP: duplicate add and update of a missing entry fail, identical CREATE is idempotent, one entry per MAC', () => {
  const store = storeWithSubnet();
  apply(store, [dhcp('d1')]);
  assert.is(store.dhcpForMac(0xfa163e000001)?.id, 'd1');
  assert.equal(codes(planV2(store, [dhcp('d1')])), ['d1:SUCCESS']);
  const dup = planV2(store, [dhcp('d1', { ipv4Address: '10.0.1.9' })]);
  assert.equal(codes(dup), ['d1:FAILURE']);
  assert.match(dup.statuses[0]?.reason ?? '', 'already exists with different content (duplicate add); send UPDATE');
  assert.equal(codes(apply(store, [dhcp('d1', { ipv4Address: '10.0.1.9' }, UPDATE)])), ['d1:SUCCESS']);
  assert.is(store.dhcp('d1')?.ip, 0x0a000109);
  const missing = planV2(store, [dhcp('d2', { macAddress: 'fa:16:3e:00:00:02' }, UPDATE)]);
  assert.equal(codes(missing), ['d2:FAILURE']);
  assert.match(missing.statuses[0]?.reason ?? '', 'update of a missing entry');
  const sameMac = planV2(store, [dhcp('d3')]);
  assert.equal(codes(sameMac), ['d3:FAILURE']);
  assert.match(sameMac.statuses[0]?.reason ?? '', "MAC fa:16:3e:00:00:01 is already served by dhcp 'd1'");
  // Moving d1 to another MAC frees the old one within the same message.
  const moved = apply(store, [dhcp('d1', { macAddress: 'fa:16:3e:00:00:05' }, UPDATE), dhcp('d3')]);
  assert.equal(codes(moved), ['d1:SUCCESS', 'd3:SUCCESS']);
  assert.is(store.dhcpForMac(0xfa163e000001)?.id, 'd3');
  assert.is(store.dhcpForMac(0xfa163e000005)?.id, 'd1');
  apply(store, [dhcp('d1', {}, DELETE)]);
  assert.is(store.dhcpForMac(0xfa163e000005), undefined);
  assert.equal(
    codes(planV2(store, [dhcp('d1', { macAddress: 'fa:16:3e:00:00:05' }, INFO)])),
    ['d1:SUCCESS'],
    'INFO upserts without the table rules',
  );
});

test('v1 duplicates of one id in a message apply in order', () => {
  const store = storeWithSubnet();
  const plan = store.plan(fromGoalState(v1([port('p1', { name: 'a' }), port('p1', { name: 'b' }, UPDATE)])));
  assert.equal(codes(plan), ['p1:SUCCESS', 'p1:SUCCESS']);
  assert.equal(changed(plan), ['+port:p1', '~port:p1']);
  store.commit(plan);
  assert.is((store.port('p1') as Port).name, 'b');
  assert.equal([...store.portsInSubnet('sn1')], ['p1']);
  // Kinds nobody references (neighbors) too, whether or not the ids come sorted.
  for (const ids of [
    ['n1', 'n1'],
    ['n2', 'n1', 'n1'],
  ]) {
    const s = storeWithSubnet();
    const entries = ids.map((id, i) => neighbor(id, { name: `v${i}` }, i === 0 ? CREATE : UPDATE));
    const p = s.plan(fromGoalState(v1(entries)));
    assert.ok(p.statuses.every((st) => st.status === SUCCESS));
    assert.equal(changed(p).slice(-2), ['+neighbor:n1', '~neighbor:n1'], ids.join());
    s.commit(p);
    assert.is(s.neighbor('n1')?.name, `v${ids.length - 1}`);
  }
});

test.run();
