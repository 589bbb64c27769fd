// GoalState (v1, lists) and GoalStateV2 (maps keyed by id) -> one GoalStateModel.
//
// Each resource state becomes a ResourceOp. Everything that can be judged from the message alone
// is judged here (address syntax, tunnel id ranges, required fields, IPv6, rule ranges): a bad
// state gets `error` (a sentence an operator can act on) and no `resource`, which the store turns
// into INVALID_ARG. Checks that need other resources (does the port's subnet exist? does the
// router's DVR MAC agree with the held one?) are the store's (store.ts), because they depend on
// the held state as well as on the message.
//
// Decisions (differences from the C++ agent are deliberate, see reference §1.3):
// - Op order: kinds in dependency order (vpc, subnet, securityGroup, gateway, router, port,
//   neighbor, dhcp); within a kind, message order for v1 and ids sorted (UTF-16 code-unit order)
//   for v2, so the same message always gives the same ops whatever its map order.
// - Every fixed IP of a port or neighbor is read and checked, not only fixed_ips[0].
// - revision_number 0 is accepted and means "unordered": the store skips the revision comparison
//   when either side is 0 (Alcor leaves it unset in several paths).
// - DELETE and GET are validated like the other operations: a state whose fields are malformed is
//   INVALID_ARG whatever it asks for. Only "port CREATE needs update_type FULL" is per operation.
// - UPDATE is an upsert for every kind. ACA's V1 "port UPDATE with empty device_id means DELETE"
//   convention is not reproduced: Alcor sends DELETE for deletes.
// - Security-group rules and routing rules carry their own operation_type; rules marked DELETE
//   are dropped from the normalized resource (the held resource is replaced as a whole, so a rule
//   absent from the new version is gone).
// - A security-group rule protocol of HTTP or ARP is refused (the proto has no "any protocol"
//   value; TCP is its default).

import {
  DestinationType,
  EtherType,
  GatewayType,
  NeighborType,
  NetworkType,
  OperationType,
  Protocol,
  ResourceType,
  SecurityGroupConfiguration_Direction,
  UpdateType,
} from '../../proto';
import type {
  DHCPConfiguration,
  GatewayConfiguration,
  GoalState,
  GoalStateV2,
  HostResources,
  NeighborConfiguration,
  PortConfiguration,
  RouterConfiguration,
  SecurityGroupConfiguration,
  SubnetConfiguration,
  VpcConfiguration,
} from '../../proto';
import type {
  AddressPair,
  Cidr,
  Dhcp,
  Gateway,
  GatewayKind,
  GoalStateModel,
  Ipv4,
  Mac,
  Neighbor,
  NetworkKind,
  Port,
  Resource,
  ResourceKind,
  ResourceOp,
  RouteRule,
  Router,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  Vpc,
} from '../model';
import {
  INVALID,
  cidrContains,
  cidrProblem,
  formatCidr,
  ipv4Problem,
  macProblem,
  parseCidr,
  parseIpv4,
  parseMac,
} from './addr';

/** Kinds in dependency order: a kind only refers to kinds before it. */
export const KIND_ORDER: readonly ResourceKind[] = [
  'vpc',
  'subnet',
  'securityGroup',
  'gateway',
  'router',
  'port',
  'neighbor',
  'dhcp',
];

export const RESOURCE_TYPE_OF_KIND: { readonly [K in ResourceKind]: ResourceType } = {
  vpc: ResourceType.VPC,
  subnet: ResourceType.SUBNET,
  port: ResourceType.PORT,
  neighbor: ResourceType.NEIGHBOR,
  securityGroup: ResourceType.SECURITYGROUP,
  dhcp: ResourceType.DHCP,
  router: ResourceType.ROUTER,
  gateway: ResourceType.GATEWAY,
};

/** ResourceType -> kind; undefined for values outside the enum. */
export function kindOfResourceType(type: ResourceType): ResourceKind | undefined {
  switch (type) {
    case ResourceType.VPC:
      return 'vpc';
    case ResourceType.SUBNET:
      return 'subnet';
    case ResourceType.PORT:
      return 'port';
    case ResourceType.NEIGHBOR:
      return 'neighbor';
    case ResourceType.SECURITYGROUP:
      return 'securityGroup';
    case ResourceType.DHCP:
      return 'dhcp';
    case ResourceType.ROUTER:
      return 'router';
    case ResourceType.GATEWAY:
      return 'gateway';
    default:
      return undefined;
  }
}

