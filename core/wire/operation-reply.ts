// GoalStateOperationReply, encoded straight into one buffer: the reply to a million-neighbor goal
// state carries a million statuses, and the generated encoder (a growing writer, one call per
// field) spent more time on them than the agent spent planning the neighbors. The bytes are the
// same as the generated encoder's (proto3: zero values omitted, fields in number order), which
// operation-reply.test.ts checks against it.

import type { GoalStateOperationReply } from '../../proto';
import { varintSize, writeVarint } from './varint';
import { oneByteTag } from './schema';

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

/** The protobuf encoding of `reply`, byte for byte what GoalStateOperationReply.encode writes. */
export function encodeGoalStateOperationReply(reply: GoalStateOperationReply): Buffer {
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
  for (let i = 0; i < statuses.length; i++) {
    const s = statuses[i];
    buf[at++] = TAG_STATUSES;
    at = writeVarint(buf, at, bodySizes[i]);
    if (s.resourceId !== '') {
      buf[at++] = TAG_RESOURCE_ID;
      at = writeVarint(buf, at, idBytes[i]);
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
    if (s.dataplaneProgrammingTime !== 0) {
      buf[at++] = TAG_DATAPLANE_TIME;
      at = writeVarint(buf, at, s.dataplaneProgrammingTime >>> 0);
    }
    if (s.networkConfigurationTime !== 0) {
      buf[at++] = TAG_NETWORK_CONFIG_TIME;
      at = writeVarint(buf, at, s.networkConfigurationTime >>> 0);
    }
    if (s.stateElapseTime !== 0) {
      buf[at++] = TAG_STATE_ELAPSE_TIME;
      at = writeVarint(buf, at, s.stateElapseTime >>> 0);
    }
  }
  if (reply.messageTotalOperationTime !== 0) {
    buf[at++] = TAG_TOTAL_TIME;
    at = writeVarint(buf, at, reply.messageTotalOperationTime >>> 0);
  }
  return buf;
}
