// Wire-level schema of the alcor.schema messages: for each message, which field numbers exist, their names and
// scalar types, which are sub-messages, repeated, or maps. Used by the wire scanner (scan.ts) to validate bytes
// before decoding and to name fields in error messages.
//
// Hand-maintained: core/wire/schema.test.ts compares this table with proto/*.proto (parsed by protobufjs), so a
// change to the .proto files that is not mirrored here fails the tests.

/** Proto scalar types that occur in the contract, plus message and map. */
export type WireFieldType = 'uint32' | 'uint64' | 'int32' | 'bool' | 'enum' | 'string' | 'bytes' | 'message' | 'map';

export interface WireField {
  readonly name: string;
  readonly type: WireFieldType;
  readonly repeated: boolean;
  /** Sub-message type (type 'message') or map value message type (type 'map'), relative to package alcor.schema. */
  readonly message?: string;
  /** Map key scalar type (type 'map'). */
  readonly keyType?: 'string';
}

export interface WireMessage {
  readonly name: string;
  readonly fields: Readonly<Record<number, WireField>>;
}

export type WireSchema = Readonly<Record<string, WireMessage>>;

export const PROTO_PACKAGE = 'alcor.schema';

type FieldDecl =
  | readonly [string, Exclude<WireFieldType, 'message' | 'map'>]
  | readonly [string, Exclude<WireFieldType, 'message' | 'map'>, 'repeated']
  | readonly [string, 'message', string]
  | readonly [string, 'message', string, 'repeated']
  | readonly [string, 'map', string];

function message(name: string, decls: Readonly<Record<number, FieldDecl>>): WireMessage {
  const fields: Record<number, WireField> = {};
  for (const [num, d] of Object.entries(decls)) {
    if (d[1] === 'message') {
      fields[Number(num)] = { name: d[0], type: 'message', message: d[2], repeated: d[3] === 'repeated' };
    } else if (d[1] === 'map') {
      fields[Number(num)] = { name: d[0], type: 'map', message: d[2], keyType: 'string', repeated: true };
    } else {
      fields[Number(num)] = { name: d[0], type: d[1], repeated: d[2] === 'repeated' };
    }
  }
  return { name, fields };
}

/** The fields shared by every configuration except the gateway's: revision, request, id, update type. */
const CONFIG_HEAD = {
  1: ['revision_number', 'uint32'],
  2: ['request_id', 'string'],
  3: ['id', 'string'],
  4: ['update_type', 'enum'],
} as const;

function state(name: string, config: string): WireMessage {
  return message(name, { 1: ['operation_type', 'enum'], 2: ['configuration', 'message', config] });
}

const ADDRESS_PAIR = { 1: ['ip_address', 'string'], 2: ['mac_address', 'string'] } as const;

