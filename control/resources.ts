// Resource identity and the raw GoalStateV2 wire format, as the control plane needs it.
//
// The control plane never needs the decoded content of most resources: it splits a GoalStateV2 by
// `host_resources`, stores each resource's encoded state once, and re-assembles per-host GoalStateV2
// messages. Working on the wire bytes (instead of decode + re-encode with ts-proto) keeps a neighbor that
// 1,000 hosts share encoded exactly once, and makes per-host message assembly a concatenation.
// Wire format: https://protobuf.dev/programming-guides/encoding/ (maps are repeated {key=1, value=2} entries).
import { OperationType, ResourceType } from '../proto';
import { errorKind, type ErrorKind } from '../core/errors';
import { varintSize, writeVarint } from '../core/wire/varint';
import { MAP_KEY_TAG, MAP_VALUE_TAG, WIRE_LEN, fieldNumber, oneByteTag } from '../core/wire/schema';

const GOAL_STATE = 'GoalStateV2';

export interface ResourceKind {
  readonly name: string;
  readonly type: ResourceType;
  /** Field number of this kind's `map<string, XState>` in GoalStateV2 (goalstate.proto). */
  readonly field: number;
}

export const RESOURCE_KINDS: readonly ResourceKind[] = [
  { name: 'vpc', type: ResourceType.VPC, field: fieldNumber(GOAL_STATE, 'vpc_states') },
  { name: 'subnet', type: ResourceType.SUBNET, field: fieldNumber(GOAL_STATE, 'subnet_states') },
  { name: 'port', type: ResourceType.PORT, field: fieldNumber(GOAL_STATE, 'port_states') },
  { name: 'dhcp', type: ResourceType.DHCP, field: fieldNumber(GOAL_STATE, 'dhcp_states') },
  { name: 'neighbor', type: ResourceType.NEIGHBOR, field: fieldNumber(GOAL_STATE, 'neighbor_states') },
  {
    name: 'securitygroup',
    type: ResourceType.SECURITYGROUP,
    field: fieldNumber(GOAL_STATE, 'security_group_states'),
  },
  { name: 'router', type: ResourceType.ROUTER, field: fieldNumber(GOAL_STATE, 'router_states') },
  { name: 'gateway', type: ResourceType.GATEWAY, field: fieldNumber(GOAL_STATE, 'gateway_states') },
];

const KIND_BY_FIELD = new Map(RESOURCE_KINDS.map((k) => [k.field, k]));
const KIND_BY_TYPE = new Map(RESOURCE_KINDS.map((k) => [k.type, k]));
const KIND_BY_NAME = new Map(RESOURCE_KINDS.map((k) => [k.name, k]));
const HOST_RESOURCES_FIELD = fieldNumber(GOAL_STATE, 'host_resources');
/** Every XState message has operation_type first; VpcState stands for them all. */
const STATE_OPERATION_TAG = oneByteTag('VpcState', 'operation_type');
const HOST_RESOURCES_ENTRY_TAG = oneByteTag('HostResources', 'resources');
const RESOURCE_TYPE_TAG = oneByteTag('ResourceIdType', 'type');
const RESOURCE_ID_TAG = oneByteTag('ResourceIdType', 'id');
const FORMAT_VERSION_TAG = oneByteTag(GOAL_STATE, 'format_version');

/** Codes of the control service's failures (the module-prefix scheme of core/errors.ts; BAD_* kept as tests pin them). */
export type ControlErrorCode =
  | 'BAD_GOAL_STATE'
  | 'BAD_RESOURCE_KEY'
  | 'BAD_RESOURCE_TYPE'
  | 'BAD_RESOURCE'
  | 'MESSAGE_TOO_LARGE'
  | 'AGENT_REFUSED'
  | 'STORE_UNAVAILABLE'
  | 'STORE_CLOSED'
  | 'STORE_CONFLICT'
  | 'STORE_CORRUPT'
  | 'STREAM_BROKEN'
  | 'STREAM_NOT_CONNECTED'
  | 'STREAM_STOPPED';

/** The sender's request was wrong: gRPC INVALID_ARGUMENT, HTTP 400. */
export const CONTROL_INPUT_CODES: ReadonlySet<string> = new Set<ControlErrorCode>([
  'BAD_GOAL_STATE',
  'BAD_RESOURCE_KEY',
  'BAD_RESOURCE_TYPE',
  'BAD_RESOURCE',
  'AGENT_REFUSED',
]);
/** Not durable now, try again: gRPC UNAVAILABLE, HTTP 503. */
export const CONTROL_UNAVAILABLE_CODES: ReadonlySet<string> = new Set<ControlErrorCode>(['STORE_UNAVAILABLE']);

