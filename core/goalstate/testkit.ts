// Goal-state message builders for tests: one valid state per kind with every field set, any of
// which a test can override, assembled into a v1 GoalState or a GoalStateV2 from the same list.
// Pure; not part of the public API (index.ts does not export it).

import {
  DHCPState,
  GatewayState,
  GatewayType,
  GoalState,
  GoalStateV2,
  NeighborState,
  NeighborType,
  NetworkType,
  OperationType,
  PortState,
  Protocol,
  ResourceType,
  RouterState,
  SecurityGroupConfiguration_Direction,
  SecurityGroupState,
  SubnetState,
  UpdateType,
  VpcState,
} from '../../proto';
import type {
  DHCPConfiguration,
  DeepPartial,
  GatewayConfiguration,
  NeighborConfiguration,
  PortConfiguration,
  RouterConfiguration,
  SecurityGroupConfiguration,
  SubnetConfiguration,
  VpcConfiguration,
} from '../../proto';
import { formatIpv4, parseCidr } from './addr';

export type Entry =
  | { readonly kind: 'vpc'; readonly state: VpcState }
  | { readonly kind: 'subnet'; readonly state: SubnetState }
  | { readonly kind: 'port'; readonly state: PortState }
  | { readonly kind: 'neighbor'; readonly state: NeighborState }
  | { readonly kind: 'securityGroup'; readonly state: SecurityGroupState }
  | { readonly kind: 'dhcp'; readonly state: DHCPState }
  | { readonly kind: 'router'; readonly state: RouterState }
  | { readonly kind: 'gateway'; readonly state: GatewayState };

export const PORT_MAC = 'fa:16:3e:00:00:01';
export const DVR_MAC = 'fe:16:11:00:00:00';

export function vpc(id: string, over: DeepPartial<VpcConfiguration> = {}, op = OperationType.INFO): Entry {
  return {
    kind: 'vpc',
    state: VpcState.fromPartial({
      operationType: op,
      configuration: {
        revisionNumber: 1,
        requestId: 'r-' + id,
        id,
        projectId: 'proj',
        name: 'vpc-' + id,
        cidr: '10.0.0.0/16',
        tunnelId: 0,
        gatewayIds: [],
        ...over,
      },
    }),
  };
}

export function subnet(id: string, over: DeepPartial<SubnetConfiguration> = {}, op = OperationType.INFO): Entry {
  return {
    kind: 'subnet',
    state: SubnetState.fromPartial({
      operationType: op,
      configuration: {
        revisionNumber: 1,
        requestId: 'r-' + id,
        id,
        updateType: UpdateType.FULL,
        networkType: NetworkType.VXLAN,
        vpcId: 'vpc1',
        name: 'subnet-' + id,
        cidr: '10.0.1.0/24',
        tunnelId: 20,
        gateway: { ipAddress: firstHost(over.cidr) ?? '10.0.1.1', macAddress: 'fa:16:3e:00:01:01' },
        dhcpEnable: true,
        extraDhcpOptions: [{ name: 'mtu', value: '1450' }],
        dnsEntryList: [{ entry: '8.8.8.8' }],
        availabilityZone: 'az1',
        ...over,
      },
    }),
  };
}

/** The first host address of a CIDR override, so a subnet given another CIDR keeps a valid gateway. */
function firstHost(cidr: string | undefined): string | undefined {
  const parsed = cidr === undefined ? undefined : parseCidr(cidr);
  return parsed === undefined || parsed.prefix > 30 ? undefined : formatIpv4(parsed.addr + 1);
}

export function port(id: string, over: DeepPartial<PortConfiguration> = {}, op = OperationType.CREATE): Entry {
  return {
    kind: 'port',
    state: PortState.fromPartial({
      operationType: op,
      configuration: {
        revisionNumber: 1,
        requestId: 'r-' + id,
        id,
        updateType: UpdateType.FULL,
        vpcId: 'vpc1',
        name: 'port-' + id,
        deviceId: 'vm-' + id,
        deviceOwner: 'compute:nova',
        macAddress: PORT_MAC,
        adminStateUp: true,
        hostInfo: { ipAddress: '192.0.2.1', macAddress: '02:00:00:00:00:01' },
        fixedIps: [{ subnetId: 'sn1', ipAddress: '10.0.1.5' }],
        allowAddressPairs: [{ ipAddress: '10.0.1.100', macAddress: '' }],
        securityGroupIds: [{ id: 'sg1' }],
        ...over,
      },
    }),
  };
}

export function neighbor(id: string, over: DeepPartial<NeighborConfiguration> = {}, op = OperationType.CREATE): Entry {
  return {
    kind: 'neighbor',
    state: NeighborState.fromPartial({
      operationType: op,
      configuration: {
        revisionNumber: 1,
        requestId: 'r-' + id,
        id,
        updateType: UpdateType.FULL,
        vpcId: 'vpc1',
        name: 'nb-' + id,
        macAddress: 'fa:16:3e:00:00:02',
        hostMacAddress: '02:00:00:00:00:02',
        hostIpAddress: '172.17.111.222',
        fixedIps: [{ neighborType: NeighborType.L2, subnetId: 'sn1', ipAddress: '10.0.1.6', tunnelId: 0 }],
        allowAddressPairs: [],
        ...over,
      },
    }),
  };
}

