import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  GatewayType,
  GoalState,
  GoalStateV2,
  NeighborType,
  NetworkType,
  OperationType,
  Protocol,
  ResourceType,
  SecurityGroupConfiguration_Direction,
  UpdateType,
} from '../../proto';
import type { GoalStateModel, ResourceOp, SecurityGroup } from '../model';
import { fromGoalState, fromGoalStateV2 } from './normalize';
import {
  dhcp,
  gateway,
  keyed,
  neighbor,
  port,
  router,
  securityGroup,
  subnet,
  v1,
  v2,
  vpc,
  wireV1,
  wireV2,
} from './testkit';
import type { Entry } from './testkit';

const everyKind: Entry[] = [
  vpc('vpc1'),
  subnet('sn1'),
  port('p1'),
  neighbor('n1'),
  securityGroup('sg1'),
  dhcp('d1'),
  router('r1'),
  gateway('g1'),
];

/** Both message versions, through the wire, must give the same ops. */
function both(entries: Entry[]): ResourceOp[] {
  const a = fromGoalState(wireV1(v1(entries))).ops;
  const b = fromGoalStateV2(wireV2(v2(entries))).ops;
  assert.equal(a, b, 'v1 and v2 normalize alike');
  return [...a];
}

function only(entry: Entry): ResourceOp {
  const ops = both([entry]);
  assert.is(ops.length, 1);
  return ops[0] as ResourceOp;
}

function errorOf(entry: Entry): string {
  const op = only(entry);
  assert.is(op.resource, undefined, 'no resource when invalid');
  assert.type(op.error, 'string', 'invalid input has an error');
  return op.error ?? '';
}

function okResource(entry: Entry): NonNullable<ResourceOp['resource']> {
  const op = only(entry);
  assert.is(op.error, undefined, `unexpected error: ${op.error ?? ''}`);
  assert.ok(op.resource);
  return op.resource as NonNullable<ResourceOp['resource']>;
}

test('every kind normalizes, v1 and v2 alike, in dependency order', () => {
  const ops = both(everyKind);
  assert.equal(
    ops.map((o) => [o.kind, o.id, o.resourceType]),
    [
      ['vpc', 'vpc1', ResourceType.VPC],
      ['subnet', 'sn1', ResourceType.SUBNET],
      ['securityGroup', 'sg1', ResourceType.SECURITYGROUP],
      ['gateway', 'g1', ResourceType.GATEWAY],
      ['router', 'r1', ResourceType.ROUTER],
      ['port', 'p1', ResourceType.PORT],
      ['neighbor', 'n1', ResourceType.NEIGHBOR],
      ['dhcp', 'd1', ResourceType.DHCP],
    ],
  );
  for (const op of ops) assert.is(op.error, undefined, op.error);
});

test('vpc fields', () => {
  assert.equal(okResource(vpc('vpc1', { gatewayIds: ['g1'], tunnelId: 0 })), {
    kind: 'vpc',
    id: 'vpc1',
    revision: 1,
    requestId: 'r-vpc1',
    projectId: 'proj',
    name: 'vpc-vpc1',
    cidr: { addr: 0x0a000000, prefix: 16 },
    tunnelId: 0,
    gatewayIds: ['g1'],
  });
  const noCidr = okResource(vpc('vpc1', { cidr: '' }));
  assert.is(noCidr.kind === 'vpc' ? noCidr.cidr : 'x', undefined);
});

test('subnet fields', () => {
  assert.equal(
    okResource(subnet('sn1', { dnsEntryList: [{ entry: '8.8.8.8' }, { entry: '' }, { entry: '1.1.1.1' }] })),
    {
      kind: 'subnet',
      id: 'sn1',
      revision: 1,
      requestId: 'r-sn1',
      vpcId: 'vpc1',
      name: 'subnet-sn1',
      networkType: 'vxlan',
      cidr: { addr: 0x0a000100, prefix: 24 },
      tunnelId: 20,
      gateway: { ip: 0x0a000101, mac: 0xfa163e000101 },
      dhcpEnable: true,
      dnsServers: [0x08080808, 0x01010101],
      extraDhcpOptions: [{ name: 'mtu', value: '1450' }],
      availabilityZone: 'az1',
    },
  );
  const noGateway = okResource(subnet('sn1', { gateway: { ipAddress: '', macAddress: '' } }));
  assert.is(noGateway.kind === 'subnet' ? noGateway.gateway : 'x', undefined);
});