/** Largest segment id per network type: 24-bit VNI / key for the tunnels, 12-bit VID minus 4095 for VLAN. */
export const MAX_TUNNEL_ID = 16777215;
export const MAX_VLAN_ID = 4094;

// ---------------------------------------------------------------------------------------------
// Entry points

/** Normalizes a GoalStateV2: ids come from the map keys, which are sorted for a deterministic order. */
export function fromGoalStateV2(msg: GoalStateV2): GoalStateModel {
  const ops: ResourceOp[] = [];
  addMapOps(ops, 'vpc', msg.vpcStates, normalizeVpc);
  addMapOps(ops, 'subnet', msg.subnetStates, normalizeSubnet);
  addMapOps(ops, 'securityGroup', msg.securityGroupStates, normalizeSecurityGroup);
  addMapOps(ops, 'gateway', msg.gatewayStates, normalizeGateway);
  addMapOps(ops, 'router', msg.routerStates, normalizeRouter);
  addMapOps(ops, 'port', msg.portStates, normalizePort);
  addMapOps(ops, 'neighbor', msg.neighborStates, normalizeNeighbor);
  addMapOps(ops, 'dhcp', msg.dhcpStates, normalizeDhcp);
  return { formatVersion: msg.formatVersion, ops, hostResources: normalizeHostResources(msg.hostResources) };
}

/** Normalizes a v1 GoalState: ids come from configuration.id, message order is kept within a kind. */
export function fromGoalState(msg: GoalState): GoalStateModel {
  const ops: ResourceOp[] = [];
  addListOps(ops, 'vpc', msg.vpcStates, normalizeVpc);
  addListOps(ops, 'subnet', msg.subnetStates, normalizeSubnet);
  addListOps(ops, 'securityGroup', msg.securityGroupStates, normalizeSecurityGroup);
  addListOps(ops, 'gateway', msg.gatewayStates, normalizeGateway);
  addListOps(ops, 'router', msg.routerStates, normalizeRouter);
  addListOps(ops, 'port', msg.portStates, normalizePort);
  addListOps(ops, 'neighbor', msg.neighborStates, normalizeNeighbor);
  addListOps(ops, 'dhcp', msg.dhcpStates, normalizeDhcp);
  return { formatVersion: msg.formatVersion, ops, hostResources: new Map() };
}

// ---------------------------------------------------------------------------------------------
// State -> op

interface CommonConfig {
  readonly revisionNumber: number;
  readonly requestId: string;
  readonly id: string;
  /** Absent on GatewayConfiguration, whose field 4 is gateway_type. */
  readonly updateType?: UpdateType;
}

interface AnyState<C> {
  readonly operationType: OperationType;
  readonly configuration: C | undefined;
}

/** Builds the resource from a configuration; throws InvalidArg for bad input. */
type Normalizer<C> = (config: C, id: string) => Resource;

/** A reason the input is invalid; caught per state and turned into ResourceOp.error. */
class InvalidArg extends Error {
  readonly code = 'INVALID_ARG';
}

function invalid(reason: string): never {
  throw new InvalidArg(reason);
}

function addMapOps<C extends CommonConfig>(
  out: ResourceOp[],
  kind: ResourceKind,
  states: { readonly [id: string]: AnyState<C> } | undefined,
  normalize: Normalizer<C>,
): void {
  if (states === undefined) return;
  const ids = Object.keys(states).sort();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as string;
    out.push(makeOp(kind, id, true, states[id], normalize));
  }
}

function addListOps<C extends CommonConfig>(
  out: ResourceOp[],
  kind: ResourceKind,
  states: readonly AnyState<C>[] | undefined,
  normalize: Normalizer<C>,
): void {
  if (states === undefined) return;
  for (let i = 0; i < states.length; i++) {
    const state = states[i];
    out.push(makeOp(kind, state?.configuration?.id ?? '', false, state, normalize));
  }
}

const KIND_LABEL: { readonly [K in ResourceKind]: string } = {
  vpc: 'vpc',
  subnet: 'subnet',
  port: 'port',
  neighbor: 'neighbor',
  securityGroup: 'security group',
  dhcp: 'dhcp',
  router: 'router',
  gateway: 'gateway',
};