export class ControlError extends Error {
  constructor(
    readonly code: ControlErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

/** What a failure means to the sender (core/errors.ts); anything but a listed ControlError code is internal. */
export function controlErrorKind(err: unknown): ErrorKind {
  if (!(err instanceof ControlError)) return 'internal';
  // Over the agents' size limit: no agent could take it (gRPC RESOURCE_EXHAUSTED, HTTP 413).
  if (err.code === 'MESSAGE_TOO_LARGE') return 'exhausted';
  return errorKind(err, CONTROL_INPUT_CODES, CONTROL_UNAVAILABLE_CODES);
}

/** Store key of a resource: `<kind name>/<id>` (e.g. `port/5f1a...`). */
export function resourceKey(type: ResourceType, id: string): string {
  const kind = KIND_BY_TYPE.get(type);
  if (kind === undefined) throw new ControlError('BAD_RESOURCE_TYPE', `unknown resource type ${String(type)}`);
  return `${kind.name}/${id}`;
}

export function parseResourceKey(key: string): { readonly kind: ResourceKind; readonly id: string } {
  const slash = key.indexOf('/');
  const kind = slash < 0 ? undefined : KIND_BY_NAME.get(key.slice(0, slash));
  if (kind === undefined) throw new ControlError('BAD_RESOURCE_KEY', `bad resource key ${JSON.stringify(key)}`);
  return { kind, id: key.slice(slash + 1) };
}

export interface ParsedResource {
  readonly key: string;
  readonly type: ResourceType;
  readonly id: string;
  /** The encoded XState message (e.g. PortState), exactly as received. */
  readonly state: Uint8Array;
  readonly operation: OperationType;
}

export interface ParsedGoalState {
  readonly resources: ReadonlyMap<string, ParsedResource>;
  /** host IP -> resource keys that host needs, in message order. */
  readonly hosts: ReadonlyMap<string, readonly string[]>;
  /** The encoded GoalStateV2 this was parsed from (lets the file store log one record per goal state). */
  readonly raw?: Uint8Array;
}

// ---- minimal protobuf wire reader -------------------------------------------------------------------

class WireReader {
  pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly end = buf.length,
  ) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new ControlError('BAD_GOAL_STATE', 'truncated varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
      if (scale > 2 ** 63) throw new ControlError('BAD_GOAL_STATE', 'varint too long');
    }
  }