const MESSAGES: readonly WireMessage[] = [
  // vpc.proto
  message('VpcConfiguration', {
    ...CONFIG_HEAD,
    5: ['project_id', 'string'],
    6: ['name', 'string'],
    7: ['cidr', 'string'],
    8: ['tunnel_id', 'uint32'],
    9: ['gateway_ids', 'string', 'repeated'],
  }),
  state('VpcState', 'VpcConfiguration'),

  // subnet.proto
  message('SubnetConfiguration', {
    ...CONFIG_HEAD,
    5: ['network_type', 'enum'],
    6: ['vpc_id', 'string'],
    7: ['name', 'string'],
    8: ['cidr', 'string'],
    9: ['tunnel_id', 'uint64'],
    10: ['gateway', 'message', 'SubnetConfiguration.Gateway'],
    11: ['dhcp_enable', 'bool'],
    12: ['extra_dhcp_options', 'message', 'SubnetConfiguration.DhcpOption', 'repeated'],
    13: ['dns_entry_list', 'message', 'SubnetConfiguration.DnsEntry', 'repeated'],
    14: ['availability_zone', 'string'],
  }),
  message('SubnetConfiguration.Gateway', ADDRESS_PAIR),
  message('SubnetConfiguration.DhcpOption', { 1: ['name', 'string'], 2: ['value', 'string'] }),
  message('SubnetConfiguration.DnsEntry', { 1: ['entry', 'string'] }),
  state('SubnetState', 'SubnetConfiguration'),

  // port.proto
  message('PortConfiguration', {
    ...CONFIG_HEAD,
    5: ['vpc_id', 'string'],
    6: ['name', 'string'],
    7: ['device_id', 'string'],
    8: ['device_owner', 'string'],
    9: ['mac_address', 'string'],
    10: ['admin_state_up', 'bool'],
    11: ['host_info', 'message', 'PortConfiguration.HostInfo'],
    12: ['fixed_ips', 'message', 'PortConfiguration.FixedIp', 'repeated'],
    13: ['allow_address_pairs', 'message', 'PortConfiguration.AllowAddressPair', 'repeated'],
    14: ['security_group_ids', 'message', 'PortConfiguration.SecurityGroupId', 'repeated'],
  }),
  message('PortConfiguration.HostInfo', ADDRESS_PAIR),
  message('PortConfiguration.FixedIp', { 1: ['subnet_id', 'string'], 2: ['ip_address', 'string'] }),
  message('PortConfiguration.AllowAddressPair', ADDRESS_PAIR),
  message('PortConfiguration.SecurityGroupId', { 1: ['id', 'string'] }),
  state('PortState', 'PortConfiguration'),

  // neighbor.proto
  message('NeighborConfiguration', {
    ...CONFIG_HEAD,
    5: ['vpc_id', 'string'],
    6: ['name', 'string'],
    7: ['mac_address', 'string'],
    8: ['host_mac_address', 'string'],
    9: ['host_ip_address', 'string'],
    10: ['fixed_ips', 'message', 'NeighborConfiguration.FixedIp', 'repeated'],
    11: ['allow_address_pairs', 'message', 'NeighborConfiguration.AllowAddressPair', 'repeated'],
  }),
  message('NeighborConfiguration.FixedIp', {
    1: ['neighbor_type', 'enum'],
    2: ['subnet_id', 'string'],
    3: ['ip_address', 'string'],
    4: ['arion_group', 'string'],
    5: ['tunnel_id', 'uint32'],
  }),
  message('NeighborConfiguration.AllowAddressPair', ADDRESS_PAIR),
  state('NeighborState', 'NeighborConfiguration'),

  // securitygroup.proto
  message('SecurityGroupConfiguration', {
    ...CONFIG_HEAD,
    5: ['vpc_id', 'string'],
    6: ['name', 'string'],
    7: ['security_group_rules', 'message', 'SecurityGroupConfiguration.SecurityGroupRule', 'repeated'],
  }),
  message('SecurityGroupConfiguration.SecurityGroupRule', {
    1: ['operation_type', 'enum'],
    2: ['security_group_id', 'string'],
    3: ['id', 'string'],
    4: ['direction', 'enum'],
    5: ['ethertype', 'enum'],
    6: ['protocol', 'enum'],
    7: ['port_range_min', 'uint32'],
    8: ['port_range_max', 'uint32'],
    9: ['remote_ip_prefix', 'string'],
    10: ['remote_group_id', 'string'],
  }),
  state('SecurityGroupState', 'SecurityGroupConfiguration'),

  // dhcp.proto
  message('DHCPConfiguration', {
    ...CONFIG_HEAD,
    5: ['subnet_id', 'string'],
    6: ['mac_address', 'string'],
    7: ['ipv4_address', 'string'],
    8: ['ipv6_address', 'string'],
    9: ['port_host_name', 'string'],
  }),
  state('DHCPState', 'DHCPConfiguration'),

  // router.proto
  message('RouterConfiguration', {
    ...CONFIG_HEAD,
    5: ['host_dvr_mac_address', 'string'],
    6: ['subnet_routing_tables', 'message', 'RouterConfiguration.SubnetRoutingTable', 'repeated'],
  }),
  message('RouterConfiguration.RoutingRuleExtraInfo', {
    1: ['destination_type', 'enum'],
    2: ['next_hop_mac', 'string'],
  }),
  message('RouterConfiguration.RoutingRule', {
    1: ['operation_type', 'enum'],
    2: ['id', 'string'],
    3: ['name', 'string'],
    4: ['destination', 'string'],
    5: ['next_hop_ip', 'string'],
    6: ['priority', 'uint32'],
    7: ['routing_rule_extra_info', 'message', 'RouterConfiguration.RoutingRuleExtraInfo'],
  }),
  message('RouterConfiguration.SubnetRoutingTable', {
    1: ['subnet_id', 'string'],
    2: ['routing_rules', 'message', 'RouterConfiguration.RoutingRule', 'repeated'],
  }),
  state('RouterState', 'RouterConfiguration'),

  // gateway.proto: field 4 is gateway_type, not update_type.
  message('GatewayConfiguration', {
    1: ['revision_number', 'uint32'],
    2: ['request_id', 'string'],
    3: ['id', 'string'],
    4: ['gateway_type', 'enum'],
    5: ['destinations', 'message', 'GatewayConfiguration.destination', 'repeated'],
    6: ['zeta_info', 'message', 'GatewayConfiguration.zeta'],
    7: ['arion_info', 'message', 'GatewayConfiguration.arion'],
  }),
  message('GatewayConfiguration.destination', ADDRESS_PAIR),
  message('GatewayConfiguration.zeta', { 1: ['port_inband_operation', 'uint32'] }),
  message('GatewayConfiguration.arion', {
    1: ['vpc_id', 'string'],
    2: ['vni', 'uint32'],
    3: ['subnet_id', 'string'],
    4: ['port_inband_operation', 'uint32'],
  }),
  state('GatewayState', 'GatewayConfiguration'),

  // goalstate.proto
  message('GoalState', {
    1: ['format_version', 'uint32'],
    2: ['vpc_states', 'message', 'VpcState', 'repeated'],
    3: ['subnet_states', 'message', 'SubnetState', 'repeated'],
    4: ['port_states', 'message', 'PortState', 'repeated'],
    5: ['neighbor_states', 'message', 'NeighborState', 'repeated'],
    6: ['security_group_states', 'message', 'SecurityGroupState', 'repeated'],
    7: ['dhcp_states', 'message', 'DHCPState', 'repeated'],
    8: ['router_states', 'message', 'RouterState', 'repeated'],
    9: ['gateway_states', 'message', 'GatewayState', 'repeated'],
  }),
  message('ResourceIdType', { 1: ['type', 'enum'], 2: ['id', 'string'] }),
  message('HostResources', { 1: ['resources', 'message', 'ResourceIdType', 'repeated'] }),
  message('GoalStateV2', {
    1: ['format_version', 'uint32'],
    2: ['host_resources', 'map', 'HostResources'],
    3: ['vpc_states', 'map', 'VpcState'],
    4: ['subnet_states', 'map', 'SubnetState'],
    5: ['port_states', 'map', 'PortState'],
    6: ['dhcp_states', 'map', 'DHCPState'],
    7: ['neighbor_states', 'map', 'NeighborState'],
    8: ['security_group_states', 'map', 'SecurityGroupState'],
    9: ['router_states', 'map', 'RouterState'],
    10: ['gateway_states', 'map', 'GatewayState'],
  }),

  // goalstateprovisioner.proto
  message('HostRequest', {
    1: ['format_version', 'uint32'],
    2: ['state_requests', 'message', 'HostRequest.ResourceStateRequest', 'repeated'],
  }),
  message('HostRequest.ResourceStateRequest', {
    1: ['request_type', 'enum'],
    2: ['request_id', 'string'],
    3: ['tunnel_id', 'uint32'],
    4: ['source_ip', 'string'],
    5: ['source_port', 'uint32'],
    6: ['destination_ip', 'string'],
    7: ['destination_port', 'uint32'],
    8: ['ethertype', 'enum'],
    9: ['protocol', 'enum'],
  }),
  message('HostRequestReply', {
    1: ['format_version', 'uint32'],
    2: ['operation_statuses', 'message', 'HostRequestReply.HostRequestOperationStatus', 'repeated'],
    3: ['total_operation_time', 'uint32'],
  }),
  message('HostRequestReply.HostRequestOperationStatus', {
    1: ['request_id', 'string'],
    2: ['operation_status', 'enum'],
  }),
  message('NeighborRulesRequest', {
    1: ['format_version', 'uint32'],
    2: ['request_id', 'string'],
    3: ['neigborstates', 'message', 'NeighborState', 'repeated'],
  }),
  message('GoalStateOperationReply', {
    1: ['format_version', 'uint32'],
    2: ['operation_statuses', 'message', 'GoalStateOperationReply.GoalStateOperationStatus', 'repeated'],
    3: ['message_total_operation_time', 'uint32'],
  }),
  message('GoalStateOperationReply.GoalStateOperationStatus', {
    1: ['resource_id', 'string'],
    2: ['resource_type', 'enum'],
    3: ['operation_type', 'enum'],
    4: ['operation_status', 'enum'],
    5: ['dataplane_programming_time', 'uint32'],
    6: ['network_configuration_time', 'uint32'],
    7: ['state_elapse_time', 'uint32'],
  }),

  // subscribeinfoprovisioner.proto
  message('NodeSubscribeInfo', { 1: ['subscribe_operation', 'enum'], 2: ['topic', 'string'], 3: ['key', 'string'] }),
  message('SubscribeOperationReply', { 1: ['operationStatus', 'bool'] }),
];

