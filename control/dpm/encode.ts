// Resource records -> the encoded XState messages the agents get. Each state depends only on records (never
// on which host receives it), so the control store keeps it once however many hosts hold it.
// Revisions: a state derived from one record carries that record's store revision (etcd mod revision or the
// file store's sequence), which only grows, across replicas too; so the agent's revision check orders
// racing updates of one port by the order the store accepted them.
import {
  DHCPState,
  EtherType,
  NeighborState,
  NeighborType,
  NetworkType,
  OperationType,
  PortState,
  Protocol,
  RouterState,
  SecurityGroupConfiguration_Direction as SgDirection,
  SecurityGroupConfiguration_SecurityGroupRule as WireRule,
  SecurityGroupState,
  SubnetState,
  UpdateType,
  VpcState,
} from '../../proto';
import { PortRecord, RouterRecord, SecurityGroupRecord, SgRule, SubnetRecord, VpcRecord } from '../resources/model';

/** The DVR MAC Alcor's DPM sends (one per deployment). */
export const DVR_MAC = 'fe:16:11:00:00:00';

const FULL = UpdateType.FULL;
const CREATE = OperationType.CREATE;

/** Revisions are uint32 on the wire. */
const rev = (n: number): number => n % 0x100000000;

export function encodeVpc(v: VpcRecord, modRev: number): Uint8Array {
  return VpcState.encode(
    VpcState.fromPartial({
      operationType: CREATE,
      configuration: { revisionNumber: rev(modRev), id: v.id, updateType: FULL, cidr: v.cidr, tunnelId: v.vni },
    }),
  ).finish();
}

export function encodeSubnet(s: SubnetRecord, modRev: number): Uint8Array {
  return SubnetState.encode(
    SubnetState.fromPartial({
      operationType: CREATE,
      configuration: {
        revisionNumber: rev(modRev),
        id: s.id,
        updateType: FULL,
        networkType: NetworkType.VXLAN,
        vpcId: s.vpc,
        cidr: s.cidr,
        tunnelId: s.vni,
        gateway: { ipAddress: s.gatewayIp, macAddress: s.gatewayMac },
        dhcpEnable: s.dhcp,
        dnsEntryList: s.dnsServers.map((entry) => ({ entry })),
      },
    }),
  ).finish();
}

export function encodePort(p: PortRecord, modRev: number): Uint8Array {
  return PortState.encode(
    PortState.fromPartial({
      operationType: CREATE,
      configuration: {
        revisionNumber: rev(modRev),
        id: p.id,
        updateType: FULL,
        vpcId: p.vpc,
        name: p.device,
        macAddress: p.mac,
        adminStateUp: true,
        hostInfo: { ipAddress: p.host, macAddress: '' },
        fixedIps: [{ subnetId: p.subnet, ipAddress: p.ip }],
        securityGroupIds: p.securityGroups.map((id) => ({ id })),
      },
    }),
  ).finish();
}

export function encodeDhcp(p: PortRecord, modRev: number): Uint8Array {
  return DHCPState.encode(
    DHCPState.fromPartial({
      operationType: CREATE,
      configuration: {
        revisionNumber: rev(modRev),
        id: p.id,
        updateType: FULL,
        subnetId: p.subnet,
        macAddress: p.mac,
        ipv4Address: p.ip,
        portHostName: p.device,
      },
    }),
  ).finish();
}

/** A port as the other hosts of its VPC see it: L3 (reachable through the router too) when its subnet is routed. */
export function encodeNeighbor(p: PortRecord, vni: number, routed: boolean, modRev: number): Uint8Array {
  return NeighborState.encode(
    NeighborState.fromPartial({
      operationType: CREATE,
      configuration: {
        revisionNumber: rev(modRev),
        id: p.id,
        updateType: FULL,
        vpcId: p.vpc,
        macAddress: p.mac,
        hostIpAddress: p.host,
        fixedIps: [
          {
            neighborType: routed ? NeighborType.L3 : NeighborType.L2,
            subnetId: p.subnet,
            ipAddress: p.ip,
            tunnelId: vni,
          },
        ],
      },
    }),
  ).finish();
}

export function encodeRouter(r: RouterRecord, modRev: number): Uint8Array {
  return RouterState.encode(
    RouterState.fromPartial({
      operationType: CREATE,
      configuration: {
        revisionNumber: rev(modRev),
        id: r.id,
        updateType: FULL,
        hostDvrMacAddress: DVR_MAC,
        subnetRoutingTables: r.subnets.map((subnetId) => ({ subnetId, routingRules: [] })),
      },
    }),
  ).finish();
}

const PROTOCOLS = { tcp: Protocol.TCP, udp: Protocol.UDP, icmp: Protocol.ICMP } as const;

/**
 * The wire rules of a group. A rule without a protocol becomes one rule per protocol (the wire has no
 * "any"); a remote-group rule becomes one rule per member address (/32), so members on every host match
 * (the agent itself only knows the members that are its own ports). IPv6 rules are sent as they are: the
 * agent accepts them and reports them as not programmed.
 */
export function wireRules(g: SecurityGroupRecord, membersOf: (group: string) => readonly string[]): WireRule[] {
  const out: WireRule[] = [];
  g.rules.forEach((r: SgRule, i) => {
    const protocols = r.protocol === undefined ? (['tcp', 'udp', 'icmp'] as const) : [r.protocol];
    let remotes: readonly string[];
    if (r.ethertype === 'IPv6') remotes = [r.remoteCidr ?? ''];
    else if (r.remoteGroup !== undefined) remotes = membersOf(r.remoteGroup).map((ip) => `${ip}/32`);
    else remotes = [r.remoteCidr ?? ''];
    for (const proto of protocols) {
      const icmp = proto === 'icmp';
      const portMin = icmp ? (r.portMin ?? 0) : (r.portMin ?? 0);
      const portMax = icmp ? (r.portMax ?? 0) : (r.portMax ?? 65535);
      remotes.forEach((remote, j) => {
        out.push({
          operationType: CREATE,
          securityGroupId: g.id,
          id: `${g.id}/${i}/${proto}${remotes.length > 1 ? `/${j}` : ''}`,
          direction: r.direction === 'ingress' ? SgDirection.INGRESS : SgDirection.EGRESS,
          ethertype: r.ethertype === 'IPv6' ? EtherType.IPV6 : EtherType.IPV4,
          protocol: PROTOCOLS[proto],
          portRangeMin: portMin,
          portRangeMax: portMax,
          remoteIpPrefix: remote,
          remoteGroupId: '',
        });
      });
    }
  });
  return out;
}

export function encodeSecurityGroup(g: SecurityGroupRecord, rules: WireRule[], revision: number): Uint8Array {
  return SecurityGroupState.encode(
    SecurityGroupState.fromPartial({
      operationType: CREATE,
      configuration: { revisionNumber: rev(revision), id: g.id, updateType: FULL, securityGroupRules: rules },
    }),
  ).finish();
}

/** The revision of an encoded security group, and the same bytes with the revision zeroed (to compare content). */
export function securityGroupContent(state: Uint8Array): { revision: number; content: Buffer } {
  const s = SecurityGroupState.decode(state);
  const revision = s.configuration?.revisionNumber ?? 0;
  if (s.configuration !== undefined) s.configuration.revisionNumber = 0;
  return { revision, content: Buffer.from(SecurityGroupState.encode(s).finish()) };
}