function makeOp<C extends CommonConfig>(
  kind: ResourceKind,
  id: string,
  idFromKey: boolean,
  state: AnyState<C> | undefined,
  normalize: Normalizer<C>,
): ResourceOp {
  const resourceType = RESOURCE_TYPE_OF_KIND[kind];
  // null only reaches here from hand-built (e.g. JSON-derived) messages; treat it as absent.
  const operation = state === undefined || state === null ? OperationType.INFO : state.operationType;
  const config = state?.configuration;
  if (config === undefined || config === null) {
    return {
      kind,
      id,
      operation,
      resourceType,
      resource: undefined,
      error: `${describe(kind, id, idFromKey)} has no configuration`,
      updateType: 'delta',
    };
  }
  const rawUpdate = config.updateType;
  const updateType = rawUpdate === UpdateType.DELTA ? 'delta' : 'full';
  let error: string | undefined;
  if (!isOperationType(operation)) {
    error = `operation_type ${String(operation)} is not one of INFO(0), CREATE(1), UPDATE(2), GET(3), DELETE(4)`;
  } else if (rawUpdate !== undefined && rawUpdate !== UpdateType.DELTA && rawUpdate !== UpdateType.FULL) {
    error = `update_type ${String(rawUpdate)} is not DELTA(0) or FULL(1)`;
  } else if (id === '') {
    error = idFromKey ? 'the map key (resource id) is empty' : 'configuration.id is empty';
  } else if (idFromKey && config.id !== '' && config.id !== id) {
    error = `configuration.id '${config.id}' differs from its map key '${id}' (they must name the same resource)`;
  } else if (kind === 'port' && operation === OperationType.CREATE && updateType === 'delta') {
    error = 'a port CREATE needs update_type FULL (got DELTA)';
  }
  if (error !== undefined) {
    return {
      kind,
      id,
      operation,
      resourceType,
      resource: undefined,
      error: `${describe(kind, id, idFromKey)}: ${error}`,
      updateType,
    };
  }
  try {
    const resource = normalize(config, id);
    return { kind, id, operation, resourceType, resource, error: undefined, updateType };
  } catch (e: unknown) {
    // Non-InvalidArg errors mean a structurally broken message object (e.g. built by hand with a
    // missing list): still the sender's fault, still not a reason to crash.
    const reason =
      e instanceof InvalidArg ? e.message : `malformed configuration (${e instanceof Error ? e.message : String(e)})`;
    return {
      kind,
      id,
      operation,
      resourceType,
      resource: undefined,
      error: `${describe(kind, id, idFromKey)}: ${reason}`,
      updateType,
    };
  }
}

/** How an error names the resource ("port 'p1'"), built only when there is an error. */
function describe(kind: ResourceKind, id: string, idFromKey: boolean): string {
  return idFromKey || id !== '' ? `${KIND_LABEL[kind]} '${id}'` : `a ${KIND_LABEL[kind]} state`;
}

function isOperationType(op: number): boolean {
  return (
    op === OperationType.INFO ||
    op === OperationType.CREATE ||
    op === OperationType.UPDATE ||
    op === OperationType.GET ||
    op === OperationType.DELETE
  );
}

