// Minimal protobuf wire-format reading for the hot paths that bypass the generated decoders
// (https://protobuf.dev/programming-guides/encoding/). Every reader returns -1 on malformed
// input instead of throwing, so callers can fall back to the generated (slow, exact) decoder,
// which then produces the precise error.

import { ALCOR_WIRE_SCHEMA } from '../wire/schema';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/**
 * The number of field `name` of `message` (e.g. 'GoalStateV2', 'neighbor_states'), from the wire
 * schema (core/wire/schema.ts, whose test holds it to proto/*.proto): the hot paths here read
 * field numbers, and this is the one place they come from. Throws on a name the schema lacks.
 */
export function fieldNumber(message: string, name: string): number {
  const fields = ALCOR_WIRE_SCHEMA[message]?.fields ?? {};
  for (const [n, f] of Object.entries(fields)) if (f.name === name) return Number(n);
  throw new Error(`the wire schema has no field ${message}.${name}`);
}

/**
 * A map entry's key and value fields (1 and 2) and their tags (length-delimited): fixed by how
 * protobuf encodes maps, not by our schema.
 */
export const MAP_KEY_FIELD = 1;
export const MAP_VALUE_FIELD = 2;
export const MAP_KEY_TAG = (MAP_KEY_FIELD << 3) | WIRE_LEN;
export const MAP_VALUE_TAG = (MAP_VALUE_FIELD << 3) | WIRE_LEN;

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
