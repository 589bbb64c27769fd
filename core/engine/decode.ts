// Encoded goal state -> normalized model, with the neighbor hot path.
//
// Neighbor entries are decoded by NeighborFastPath straight from the wire; every other field is
// gathered into one smaller message and decoded by the generated decoder and normalized the
// ordinary way (core/goalstate). A neighbor the fast path declines is decoded alone the ordinary
// way, so statuses and reasons are the same whichever path a neighbor took.
//
// host_resources is skipped (see below).
//
// Op order: the kinds in KIND_ORDER; neighbors in wire order (the order the splitter and the
// status merge rely on); other kinds as core/goalstate orders them.

import { GoalState, GoalStateV2 } from '../../proto';
import type { GoalStateInputCode } from '../errors';
import { fromGoalState, fromGoalStateV2 } from '../goalstate';
import type { GoalStateModel, ResourceOp } from '../model';
import { NeighborFastPath } from './neighbor-fastpath';
import { NeighborIdReader } from './neighbor-id';
import {
  type Cursor,
  MAP_KEY_FIELD,
  MAP_VALUE_FIELD,
  V1_NEIGHBOR_STATES,
  V2_HOST_RESOURCES,
  V2_NEIGHBOR_STATES,
  WIRE_LEN,
  readTag,
  readVarint,
  skipField,
} from './wire';

export class DecodeError extends Error {
  readonly code: GoalStateInputCode = 'GOALSTATE_DECODE';
}

export interface DecodedGoalState {
  readonly model: GoalStateModel;
  /** How many neighbors took the slow path (a health signal: normally 0). */
  readonly slowNeighbors: number;
}

/**
 * A goal state taken apart without decoding its neighbors: every other field, decoded and
 * normalized (`model`, no neighbor ops), and where each neighbor entry is, in wire order.
 */
export interface ScannedGoalState {
  readonly model: GoalStateModel;
  /** Per neighbor: [fieldStart, payloadStart, payloadEnd] (fieldStart includes the tag). */
  readonly neighbors: Uint32Array;
  readonly neighborCount: number;
}

/** Scans an encoded GoalState (version 1) or GoalStateV2 (version 2). Throws DecodeError on malformed bytes. */
export function scanGoalState(bytes: Uint8Array, version: 1 | 2): ScannedGoalState {
  const neighborField = version === 2 ? V2_NEIGHBOR_STATES : V1_NEIGHBOR_STATES;
  const end = bytes.length;
  const c: Cursor = { pos: 0, value: 0 };
  const rest: number[] = [];
  let restSize = 0;
  let neighbors = new Uint32Array(48);
  let count = 0;
  while (c.pos < end) {
    const start = c.pos;
    if (!readVarint(bytes, end, c)) throw new DecodeError(`truncated tag at byte ${start}`);
    const field = Math.floor(c.value / 8);
    const wire = c.value & 7;
    if (field === neighborField && wire === WIRE_LEN) {
      if (!readVarint(bytes, end, c)) throw new DecodeError(`truncated length at byte ${c.pos}`);
      const s = c.pos;
      const e = s + c.value;
      if (e > end) throw new DecodeError(`neighbor entry at byte ${start} needs ${c.value} bytes, ${end - s} left`);
      c.pos = e;
      if (3 * count + 3 > neighbors.length) {
        const grown = new Uint32Array(neighbors.length * 2);
        grown.set(neighbors);
        neighbors = grown;
      }
      neighbors[3 * count] = start;
      neighbors[3 * count + 1] = s;
      neighbors[3 * count + 2] = e;
      count++;
      continue;
    }
    if (!skipField(bytes, end, wire, c))
      throw new DecodeError(`malformed field ${field} (wire type ${wire}) at byte ${start}`);
    // host_resources serves the control plane; agents ignore it (as Alcor's do) and it can list a
    // million ids, so it is not decoded. The model's hostResources is empty here.
    if (version === 2 && field === V2_HOST_RESOURCES) continue;
    rest.push(start, c.pos);
    restSize += c.pos - start;
  }
  const restBytes = new Uint8Array(restSize);
  let w = 0;
  for (let i = 0; i < rest.length; i += 2) {
    restBytes.set(bytes.subarray(rest[i], rest[i + 1]), w);
    w += rest[i + 1] - rest[i];
  }
  return { model: decodeOrdinary(restBytes, version), neighbors, neighborCount: count };
}

/**
 * Decodes neighbor entry i of a scan into a model op: the fast path, else the ordinary decoder.
 * `slow` reports which one it took.
 */
export function decodeNeighborEntry(
  bytes: Uint8Array,
  version: 1 | 2,
  scanned: ScannedGoalState,
  i: number,
  fast: NeighborFastPath,
  cursor: Cursor,
): { op: ResourceOp; slow: boolean } {
  const fieldStart = scanned.neighbors[3 * i];
  const s = scanned.neighbors[3 * i + 1];
  const e = scanned.neighbors[3 * i + 2];
  let op: ResourceOp | undefined;
  if (version === 1) op = fast.decodeState(bytes, s, e);
  else {
    const key = mapEntryRanges(bytes, s, e, cursor);
    if (key !== undefined && key.keyEnd > key.keyStart)
      op = fast.decodeState(bytes, key.valueStart, key.valueEnd, key.keyStart, key.keyEnd);
  }
  if (op !== undefined) return { op, slow: false };
  const slow = slowNeighbor(bytes.subarray(fieldStart, e), version);
  assertPlacedById(bytes, s, e, version, slow.id);
  return { op: slow, slow: true };
}