function normalizeHostResources(
  map: { readonly [hostIp: string]: HostResources } | undefined,
): ReadonlyMap<string, readonly { readonly kind: ResourceKind; readonly id: string }[]> {
  const out = new Map<string, { kind: ResourceKind; id: string }[]>();
  if (map === undefined) return out;
  const hosts = Object.keys(map).sort();
  for (const host of hosts) {
    const list: { kind: ResourceKind; id: string }[] = [];
    // Entries of a type outside the enum are skipped: there is no op to report them against.
    for (const r of map[host]?.resources ?? []) {
      const kind = kindOfResourceType(r.type);
      if (kind !== undefined) list.push({ kind, id: r.id });
    }
    out.set(host, list);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Field readers. Field paths are only built into strings when something is wrong.

function path(list: string, index: number, field: string): string {
  return `${list}[${index}].${field}`;
}

function ipv4(field: string, text: string): Ipv4 {
  const ip = parseIpv4(text);
  if (ip === INVALID) invalid(ipv4Problem(field, text));
  return ip;
}

function ipv4At(list: string, index: number, field: string, text: string): Ipv4 {
  const ip = parseIpv4(text);
  if (ip === INVALID) invalid(ipv4Problem(path(list, index, field), text));
  return ip;
}

function mac(field: string, text: string): Mac {
  const m = parseMac(text);
  if (m === INVALID) invalid(macProblem(field, text));
  return m;
}

function macAt(list: string, index: number, field: string, text: string): Mac {
  const m = parseMac(text);
  if (m === INVALID) invalid(macProblem(path(list, index, field), text));
  return m;
}

function optionalMacAt(list: string, index: number, field: string, text: string): Mac | undefined {
  return text === '' ? undefined : macAt(list, index, field, text);
}

function cidr(field: string, text: string): Cidr {
  const c = parseCidr(text);
  if (c === undefined) invalid(cidrProblem(field, text));
  return c;
}

function nonEmptyAt(list: string, index: number, field: string, text: string): string {
  if (text === '') invalid(`${path(list, index, field)} is empty`);
  return text;
}

function addressPairs(
  list: string,
  pairs: readonly { readonly ipAddress: string; readonly macAddress: string }[],
): AddressPair[] {
  const out: AddressPair[] = new Array(pairs.length);
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i] as { readonly ipAddress: string; readonly macAddress: string };
    const ip = parseCidr(p.ipAddress, true);
    if (ip === undefined) invalid(cidrProblem(path(list, i, 'ip_address'), p.ipAddress, true));
    out[i] = { ip, mac: optionalMacAt(list, i, 'mac_address', p.macAddress) };
  }
  return out;
}

function checkSegmentId(field: string, tunnelId: number, networkType: NetworkKind): void {
  const max = networkType === 'vlan' ? MAX_VLAN_ID : MAX_TUNNEL_ID;
  if (tunnelId >= 1 && tunnelId <= max && Number.isInteger(tunnelId)) return;
  const name = NETWORK_NAME[networkType];
  if (tunnelId === 0) invalid(`${field} is 0: a subnet needs its segment id (1-${max} for ${name})`);
  invalid(`${field} ${tunnelId} is out of range for ${name} (1-${max})`);
}

const NETWORK_NAME: { readonly [K in NetworkKind]: string } = {
  vxlan: 'VXLAN',
  vlan: 'VLAN',
  gre: 'GRE',
  geneve: 'GENEVE',
  vxlan_gpe: 'VXLAN_GPE',
};

function networkKind(type: NetworkType): NetworkKind {
  switch (type) {
    case NetworkType.VXLAN:
      return 'vxlan';
    case NetworkType.VLAN:
      return 'vlan';
    case NetworkType.GRE:
      return 'gre';
    case NetworkType.GENEVE:
      return 'geneve';
    case NetworkType.VXLAN_GPE:
      return 'vxlan_gpe';
    default:
      return invalid(`network_type ${String(type)} is not one of VXLAN(0), VLAN(1), GRE(2), GENEVE(3), VXLAN_GPE(4)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Per-kind normalizers

function normalizeVpc(c: VpcConfiguration, id: string): Vpc {
  // A VPC's tunnel_id may be 0: the segment id that matters is the subnet's (as in Alcor).
  if (!(c.tunnelId >= 0 && c.tunnelId <= MAX_TUNNEL_ID)) invalid(`tunnel_id ${c.tunnelId} is over ${MAX_TUNNEL_ID}`);
  return {
    kind: 'vpc',
    id,
    revision: c.revisionNumber,
    requestId: c.requestId,
    projectId: c.projectId,
    name: c.name,
    cidr: c.cidr === '' ? undefined : cidr('cidr', c.cidr),
    tunnelId: c.tunnelId,
    gatewayIds: c.gatewayIds.slice(),
  };
}

function normalizeSubnet(c: SubnetConfiguration, id: string): Subnet {
  const networkType = networkKind(c.networkType);
  checkSegmentId('tunnel_id', c.tunnelId, networkType);
  if (c.cidr === '') invalid('cidr is empty (want address/prefix like 10.0.0.0/24)');
  const subnetCidr = cidr('cidr', c.cidr);
  let gateway: Subnet['gateway'];
  const g = c.gateway;
  if (g !== undefined && (g.ipAddress !== '' || g.macAddress !== '')) {
    if (g.ipAddress === '') invalid('gateway.ip_address is empty but gateway.mac_address is set');
    if (g.macAddress === '') invalid('gateway.mac_address is empty (a gateway IP needs its MAC)');
    gateway = { ip: ipv4('gateway.ip_address', g.ipAddress), mac: mac('gateway.mac_address', g.macAddress) };
    if (!cidrContains(subnetCidr, gateway.ip)) {
      invalid(`gateway.ip_address ${g.ipAddress} is outside the subnet's cidr ${formatCidr(subnetCidr)}`);
    }
  }
  const dnsServers: Ipv4[] = [];
  for (let i = 0; i < c.dnsEntryList.length; i++) {
    const entry = (c.dnsEntryList[i] as { entry: string }).entry;
    if (entry !== '') dnsServers.push(ipv4At('dns_entry_list', i, 'entry', entry));
  }
  return {
    kind: 'subnet',
    id,
    revision: c.revisionNumber,
    requestId: c.requestId,
    vpcId: c.vpcId,
    name: c.name,
    networkType,
    cidr: subnetCidr,
    tunnelId: c.tunnelId,
    gateway,
    dhcpEnable: c.dhcpEnable,
    dnsServers,
    extraDhcpOptions: c.extraDhcpOptions.map((o) => ({ name: o.name, value: o.value })),
    availabilityZone: c.availabilityZone,
  };
}

