// The normalized goal-state model: one typed shape for GoalState v1 (lists) and GoalStateV2
// (maps keyed by id), with addresses already parsed. Everything downstream of decoding
// (validation results, held state, the pipeline compiler) speaks these types, never the
// generated protobuf types.
//
// Addresses are numbers: an IPv4 address is its uint32 value, a MAC its 48-bit value
// (exact in a double). Text forms are produced by core/addr.ts when needed.

import type { OperationType, ResourceType } from '../proto';

export type Ipv4 = number;
export type Mac = number;

export interface Cidr {
  readonly addr: Ipv4;
  readonly prefix: number;
}

export type ResourceKind = 'vpc' | 'subnet' | 'port' | 'neighbor' | 'securityGroup' | 'dhcp' | 'router' | 'gateway';

export interface Common {
  readonly id: string;
  readonly revision: number;
  readonly requestId: string;
}

export interface Vpc extends Common {
  readonly kind: 'vpc';
  readonly projectId: string;
  readonly name: string;
  readonly cidr: Cidr | undefined;
  readonly tunnelId: number;
  readonly gatewayIds: readonly string[];
}

export type NetworkKind = 'vxlan' | 'vlan' | 'gre' | 'geneve' | 'vxlan_gpe';

export interface Subnet extends Common {
  readonly kind: 'subnet';
  readonly vpcId: string;
  readonly name: string;
  readonly networkType: NetworkKind;
  readonly cidr: Cidr;
  /** The network's segment id (VNI for VXLAN); taken from the subnet, as Alcor does. */
  readonly tunnelId: number;
  readonly gateway: { readonly ip: Ipv4; readonly mac: Mac } | undefined;
  readonly dhcpEnable: boolean;
  readonly dnsServers: readonly Ipv4[];
  readonly extraDhcpOptions: readonly { readonly name: string; readonly value: string }[];
  readonly availabilityZone: string;
}

export interface AddressPair {
  /** An address or a prefix (Neutron allows a CIDR in allowed address pairs). */
  readonly ip: Cidr;
  /** Absent: the port's own MAC. */
  readonly mac: Mac | undefined;
}

export interface Port extends Common {
  readonly kind: 'port';
  readonly vpcId: string;
  readonly name: string;
  readonly deviceId: string;
  readonly deviceOwner: string;
  readonly mac: Mac;
  readonly adminStateUp: boolean;
  readonly hostIp: Ipv4 | undefined;
  readonly fixedIps: readonly { readonly subnetId: string; readonly ip: Ipv4 }[];
  readonly allowedAddressPairs: readonly AddressPair[];
  readonly securityGroupIds: readonly string[];
}

export interface Neighbor extends Common {
  readonly kind: 'neighbor';
  readonly vpcId: string;
  readonly name: string;
  readonly mac: Mac;
  readonly hostMac: Mac | undefined;
  /** Underlay address of the host the neighbor lives on: the VXLAN tun_dst. */
  readonly hostIp: Ipv4;
  readonly fixedIps: readonly {
    readonly type: 'l2' | 'l3';
    readonly subnetId: string;
    readonly ip: Ipv4;
    /** 0 when not given; the subnet's tunnel id applies. */
    readonly tunnelId: number;
  }[];
  readonly allowedAddressPairs: readonly AddressPair[];
}

export interface SecurityGroupRule {
  readonly id: string;
  readonly direction: 'ingress' | 'egress';
  /** undefined = any protocol. */
  readonly protocol: 'tcp' | 'udp' | 'icmp' | undefined;
  /** Inclusive L4 port range; [0, 65535] or [0, 0] (unset) mean any port. For ICMP, min/max carry type/code as Neutron does. */
  readonly portMin: number;
  readonly portMax: number;
  readonly remoteIpPrefix: Cidr | undefined;
  readonly remoteGroupId: string | undefined;
}

export interface SecurityGroup extends Common {
  readonly kind: 'securityGroup';
  readonly vpcId: string;
  readonly name: string;
  readonly rules: readonly SecurityGroupRule[];
  /** Rules accepted but not programmed (IPv6), each with why; reported as the status reason. Absent: none. */
  readonly notProgrammed?: readonly string[];
}

export interface Dhcp extends Common {
  readonly kind: 'dhcp';
  readonly subnetId: string;
  readonly mac: Mac;
  readonly ip: Ipv4;
  readonly hostname: string;
}

export interface RouteRule {
  readonly id: string;
  readonly name: string;
  readonly destination: Cidr;
  readonly nextHopIp: Ipv4;
  readonly priority: number;
  readonly destinationType: 'internet' | 'vpc_gw';
  readonly nextHopMac: Mac | undefined;
}

export interface Router extends Common {
  readonly kind: 'router';
  readonly dvrMac: Mac;
  readonly subnets: readonly { readonly subnetId: string; readonly rules: readonly RouteRule[] }[];
}

export type GatewayKind = 'default' | 'zeta' | 'tgw' | 'igw' | 'ngw' | 'arion';

export interface Gateway extends Common {
  readonly kind: 'gateway';
  readonly gatewayType: GatewayKind;
  readonly destinations: readonly { readonly ip: Ipv4; readonly mac: Mac }[];
  /** ZETA: the UDP port of the gateway's OAM (in-band operation) messages; undefined when not given. */
  readonly oamPort: number | undefined;
}

export type Resource = Vpc | Subnet | Port | Neighbor | SecurityGroup | Dhcp | Router | Gateway;

/** What a goal state asks for one resource. */
export interface ResourceOp {
  readonly kind: ResourceKind;
  readonly id: string;
  readonly operation: OperationType;
  readonly resourceType: ResourceType;
  /** The normalized resource; undefined when the input could not be normalized (see `error`). */
  readonly resource: Resource | undefined;
  /** Why the input is invalid (becomes INVALID_ARG), in words an operator can act on. */
  readonly error: string | undefined;
  /** V1 port update_type, needed to reject a port CREATE with DELTA. */
  readonly updateType: 'delta' | 'full';
}

/** A decoded goal state, v1 or v2, in one shape. Ops appear in the message's order within each kind. */
export interface GoalStateModel {
  readonly formatVersion: number;
  readonly ops: readonly ResourceOp[];
  /** GoalStateV2 host_resources: host IP → the resources it needs. Empty for v1. */
  readonly hostResources: ReadonlyMap<string, readonly { readonly kind: ResourceKind; readonly id: string }[]>;
}
