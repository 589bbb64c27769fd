// Wire compatibility of the generated ts-proto codecs with the contract, checked by implementations that share no
// code with them:
//   (a) protobufjs reflection over proto/*.proto: for EVERY message type, a fully populated message encoded by
//       ts-proto decodes in protobufjs to the same values, the reverse too, and both encoders emit the same bytes;
//   (b) bytes built by hand from field numbers and wire types (test/wire-writer.ts) decode with ts-proto to the
//       expected values: generically for every type, and with literal field numbers taken from the contract
//       (alcor-aca.md §2) for each configuration, the GoalStateV2 maps, the gateway oneof, the misspelled
//       `neigborstates`, and the RPC request/reply messages.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as protobuf from 'protobufjs';
import * as gen from '../proto';
import {
  DestinationType,
  DHCPConfiguration,
  EtherType,
  GatewayConfiguration,
  GatewayType,
  GoalState,
  GoalStateOperationReply,
  GoalStateV2,
  HostRequest,
  HostRequestReply,
  NeighborConfiguration,
  NeighborRulesRequest,
  NeighborType,
  NetworkType,
  OperationStatus,
  OperationType,
  PortConfiguration,
  Protocol,
  RequestType,
  ResourceType,
  RouterConfiguration,
  SecurityGroupConfiguration,
  SecurityGroupConfiguration_Direction,
  SubnetConfiguration,
  UpdateType,
  VpcConfiguration,
} from '../proto';
import { allMessageTypes, loadProtoRoot } from './protos';
import { WT_LEN, WT_VARINT, bytes, entry, len, m, s, tag, u, varint, type Part } from './wire-writer';

type Obj = Record<string, unknown>;
interface Codec {
  encode(message: unknown): { finish(): Uint8Array };
  decode(input: Uint8Array): unknown;
}

const root = loadProtoRoot(true);
const types = allMessageTypes(root);
const LARGE_UINT64 = '1099511627899'; // 2^40 + 123: beyond uint32, still exact as a JS number (forceLong=number)
const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  defaults: false,
  arrays: false,
  objects: false,
  oneofs: false,
};

function codecFor(name: string): Codec {
  const codec = (gen as unknown as Record<string, Codec | undefined>)[name.replace(/\./g, '_')];
  if (codec === undefined || typeof codec.encode !== 'function') throw new Error(`no generated codec for ${name}`);
  return codec;
}

// ---------------------------------------------------------------------------------------------------------------
// Populated values, keyed by proto field names (the protobufjs keepCase form)

let counter = 0;

/** Every field set: repeated with 2 items, maps with 2 entries, enums non-zero, large numbers. `variant` picks the oneof member. */
function populate(type: protobuf.Type, variant: number): Obj {
  const out: Obj = {};
  for (const oneof of type.oneofsArray) {
    const chosen = oneof.fieldsArray[variant % oneof.fieldsArray.length];
    for (const f of oneof.fieldsArray) if (f !== chosen) out[`__skip_${f.name}`] = true;
  }
  for (const f of type.fieldsArray) {
    if (out[`__skip_${f.name}`] === true) {
      delete out[`__skip_${f.name}`];
      continue;
    }
    if (f instanceof protobuf.MapField) {
      const value = f.resolvedType;
      if (!(value instanceof protobuf.Type))
        throw new Error(`map ${f.fullName} with scalar values is not in the contract`);
      out[f.name] = { [`${f.name}-k1`]: populate(value, variant), [`${f.name}-k2`]: populate(value, variant) };
    } else if (f.repeated) {
      out[f.name] = [scalarOrMessage(f, variant), scalarOrMessage(f, variant)];
    } else {
      out[f.name] = scalarOrMessage(f, variant);
    }
  }
  return out;
}

function scalarOrMessage(f: protobuf.Field, variant: number): unknown {
  counter++;
  if (f.resolvedType instanceof protobuf.Type) return populate(f.resolvedType, variant);
  if (f.resolvedType instanceof protobuf.Enum) return Math.max(...Object.values(f.resolvedType.values));
  switch (f.type) {
    case 'string':
      return `${f.name}-ü€-${counter}`;
    case 'uint32':
      return 4_000_000_000 + counter; // above 2^31: catches signed handling
    case 'uint64':
      return LARGE_UINT64;
    case 'bool':
      return true;
    default:
      throw new Error(`${f.fullName}: type ${f.type} is not in the contract; extend the test`);
  }
}