test('port fields', () => {
  const op = only(
    port('p1', {
      allowAddressPairs: [
        { ipAddress: '10.0.1.100', macAddress: '' },
        { ipAddress: '10.9.0.0/16', macAddress: 'fa:16:3e:00:00:09' },
      ],
    }),
  );
  assert.is(op.updateType, 'full');
  assert.is(op.operation, OperationType.CREATE);
  assert.equal(op.resource, {
    kind: 'port',
    id: 'p1',
    revision: 1,
    requestId: 'r-p1',
    vpcId: 'vpc1',
    name: 'port-p1',
    deviceId: 'vm-p1',
    deviceOwner: 'compute:nova',
    mac: 0xfa163e000001,
    adminStateUp: true,
    hostIp: 0xc0000201,
    fixedIps: [{ subnetId: 'sn1', ip: 0x0a000105 }],
    allowedAddressPairs: [
      { ip: { addr: 0x0a000164, prefix: 32 }, mac: undefined },
      { ip: { addr: 0x0a090000, prefix: 16 }, mac: 0xfa163e000009 },
    ],
    securityGroupIds: ['sg1'],
  });
  const noHost = okResource(port('p1', { hostInfo: undefined }));
  assert.is(noHost.kind === 'port' ? noHost.hostIp : 'x', undefined);
});

test('every fixed IP is read, not only the first', () => {
  const r = okResource(
    port('p1', {
      fixedIps: [
        { subnetId: 'sn1', ipAddress: '10.0.1.5' },
        { subnetId: 'sn2', ipAddress: '10.0.2.5' },
      ],
    }),
  );
  assert.equal(r.kind === 'port' ? r.fixedIps : [], [
    { subnetId: 'sn1', ip: 0x0a000105 },
    { subnetId: 'sn2', ip: 0x0a000205 },
  ]);
  assert.match(
    errorOf(
      port('p1', {
        fixedIps: [
          { subnetId: 'sn1', ipAddress: '10.0.1.5' },
          { subnetId: 'sn2', ipAddress: '10.0.2' },
        ],
      }),
    ),
    'fixed_ips[1].ip_address',
  );
});

test('neighbor fields', () => {
  assert.equal(
    okResource(
      neighbor('n1', {
        fixedIps: [
          { neighborType: NeighborType.L2, subnetId: 'sn1', ipAddress: '10.0.1.6', tunnelId: 0 },
          { neighborType: NeighborType.L3, subnetId: 'sn2', ipAddress: '10.0.2.6', tunnelId: 30 },
        ],
        allowAddressPairs: [{ ipAddress: '10.0.1.7', macAddress: '' }],
      }),
    ),
    {
      kind: 'neighbor',
      id: 'n1',
      revision: 1,
      requestId: 'r-n1',
      vpcId: 'vpc1',
      name: 'nb-n1',
      mac: 0xfa163e000002,
      hostMac: 0x020000000002,
      hostIp: 0xac116fde,
      fixedIps: [
        { type: 'l2', subnetId: 'sn1', ip: 0x0a000106, tunnelId: 0 },
        { type: 'l3', subnetId: 'sn2', ip: 0x0a000206, tunnelId: 30 },
      ],
      allowedAddressPairs: [{ ip: { addr: 0x0a000107, prefix: 32 }, mac: undefined }],
    },
  );
});

