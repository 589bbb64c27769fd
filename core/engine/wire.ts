// Minimal protobuf wire-format reading for the hot paths that bypass the generated decoders
// (https://protobuf.dev/programming-guides/encoding/). Every reader returns -1 on malformed
// input instead of throwing, so callers can fall back to the generated (slow, exact) decoder,
// which then produces the precise error.

// Wire types, field numbers and map-entry tags come from the wire schema (core/wire/schema.ts, whose test
// holds it to proto/*.proto): this is the one place they are written, the hot paths here only read them.
// Declared again as plain consts, not re-exported: a CommonJS re-export is a getter, called on every read
// in the per-field loops.
import * as schema from '../wire/schema';

export const fieldNumber = schema.fieldNumber;
export const WIRE_VARINT = schema.WIRE_VARINT;
export const WIRE_I64 = schema.WIRE_I64;
export const WIRE_LEN = schema.WIRE_LEN;
export const WIRE_I32 = schema.WIRE_I32;
export const MAP_KEY_TAG = schema.MAP_KEY_TAG;
export const MAP_VALUE_TAG = schema.MAP_VALUE_TAG;
/** A map entry's key and value field numbers (fixed by how protobuf encodes maps). */
export const MAP_KEY_FIELD = schema.MAP_ENTRY_KEY;
export const MAP_VALUE_FIELD = schema.MAP_ENTRY_VALUE;

/** The neighbor collections of a goal state (v1: repeated NeighborState; v2: map id -> NeighborState). */
export const V1_NEIGHBOR_STATES = fieldNumber('GoalState', 'neighbor_states');
export const V2_NEIGHBOR_STATES = fieldNumber('GoalStateV2', 'neighbor_states');
/** v2's host_resources (per-host lists of resource ids): no resource itself, so the hot paths skip it. */
export const V2_HOST_RESOURCES = fieldNumber('GoalStateV2', 'host_resources');

/** A cursor the readers advance; `value` holds the last varint read. */
export interface Cursor {
  pos: number;
  value: number;
}

/**
 * Reads a varint up to 2^53 at `c.pos` into `c.value`. Returns false when truncated or longer
 * than 53 bits (not a value any field of ours can hold).
 */
export function readVarint(buf: Uint8Array, end: number, c: Cursor): boolean {
  let pos = c.pos;
  let b = 0;
  let result = 0;
  let mul = 1;
  do {
    if (pos >= end || mul > 2 ** 49) return false;
    b = buf[pos++];
    result += (b & 0x7f) * mul;
    mul *= 128;
  } while (b & 0x80);
  c.pos = pos;
  c.value = result;
  return true;
}

/**
 * Reads a tag the way the generated decoders read it, or returns false where they would read the
 * bytes otherwise: a tag past 32 bits (they keep its low 32 bits, so it may name a known field), a
 * field number 0 (they stop reading the message there, and its parent goes on from that byte), a
 * group or an unknown wire type. A hot path that declines on false never reads a field the generated
 * decoder does not see, so both agree on which fields an entry has (its id above all: split.ts).
 */
export function readTag(buf: Uint8Array, end: number, c: Cursor): boolean {
  if (!readVarint(buf, end, c)) return false;
  const tag = c.value;
  if (tag < 8 || tag > 0xffffffff) return false;
  const wire = tag % 8;
  return wire === WIRE_VARINT || wire === WIRE_I64 || wire === WIRE_LEN || wire === WIRE_I32;
}

/** Skips one field's payload of the given wire type. False when malformed or truncated. */
export function skipField(buf: Uint8Array, end: number, wireType: number, c: Cursor): boolean {
  switch (wireType) {
    case WIRE_VARINT:
      return readVarint(buf, end, c);
    case WIRE_I64:
      c.pos += 8;
      return c.pos <= end;
    case WIRE_LEN:
      if (!readVarint(buf, end, c)) return false;
      c.pos += c.value;
      return c.pos <= end;
    case WIRE_I32:
      c.pos += 4;
      return c.pos <= end;
    default:
      return false;
  }
}

/**
 * FNV-1a (32 bit) over an ASCII id's bytes, or -1 when a byte is not ASCII. For ASCII it equals
 * hash32 of the id string (core/pipeline/cookie.ts), the hash a neighbor's cookie and partition
 * carry, so it is computed straight from the wire.
 */
export function asciiIdHash(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b >= 0x80) return -1;
    h = Math.imul(h ^ b, 0x01000193);
  }
  return h >>> 0;
}