function normalizePort(c: PortConfiguration, id: string): Port {
  const n = c.fixedIps.length;
  if (n === 0) invalid('fixed_ips is empty: a port needs at least one fixed IP (subnet_id and ip_address)');
  const fixedIps: { subnetId: string; ip: Ipv4 }[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const f = c.fixedIps[i] as { subnetId: string; ipAddress: string };
    fixedIps[i] = {
      subnetId: nonEmptyAt('fixed_ips', i, 'subnet_id', f.subnetId),
      ip: ipv4At('fixed_ips', i, 'ip_address', f.ipAddress),
    };
  }
  const hostText = c.hostInfo?.ipAddress ?? '';
  const securityGroupIds: string[] = [];
  for (const sg of c.securityGroupIds) if (sg.id !== '') securityGroupIds.push(sg.id);
  return {
    kind: 'port',
    id,
    revision: c.revisionNumber,
    requestId: c.requestId,
    vpcId: c.vpcId,
    name: c.name,
    deviceId: c.deviceId,
    deviceOwner: c.deviceOwner,
    mac: mac('mac_address', c.macAddress),
    adminStateUp: c.adminStateUp,
    hostIp: hostText === '' ? undefined : ipv4('host_info.ip_address', hostText),
    fixedIps,
    allowedAddressPairs:
      c.allowAddressPairs.length === 0 ? EMPTY_PAIRS : addressPairs('allow_address_pairs', c.allowAddressPairs),
    securityGroupIds,
  };
}

const EMPTY_PAIRS: readonly AddressPair[] = Object.freeze([]);

function normalizeNeighbor(c: NeighborConfiguration, id: string): Neighbor {
  const n = c.fixedIps.length;
  if (n === 0) invalid('fixed_ips is empty: a neighbor needs at least one fixed IP (subnet_id and ip_address)');
  if (c.hostIpAddress === '')
    invalid('host_ip_address is empty: a neighbor needs the underlay IP of the host it lives on');
  const fixedIps: Neighbor['fixedIps'][number][] = new Array(n);
  for (let i = 0; i < n; i++) {
    const f = c.fixedIps[i] as NeighborConfiguration['fixedIps'][number];
    let type: 'l2' | 'l3';
    if (f.neighborType === NeighborType.L2) type = 'l2';
    else if (f.neighborType === NeighborType.L3) type = 'l3';
    else invalid(`${path('fixed_ips', i, 'neighbor_type')} ${String(f.neighborType)} is not L2(0) or L3(1)`);
    if (f.tunnelId > MAX_TUNNEL_ID)
      invalid(`${path('fixed_ips', i, 'tunnel_id')} ${f.tunnelId} is over ${MAX_TUNNEL_ID}`);
    fixedIps[i] = {
      type,
      subnetId: nonEmptyAt('fixed_ips', i, 'subnet_id', f.subnetId),
      ip: ipv4At('fixed_ips', i, 'ip_address', f.ipAddress),
      tunnelId: f.tunnelId,
    };
  }
  return {
    kind: 'neighbor',
    id,
    revision: c.revisionNumber,
    requestId: c.requestId,
    vpcId: c.vpcId,
    name: c.name,
    mac: mac('mac_address', c.macAddress),
    hostMac: c.hostMacAddress === '' ? undefined : mac('host_mac_address', c.hostMacAddress),
    hostIp: ipv4('host_ip_address', c.hostIpAddress),
    fixedIps,
    allowedAddressPairs:
      c.allowAddressPairs.length === 0 ? EMPTY_PAIRS : addressPairs('allow_address_pairs', c.allowAddressPairs),
  };
}