test('security group fields; DELETE rules are dropped', () => {
  const rule = {
    operationType: OperationType.CREATE,
    securityGroupId: 'sg1',
    id: 'rule2',
    direction: SecurityGroupConfiguration_Direction.EGRESS,
    protocol: Protocol.ICMP,
    portRangeMin: 8,
    portRangeMax: 0,
    remoteIpPrefix: '',
    remoteGroupId: 'sg2',
  };
  const sg = okResource(
    securityGroup('sg1', {
      securityGroupRules: [
        {
          ...rule,
          id: 'rule1',
          direction: SecurityGroupConfiguration_Direction.INGRESS,
          protocol: Protocol.UDP,
          portRangeMin: 53,
          portRangeMax: 53,
          remoteIpPrefix: '10.0.0.0/8',
          remoteGroupId: '',
        },
        rule,
        { ...rule, id: 'gone', operationType: OperationType.DELETE },
      ],
    }),
  );
  assert.equal(sg, {
    kind: 'securityGroup',
    id: 'sg1',
    revision: 1,
    requestId: 'r-sg1',
    vpcId: 'vpc1',
    name: 'sg-sg1',
    rules: [
      {
        id: 'rule1',
        direction: 'ingress',
        protocol: 'udp',
        portMin: 53,
        portMax: 53,
        remoteIpPrefix: { addr: 0x0a000000, prefix: 8 },
        remoteGroupId: undefined,
      },
      {
        id: 'rule2',
        direction: 'egress',
        protocol: 'icmp',
        portMin: 8,
        portMax: 0,
        remoteIpPrefix: undefined,
        remoteGroupId: 'sg2',
      },
    ],
  });
});

test('dhcp fields', () => {
  assert.equal(okResource(dhcp('d1')), {
    kind: 'dhcp',
    id: 'd1',
    revision: 1,
    requestId: 'r-d1',
    subnetId: 'sn1',
    mac: 0xfa163e000001,
    ip: 0x0a000105,
    hostname: 'vm1',
  });
});

test('router fields', () => {
  assert.equal(okResource(router('r1')), {
    kind: 'router',
    id: 'r1',
    revision: 1,
    requestId: 'r-r1',
    dvrMac: 0xfe1611000000,
    subnets: [
      {
        subnetId: 'sn1',
        rules: [
          {
            id: 'rr1',
            name: 'default',
            destination: { addr: 0, prefix: 0 },
            nextHopIp: 0x0a0001fe,
            priority: 5,
            destinationType: 'internet',
            nextHopMac: 0xfa163e0000fe,
          },
        ],
      },
    ],
  });
});

test('gateway fields', () => {
  assert.equal(okResource(gateway('g1')), {
    kind: 'gateway',
    id: 'g1',
    revision: 1,
    requestId: 'r-g1',
    gatewayType: 'zeta',
    destinations: [
      { ip: 0xc000020a, mac: 0x020000001001 },
      { ip: 0xc000020b, mac: 0x020000001002 },
    ],
    oamPort: 6799,
  });
  assert.is(only(gateway('g1')).updateType, 'full', 'gateways have no update_type');
});

test('v1 keeps message order within a kind; v2 sorts ids whatever the map order', () => {
  const entries = [neighbor('n3'), neighbor('n1'), port('p2'), neighbor('n2'), port('p1'), subnet('sn1')];
  assert.equal(
    fromGoalState(v1(entries)).ops.map((o) => o.id),
    ['sn1', 'p2', 'p1', 'n3', 'n1', 'n2'],
  );
  assert.equal(
    fromGoalStateV2(v2(entries)).ops.map((o) => o.id),
    ['sn1', 'p1', 'p2', 'n1', 'n2', 'n3'],
  );
  // Integer-like keys are enumerated first by JS objects; sorting makes them ordinary strings.
  const numeric = [neighbor('b'), neighbor('10'), neighbor('9'), neighbor('a')];
  assert.equal(
    fromGoalStateV2(v2(numeric)).ops.map((o) => o.id),
    ['10', '9', 'a', 'b'],
  );
});

test('v2 id comes from the map key; a differing configuration.id is INVALID_ARG', () => {
  const fromKey = fromGoalStateV2(v2([keyed('p9', port(''))])).ops[0];
  assert.is(fromKey?.id, 'p9');
  assert.is(fromKey?.error, undefined, 'configuration.id may be left empty');
  assert.is(fromKey?.resource?.id, 'p9');
  const mismatch = fromGoalStateV2(v2([keyed('p9', port('p1'))])).ops[0];
  assert.is(mismatch?.id, 'p9');
  assert.match(mismatch?.error ?? '', "configuration.id 'p1' differs from its map key 'p9'");
  assert.match(fromGoalStateV2(v2([keyed('', port(''))])).ops[0]?.error ?? '', 'map key (resource id) is empty');
  assert.match(fromGoalState(v1([port('')])).ops[0]?.error ?? '', 'configuration.id is empty');
});