export function securityGroup(
  id: string,
  over: DeepPartial<SecurityGroupConfiguration> = {},
  op = OperationType.CREATE,
): Entry {
  return {
    kind: 'securityGroup',
    state: SecurityGroupState.fromPartial({
      operationType: op,
      configuration: {
        revisionNumber: 1,
        requestId: 'r-' + id,
        id,
        updateType: UpdateType.FULL,
        vpcId: 'vpc1',
        name: 'sg-' + id,
        securityGroupRules: [
          {
            operationType: OperationType.CREATE,
            securityGroupId: id,
            id: 'rule1',
            direction: SecurityGroupConfiguration_Direction.INGRESS,
            protocol: Protocol.TCP,
            portRangeMin: 22,
            portRangeMax: 22,
            remoteIpPrefix: '0.0.0.0/0',
            remoteGroupId: '',
          },
        ],
        ...over,
      },
    }),
  };
}

export function dhcp(id: string, over: DeepPartial<DHCPConfiguration> = {}, op = OperationType.CREATE): Entry {
  return {
    kind: 'dhcp',
    state: DHCPState.fromPartial({
      operationType: op,
      configuration: {
        revisionNumber: 1,
        requestId: 'r-' + id,
        id,
        updateType: UpdateType.FULL,
        subnetId: 'sn1',
        macAddress: PORT_MAC,
        ipv4Address: '10.0.1.5',
        ipv6Address: '',
        portHostName: 'vm1',
        ...over,
      },
    }),
  };
}

export function router(id: string, over: DeepPartial<RouterConfiguration> = {}, op = OperationType.CREATE): Entry {
  return {
    kind: 'router',
    state: RouterState.fromPartial({
      operationType: op,
      configuration: {
        revisionNumber: 1,
        requestId: 'r-' + id,
        id,
        updateType: UpdateType.FULL,
        hostDvrMacAddress: DVR_MAC,
        subnetRoutingTables: [
          {
            subnetId: 'sn1',
            routingRules: [
              {
                operationType: OperationType.CREATE,
                id: 'rr1',
                name: 'default',
                destination: '0.0.0.0/0',
                nextHopIp: '10.0.1.254',
                priority: 5,
                routingRuleExtraInfo: { destinationType: 0, nextHopMac: 'fa:16:3e:00:00:fe' },
              },
            ],
          },
        ],
        ...over,
      },
    }),
  };
}

export function gateway(id: string, over: DeepPartial<GatewayConfiguration> = {}, op = OperationType.INFO): Entry {
  return {
    kind: 'gateway',
    state: GatewayState.fromPartial({
      operationType: op,
      configuration: {
        revisionNumber: 1,
        requestId: 'r-' + id,
        id,
        gatewayType: GatewayType.ZETA,
        destinations: [
          { ipAddress: '192.0.2.10', macAddress: '02:00:00:00:10:01' },
          { ipAddress: '192.0.2.11', macAddress: '02:00:00:00:10:02' },
        ],
        extraInfo: { $case: 'zetaInfo', zetaInfo: { portInbandOperation: 6799 } },
        ...over,
      },
    }),
  };
}

/** A v1 GoalState holding the entries (lists, in the given order). */
export function v1(entries: readonly Entry[]): GoalState {
  const gs = GoalState.fromPartial({ formatVersion: 1 });
  for (const e of entries) {
    switch (e.kind) {
      case 'vpc':
        gs.vpcStates.push(e.state);
        break;
      case 'subnet':
        gs.subnetStates.push(e.state);
        break;
      case 'port':
        gs.portStates.push(e.state);
        break;
      case 'neighbor':
        gs.neighborStates.push(e.state);
        break;
      case 'securityGroup':
        gs.securityGroupStates.push(e.state);
        break;
      case 'dhcp':
        gs.dhcpStates.push(e.state);
        break;
      case 'router':
        gs.routerStates.push(e.state);
        break;
      case 'gateway':
        gs.gatewayStates.push(e.state);
        break;
      default: {
        const unreachable: never = e;
        return unreachable;
      }
    }
  }
  return gs;
}

/** A GoalStateV2 holding the entries, keyed by configuration id (or by `key` when given). */
export function v2(
  entries: readonly (Entry & { readonly key?: string })[],
  hostResources: { [host: string]: { type: ResourceType; id: string }[] } = {},
): GoalStateV2 {
  const gs = GoalStateV2.fromPartial({ formatVersion: 1 });
  for (const [host, resources] of Object.entries(hostResources)) gs.hostResources[host] = { resources };
  for (const e of entries) {
    const key = e.key ?? e.state.configuration?.id ?? '';
    switch (e.kind) {
      case 'vpc':
        gs.vpcStates[key] = e.state;
        break;
      case 'subnet':
        gs.subnetStates[key] = e.state;
        break;
      case 'port':
        gs.portStates[key] = e.state;
        break;
      case 'neighbor':
        gs.neighborStates[key] = e.state;
        break;
      case 'securityGroup':
        gs.securityGroupStates[key] = e.state;
        break;
      case 'dhcp':
        gs.dhcpStates[key] = e.state;
        break;
      case 'router':
        gs.routerStates[key] = e.state;
        break;
      case 'gateway':
        gs.gatewayStates[key] = e.state;
        break;
      default: {
        const unreachable: never = e;
        return unreachable;
      }
    }
  }
  return gs;
}

/** Same entry under another map key (V2 only). */
export function keyed(key: string, e: Entry): Entry & { readonly key: string } {
  return { ...e, key };
}

/** The wire round trip, so tests see exactly what a decoder hands the agent. */
export function wireV1(gs: GoalState): GoalState {
  return GoalState.decode(GoalState.encode(gs).finish());
}

export function wireV2(gs: GoalStateV2): GoalStateV2 {
  return GoalStateV2.decode(GoalStateV2.encode(gs).finish());
}