  bytes(): Uint8Array {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new ControlError('BAD_GOAL_STATE', 'truncated length-delimited field');
    this.pos += len;
    return this.buf.subarray(start, start + len);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.bytes();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new ControlError('BAD_GOAL_STATE', `unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new ControlError('BAD_GOAL_STATE', 'truncated fixed field');
  }
}

/** Zero-copy Buffer view (Buffer#toString on a slice is much faster than TextDecoder for short ids). */
function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
const utf8 = { decode: (u: Uint8Array): string => asBuffer(u).toString('utf8') };

function parseMapEntry(value: Uint8Array): { key: string; value: Uint8Array } {
  const r = new WireReader(value);
  let key = '';
  let val: Uint8Array = new Uint8Array(0);
  while (!r.done()) {
    const tag = r.varint();
    if (tag === MAP_KEY_TAG) key = utf8.decode(r.bytes());
    else if (tag === MAP_VALUE_TAG) val = r.bytes();
    else r.skip(tag & 7);
  }
  return { key, value: val };
}

/** operation_type (field 1) of an XState message; absent means INFO (0). */
function stateOperation(state: Uint8Array): OperationType {
  const r = new WireReader(state);
  while (!r.done()) {
    const tag = r.varint();
    if (tag === STATE_OPERATION_TAG) return r.varint() as OperationType;
    r.skip(tag & 7);
  }
  return OperationType.INFO;
}

function parseHostResources(value: Uint8Array): string[] {
  const keys: string[] = [];
  const r = new WireReader(value);
  while (!r.done()) {
    const tag = r.varint();
    if (tag !== HOST_RESOURCES_ENTRY_TAG) {
      r.skip(tag & 7);
      continue;
    }
    const ri = new WireReader(r.bytes());
    let type = 0;
    let id = '';
    while (!ri.done()) {
      const t = ri.varint();
      if (t === RESOURCE_TYPE_TAG) type = ri.varint();
      else if (t === RESOURCE_ID_TAG) id = utf8.decode(ri.bytes());
      else ri.skip(t & 7);
    }
    keys.push(resourceKey(type as ResourceType, id));
  }
  return keys;
}

/** Splits an encoded GoalStateV2 into resources keyed by type+id and the per-host key lists. */
export function parseGoalStateV2(input: Uint8Array): ParsedGoalState {
  const buf = asBuffer(input);
  const resources = new Map<string, ParsedResource>();
  const hosts = new Map<string, string[]>();
  const r = new WireReader(buf);
  while (!r.done()) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== WIRE_LEN || (field !== HOST_RESOURCES_FIELD && !KIND_BY_FIELD.has(field))) {
      r.skip(wire);
      continue;
    }
    const entry = parseMapEntry(r.bytes());
    if (field === HOST_RESOURCES_FIELD) {
      if (entry.key === '') throw new ControlError('BAD_GOAL_STATE', 'host_resources entry with an empty host IP');
      const existing = hosts.get(entry.key);
      const keys = parseHostResources(entry.value);
      if (existing === undefined) hosts.set(entry.key, keys);
      else existing.push(...keys);
      continue;
    }
    const kind = KIND_BY_FIELD.get(field) as ResourceKind;
    if (entry.key === '') throw new ControlError('BAD_GOAL_STATE', `${kind.name}_states entry with an empty id`);
    const key = `${kind.name}/${entry.key}`;
    resources.set(key, {
      key,
      type: kind.type,
      id: entry.key,
      state: entry.value,
      operation: stateOperation(entry.value),
    });
  }
  for (const [host, keys] of hosts) hosts.set(host, [...new Set(keys)]);
  return { resources, hosts, raw: input };
}

/** One GoalStateV2 map entry (`<kind>_states[id] = state`), encoded once and reused in every host's message. */
export function encodeResourceEntry(key: string, state: Uint8Array): Buffer {
  const { kind, id } = parseResourceKey(key);
  const idLen = Buffer.byteLength(id, 'utf8');
  const entryLen = 1 + varintSize(idLen) + idLen + 1 + varintSize(state.length) + state.length;
  const tag = (kind.field << 3) | WIRE_LEN;
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(entryLen) + entryLen);
  let pos = writeVarint(out, 0, tag);
  pos = writeVarint(out, pos, entryLen);
  out[pos++] = MAP_KEY_TAG;
  pos = writeVarint(out, pos, idLen);
  pos += out.write(id, pos, 'utf8');
  out[pos++] = MAP_VALUE_TAG;
  pos = writeVarint(out, pos, state.length);
  out.set(state, pos);
  return out;
}

/** host_resources = { hostIp: HostResources{ repeated ResourceIdType{type=1, id=2} } }, in one allocation. */
function encodeHostResources(hostIp: string, keys: readonly string[]): Buffer {
  const items = keys.map((key) => {
    const { kind, id } = parseResourceKey(key);
    const idLen = Buffer.byteLength(id, 'utf8');
    const typeLen = kind.type === 0 ? 0 : 1 + varintSize(kind.type);
    const bodyLen = typeLen + 1 + varintSize(idLen) + idLen;
    return { type: kind.type, id, idLen, typeLen, bodyLen };
  });
  let valueLen = 0;
  for (const it of items) valueLen += 1 + varintSize(it.bodyLen) + it.bodyLen;
  const hostLen = Buffer.byteLength(hostIp, 'utf8');
  const entryLen = 1 + varintSize(hostLen) + hostLen + 1 + varintSize(valueLen) + valueLen;
  const tag = (HOST_RESOURCES_FIELD << 3) | WIRE_LEN;
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(entryLen) + entryLen);
  let pos = writeVarint(out, 0, tag);
  pos = writeVarint(out, pos, entryLen);
  out[pos++] = MAP_KEY_TAG;
  pos = writeVarint(out, pos, hostLen);
  pos += out.write(hostIp, pos, 'utf8');
  out[pos++] = MAP_VALUE_TAG;
  pos = writeVarint(out, pos, valueLen);
  for (const it of items) {
    out[pos++] = HOST_RESOURCES_ENTRY_TAG;
    pos = writeVarint(out, pos, it.bodyLen);
    if (it.typeLen > 0) {
      out[pos++] = RESOURCE_TYPE_TAG;
      pos = writeVarint(out, pos, it.type);
    }
    out[pos++] = RESOURCE_ID_TAG;
    pos = writeVarint(out, pos, it.idLen);
    pos += out.write(it.id, pos, 'utf8');
  }
  return out;
}

/** A GoalStateV2 holding only host_resources (e.g. on-demand additions of already stored resources). */
export function encodeHostsOnly(hosts: ReadonlyMap<string, readonly string[]>): Buffer {
  return Buffer.concat([...hosts].map(([host, keys]) => encodeHostResources(host, keys)));
}

/**
 * The GoalStateV2 one agent receives: host_resources for that host only, and the listed resources.
 * `entries` are pre-encoded map entries from encodeResourceEntry.
 */
export function encodeHostGoalState(hostIp: string, keys: readonly string[], entries: readonly Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [Buffer.from([FORMAT_VERSION_TAG, 102])]; // format_version 102 (Alcor's V2 message version)
  if (keys.length > 0) parts.push(encodeHostResources(hostIp, keys));
  for (const e of entries) parts.push(e);
  return Buffer.concat(parts);
}