/** Every message of package alcor.schema, keyed by its name relative to the package (`GatewayConfiguration.zeta`). */
export const ALCOR_WIRE_SCHEMA: WireSchema = Object.fromEntries(MESSAGES.map((m) => [m.name, m]));

// ---- field numbers for the hand-written codecs ------------------------------------------------------
// Code that reads or writes the wire by hand (the agent's reply encoder, the control service's splitter)
// takes its field numbers and tags from here, looked up once at module load, so the numbers are written
// once (above) and checked against the .proto files once (schema.test.ts).

/** Wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** A map<K, V> is encoded as repeated entries {key = 1, value = 2}. */
export const MAP_ENTRY_KEY = 1;
export const MAP_ENTRY_VALUE = 2;

/** Field number of `field` in `message`; throws for a name the schema does not have, so a typo fails at load. */
export function fieldNumber(message: string, field: string): number {
  const m = ALCOR_WIRE_SCHEMA[message];
  if (m === undefined) throw new Error(`wire schema: no message ${message}`);
  for (const [num, f] of Object.entries(m.fields)) if (f.name === field) return Number(num);
  throw new Error(`wire schema: ${message} has no field ${field}`);
}

/** The tag (field number << 3 | wire type) of `field` in `message`, its wire type taken from the schema. */
export function fieldTag(message: string, field: string): number {
  const num = fieldNumber(message, field);
  const type = (ALCOR_WIRE_SCHEMA[message] as WireMessage).fields[num]?.type;
  const len = type === 'message' || type === 'map' || type === 'string' || type === 'bytes';
  return (num << 3) | (len ? WIRE_LEN : WIRE_VARINT);
}

/** fieldTag for encoders that write the tag as one byte: throws at load if it would take more. */
export function oneByteTag(message: string, field: string): number {
  const tag = fieldTag(message, field);
  if (tag > 0x7f) throw new Error(`wire schema: ${message}.${field} has a tag of more than one byte`);
  return tag;
}

/** The tags of a map entry's key (a string) and value (a message). */
export const MAP_KEY_TAG = (MAP_ENTRY_KEY << 3) | WIRE_LEN;
export const MAP_VALUE_TAG = (MAP_ENTRY_VALUE << 3) | WIRE_LEN;
