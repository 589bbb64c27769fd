// Per-kind normalizers: one goal-state configuration message -> one model resource, or InvalidArg.

import {
  DestinationType,
  EtherType,
  GatewayType,
  NeighborType,
  OperationType,
  Protocol,
  SecurityGroupConfiguration_Direction,
} from '../../proto';
import type {
  DHCPConfiguration,
  GatewayConfiguration,
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
  Ipv4,
  Mac,
  Neighbor,
  Port,
  RouteRule,
  Router,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  Vpc,
} from '../model';
import { cidrContains, cidrProblem, formatCidr, parseCidr, subnetHostProblem } from './addr';
import {
  MAX_TUNNEL_ID,
  addressPairs,
  checkSegmentId,
  hostIpv4,
  hostIpv4At,
  invalid,
  ipv4At,
  mac,
  macAt,
  networkCidr,
  networkKind,
  nonEmptyAt,
  optionalMacAt,
  path,
} from './field-readers';

// ---------------------------------------------------------------------------------------------
// Per-kind normalizers

export function normalizeVpc(c: VpcConfiguration, id: string): Vpc {
  // A VPC's tunnel_id may be 0: the segment id that matters is the subnet's (as in Alcor).
  if (!(c.tunnelId >= 0 && c.tunnelId <= MAX_TUNNEL_ID)) invalid(`tunnel_id ${c.tunnelId} is over ${MAX_TUNNEL_ID}`);
  return {
    kind: 'vpc',
    id,
    revision: c.revisionNumber,
    requestId: c.requestId,
    projectId: c.projectId,
    name: c.name,
    cidr: c.cidr === '' ? undefined : networkCidr('cidr', c.cidr),
    tunnelId: c.tunnelId,
    gatewayIds: c.gatewayIds.slice(),
  };
}

export function normalizeSubnet(c: SubnetConfiguration, id: string): Subnet {
  const networkType = networkKind(c.networkType);
  checkSegmentId('tunnel_id', c.tunnelId, networkType);
  if (c.cidr === '') invalid('cidr is empty (want address/prefix like 10.0.0.0/24)');
  const subnetCidr = networkCidr('cidr', c.cidr);
  let gateway: Subnet['gateway'];
  const g = c.gateway;
  if (g !== undefined && (g.ipAddress !== '' || g.macAddress !== '')) {
    if (g.ipAddress === '') invalid('gateway.ip_address is empty but gateway.mac_address is set');
    if (g.macAddress === '') invalid('gateway.mac_address is empty (a gateway IP needs its MAC)');
    gateway = { ip: hostIpv4('gateway.ip_address', g.ipAddress), mac: mac('gateway.mac_address', g.macAddress) };
    if (!cidrContains(subnetCidr, gateway.ip)) {
      invalid(`gateway.ip_address ${g.ipAddress} is outside the subnet's cidr ${formatCidr(subnetCidr)}`);
    }
    const notHost = subnetHostProblem('gateway.ip_address', gateway.ip, subnetCidr);
    if (notHost !== undefined) invalid(notHost);
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

export function normalizePort(c: PortConfiguration, id: string): Port {
  const n = c.fixedIps.length;
  if (n === 0) invalid('fixed_ips is empty: a port needs at least one fixed IP (subnet_id and ip_address)');
  const fixedIps: { subnetId: string; ip: Ipv4 }[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const f = c.fixedIps[i] as { subnetId: string; ipAddress: string };
    fixedIps[i] = {
      subnetId: nonEmptyAt('fixed_ips', i, 'subnet_id', f.subnetId),
      ip: hostIpv4At('fixed_ips', i, 'ip_address', f.ipAddress),
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
    hostIp: hostText === '' ? undefined : hostIpv4('host_info.ip_address', hostText),
    fixedIps,
    allowedAddressPairs:
      c.allowAddressPairs.length === 0 ? EMPTY_PAIRS : addressPairs('allow_address_pairs', c.allowAddressPairs),
    securityGroupIds,
  };
}

const EMPTY_PAIRS: readonly AddressPair[] = Object.freeze([]);

export function normalizeNeighbor(c: NeighborConfiguration, id: string): Neighbor {
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
      ip: hostIpv4At('fixed_ips', i, 'ip_address', f.ipAddress),
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
    hostIp: hostIpv4('host_ip_address', c.hostIpAddress),
    fixedIps,
    allowedAddressPairs:
      c.allowAddressPairs.length === 0 ? EMPTY_PAIRS : addressPairs('allow_address_pairs', c.allowAddressPairs),
  };
}

export function normalizeSecurityGroup(c: SecurityGroupConfiguration, id: string): SecurityGroup {
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

export function normalizeDhcp(c: DHCPConfiguration, id: string): Dhcp {
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
    ip: hostIpv4('ipv4_address', c.ipv4Address),
    hostname: c.portHostName,
  };
}

export function normalizeRouter(c: RouterConfiguration, id: string): Router {
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

export function normalizeGateway(c: GatewayConfiguration, id: string): Gateway {
  const gatewayType = gatewayKind(c.gatewayType);
  const destinations: { ip: Ipv4; mac: Mac }[] = new Array(c.destinations.length);
  for (let i = 0; i < c.destinations.length; i++) {
    const d = c.destinations[i] as GatewayConfiguration['destinations'][number];
    // A destination is a tunnel endpoint: both its underlay IP and its MAC are needed to send to it.
    destinations[i] = {
      ip: hostIpv4At('destinations', i, 'ip_address', d.ipAddress),
      mac: macAt('destinations', i, 'mac_address', d.macAddress),
    };
  }
  const oam = c.extraInfo?.$case === 'zetaInfo' ? c.extraInfo.zetaInfo.portInbandOperation : 0;
  // proto3 has no presence: 0 means "not given".
  if (!Number.isInteger(oam) || oam < 0 || oam > 0xffff)
    invalid(`zeta_info.port_inband_operation ${oam} is not a UDP port (1..65535)`);
  const oamPort = oam === 0 ? undefined : oam;
  return {
    kind: 'gateway',
    id,
    revision: c.revisionNumber,
    requestId: c.requestId,
    gatewayType,
    destinations,
    oamPort,
  };
}
