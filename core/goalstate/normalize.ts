// GoalState (v1, lists) and GoalStateV2 (maps keyed by id) -> one GoalStateModel. This module turns
// states into ops; resource-normalizers.ts reads each kind's configuration, field-readers.ts its fields.
//
// Each resource state becomes a ResourceOp. Everything that can be judged from the message alone
// is judged here (address syntax, tunnel id ranges, required fields, IPv6, rule ranges): a bad
// state gets `error` (a sentence an operator can act on) and no `resource`, which the store turns
// into INVALID_ARG. Checks that need other resources (does the port's subnet exist? does the
// router's DVR MAC agree with the held one?) are the planner's (planner.ts), because they depend on
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

import { OperationType, UpdateType } from '../../proto';
import type { GoalState, GoalStateV2, HostResources } from '../../proto';
import type { GoalStateModel, Resource, ResourceKind, ResourceOp } from '../model';
import { InvalidArg } from './field-readers';
import { KIND_LABEL, RESOURCE_TYPE_OF_KIND, kindOfResourceType } from './kinds';
import {
  normalizeDhcp,
  normalizeGateway,
  normalizeNeighbor,
  normalizePort,
  normalizeRouter,
  normalizeSecurityGroup,
  normalizeSubnet,
  normalizeVpc,
} from './resource-normalizers';

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