test('a state without configuration is an INVALID_ARG op', () => {
  const g1 = GoalState.fromPartial({ portStates: [{ operationType: OperationType.CREATE }] });
  const op1 = fromGoalState(wireV1(g1)).ops[0];
  assert.is(op1?.kind, 'port');
  assert.is(op1?.resourceType, ResourceType.PORT);
  assert.match(op1?.error ?? '', 'has no configuration');
  const g2 = GoalStateV2.fromPartial({ subnetStates: { sn1: { operationType: OperationType.INFO } } });
  const op2 = fromGoalStateV2(wireV2(g2)).ops[0];
  assert.is(op2?.id, 'sn1');
  assert.match(op2?.error ?? '', "subnet 'sn1' has no configuration");
});

test('host_resources -> hostResources (v2), empty for v1', () => {
  const model: GoalStateModel = fromGoalStateV2(
    wireV2(
      v2([port('p1')], {
        '192.0.2.2': [{ type: ResourceType.NEIGHBOR, id: 'n1' }],
        '192.0.2.1': [
          { type: ResourceType.PORT, id: 'p1' },
          { type: ResourceType.SUBNET, id: 'sn1' },
        ],
      }),
    ),
  );
  assert.equal([...model.hostResources.keys()], ['192.0.2.1', '192.0.2.2']);
  assert.equal(model.hostResources.get('192.0.2.1'), [
    { kind: 'port', id: 'p1' },
    { kind: 'subnet', id: 'sn1' },
  ]);
  assert.is(fromGoalState(v1([port('p1')])).hostResources.size, 0);
});

// ----------------------------------------------------------------------------- validation rules

test('rule: MAC syntax', () => {
  assert.match(
    errorOf(port('p1', { macAddress: 'zz:16:3e:00:00:01' })),
    "port 'p1': mac_address 'zz:16:3e:00:00:01' is not a MAC (want six hex pairs like fa:16:3e:00:00:01)",
  );
  assert.match(errorOf(port('p1', { macAddress: '' })), 'mac_address is empty');
  assert.match(errorOf(neighbor('n1', { hostMacAddress: 'fa:16:3e' })), 'host_mac_address');
  assert.match(errorOf(subnet('sn1', { gateway: { ipAddress: '10.0.1.1', macAddress: 'x' } })), 'gateway.mac_address');
  assert.match(
    errorOf(port('p1', { allowAddressPairs: [{ ipAddress: '10.0.1.9', macAddress: 'fa:16' }] })),
    'allow_address_pairs[0].mac_address',
  );
  okResource(port('p1', { macAddress: 'FA-16-3E-00-00-01' }));
});

test('rule: IPv4 syntax', () => {
  assert.match(
    errorOf(port('p1', { fixedIps: [{ subnetId: 'sn1', ipAddress: '10.0.1.256' }] })),
    "fixed_ips[0].ip_address '10.0.1.256' is not an IPv4 address",
  );
  assert.match(errorOf(neighbor('n1', { hostIpAddress: '172.17.111' })), 'host_ip_address');
  assert.match(errorOf(dhcp('d1', { ipv4Address: '10.0.1.05' })), 'leading zero');
  assert.match(errorOf(subnet('sn1', { dnsEntryList: [{ entry: '8.8.8' }] })), 'dns_entry_list[0].entry');
  assert.match(errorOf(port('p1', { hostInfo: { ipAddress: 'host-a', macAddress: '' } })), 'host_info.ip_address');
});

