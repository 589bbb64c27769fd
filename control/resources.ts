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

/** Whether `key` is the store key of (type, id), without building that key (a reply matched status by status). */
export function keyIs(key: string, type: ResourceType, id: string): boolean {
  const name = KIND_BY_TYPE.get(type)?.name;
  if (name === undefined || key.length !== name.length + 1 + id.length) return false;
  return key.charCodeAt(name.length) === 47 /* '/' */ && key.startsWith(name) && key.endsWith(id);
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
  /** The map entry as received, when it is what encodeResourceEntry would write (forwarded without a copy). */
  readonly entry?: Buffer;
}

/**
 * A resource of a received GoalStateV2, read where it lies in the message: its state and map entry are views made
 * when asked for, not held. Two views per resource, held from the split on (the cache kept them), were a third of
 * the split's CPU and ~4k of its first-touch page faults for 100k resources; now the cache keeps this object, and
 * a canonical entry is viewed only while a host's message is assembled (garbage that dies young).
 */
export class WireResource implements ParsedResource {
  constructor(
    readonly key: string,
    readonly type: ResourceType,
    readonly id: string,
    readonly operation: OperationType,
    /** The received message, and where this resource's state and its map entry are in it. */
    readonly raw: Buffer,
    readonly stateStart: number,
    readonly stateEnd: number,
    private readonly entryStart: number,
    private readonly entryEnd: number,
    /** Whether the map entry is what encodeResourceEntry would write (then `entry` is its bytes as received). */
    readonly canonical: boolean,
  ) {}

  get state(): Buffer {
    return this.raw.subarray(this.stateStart, this.stateEnd);
  }

  get entry(): Buffer | undefined {
    return this.canonical ? this.raw.subarray(this.entryStart, this.entryEnd) : undefined;
  }
}

/** A resource state's length, without a view of a received one. */
export function stateLength(r: { readonly state: Uint8Array }): number {
  return r instanceof WireResource ? r.stateEnd - r.stateStart : r.state.length;
}

export interface ParsedGoalState {
  readonly resources: ReadonlyMap<string, ParsedResource>;
  /** host IP -> resource keys that host needs, in message order. */
  readonly hosts: ReadonlyMap<string, readonly string[]>;
  /** The encoded GoalStateV2 this was parsed from (lets the file store log one record per goal state). */
  readonly raw?: Uint8Array;
}

// ---- minimal protobuf wire reader -------------------------------------------------------------------
// One reader walks the whole message with explicit bounds: no view object or nested reader per map entry
// or per host_resources item (a 100k-resource goal state made half a million of them, most of its GC).

class WireReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  varint(end: number): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= end) throw new ControlError('BAD_GOAL_STATE', 'truncated varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
      if (scale > 2 ** 63) throw new ControlError('BAD_GOAL_STATE', 'varint too long');
    }
  }

  /** Reads a length prefix; returns where its payload ends (pos is where it starts). */
  lenEnd(end: number): number {
    const len = this.varint(end);
    if (this.pos + len > end) throw new ControlError('BAD_GOAL_STATE', 'truncated length-delimited field');
    return this.pos + len;
  }

  skip(wireType: number, end: number): void {
    switch (wireType) {
      case 0:
        this.varint(end);
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.lenEnd(end);
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new ControlError('BAD_GOAL_STATE', `unsupported wire type ${wireType}`);
    }
    if (this.pos > end) throw new ControlError('BAD_GOAL_STATE', 'truncated fixed field');
  }
}

/** Zero-copy Buffer view (Buffer#toString on a slice is much faster than TextDecoder for short ids). */
function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Where the last map entry's key and value are (the last of each wins), and whether it is canonical. */
const entry = { keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0, canonical: false };

/**
 * Reads a map entry from pos to `end` into `entry`. Canonical: exactly an ASCII key then a value, minimal
 * lengths, which is byte for byte what encodeResourceEntry writes for it, so the bytes can be forwarded as
 * they came.
 */
function readMapEntry(r: WireReader, buf: Uint8Array, end: number): void {
  entry.keyStart = entry.keyEnd = entry.valueStart = entry.valueEnd = 0;
  const start = r.pos;
  let fields = 0;
  let canonical = true;
  while (r.pos < end) {
    const tag = r.varint(end);
    if (tag === MAP_KEY_TAG || tag === MAP_VALUE_TAG) {
      const fieldEnd = r.lenEnd(end);
      const value = tag === MAP_VALUE_TAG;
      if (value) [entry.valueStart, entry.valueEnd] = [r.pos, fieldEnd];
      else [entry.keyStart, entry.keyEnd] = [r.pos, fieldEnd];
      canonical &&= fields++ === (value ? 1 : 0);
      r.pos = fieldEnd;
    } else {
      canonical = false;
      r.skip(tag & 7, end);
    }
  }
  const keyLen = entry.keyEnd - entry.keyStart;
  const valueLen = entry.valueEnd - entry.valueStart;
  canonical &&= fields === 2 && end - start === 2 + varintSize(keyLen) + keyLen + varintSize(valueLen) + valueLen;
  for (let i = entry.keyStart; canonical && i < entry.keyEnd; i++) canonical = (buf[i] as number) < 0x80;
  entry.canonical = canonical;
}