function normalizeSecurityGroup(c: SecurityGroupConfiguration, id: string): SecurityGroup {
  const rules: SecurityGroupRule[] = [];
  const notProgrammed: string[] = [];
  const list = 'security_group_rules';
  for (let i = 0; i < c.securityGroupRules.length; i++) {
    const r = c.securityGroupRules[i] as SecurityGroupConfiguration['securityGroupRules'][number];
    if (r.operationType === OperationType.DELETE) continue;
    if (r.securityGroupId !== '' && r.securityGroupId !== id) {
      invalid(`${path(list, i, 'security_group_id')} '${r.securityGroupId}' names another security group than '${id}'`);
    }
    let direction: 'ingress' | 'egress';
    if (r.direction === SecurityGroupConfiguration_Direction.INGRESS) direction = 'ingress';
    else if (r.direction === SecurityGroupConfiguration_Direction.EGRESS) direction = 'egress';
    else invalid(`${path(list, i, 'direction')} ${String(r.direction)} is not EGRESS(0) or INGRESS(1)`);
    if (r.ethertype === EtherType.IPV6) {
      // Accepted, not programmed (the pipeline is IPv4 only): Neutron's default group has IPv6 rules, and
      // refusing the whole group for them would leave its IPv4 rules unprogrammed too.
      notProgrammed.push(
        `${path(list, i, 'ethertype')} is IPV6 (rule '${r.id}'): accepted, not programmed (IPv4 only)`,
      );
      continue;
    }
    if (r.ethertype !== EtherType.IPV4) invalid(`${path(list, i, 'ethertype')} ${String(r.ethertype)} is not IPV4(0)`);
    let protocol: 'tcp' | 'udp' | 'icmp';
    switch (r.protocol) {
      case Protocol.TCP:
        protocol = 'tcp';
        break;
      case Protocol.UDP:
        protocol = 'udp';
        break;
      case Protocol.ICMP:
        protocol = 'icmp';
        break;
      case Protocol.HTTP:
        return invalid(`${path(list, i, 'protocol')} HTTP is not a security-group protocol (use TCP with port 80)`);
      case Protocol.ARP:
        return invalid(`${path(list, i, 'protocol')} ARP is not a security-group protocol (ARP is always allowed)`);
      default:
        return invalid(`${path(list, i, 'protocol')} ${String(r.protocol)} is not TCP(0), UDP(1) or ICMP(2)`);
    }
    const min = r.portRangeMin;
    const max = r.portRangeMax;
    if (protocol === 'icmp') {
      // Neutron puts the ICMP type in port_range_min and the code in port_range_max.
      if (min > 255) invalid(`${path(list, i, 'port_range_min')} ${min} is not an ICMP type (0-255)`);
      if (max > 255) invalid(`${path(list, i, 'port_range_max')} ${max} is not an ICMP code (0-255)`);
    } else {
      if (min > 65535) invalid(`${path(list, i, 'port_range_min')} ${min} is over 65535`);
      if (max > 65535) invalid(`${path(list, i, 'port_range_max')} ${max} is over 65535`);
      if (min > max) invalid(`${path(list, i, 'port_range_min')} ${min} is above port_range_max ${max}`);
    }
    let remoteIpPrefix: Cidr | undefined;
    if (r.remoteIpPrefix !== '') {
      remoteIpPrefix = parseCidr(r.remoteIpPrefix, true);
      if (remoteIpPrefix === undefined) invalid(cidrProblem(path(list, i, 'remote_ip_prefix'), r.remoteIpPrefix, true));
    }
    rules.push({
      id: r.id,
      direction,
      protocol,
      portMin: min,
      portMax: max,
      remoteIpPrefix,
      remoteGroupId: r.remoteGroupId === '' ? undefined : r.remoteGroupId,
    });
  }
  return {
    kind: 'securityGroup',
    id,
    revision: c.revisionNumber,
    requestId: c.requestId,
    vpcId: c.vpcId,
    name: c.name,
    rules,
    ...(notProgrammed.length === 0 ? {} : { notProgrammed }),
  };
}