test('rule: CIDR syntax', () => {
  assert.match(errorOf(subnet('sn1', { cidr: '10.0.1.0' })), 'the /prefix is missing');
  assert.match(errorOf(subnet('sn1', { cidr: '10.0.1.0/33' })), 'not a whole number 0-32');
  assert.match(errorOf(subnet('sn1', { cidr: '' })), 'cidr is empty');
  assert.match(errorOf(vpc('vpc1', { cidr: '10.0.0.0/x' })), "vpc 'vpc1': cidr");
  assert.match(
    errorOf(port('p1', { allowAddressPairs: [{ ipAddress: '10.0.1.0/40', macAddress: '' }] })),
    'allow_address_pairs[0].ip_address',
  );
  // Issue 13 changed this: a network's CIDR with host bits set is refused (it used to be cleared);
  // a match prefix such as an address pair still has its host bits cleared.
  assert.match(errorOf(subnet('sn1', { cidr: '10.0.1.77/24' })), 'has host bits set');
  const pair = okResource(port('p1', { allowAddressPairs: [{ ipAddress: '10.0.1.77/24', macAddress: '' }] }));
  assert.equal(
    pair.kind === 'port' ? pair.allowedAddressPairs[0]?.ip : undefined,
    { addr: 0x0a000100, prefix: 24 },
    'host bits cleared, prefix kept',
  );
});

test('rule: the subnet gateway IP lies inside the subnet', () => {
  assert.match(
    errorOf(subnet('sn1', { gateway: { ipAddress: '10.0.2.1', macAddress: 'fa:16:3e:00:01:01' } })),
    "gateway.ip_address 10.0.2.1 is outside the subnet's cidr 10.0.1.0/24",
  );
  assert.match(
    errorOf(subnet('sn1', { gateway: { ipAddress: '', macAddress: 'fa:16:3e:00:01:01' } })),
    'gateway.ip_address is empty',
  );
  assert.match(
    errorOf(subnet('sn1', { gateway: { ipAddress: '10.0.1.1', macAddress: '' } })),
    'gateway.mac_address is empty',
  );
});

test('rule: subnet tunnel ids by network type, never 0', () => {
  okResource(subnet('sn1', { networkType: NetworkType.VXLAN, tunnelId: 16777215 }));
  okResource(subnet('sn1', { networkType: NetworkType.GRE, tunnelId: 16777215 }));
  okResource(subnet('sn1', { networkType: NetworkType.GENEVE, tunnelId: 1 }));
  okResource(subnet('sn1', { networkType: NetworkType.VXLAN_GPE, tunnelId: 16777215 }));
  okResource(subnet('sn1', { networkType: NetworkType.VLAN, tunnelId: 4094 }));
  assert.match(
    errorOf(subnet('sn1', { tunnelId: 16777216 })),
    'tunnel_id 16777216 is out of range for VXLAN (1-16777215)',
  );
  assert.match(errorOf(subnet('sn1', { networkType: NetworkType.GENEVE, tunnelId: 16777216 })), 'GENEVE');
  assert.match(errorOf(subnet('sn1', { networkType: NetworkType.VXLAN_GPE, tunnelId: 2 ** 30 })), 'VXLAN_GPE');
  assert.match(errorOf(subnet('sn1', { networkType: NetworkType.GRE, tunnelId: 16777216 })), 'GRE');
  assert.match(
    errorOf(subnet('sn1', { networkType: NetworkType.VLAN, tunnelId: 4095 })),
    'out of range for VLAN (1-4094)',
  );
  assert.match(errorOf(subnet('sn1', { tunnelId: 0 })), 'tunnel_id is 0: a subnet needs its segment id');
  assert.match(errorOf(subnet('sn1', { networkType: 9 as NetworkType })), 'network_type 9');
});

test('rule: a VPC tunnel_id of 0 is allowed (the subnet carries it); above 2^24-1 is not', () => {
  okResource(vpc('vpc1', { tunnelId: 0 }));
  okResource(vpc('vpc1', { tunnelId: 16777215 }));
  assert.match(errorOf(vpc('vpc1', { tunnelId: 16777216 })), 'tunnel_id 16777216 is over 16777215');
  assert.match(
    errorOf(
      neighbor('n1', {
        fixedIps: [{ neighborType: NeighborType.L2, subnetId: 'sn1', ipAddress: '10.0.1.6', tunnelId: 16777216 }],
      }),
    ),
    'fixed_ips[0].tunnel_id',
  );
});