/** operation_type (field 1) of an XState message from pos to `end`; absent means INFO (0). */
function stateOperation(r: WireReader, end: number): OperationType {
  while (r.pos < end) {
    const tag = r.varint(end);
    if (tag === STATE_OPERATION_TAG) return r.varint(end) as OperationType;
    r.skip(tag & 7, end);
  }
  return OperationType.INFO;
}

/** `<kind>/` of each kind, as bytes, and a buffer a key is put together in (grown as needed). */
const KEY_PREFIX = new Map(RESOURCE_KINDS.map((k) => [k.type, Buffer.from(`${k.name}/`, 'latin1')]));
let keyBytes = Buffer.allocUnsafe(256);

/**
 * The store key of a resource whose id is bytes `start` to `end` of `buf`, decoded once into one flat string (the
 * id decoded, then joined to its kind, made two strings and a third when the join was flattened for hashing).
 */
function keyAt(type: ResourceType, buf: Buffer, start: number, end: number): string {
  const prefix = KEY_PREFIX.get(type);
  if (prefix === undefined) return resourceKey(type, buf.toString('utf8', start, end)); // throws BAD_RESOURCE_TYPE
  const len = prefix.length + end - start;
  if (keyBytes.length < len) keyBytes = Buffer.allocUnsafe(len * 2);
  let p = 0;
  for (let i = 0; i < prefix.length; i++) keyBytes[p++] = prefix[i] as number;
  for (let i = start; i < end; i++) keyBytes[p++] = buf[i] as number;
  return keyBytes.toString('utf8', 0, len);
}

/**
 * A host's list of keys. A key of a resource in the message is that resource's own key string: one string per
 * key, not one more per host that lists it, and its hash, computed when the resource was stored, is reused by
 * every lookup of the host's list.
 */
function parseHostResources(
  r: WireReader,
  buf: Buffer,
  end: number,
  keys: string[],
  resources: ReadonlyMap<string, ParsedResource>,
): void {
  while (r.pos < end) {
    const tag = r.varint(end);
    if (tag !== HOST_RESOURCES_ENTRY_TAG) {
      r.skip(tag & 7, end);
      continue;
    }
    const itemEnd = r.lenEnd(end);
    let type = 0;
    let idStart = 0;
    let idEnd = 0;
    while (r.pos < itemEnd) {
      const t = r.varint(itemEnd);
      if (t === RESOURCE_TYPE_TAG) type = r.varint(itemEnd);
      else if (t === RESOURCE_ID_TAG) {
        idEnd = r.lenEnd(itemEnd);
        idStart = r.pos;
        r.pos = idEnd;
      } else r.skip(t & 7, itemEnd);
    }
    const key = keyAt(type as ResourceType, buf, idStart, idEnd);
    keys.push(resources.get(key)?.key ?? key);
  }
}

/** Splits an encoded GoalStateV2 into resources keyed by type+id and the per-host key lists. */
export function parseGoalStateV2(input: Uint8Array): ParsedGoalState {
  const buf = asBuffer(input);
  const resources = new Map<string, ParsedResource>();
  const hosts = new Map<string, string[]>();
  // host_resources (field 2) come before the resources: their lists are read once the resources are known.
  const lists: Array<{ readonly keys: string[]; readonly start: number; readonly end: number }> = [];
  const r = new WireReader(buf);
  const end = buf.length;
  while (r.pos < end) {
    const tagStart = r.pos;
    const tag = r.varint(end);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== WIRE_LEN || (field !== HOST_RESOURCES_FIELD && !KIND_BY_FIELD.has(field))) {
      r.skip(wire, end);
      continue;
    }
    const entryEnd = r.lenEnd(end);
    const payloadLen = entryEnd - r.pos;
    readMapEntry(r, buf, entryEnd);
    if (field === HOST_RESOURCES_FIELD) {
      const host = buf.toString('utf8', entry.keyStart, entry.keyEnd);
      if (host === '') throw new ControlError('BAD_GOAL_STATE', 'host_resources entry with an empty host IP');
      let keys = hosts.get(host);
      if (keys === undefined) hosts.set(host, (keys = []));
      lists.push({ keys, start: entry.valueStart, end: entry.valueEnd });
      r.pos = entryEnd;
      continue;
    }
    const kind = KIND_BY_FIELD.get(field) as ResourceKind;
    if (entry.keyEnd === entry.keyStart) {
      throw new ControlError('BAD_GOAL_STATE', `${kind.name}_states entry with an empty id`);
    }
    const canonical = entry.canonical && entryEnd - tagStart === varintSize(tag) + varintSize(payloadLen) + payloadLen;
    const { valueStart, valueEnd } = entry;
    const key = keyAt(kind.type, buf, entry.keyStart, entry.keyEnd);
    const id = key.slice(kind.name.length + 1);
    r.pos = valueStart;
    const operation = stateOperation(r, valueEnd);
    r.pos = entryEnd;
    resources.set(
      key,
      new WireResource(key, kind.type, id, operation, buf, valueStart, valueEnd, tagStart, entryEnd, canonical),
    );
  }
  for (const list of lists) {
    r.pos = list.start;
    parseHostResources(r, buf, list.end, list.keys, resources);
  }
  for (const [host, keys] of hosts) {
    const unique = new Set(keys);
    if (unique.size !== keys.length) hosts.set(host, [...unique]);
  }
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
  pos = writeMapEntryHead(out, pos, id, idLen, state.length);
  out.set(state, pos);
  return out;
}

