// GoalStateOperationReply, encoded straight into one buffer: the reply to a million-neighbor goal
// state carries a million statuses, and the generated encoder (a growing writer, one call per
// field) spent more time on them than the agent spent planning the neighbors. The bytes are the
// same as the generated encoder's (proto3: zero values omitted, fields in number order), which
// operation-reply.test.ts checks against it.

import { ResourceType, type GoalStateOperationReply } from '../../proto';
import type { PlannedStatus } from '../goalstate';
import type { StatusColumns } from '../engine/statuses';
import { varintSize, writeVarint } from './varint';
import { oneByteTag } from './schema';
import { findInvalidUtf8 } from './scan';

type Status = GoalStateOperationReply['operationStatuses'][number];

/** int32 fields: a negative value is sign-extended to 64 bits, so ten bytes. */
function int32Size(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

function writeInt32(buf: Buffer, at: number, v: number): number {
  if (v >= 0) return writeVarint(buf, at, v);
  // Sign-extended to 64 bits (high word all ones), seven bits per byte: ten bytes.
  let lo = v >>> 0;
  let hi = 0xffff_ffff;
  for (let i = 0; i < 9; i++) {
    buf[at++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[at++] = lo & 0x7f;
  return at;
}

const REPLY = 'GoalStateOperationReply';
const STATUS = 'GoalStateOperationReply.GoalStateOperationStatus';
const TAG_FORMAT_VERSION = oneByteTag(REPLY, 'format_version');
const TAG_STATUSES = oneByteTag(REPLY, 'operation_statuses');
const TAG_TOTAL_TIME = oneByteTag(REPLY, 'message_total_operation_time');
const TAG_RESOURCE_ID = oneByteTag(STATUS, 'resource_id');
const TAG_RESOURCE_TYPE = oneByteTag(STATUS, 'resource_type');
const TAG_OPERATION_TYPE = oneByteTag(STATUS, 'operation_type');
const TAG_OPERATION_STATUS = oneByteTag(STATUS, 'operation_status');
const TAG_DATAPLANE_TIME = oneByteTag(STATUS, 'dataplane_programming_time');
const TAG_NETWORK_CONFIG_TIME = oneByteTag(STATUS, 'network_configuration_time');
const TAG_STATE_ELAPSE_TIME = oneByteTag(STATUS, 'state_elapse_time');

function statusBodySize(s: Status, idBytes: number): number {
  let n = 0;
  if (s.resourceId !== '') n += 1 + varintSize(idBytes) + idBytes;
  if (s.resourceType !== 0) n += 1 + int32Size(s.resourceType);
  if (s.operationType !== 0) n += 1 + int32Size(s.operationType);
  if (s.operationStatus !== 0) n += 1 + int32Size(s.operationStatus);
  if (s.dataplaneProgrammingTime !== 0) n += 1 + varintSize(s.dataplaneProgrammingTime >>> 0);
  if (s.networkConfigurationTime !== 0) n += 1 + varintSize(s.networkConfigurationTime >>> 0);
  if (s.stateElapseTime !== 0) n += 1 + varintSize(s.stateElapseTime >>> 0);
  return n;
}

/** One operation_statuses entry (tag, length, body) at `at`; returns the position after it. */
function writeStatus(buf: Buffer, at: number, s: Status, idBytes: number, bodySize: number): number {
  buf[at++] = TAG_STATUSES;
  at = writeVarint(buf, at, bodySize);
  if (s.resourceId !== '') {
    buf[at++] = TAG_RESOURCE_ID;
    at = writeVarint(buf, at, idBytes);
    at += buf.write(s.resourceId, at, 'utf8');
  }
  if (s.resourceType !== 0) {
    buf[at++] = TAG_RESOURCE_TYPE;
    at = writeInt32(buf, at, s.resourceType);
  }
  if (s.operationType !== 0) {
    buf[at++] = TAG_OPERATION_TYPE;
    at = writeInt32(buf, at, s.operationType);
  }
  if (s.operationStatus !== 0) {
    buf[at++] = TAG_OPERATION_STATUS;
    at = writeInt32(buf, at, s.operationStatus);
  }
  return writeTimes(buf, at, s.dataplaneProgrammingTime, s.networkConfigurationTime, s.stateElapseTime);
}

function writeTimes(buf: Buffer, at: number, dataplane: number, network: number, elapse: number): number {
  if (dataplane !== 0) {
    buf[at++] = TAG_DATAPLANE_TIME;
    at = writeVarint(buf, at, dataplane >>> 0);
  }
  if (network !== 0) {
    buf[at++] = TAG_NETWORK_CONFIG_TIME;
    at = writeVarint(buf, at, network >>> 0);
  }
  if (elapse !== 0) {
    buf[at++] = TAG_STATE_ELAPSE_TIME;
    at = writeVarint(buf, at, elapse >>> 0);
  }
  return at;
}

/**
 * A reply object may carry its own encoding under this key (columnarReply): the encoder then calls
 * it instead of walking `operationStatuses`, which such a reply builds only if someone reads it.
 */
export const ENCODE_REPLY: unique symbol = Symbol('encodeReply');

type SelfEncoding = GoalStateOperationReply & { readonly [ENCODE_REPLY]?: () => Buffer };

/** The protobuf encoding of `reply`, byte for byte what GoalStateOperationReply.encode writes. */
export function encodeGoalStateOperationReply(reply: GoalStateOperationReply): Buffer {
  const own = (reply as SelfEncoding)[ENCODE_REPLY];
  if (own !== undefined) return own();
  const statuses = reply.operationStatuses;
  const idBytes = new Uint32Array(statuses.length);
  const bodySizes = new Uint32Array(statuses.length);
  let total = 0;
  if (reply.formatVersion !== 0) total += 1 + varintSize(reply.formatVersion >>> 0);
  for (let i = 0; i < statuses.length; i++) {
    const s = statuses[i];
    idBytes[i] = Buffer.byteLength(s.resourceId, 'utf8');
    bodySizes[i] = statusBodySize(s, idBytes[i]);
    total += 1 + varintSize(bodySizes[i]) + bodySizes[i];
  }
  if (reply.messageTotalOperationTime !== 0) total += 1 + varintSize(reply.messageTotalOperationTime >>> 0);

  const buf = Buffer.allocUnsafe(total);
  let at = 0;
  if (reply.formatVersion !== 0) {
    buf[at++] = TAG_FORMAT_VERSION;
    at = writeVarint(buf, at, reply.formatVersion >>> 0);
  }
  for (let i = 0; i < statuses.length; i++) at = writeStatus(buf, at, statuses[i], idBytes[i], bodySizes[i]);
  if (reply.messageTotalOperationTime !== 0) {
    buf[at++] = TAG_TOTAL_TIME;
    at = writeVarint(buf, at, reply.messageTotalOperationTime >>> 0);
  }
  return buf;
}

/** What every status of an agent's reply carries besides its own fields. */
export interface ReplyTimes {
  readonly dataplaneUs: number;
  readonly totalUs: number;
}

const FORMAT_VERSION = 1;
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** One reply status of an engine status: the agent's reply, object or columnar, is made of these. */
export function replyStatusOf(s: PlannedStatus, t: ReplyTimes): Status {
  return {
    resourceId: s.resourceId,
    resourceType: s.resourceType,
    operationType: s.operationType,
    operationStatus: s.status,
    dataplaneProgrammingTime: t.dataplaneUs,
    networkConfigurationTime: 0,
    stateElapseTime: t.totalUs,
  };
}

/**
 * The reply to a goal state, from the engine's status columns: what encodeGoalStateOperationReply
 * writes for the same statuses as objects, byte for byte, but a coded neighbor's id is copied from
 * the request bytes, with no object or string per neighbor (a million of them in a big reply). An id
 * that is not valid UTF-8 goes the object way, as the decoder would have read it.
 */
export function encodeColumnarReply(c: StatusColumns, t: ReplyTimes): Buffer {
  const count = c.codes.length;
  // Statuses that are objects: the others, listed neighbors, and ids that are not valid UTF-8.
  const objects = new Map<number, Status>();
  for (const [n, s] of c.listed) objects.set(n, replyStatusOf(s, t));
  for (let n = 0; n < count; n++) {
    const start = c.idRanges[2 * n];
    const end = c.idRanges[2 * n + 1];
    if (objects.has(n) || findInvalidUtf8(c.message, start, end) === -1) continue;
    const id = utf8.decode(c.message.subarray(start, end));
    objects.set(
      n,
      replyStatusOf(
        {
          resourceId: id,
          resourceType: ResourceType.NEIGHBOR,
          operationType: c.operations[n],
          status: c.codes[n],
          reason: '',
        },
        t,
      ),
    );
  }
  const head = c.head.map((s) => replyStatusOf(s, t));
  const tail = c.tail.map((s) => replyStatusOf(s, t));
  const timeBytes =
    (t.dataplaneUs !== 0 ? 1 + varintSize(t.dataplaneUs >>> 0) : 0) +
    (t.totalUs !== 0 ? 1 + varintSize(t.totalUs >>> 0) : 0);
  const codedBody = (n: number): number => {
    const id = c.idRanges[2 * n + 1] - c.idRanges[2 * n];
    return (
      (id > 0 ? 1 + varintSize(id) + id : 0) +
      1 +
      int32Size(ResourceType.NEIGHBOR) +
      (c.operations[n] !== 0 ? 1 + int32Size(c.operations[n]) : 0) +
      (c.codes[n] !== 0 ? 1 + int32Size(c.codes[n]) : 0) +
      timeBytes
    );
  };
  const objectBody = (s: Status): number => statusBodySize(s, Buffer.byteLength(s.resourceId, 'utf8'));
  const entry = (body: number): number => 1 + varintSize(body) + body;

  let total = 1 + varintSize(FORMAT_VERSION) + (t.totalUs !== 0 ? 1 + varintSize(t.totalUs >>> 0) : 0);
  for (const s of head) total += entry(objectBody(s));
  for (const s of tail) total += entry(objectBody(s));
  // Sized once, written from the same sizes (as encodeGoalStateOperationReply does).
  const bodies = new Uint32Array(count);
  for (let n = 0; n < count; n++) {
    const o = objects.get(n);
    bodies[n] = o === undefined ? codedBody(n) : objectBody(o);
    total += entry(bodies[n]);
  }

  const buf = Buffer.allocUnsafe(total);
  let at = 0;
  buf[at++] = TAG_FORMAT_VERSION;
  at = writeVarint(buf, at, FORMAT_VERSION);
  const writeObject = (s: Status, body: number): void => {
    at = writeStatus(buf, at, s, Buffer.byteLength(s.resourceId, 'utf8'), body);
  };
  for (const s of head) writeObject(s, objectBody(s));
  for (let n = 0; n < count; n++) {
    const o = objects.get(n);
    if (o !== undefined) {
      writeObject(o, bodies[n]);
      continue;
    }
    buf[at++] = TAG_STATUSES;
    at = writeVarint(buf, at, bodies[n]);
    const start = c.idRanges[2 * n];
    const end = c.idRanges[2 * n + 1];
    if (end > start) {
      buf[at++] = TAG_RESOURCE_ID;
      at = writeVarint(buf, at, end - start);
      buf.set(c.message.subarray(start, end), at);
      at += end - start;
    }
    buf[at++] = TAG_RESOURCE_TYPE;
    at = writeInt32(buf, at, ResourceType.NEIGHBOR);
    if (c.operations[n] !== 0) {
      buf[at++] = TAG_OPERATION_TYPE;
      at = writeInt32(buf, at, c.operations[n]);
    }
    if (c.codes[n] !== 0) {
      buf[at++] = TAG_OPERATION_STATUS;
      at = writeInt32(buf, at, c.codes[n]);
    }
    at = writeTimes(buf, at, t.dataplaneUs, 0, t.totalUs);
  }
  for (const s of tail) writeObject(s, objectBody(s));
  if (t.totalUs !== 0) {
    buf[at++] = TAG_TOTAL_TIME;
    at = writeVarint(buf, at, t.totalUs >>> 0);
  }
  return buf;
}