/** The same value in ts-proto's shape: camelCase names, oneofs as {$case}, uint64 as number. */
function toTsProto(type: protobuf.Type, value: Obj): Obj {
  const out: Obj = {};
  for (const f of type.fieldsArray) {
    const v = value[f.name];
    if (v === undefined) continue;
    const conv = (x: unknown): unknown =>
      f.resolvedType instanceof protobuf.Type
        ? toTsProto(f.resolvedType, x as Obj)
        : f.type === 'uint64'
          ? Number(x)
          : x;
    let converted: unknown;
    if (f instanceof protobuf.MapField)
      converted = Object.fromEntries(Object.entries(v as Obj).map(([k, x]) => [k, conv(x)]));
    else if (f.repeated) converted = (v as unknown[]).map(conv);
    else converted = conv(v);
    const name = camel(f.name);
    if (f.partOf !== null && f.partOf !== undefined) out[camel(f.partOf.name)] = { $case: name, [name]: converted };
    else out[name] = converted;
  }
  return out;
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** Hand-encodes a value with the test writer, from the field numbers and types in the .proto files. */
function handEncode(type: protobuf.Type, value: Obj): Part {
  const parts: Part[] = [];
  for (const f of [...type.fieldsArray].sort((a, b) => a.id - b.id)) {
    const v = value[f.name];
    if (v === undefined) continue;
    const enc = (fieldNo: number, x: unknown): Part => {
      if (f.resolvedType instanceof protobuf.Type) return len(fieldNo, handEncode(f.resolvedType, x as Obj));
      if (f.type === 'string') return s(fieldNo, x as string);
      return u(fieldNo, f.type === 'uint64' ? BigInt(x as string) : (x as number | boolean));
    };
    if (f instanceof protobuf.MapField) {
      for (const [k, x] of Object.entries(v as Obj)) parts.push(m(f.id, s(1, k), enc(2, x)));
    } else if (f.repeated) {
      for (const x of v as unknown[]) parts.push(enc(f.id, x));
    } else {
      parts.push(enc(f.id, v));
    }
  }
  return parts.flat();
}

/** Every (type, variant) pair: one variant per oneof member, so each member is exercised. */
function cases(): { name: string; type: protobuf.Type; variant: number }[] {
  const out: { name: string; type: protobuf.Type; variant: number }[] = [];
  for (const [name, type] of types) {
    const variants = Math.max(1, ...type.oneofsArray.map((o) => o.fieldsArray.length), ...nestedOneofWidths(type));
    for (let variant = 0; variant < variants; variant++) out.push({ name, type, variant });
  }
  return out;
}

function nestedOneofWidths(type: protobuf.Type, seen = new Set<string>()): number[] {
  if (seen.has(type.fullName)) return [];
  seen.add(type.fullName);
  const widths: number[] = [];
  for (const f of type.fieldsArray) {
    if (f.resolvedType instanceof protobuf.Type) {
      widths.push(
        ...f.resolvedType.oneofsArray.map((o) => o.fieldsArray.length),
        ...nestedOneofWidths(f.resolvedType, seen),
      );
    }
  }
  return widths;
}

// ---------------------------------------------------------------------------------------------------------------
// (a) ts-proto <-> protobufjs, every message type

test('protobufjs sees every message type of the contract', () => {
  assert.ok(types.size >= 40, `${types.size} types`);
  for (const name of [
    'GoalState',
    'GoalStateV2',
    'NeighborRulesRequest',
    'GatewayConfiguration.arion',
    'HostRequest.ResourceStateRequest',
  ]) {
    assert.ok(types.has(name), name);
  }
});

test('(a) every message type: ts-proto bytes decode in protobufjs to the same values, and back', () => {
  let checked = 0;
  for (const { name, type, variant } of cases()) {
    const codec = codecFor(name);
    const value = populate(type, variant);
    const tsValue = toTsProto(type, value);

    const tsBytes = codec.encode(tsValue).finish();
    const seenByPbjs = type.toObject(type.decode(tsBytes), TO_OBJECT);
    assert.equal(seenByPbjs, value, `${name} (variant ${variant}): ts-proto -> protobufjs`);

    const pbjsBytes = type.encode(type.fromObject(value)).finish();
    assert.equal(codec.decode(pbjsBytes), tsValue, `${name} (variant ${variant}): protobufjs -> ts-proto`);
    assert.equal(
      Buffer.from(tsBytes).toString('hex'),
      Buffer.from(pbjsBytes).toString('hex'),
      `${name}: byte-identical encodings`,
    );
    checked++;
  }
  assert.ok(checked >= types.size);
});

test('(a) uint64 subnet tunnel_id survives both codecs beyond 32 bits', () => {
  const cfg = SubnetConfiguration.fromPartial({ id: 's', tunnelId: 2 ** 40 + 123 });
  const type = root.lookupType('alcor.schema.SubnetConfiguration');
  const decoded = type.toObject(type.decode(SubnetConfiguration.encode(cfg).finish()), TO_OBJECT) as Obj;
  assert.is(decoded['tunnel_id'], LARGE_UINT64);
});

// ---------------------------------------------------------------------------------------------------------------
// (b) hand-built bytes -> ts-proto

test('(b) every message type: bytes hand-built from field numbers decode with ts-proto to the expected values', () => {
  for (const { name, type, variant } of cases()) {
    const value = populate(type, variant);
    assert.equal(
      codecFor(name).decode(Uint8Array.from(handEncode(type, value))),
      toTsProto(type, value),
      `${name} (variant ${variant})`,
    );
  }
});

// Literal field numbers below come from the contract (alcor-aca.md §2), not from the .proto files.
const HEAD = (id: string): Part[] => [u(1, 7), s(2, 'req-1'), s(3, id), u(4, UpdateType.FULL)];

test('(b) VpcConfiguration: tunnel_id=8 uint32, repeated gateway_ids=9', () => {
  const buf = bytes(
    ...HEAD('vpc-1'),
    s(5, 'proj'),
    s(6, 'vpc'),
    s(7, '10.0.0.0/16'),
    u(8, 4_000_000_000),
    s(9, 'gw-a'),
    s(9, 'gw-b'),
  );
  assert.equal(
    VpcConfiguration.decode(buf),
    VpcConfiguration.fromPartial({
      revisionNumber: 7,
      requestId: 'req-1',
      id: 'vpc-1',
      updateType: UpdateType.FULL,
      projectId: 'proj',
      name: 'vpc',
      cidr: '10.0.0.0/16',
      tunnelId: 4_000_000_000,
      gatewayIds: ['gw-a', 'gw-b'],
    }),
  );
});

test('(b) SubnetConfiguration: tunnel_id=9 uint64, gateway=10, dhcp_enable=11, options=12, dns=13, az=14', () => {
  const buf = bytes(
    ...HEAD('sn-1'),
    u(5, NetworkType.GENEVE),
    s(6, 'vpc-1'),
    s(7, 'subnet'),
    s(8, '10.0.0.0/24'),
    u(9, 2n ** 40n + 123n),
    m(10, s(1, '10.0.0.1'), s(2, 'fa:16:3e:d7:f2:11')),
    u(11, true),
    m(12, s(1, 'mtu'), s(2, '1450')),
    m(12, s(1, 'ntp'), s(2, '10.0.0.9')),
    m(13, s(1, '8.8.8.8')),
    s(14, 'az-1'),
  );
  assert.equal(
    SubnetConfiguration.decode(buf),
    SubnetConfiguration.fromPartial({
      revisionNumber: 7,
      requestId: 'req-1',
      id: 'sn-1',
      updateType: UpdateType.FULL,
      networkType: NetworkType.GENEVE,
      vpcId: 'vpc-1',
      name: 'subnet',
      cidr: '10.0.0.0/24',
      tunnelId: 2 ** 40 + 123,
      gateway: { ipAddress: '10.0.0.1', macAddress: 'fa:16:3e:d7:f2:11' },
      dhcpEnable: true,
      extraDhcpOptions: [
        { name: 'mtu', value: '1450' },
        { name: 'ntp', value: '10.0.0.9' },
      ],
      dnsEntryList: [{ entry: '8.8.8.8' }],
      availabilityZone: 'az-1',
    }),
  );
});

test('(b) PortConfiguration: fields 5-14 with host_info, fixed_ips, address pairs, security groups', () => {
  const buf = bytes(
    ...HEAD('port-1'),
    s(5, 'vpc-1'),
    s(6, 'p'),
    s(7, 'dev'),
    s(8, 'compute:nova'),
    s(9, 'fa:16:3e:00:00:01'),
    u(10, true),
    m(11, s(1, '172.16.0.1'), s(2, '52:54:00:00:00:01')),
    m(12, s(1, 'sn-1'), s(2, '10.0.0.2')),
    m(13, s(1, '10.0.0.200'), s(2, 'fa:16:3e:00:00:02')),
    m(14, s(1, 'sg-1')),
    m(14, s(1, 'sg-2')),
  );
  assert.equal(
    PortConfiguration.decode(buf),
    PortConfiguration.fromPartial({
      revisionNumber: 7,
      requestId: 'req-1',
      id: 'port-1',
      updateType: UpdateType.FULL,
      vpcId: 'vpc-1',
      name: 'p',
      deviceId: 'dev',
      deviceOwner: 'compute:nova',
      macAddress: 'fa:16:3e:00:00:01',
      adminStateUp: true,
      hostInfo: { ipAddress: '172.16.0.1', macAddress: '52:54:00:00:00:01' },
      fixedIps: [{ subnetId: 'sn-1', ipAddress: '10.0.0.2' }],
      allowAddressPairs: [{ ipAddress: '10.0.0.200', macAddress: 'fa:16:3e:00:00:02' }],
      securityGroupIds: [{ id: 'sg-1' }, { id: 'sg-2' }],
    }),
  );
});

test('(b) NeighborConfiguration: host fields 8-9, fixed_ips=10 with neighbor_type and uint32 tunnel_id, pairs=11', () => {
  const buf = bytes(
    ...HEAD('nbr-1'),
    s(5, 'vpc-1'),
    s(6, 'n'),
    s(7, '6c:dd:ee:00:00:01'),
    s(8, '52:54:00:00:00:09'),
    s(9, '123.0.0.1'),
    m(10, u(1, NeighborType.L3), s(2, 'sn-1'), s(3, '10.0.0.1'), s(4, 'arion-g'), u(5, 20)),
    m(11, s(1, '10.0.0.201'), s(2, '6c:dd:ee:00:00:02')),
  );
  assert.equal(
    NeighborConfiguration.decode(buf),
    NeighborConfiguration.fromPartial({
      revisionNumber: 7,
      requestId: 'req-1',
      id: 'nbr-1',
      updateType: UpdateType.FULL,
      vpcId: 'vpc-1',
      name: 'n',
      macAddress: '6c:dd:ee:00:00:01',
      hostMacAddress: '52:54:00:00:00:09',
      hostIpAddress: '123.0.0.1',
      fixedIps: [
        { neighborType: NeighborType.L3, subnetId: 'sn-1', ipAddress: '10.0.0.1', arionGroup: 'arion-g', tunnelId: 20 },
      ],
      allowAddressPairs: [{ ipAddress: '10.0.0.201', macAddress: '6c:dd:ee:00:00:02' }],
    }),
  );
});

test('(b) SecurityGroupConfiguration: rules=7 with direction, ethertype, protocol, port range, remotes', () => {
  const rule = m(
    7,
    u(1, OperationType.UPDATE),
    s(2, 'sg-1'),
    s(3, 'r1'),
    u(4, 1),
    u(5, EtherType.IPV6),
    u(6, Protocol.UDP),
    u(7, 8000),
    u(8, 8080),
    s(9, '::/0'),
    s(10, 'sg-2'),
  );
  const buf = bytes(...HEAD('sg-1'), s(5, 'vpc-1'), s(6, 'web'), rule);
  assert.equal(
    SecurityGroupConfiguration.decode(buf),
    SecurityGroupConfiguration.fromPartial({
      revisionNumber: 7,
      requestId: 'req-1',
      id: 'sg-1',
      updateType: UpdateType.FULL,
      vpcId: 'vpc-1',
      name: 'web',
      securityGroupRules: [
        {
          operationType: OperationType.UPDATE,
          securityGroupId: 'sg-1',
          id: 'r1',
          direction: SecurityGroupConfiguration_Direction.INGRESS,
          ethertype: EtherType.IPV6,
          protocol: Protocol.UDP,
          portRangeMin: 8000,
          portRangeMax: 8080,
          remoteIpPrefix: '::/0',
          remoteGroupId: 'sg-2',
        },
      ],
    }),
  );
});

test('(b) DHCPConfiguration: subnet_id=5 .. port_host_name=9', () => {
  const buf = bytes(
    ...HEAD('dhcp-1'),
    s(5, 'sn-1'),
    s(6, 'fa:16:3e:00:00:01'),
    s(7, '10.0.0.2'),
    s(8, 'fd00::2'),
    s(9, 'vm1'),
  );
  assert.equal(
    DHCPConfiguration.decode(buf),
    DHCPConfiguration.fromPartial({
      revisionNumber: 7,
      requestId: 'req-1',
      id: 'dhcp-1',
      updateType: UpdateType.FULL,
      subnetId: 'sn-1',
      macAddress: 'fa:16:3e:00:00:01',
      ipv4Address: '10.0.0.2',
      ipv6Address: 'fd00::2',
      portHostName: 'vm1',
    }),
  );
});

test('(b) RouterConfiguration: dvr mac=5, subnet_routing_tables=6 > routing_rules=2 > extra info=7', () => {
  const ruleBytes = m(
    2,
    u(1, OperationType.CREATE),
    s(2, 'rr-1'),
    s(3, 'to-sn2'),
    s(4, '10.0.1.0/24'),
    s(5, '10.0.1.1'),
    u(6, 100),
    m(7, u(1, DestinationType.VPC_GW), s(2, 'fa:16:3e:d7:f2:12')),
  );
  const buf = bytes(...HEAD('router-1'), s(5, 'fa:16:3e:d7:f2:02'), m(6, s(1, 'sn-1'), ruleBytes), m(6, s(1, 'sn-2')));
  assert.equal(
    RouterConfiguration.decode(buf),
    RouterConfiguration.fromPartial({
      revisionNumber: 7,
      requestId: 'req-1',
      id: 'router-1',
      updateType: UpdateType.FULL,
      hostDvrMacAddress: 'fa:16:3e:d7:f2:02',
      subnetRoutingTables: [
        {
          subnetId: 'sn-1',
          routingRules: [
            {
              operationType: OperationType.CREATE,
              id: 'rr-1',
              name: 'to-sn2',
              destination: '10.0.1.0/24',
              nextHopIp: '10.0.1.1',
              priority: 100,
              routingRuleExtraInfo: { destinationType: DestinationType.VPC_GW, nextHopMac: 'fa:16:3e:d7:f2:12' },
            },
          ],
        },
        { subnetId: 'sn-2', routingRules: [] },
      ],
    }),
  );
});

test('(b) GatewayConfiguration: field 4 is gateway_type, destinations=5, oneof zeta_info=6 | arion_info=7', () => {
  const head = [
    u(1, 7),
    s(2, 'req-1'),
    s(3, 'gw-1'),
    u(4, GatewayType.ARION),
    m(5, s(1, '172.16.0.9'), s(2, '52:54:00:00:00:09')),
  ];
  const zeta = GatewayConfiguration.decode(bytes(...head, m(6, u(1, 8300))));
  assert.is(zeta.gatewayType, GatewayType.ARION);
  assert.equal(zeta.destinations, [{ ipAddress: '172.16.0.9', macAddress: '52:54:00:00:00:09' }]);
  assert.equal(zeta.extraInfo, { $case: 'zetaInfo', zetaInfo: { portInbandOperation: 8300 } });
  const arion = GatewayConfiguration.decode(bytes(...head, m(7, s(1, 'vpc-1'), u(2, 20), s(3, 'sn-1'), u(4, 5))));
  assert.equal(arion.extraInfo, {
    $case: 'arionInfo',
    arionInfo: { vpcId: 'vpc-1', vni: 20, subnetId: 'sn-1', portInbandOperation: 5 },
  });
  // A oneof keeps the last member seen on the wire.
  const both = GatewayConfiguration.decode(bytes(...head, m(7, s(1, 'vpc-1')), m(6, u(1, 1))));
  assert.equal(both.extraInfo, { $case: 'zetaInfo', zetaInfo: { portInbandOperation: 1 } });
});

test('(b) GoalStateV2: host_resources=2 and the eight resource maps 3..10 (entry key=1, value=2)', () => {
  const st = (id: string): Part[] => [u(1, OperationType.CREATE), m(2, s(3, id))];
  const buf = bytes(
    u(1, 102),
    entry(2, '172.16.0.1', m(1, u(1, ResourceType.NEIGHBOR), s(2, 'n1')), m(1, u(1, ResourceType.GATEWAY), s(2, 'g1'))),
    entry(3, 'v1', ...st('v1')),
    entry(4, 's1', ...st('s1')),
    entry(5, 'p1', ...st('p1')),
    entry(6, 'd1', ...st('d1')),
    entry(7, 'n1', ...st('n1')),
    entry(7, 'n2', ...st('n2')),
    entry(8, 'sg1', ...st('sg1')),
    entry(9, 'r1', ...st('r1')),
    entry(10, 'g1', ...st('g1')),
  );
  const gs = GoalStateV2.decode(buf);
  assert.is(gs.formatVersion, 102);
  assert.equal(gs.hostResources, {
    '172.16.0.1': {
      resources: [
        { type: ResourceType.NEIGHBOR, id: 'n1' },
        { type: ResourceType.GATEWAY, id: 'g1' },
      ],
    },
  });
  const ids = (mp: Record<string, { configuration?: { id: string } | undefined }>): string[] =>
    Object.entries(mp).map(([k, v]) => `${k}=${v.configuration?.id ?? ''}`);
  assert.equal(ids(gs.vpcStates), ['v1=v1']);
  assert.equal(ids(gs.subnetStates), ['s1=s1']);
  assert.equal(ids(gs.portStates), ['p1=p1']);
  assert.equal(ids(gs.dhcpStates), ['d1=d1']);
  assert.equal(ids(gs.neighborStates), ['n1=n1', 'n2=n2']);
  assert.equal(ids(gs.securityGroupStates), ['sg1=sg1']);
  assert.equal(ids(gs.routerStates), ['r1=r1']);
  assert.equal(ids(gs.gatewayStates), ['g1=g1']);
  assert.is(gs.neighborStates['n1']?.operationType, OperationType.CREATE);
});

test('(b) map entries: value before key, missing key, and a repeated key (last wins)', () => {
  const valueFirst = bytes(m(7, m(2, u(1, OperationType.DELETE)), s(1, 'n1')));
  assert.is(GoalStateV2.decode(valueFirst).neighborStates['n1']?.operationType, OperationType.DELETE);
  const noKey = bytes(m(3, m(2, u(1, OperationType.UPDATE))));
  assert.is(GoalStateV2.decode(noKey).vpcStates['']?.operationType, OperationType.UPDATE);
  const twice = bytes(entry(5, 'p', u(1, OperationType.CREATE)), entry(5, 'p', u(1, OperationType.DELETE)));
  assert.is(GoalStateV2.decode(twice).portStates['p']?.operationType, OperationType.DELETE);
});

test('(b) GoalState v1: repeated states 2..9 in field order, DHCP at 7', () => {
  const st = (id: string): Part[] => [u(1, OperationType.UPDATE), m(2, s(3, id))];
  const buf = bytes(
    u(1, 101),
    m(2, ...st('v')),
    m(3, ...st('s')),
    m(4, ...st('p')),
    m(5, ...st('n1')),
    m(5, ...st('n2')),
    m(6, ...st('sg')),
    m(7, ...st('d')),
    m(8, ...st('r')),
    m(9, ...st('g')),
  );
  const gs = GoalState.decode(buf);
  const ids = (xs: readonly { configuration?: { id: string } | undefined }[]): string[] =>
    xs.map((x) => x.configuration?.id ?? '');
  assert.is(gs.formatVersion, 101);
  assert.equal(
    [
      gs.vpcStates,
      gs.subnetStates,
      gs.portStates,
      gs.neighborStates,
      gs.securityGroupStates,
      gs.dhcpStates,
      gs.routerStates,
      gs.gatewayStates,
    ].map(ids),
    [['v'], ['s'], ['p'], ['n1', 'n2'], ['sg'], ['d'], ['r'], ['g']],
  );
});

test('(b) NeighborRulesRequest: the misspelled neigborstates=3 (also its JSON name)', () => {
  const buf = bytes(u(1, 101), s(2, 'req-9'), m(3, u(1, OperationType.CREATE), m(2, s(3, 'n1'))));
  const req = NeighborRulesRequest.decode(buf);
  assert.is(req.requestId, 'req-9');
  assert.is(req.neigborstates.length, 1);
  assert.is(req.neigborstates[0]?.configuration?.id, 'n1');
  assert.ok('neigborstates' in (NeighborRulesRequest.toJSON(req) as Obj), 'JSON keeps the misspelling');
});

test('(b) HostRequest: state_requests=2 with the nine ResourceStateRequest fields', () => {
  const r = m(
    2,
    u(1, RequestType.AGENT_RESTARTED),
    s(2, 'uuid-1'),
    u(3, 20),
    s(4, '10.0.0.2'),
    u(5, 40000),
    s(6, '10.0.0.3'),
    u(7, 443),
    u(8, EtherType.IPV4),
    u(9, Protocol.TCP),
  );
  const req = HostRequest.decode(bytes(u(1, 101), r, r));
  assert.is(req.formatVersion, 101);
  assert.is(req.stateRequests.length, 2);
  assert.equal(req.stateRequests[0], {
    requestType: RequestType.AGENT_RESTARTED,
    requestId: 'uuid-1',
    tunnelId: 20,
    sourceIp: '10.0.0.2',
    sourcePort: 40000,
    destinationIp: '10.0.0.3',
    destinationPort: 443,
    ethertype: EtherType.IPV4,
    protocol: Protocol.TCP,
  });
});

test('(b) HostRequestReply: operation_statuses=2 {request_id=1, operation_status=2}, total_operation_time=3', () => {
  const reply = HostRequestReply.decode(
    bytes(u(1, 101), m(2, s(1, 'uuid-1'), u(2, OperationStatus.FAILURE)), u(3, 1234)),
  );
  assert.equal(
    reply,
    HostRequestReply.fromPartial({
      formatVersion: 101,
      operationStatuses: [{ requestId: 'uuid-1', operationStatus: OperationStatus.FAILURE }],
      totalOperationTime: 1234,
    }),
  );
});

test('(b) GoalStateOperationReply: statuses=2 with the seven fields, message_total_operation_time=3', () => {
  const st = m(
    2,
    s(1, 'port-1'),
    u(2, ResourceType.PORT),
    u(3, OperationType.CREATE),
    u(4, OperationStatus.OUT_OF_ORDER),
    u(5, 11),
    u(6, 22),
    u(7, 33),
  );
  const reply = GoalStateOperationReply.decode(bytes(u(1, 102), st, u(3, 99)));
  assert.equal(
    reply,
    GoalStateOperationReply.fromPartial({
      formatVersion: 102,
      operationStatuses: [
        {
          resourceId: 'port-1',
          resourceType: ResourceType.PORT,
          operationType: OperationType.CREATE,
          operationStatus: OperationStatus.OUT_OF_ORDER,
          dataplaneProgrammingTime: 11,
          networkConfigurationTime: 22,
          stateElapseTime: 33,
        },
      ],
      messageTotalOperationTime: 99,
    }),
  );
});

test('(b) decoders skip unknown fields and read fields in any order', () => {
  const buf = bytes(
    s(6, 'vpc'),
    [...tag(99, WT_LEN), ...varint(2), 1, 2],
    u(1, 3),
    [...tag(100, WT_VARINT), ...varint(5)],
    s(3, 'id'),
  );
  assert.equal(
    VpcConfiguration.decode(buf),
    VpcConfiguration.fromPartial({ revisionNumber: 3, id: 'id', name: 'vpc' }),
  );
});

test.run();