test('rule: port CREATE needs update_type FULL (UPDATE with DELTA is fine)', () => {
  assert.match(
    errorOf(port('p1', { updateType: UpdateType.DELTA }, OperationType.CREATE)),
    'a port CREATE needs update_type FULL (got DELTA)',
  );
  const update = only(port('p1', { updateType: UpdateType.DELTA }, OperationType.UPDATE));
  assert.is(update.error, undefined);
  assert.is(update.updateType, 'delta');
  assert.match(errorOf(port('p1', { updateType: 7 as UpdateType })), 'update_type 7');
});

test('rule: port with no fixed_ips', () => {
  assert.match(errorOf(port('p1', { fixedIps: [] })), 'fixed_ips is empty: a port needs at least one fixed IP');
  assert.match(
    errorOf(port('p1', { fixedIps: [{ subnetId: '', ipAddress: '10.0.1.5' }] })),
    'fixed_ips[0].subnet_id is empty',
  );
});

test('rule: neighbor with no fixed_ips or no host_ip_address', () => {
  assert.match(errorOf(neighbor('n1', { fixedIps: [] })), 'fixed_ips is empty: a neighbor needs at least one fixed IP');
  assert.match(errorOf(neighbor('n1', { hostIpAddress: '' })), 'host_ip_address is empty');
  assert.match(
    errorOf(
      neighbor('n1', { fixedIps: [{ neighborType: 5 as NeighborType, subnetId: 'sn1', ipAddress: '10.0.1.6' }] }),
    ),
    'neighbor_type 5',
  );
});

test('rule: IPv6 anywhere is rejected clearly', () => {
  const ipv6 = 'IPv6 is not supported yet';
  assert.match(errorOf(port('p1', { fixedIps: [{ subnetId: 'sn1', ipAddress: 'fd00::5' }] })), ipv6);
  assert.match(errorOf(port('p1', { allowAddressPairs: [{ ipAddress: 'fd00::/64', macAddress: '' }] })), ipv6);
  assert.match(errorOf(subnet('sn1', { cidr: 'fd00::/64' })), ipv6);
  assert.match(errorOf(subnet('sn1', { gateway: { ipAddress: 'fd00::1', macAddress: 'fa:16:3e:00:01:01' } })), ipv6);
  assert.match(errorOf(subnet('sn1', { dnsEntryList: [{ entry: '2001:4860:4860::8888' }] })), ipv6);
  assert.match(errorOf(vpc('vpc1', { cidr: 'fd00::/48' })), ipv6);
  assert.match(errorOf(neighbor('n1', { hostIpAddress: '2001:db8::2' })), ipv6);
  assert.match(errorOf(dhcp('d1', { ipv6Address: 'fd00::5' })), ipv6);
  assert.match(errorOf(dhcp('d1', { ipv4Address: '' })), 'ipv4_address is empty');
  assert.match(
    errorOf(
      router('r1', {
        subnetRoutingTables: [{ subnetId: 'sn1', routingRules: [{ destination: '::/0', nextHopIp: '10.0.1.254' }] }],
      }),
    ),
    ipv6,
  );
  assert.match(
    errorOf(gateway('g1', { destinations: [{ ipAddress: 'fd00::10', macAddress: '02:00:00:00:10:01' }] })),
    ipv6,
  );
});