/** Finds where the splitter read an entry's id (neighbor-id.ts), for the check below. */
const placedBy = new NeighborIdReader();
/** Reads an id as the generated decoder reads a string (a leading U+FEFF is part of it). */
const idText = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * The entry at bytes[start, end) was placed (split.ts) by the id its fields name where the decoder
 * keeps its id; the decoder read `decoded`. They differ only for bytes that are not protobuf deeper in
 * the entry (neighbor-id.ts), and the neighbor may then be in another partition than its id's: refused,
 * with any worker count.
 */
function assertPlacedById(bytes: Uint8Array, start: number, end: number, version: 1 | 2, decoded: string): void {
  // Not located: the splitter placed it by the decoder's own id.
  if (!placedBy.locate(bytes, start, end, version)) return;
  const named = idText.decode(bytes.subarray(placedBy.start, placedBy.end));
  if (named === decoded) return;
  const show = (id: string): string => JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}...` : id);
  throw new DecodeError(
    `a neighbor entry names id ${show(named)} but decodes as ${show(decoded)}: a field number 0, an end-group tag, or a tag or length past 32 bits inside it`,
  );
}

/** Puts neighbor ops in their kind's place among the other ops (before DHCP entries). */
export function withNeighborOps(model: GoalStateModel, neighborOps: readonly ResourceOp[]): GoalStateModel {
  const ops: ResourceOp[] = [];
  let placed = false;
  for (const op of model.ops) {
    if (!placed && op.kind === 'dhcp') {
      for (const n of neighborOps) ops.push(n);
      placed = true;
    }
    ops.push(op);
  }
  if (!placed) for (const n of neighborOps) ops.push(n);
  return { formatVersion: model.formatVersion, ops, hostResources: model.hostResources };
}

/** Decodes an encoded GoalState (version 1) or GoalStateV2 (version 2). Throws DecodeError on malformed bytes. */
export function decodeGoalState(bytes: Uint8Array, version: 1 | 2, fast = new NeighborFastPath()): DecodedGoalState {
  const scanned = scanGoalState(bytes, version);
  const cursor: Cursor = { pos: 0, value: 0 };
  const neighborOps: ResourceOp[] = [];
  let slow = 0;
  for (let i = 0; i < scanned.neighborCount; i++) {
    const d = decodeNeighborEntry(bytes, version, scanned, i, fast, cursor);
    neighborOps.push(d.op);
    if (d.slow) slow++;
  }
  return { model: withNeighborOps(scanned.model, neighborOps), slowNeighbors: slow };
}

/**
 * Where a v2 map entry's key (field 1, the last one given) and value (field 2) are; undefined when
 * malformed, valueless, or when its value is given twice.
 */
export function mapEntryRanges(
  bytes: Uint8Array,
  start: number,
  end: number,
  c: Cursor,
): { keyStart: number; keyEnd: number; valueStart: number; valueEnd: number } | undefined {
  let keyStart = start;
  let keyEnd = start;
  let valueStart = -1;
  let valueEnd = -1;
  c.pos = start;
  while (c.pos < end) {
    if (!readTag(bytes, end, c)) return undefined;
    const f = Math.floor(c.value / 8);
    const w = c.value & 7;
    if (w === WIRE_LEN && (f === MAP_KEY_FIELD || f === MAP_VALUE_FIELD)) {
      if (!readVarint(bytes, end, c) || c.pos + c.value > end) return undefined;
      // The generated decoder reads every value given (keeping the last); the fast path reads one,
      // so a repeated value is the ordinary decoder's.
      if (f === MAP_VALUE_FIELD && valueStart >= 0) return undefined;
      if (f === MAP_KEY_FIELD) {
        keyStart = c.pos;
        keyEnd = c.pos + c.value;
      } else {
        valueStart = c.pos;
        valueEnd = c.pos + c.value;
      }
      c.pos += c.value;
    } else if (!skipField(bytes, end, w, c)) return undefined;
  }
  return valueStart < 0 ? undefined : { keyStart, keyEnd, valueStart, valueEnd };
}

function decodeOrdinary(bytes: Uint8Array, version: 1 | 2): GoalStateModel {
  try {
    return version === 2 ? fromGoalStateV2(GoalStateV2.decode(bytes)) : fromGoalState(GoalState.decode(bytes));
  } catch (e: unknown) {
    throw new DecodeError(
      `corrupt GoalState${version === 2 ? 'V2' : ''}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** One neighbor field (tag included) decoded and normalized alone, the ordinary way. */
export function slowNeighbor(field: Uint8Array, version: 1 | 2): ResourceOp {
  const model = decodeOrdinary(field, version);
  const op = model.ops[0];
  if (op === undefined) throw new DecodeError('a neighbor entry decoded to nothing');
  return op;
}