/** A map entry's string key (`keyLen` UTF-8 bytes), then its value's tag and length; returns where the value goes. */
export function writeMapEntryHead(out: Buffer, pos: number, key: string, keyLen: number, valueLen: number): number {
  out[pos++] = MAP_KEY_TAG;
  pos = writeVarint(out, pos, keyLen);
  pos += out.write(key, pos, 'utf8');
  out[pos++] = MAP_VALUE_TAG;
  return writeVarint(out, pos, valueLen);
}

/** The kind a store key names (`<kind>/<id>`), without slicing the name out; a bad key throws as parseResourceKey. */
function kindOfKey(key: string): ResourceKind {
  for (const k of RESOURCE_KINDS) {
    if (key.charCodeAt(k.name.length) === 47 /* '/' */ && key.startsWith(k.name)) return k;
  }
  return parseResourceKey(key).kind;
}

/** UTF-8 lengths of the ids of the host list being encoded (grown as needed, reused: lists are encoded one by one). */
let idLens = new Int32Array(1024);

/**
 * host_resources = { hostIp: HostResources{ repeated ResourceIdType{type=1, id=2} } }: its size, then `write` puts
 * it at `pos` of a buffer of that size or more. A key costs its UTF-8 length, counted once, and one substring (its
 * id): for a push to 1,000 hosts of 100 ports each, an object and two substrings per key were 111k objects and
 * 222k strings made before the first message could go.
 */
function hostResources(
  hostIp: string,
  keys: readonly string[],
): { size: number; write(out: Buffer, pos: number): number } {
  if (idLens.length < keys.length) idLens = new Int32Array(keys.length * 2);
  let valueLen = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const kind = kindOfKey(key);
    const idLen = Buffer.byteLength(key, 'utf8') - kind.name.length - 1; // the kind's name is ASCII
    idLens[i] = idLen;
    const bodyLen = (kind.type === 0 ? 0 : 1 + varintSize(kind.type)) + 1 + varintSize(idLen) + idLen;
    valueLen += 1 + varintSize(bodyLen) + bodyLen;
  }
  const hostLen = Buffer.byteLength(hostIp, 'utf8');
  const entryLen = 1 + varintSize(hostLen) + hostLen + 1 + varintSize(valueLen) + valueLen;
  const tag = (HOST_RESOURCES_FIELD << 3) | WIRE_LEN;
  const write = (out: Buffer, at: number): number => {
    let pos = writeVarint(out, at, tag);
    pos = writeVarint(out, pos, entryLen);
    pos = writeMapEntryHead(out, pos, hostIp, hostLen, valueLen);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const kind = kindOfKey(key);
      const idLen = idLens[i] as number;
      const typeLen = kind.type === 0 ? 0 : 1 + varintSize(kind.type);
      out[pos++] = HOST_RESOURCES_ENTRY_TAG;
      pos = writeVarint(out, pos, typeLen + 1 + varintSize(idLen) + idLen);
      if (typeLen > 0) {
        out[pos++] = RESOURCE_TYPE_TAG;
        pos = writeVarint(out, pos, kind.type);
      }
      out[pos++] = RESOURCE_ID_TAG;
      pos = writeVarint(out, pos, idLen);
      pos += out.write(key.slice(kind.name.length + 1), pos, 'utf8');
    }
    return pos;
  };
  return { size: varintSize(tag) + varintSize(entryLen) + entryLen, write };
}

/** A GoalStateV2 holding only host_resources (e.g. on-demand additions of already stored resources). */
export function encodeHostsOnly(hosts: ReadonlyMap<string, readonly string[]>): Buffer {
  return Buffer.concat(
    [...hosts].map(([host, keys]) => {
      const h = hostResources(host, keys);
      const out = Buffer.allocUnsafe(h.size);
      h.write(out, 0);
      return out;
    }),
  );
}

/**
 * The GoalStateV2 one agent receives, in one buffer: format_version 102 (Alcor's V2 message version),
 * host_resources for that host only, and the listed resources. `entries` are pre-encoded map entries from
 * encodeResourceEntry.
 */
export function encodeHostGoalState(hostIp: string, keys: readonly string[], entries: readonly Uint8Array[]): Buffer {
  const hosts = keys.length > 0 ? hostResources(hostIp, keys) : undefined;
  let total = 2 + (hosts?.size ?? 0);
  for (const e of entries) total += e.length;
  const out = Buffer.allocUnsafe(total);
  out[0] = FORMAT_VERSION_TAG;
  out[1] = 102;
  let pos = hosts === undefined ? 2 : hosts.write(out, 2);
  for (const e of entries) {
    out.set(e, pos);
    pos += e.length;
  }
  return out;
}