function normalizeDhcp(c: DHCPConfiguration, id: string): Dhcp {
  if (c.subnetId === '') invalid('subnet_id is empty');
  if (c.ipv6Address !== '')
    invalid(`ipv6_address '${c.ipv6Address.slice(0, 48)}' is set: IPv6 is not supported yet (IPv4 only)`);
  if (c.ipv4Address === '') invalid('ipv4_address is empty');
  return {
    kind: 'dhcp',
    id,
    revision: c.revisionNumber,
    requestId: c.requestId,
    subnetId: c.subnetId,
    mac: mac('mac_address', c.macAddress),
    ip: ipv4('ipv4_address', c.ipv4Address),
    hostname: c.portHostName,
  };
}

function normalizeRouter(c: RouterConfiguration, id: string): Router {
  if (c.hostDvrMacAddress === '') invalid('host_dvr_mac_address is empty (the DVR MAC, e.g. fe:16:11:00:00:00)');
  const dvrMac = mac('host_dvr_mac_address', c.hostDvrMacAddress);
  const subnets: { subnetId: string; rules: RouteRule[] }[] = [];
  for (let t = 0; t < c.subnetRoutingTables.length; t++) {
    const table = c.subnetRoutingTables[t] as RouterConfiguration['subnetRoutingTables'][number];
    const where = `subnet_routing_tables[${t}]`;
    if (table.subnetId === '') invalid(`${where}.subnet_id is empty`);
    const rules: RouteRule[] = [];
    for (let i = 0; i < table.routingRules.length; i++) {
      const r = table.routingRules[i] as RouterConfiguration['subnetRoutingTables'][number]['routingRules'][number];
      if (r.operationType === OperationType.DELETE) continue;
      const list = `${where}.routing_rules`;
      const destination = parseCidr(r.destination);
      if (destination === undefined) invalid(cidrProblem(path(list, i, 'destination'), r.destination));
      const extra = r.routingRuleExtraInfo;
      let destinationType: 'internet' | 'vpc_gw' = 'internet';
      if (extra !== undefined) {
        if (extra.destinationType === DestinationType.VPC_GW) destinationType = 'vpc_gw';
        else if (extra.destinationType !== DestinationType.INTERNET) {
          invalid(
            `${path(list, i, 'routing_rule_extra_info.destination_type')} ${String(extra.destinationType)} is not INTERNET(0) or VPC_GW(1)`,
          );
        }
      }
      rules.push({
        id: r.id,
        name: r.name,
        destination,
        nextHopIp: ipv4At(list, i, 'next_hop_ip', r.nextHopIp),
        priority: r.priority,
        destinationType,
        nextHopMac:
          extra === undefined
            ? undefined
            : optionalMacAt(list, i, 'routing_rule_extra_info.next_hop_mac', extra.nextHopMac),
      });
    }
    subnets.push({ subnetId: table.subnetId, rules });
  }
  return { kind: 'router', id, revision: c.revisionNumber, requestId: c.requestId, dvrMac, subnets };
}

function gatewayKind(type: GatewayType): GatewayKind {
  switch (type) {
    case GatewayType.DEFAULT:
      return 'default';
    case GatewayType.ZETA:
      return 'zeta';
    case GatewayType.TGW:
      return 'tgw';
    case GatewayType.IGW:
      return 'igw';
    case GatewayType.NGW:
      return 'ngw';
    case GatewayType.ARION:
      return 'arion';
    default:
      return invalid(
        `gateway_type ${String(type)} is not one of DEFAULT(0), ZETA(1), TGW(2), IGW(3), NGW(4), ARION(5)`,
      );
  }
}

function normalizeGateway(c: GatewayConfiguration, id: string): Gateway {
  const gatewayType = gatewayKind(c.gatewayType);
  const destinations: { ip: Ipv4; mac: Mac }[] = new Array(c.destinations.length);
  for (let i = 0; i < c.destinations.length; i++) {
    const d = c.destinations[i] as GatewayConfiguration['destinations'][number];
    // A destination is a tunnel endpoint: both its underlay IP and its MAC are needed to send to it.
    destinations[i] = {
      ip: ipv4At('destinations', i, 'ip_address', d.ipAddress),
      mac: macAt('destinations', i, 'mac_address', d.macAddress),
    };
  }
  return { kind: 'gateway', id, revision: c.revisionNumber, requestId: c.requestId, gatewayType, destinations };
}
