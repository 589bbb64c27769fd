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
import { fromGoalState, fromGoalStateV2 } from '../goalstate';
import type { GoalStateModel, ResourceOp } from '../model';
import { NeighborFastPath } from './neighbor-fastpath';
import { type Cursor, WIRE_LEN, readVarint, skipField } from './wire';

export class DecodeError extends Error {
  readonly code = 'ERR_GOALSTATE_DECODE';
}

const V1_NEIGHBOR_STATES = 5;
const V2_NEIGHBOR_STATES = 7;
const V2_HOST_RESOURCES = 2;

const textDecoder = new TextDecoder();

export interface DecodedGoalState {
  readonly model: GoalStateModel;
  /** How many neighbors took the slow path (a health signal: normally 0). */
  readonly slowNeighbors: number;
}

/** Decodes an encoded GoalState (version 1) or GoalStateV2 (version 2). Throws DecodeError on malformed bytes. */
export function decodeGoalState(bytes: Uint8Array, version: 1 | 2, fast = new NeighborFastPath()): DecodedGoalState {
  const neighborField = version === 2 ? V2_NEIGHBOR_STATES : V1_NEIGHBOR_STATES;
  const end = bytes.length;
  const c: Cursor = { pos: 0, value: 0 };
  const rest: number[] = [];
  let restSize = 0;
  const neighborOps: ResourceOp[] = [];
  let slow = 0;
  const entry: Cursor = { pos: 0, value: 0 };
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
      let op: ResourceOp | undefined;
      if (version === 2) {
        // Map entry: key = 1 (string), value = 2 (NeighborState).
        let key = '';
        let vs = -1;
        let ve = -1;
        entry.pos = s;
        while (entry.pos < e) {
          if (!readVarint(bytes, e, entry)) break;
          const f = Math.floor(entry.value / 8);
          const w = entry.value & 7;
          if (w === WIRE_LEN && (f === 1 || f === 2)) {
            if (!readVarint(bytes, e, entry) || entry.pos + entry.value > e) break;
            if (f === 1) key = textDecoder.decode(bytes.subarray(entry.pos, entry.pos + entry.value));
            else {
              vs = entry.pos;
              ve = entry.pos + entry.value;
            }
            entry.pos += entry.value;
          } else if (!skipField(bytes, e, w, entry)) break;
        }
        if (vs >= 0 && key !== '') op = fast.decodeState(bytes, vs, ve, key);
      } else {
        op = fast.decodeState(bytes, s, e, '');
      }
      if (op === undefined) {
        op = slowNeighbor(bytes.subarray(start, e), version);
        slow++;
      }
      neighborOps.push(op);
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
  const base = decodeOrdinary(restBytes, version);
  // The ordinary model has no neighbors (they were all taken out); put them in their kind's place.
  const ops: ResourceOp[] = [];
  let placed = false;
  for (const op of base.ops) {
    if (!placed && op.kind === 'dhcp') {
      for (const n of neighborOps) ops.push(n);
      placed = true;
    }
    ops.push(op);
  }
  if (!placed) for (const n of neighborOps) ops.push(n);
  return { model: { formatVersion: base.formatVersion, ops, hostResources: base.hostResources }, slowNeighbors: slow };
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
function slowNeighbor(field: Uint8Array, version: 1 | 2): ResourceOp {
  const model = decodeOrdinary(field, version);
  const op = model.ops[0];
  if (op === undefined) throw new DecodeError('a neighbor entry decoded to nothing');
  return op;
}