test('rule: security-group rule ranges, protocol and ethertype', () => {
  const base = {
    operationType: OperationType.CREATE,
    securityGroupId: 'sg1',
    id: 'x',
    direction: 1,
    protocol: Protocol.TCP,
    portRangeMin: 80,
    portRangeMax: 80,
    remoteIpPrefix: '',
    remoteGroupId: '',
  };
  const withRule = (over: Partial<typeof base> & { ethertype?: number }): Entry =>
    securityGroup('sg1', { securityGroupRules: [{ ...base, ...over }] });
  assert.match(
    errorOf(withRule({ portRangeMin: 100, portRangeMax: 90 })),
    'port_range_min 100 is above port_range_max 90',
  );
  assert.match(errorOf(withRule({ portRangeMax: 65536 })), 'port_range_max 65536 is over 65535');
  assert.match(errorOf(withRule({ portRangeMin: 70000, portRangeMax: 70000 })), 'port_range_min 70000 is over 65535');
  // IPv6 rules (Neutron's default group has them) are accepted and reported, not programmed; the group stays.
  const v6 = okResource(withRule({ ethertype: 1 })) as SecurityGroup;
  assert.equal(v6.rules, []);
  assert.match(String(v6.notProgrammed), 'ethertype is IPV6');
  assert.match(errorOf(withRule({ protocol: Protocol.HTTP })), 'HTTP is not a security-group protocol');
  assert.match(errorOf(withRule({ protocol: Protocol.ARP })), 'ARP');
  assert.match(errorOf(withRule({ direction: 4 })), 'direction 4');
  assert.match(errorOf(withRule({ remoteIpPrefix: '10.0.0.0/99' })), 'remote_ip_prefix');
  assert.match(errorOf(withRule({ securityGroupId: 'other' })), "names another security group than 'sg1'");
  okResource(withRule({ portRangeMin: 0, portRangeMax: 65535 }));
  okResource(withRule({ protocol: Protocol.ICMP, portRangeMin: 8, portRangeMax: 0 }));
  assert.match(errorOf(withRule({ protocol: Protocol.ICMP, portRangeMin: 256, portRangeMax: 0 })), 'not an ICMP type');
});

test('rule: router with a bad or missing DVR MAC', () => {
  assert.match(
    errorOf(router('r1', { hostDvrMacAddress: 'fe:16:11:00:00' })),
    "router 'r1': host_dvr_mac_address 'fe:16:11:00:00' is not a MAC",
  );
  assert.match(errorOf(router('r1', { hostDvrMacAddress: '' })), 'host_dvr_mac_address is empty');
  assert.match(
    errorOf(router('r1', { subnetRoutingTables: [{ subnetId: '' }] })),
    'subnet_routing_tables[0].subnet_id is empty',
  );
  assert.match(
    errorOf(
      router('r1', {
        subnetRoutingTables: [
          { subnetId: 'sn1', routingRules: [{ destination: '10.0.0.0/8', nextHopIp: '10.0.1.x' }] },
        ],
      }),
    ),
    'subnet_routing_tables[0].routing_rules[0].next_hop_ip',
  );
});

test('rule: gateway destinations need a valid IP and MAC', () => {
  assert.match(
    errorOf(gateway('g1', { destinations: [{ ipAddress: '192.0.2.300', macAddress: '02:00:00:00:10:01' }] })),
    'destinations[0].ip_address',
  );
  assert.match(
    errorOf(gateway('g1', { destinations: [{ ipAddress: '192.0.2.10', macAddress: '' }] })),
    'destinations[0].mac_address is empty',
  );
  assert.match(errorOf(gateway('g1', { gatewayType: 17 as GatewayType })), 'gateway_type 17');
});

test('rule: unknown operation types are INVALID_ARG', () => {
  assert.match(errorOf(port('p1', {}, 9 as OperationType)), 'operation_type 9 is not one of');
});

test('revision 0 is accepted (it means unordered)', () => {
  assert.is(okResource(port('p1', { revisionNumber: 0 })).revision, 0);
});

test('a hand-built message with a missing list is INVALID_ARG, not a crash', () => {
  const gs = v1([port('p1')]);
  const cfg = gs.portStates[0]?.configuration as unknown as Record<string, unknown>;
  cfg['fixedIps'] = undefined;
  assert.match(fromGoalState(gs).ops[0]?.error ?? '', 'malformed configuration');
  const nulls = v1([port('p1'), port('p2')]);
  (nulls.portStates as unknown[])[0] = null;
  (nulls.portStates[1] as unknown as Record<string, unknown>)['configuration'] = null;
  assert.equal(
    fromGoalState(nulls).ops.map((o) => o.error),
    ['a port state has no configuration', 'a port state has no configuration'],
  );
});

test.run();
