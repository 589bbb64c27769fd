// Splits one encoded goal state into per-partition goal states without decoding it.
//
// Neighbors are the only resource kind that reaches the millions, so they are the kind we
// partition: each neighbor goes to its partition by id (placement.ts). Every other top-level field is small
// and is copied to every partition, so each partition sees the full context (VPCs, subnets,
// routers, ports…) it needs to validate and compile its neighbors. A concatenation of
// top-level fields is itself a valid message (protobuf merges repeated and map fields), so each
// part decodes with the ordinary decoder.

import type { GoalStateInputCode } from '../errors';
import { hash32 } from '../pipeline/cookie';
import { slowNeighbor } from './decode';
import { NeighborIdReader } from './neighbor-id';
import {
  type Cursor,
  V1_NEIGHBOR_STATES,
  V2_HOST_RESOURCES,
  V2_NEIGHBOR_STATES,
  WIRE_LEN,
  fieldNumber,
  readVarint,
  skipField,
} from './wire';
import { Placement } from './placement';

export class SplitError extends Error {
  readonly code: GoalStateInputCode = 'GOALSTATE_WIRE';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** One piece of a partition's share of a goal state: a valid goal state on its own. */
export interface SplitChunk {
  /**
   * The chunk's bytes, copied from the message on each read into a buffer of its own (so it can be
   * transferred to a worker): read it when the chunk is sent, so only the chunks in flight exist
   * as copies.
   */
  readonly bytes: Uint8Array;
  /** Length of `bytes`. */
  readonly size: number;
  /** Writes the chunk's bytes at the start of `out` (at least `size` long); returns that view of it. */
  copyTo(out: Uint8Array): Uint8Array;
  /** The position in the whole message's neighbor order of each of its neighbors. */
  readonly neighborOrder: Uint32Array;
  /**
   * True when it holds no resource at all (no neighbor and no shared resource field), so there is
   * nothing to plan. A one-neighbor goal state wakes one worker, not all.
   */
  readonly idle: boolean;
}

export interface SplitGoalState {
  /**
   * Per partition, its chunks in order. Chunk 0 carries every shared field (VPCs, subnets, ports,
   * ...) and the first neighbors; later chunks carry neighbors only, so a partition can plan them
   * after chunk 0 and hand each chunk's flow-mods to OVS while it computes the next.
   */
  readonly chunks: SplitChunk[][];
  /** Neighbor entries in the whole message. */
  readonly neighborCount: number;
  /** Per neighbor in message order: [start, end) of its id in the message (the v2 key or the v1 id). */
  readonly idRanges: Uint32Array;
}

/** See splitGoalState's chunk sizing. */
const FEW_CHUNKS = 4;
const MIN_CHUNK_NEIGHBORS = 1024;

/** Top-level fields that hold no resource: format_version (both), host_resources (v2, ignored). */
const FORMAT_VERSION = fieldNumber('GoalState', 'format_version');
if (FORMAT_VERSION !== fieldNumber('GoalStateV2', 'format_version')) throw new Error('format_version moved');

/**
 * The most top-level fields a goal state may have (each neighbor, port, subnet, ... entry is one):
 * four times the 1M-neighbor design point. A message with more is legal protobuf but no goal state
 * any controller sends (`08 00` repeated is 125M fields in 250 MiB), and framing it would cost
 * time and memory per field, so it is refused as soon as the count is passed: after scanning at
 * most this many fields, whatever the message size.
 */
export const MAX_TOP_LEVEL_FIELDS = 4 * 1024 * 1024;

/**
 * Splits `bytes` for `parts` partitions, each share cut into chunks of at most `chunkNeighbors`
 * neighbors (default: one chunk per partition): a quarter of the share when that is smaller, but not
 * under MIN_CHUNK_NEIGHBORS, and larger where needed to stay within `maxChunks`.
 * Neighbors keep their message order inside a partition. Throws SplitError on malformed framing.
 */
export function splitGoalState(
  message: Uint8Array,
  version: 1 | 2,
  partsOrPlacement: number | Placement,
  chunkNeighbors = Number.POSITIVE_INFINITY,
  maxChunks = Number.POSITIVE_INFINITY,
): SplitGoalState {
  const placement = typeof partsOrPlacement === 'number' ? new Placement(partsOrPlacement) : partsOrPlacement;
  const parts = placement.parts;
  // A plain view: subarrays of a Buffer are Buffers, slower to make by the million.
  const bytes =
    message instanceof Buffer ? new Uint8Array(message.buffer, message.byteOffset, message.length) : message;
  // Two passes: the first checks the framing and counts, so that the second writes the per-neighbor
  // arrays at their exact sizes (growing them by doubling cost more than the scan, in time and in
  // memory left behind).
  const { neighborCount, shared, sharedResources } = frame(bytes, version);
  const placed = placeNeighbors(bytes, version, placement, neighborCount);
  const idRanges = placed.idRanges;
  // One partition, one chunk: the message itself, and the neighbor order is the identity.
  if (parts <= 1 && chunkNeighbors === Number.POSITIVE_INFINITY) {
    return { chunks: [[wholeMessage(bytes, neighborCount)]], neighborCount, idRanges };
  }
  // Each partition's neighbors, by message index, in message order.
  const owned = Array.from(placed.counts, (count) => new Uint32Array(count));
  const filled = new Uint32Array(parts);
  const partOf = placed.partOf;
  for (let i = 0; i < neighborCount; i++) owned[partOf[i]][filled[partOf[i]]++] = i;
  const chunks: SplitChunk[][] = [];
  for (let p = 0; p < parts; p++) {
    const mine = owned[p];
    const count = mine.length;
    // A small share still goes in a few chunks (OVS starts on the first while the rest is computed),
    // but never in chunks so small that their fixed cost shows.
    const wanted = Math.min(chunkNeighbors, Math.max(MIN_CHUNK_NEIGHBORS, Math.ceil(count / FEW_CHUNKS)));
    const step = Math.max(wanted, Math.ceil(count / maxChunks));
    const list: SplitChunk[] = [];
    for (let first = 0; first === 0 || first < count; first += step) {
      const last = Math.min(count, first + step);
      const order = mine.subarray(first, last);
      list.push(chunkOf(bytes, first === 0 ? shared : [], placed.entries, order, last === 0 && !sharedResources));
    }
    chunks.push(list);
  }
  return { chunks, neighborCount, idRanges };
}

/** Where each neighbor entry is ([start, end) with its tag), where its id is, and its partition. */
interface PlacedNeighbors {
  readonly entries: Uint32Array;
  readonly idRanges: Uint32Array;
  readonly partOf: Uint8Array;
  /** Neighbors per partition. */
  readonly counts: Uint32Array;
}

/** The second pass: each of the `neighborCount` neighbor entries (framing already checked) to its partition. */
function placeNeighbors(
  bytes: Uint8Array,
  version: 1 | 2,
  placement: Placement,
  neighborCount: number,
): PlacedNeighbors {
  const entries = new Uint32Array(2 * neighborCount);
  const idRanges = new Uint32Array(2 * neighborCount);
  const partOf = new Uint8Array(neighborCount);
  const counts = new Uint32Array(placement.parts);
  const neighborField = version === 2 ? V2_NEIGHBOR_STATES : V1_NEIGHBOR_STATES;
  const end = bytes.length;
  const c: Cursor = { pos: 0, value: 0 };
  const id = new NeighborIdReader();
  let n = 0;
  while (c.pos < end) {
    const fieldStart = c.pos;
    readVarint(bytes, end, c);
    const field = Math.floor(c.value / 8);
    const wire = c.value & 7;
    if (field !== neighborField || wire !== WIRE_LEN) {
      skipField(bytes, end, wire, c);
      continue;
    }
    readVarint(bytes, end, c);
    const payloadStart = c.pos;
    const payloadEnd = payloadStart + c.value;
    // An entry whose id levels read otherwise to the decoder goes where the decoder's id does; its
    // status is sent whole (the fast path declines it), so its empty range names nothing.
    const located = id.locate(bytes, payloadStart, payloadEnd, version);
    const s = located ? id.start : payloadStart;
    const e = located ? id.end : payloadStart;
    entries[2 * n] = fieldStart;
    entries[2 * n + 1] = payloadEnd;
    idRanges[2 * n] = s;
    idRanges[2 * n + 1] = e;
    const p = located
      ? placement.ofBytes(bytes, s, e)
      : placementByDecoder(bytes, fieldStart, payloadEnd, version, placement);
    partOf[n++] = p;
    counts[p]++;
    c.pos = payloadEnd;
  }
  return { entries, idRanges, partOf, counts };
}

/** The partition of the neighbor field bytes[fieldStart, end) by the id the ordinary decoder reads. */
function placementByDecoder(
  bytes: Uint8Array,
  fieldStart: number,
  end: number,
  version: 1 | 2,
  placement: Placement,
): number {
  let id = '';
  try {
    id = slowNeighbor(bytes.subarray(fieldStart, end), version).id;
  } catch {
    // The decoder refuses the entry, so the partition that gets it refuses the goal state (as the
    // inline engine does): where it goes does not matter.
  }
  return placement.of(hash32(id), id);
}

/** The whole message as the one chunk of one partition, its neighbors in message order. */
function wholeMessage(bytes: Uint8Array, neighborCount: number): SplitChunk {
  const order = new Uint32Array(neighborCount);
  for (let i = 0; i < neighborCount; i++) order[i] = i;
  return {
    bytes,
    size: bytes.length,
    copyTo: (out) => {
      out.set(bytes);
      return out.subarray(0, bytes.length);
    },
    neighborOrder: order,
    idle: false,
  };
}

/** A chunk of the `fields` (shared, or none) and the neighbor entries in `order`, copied only when asked. */
function chunkOf(
  bytes: Uint8Array,
  fields: readonly number[],
  entries: Uint32Array,
  order: Uint32Array,
  idle: boolean,
): SplitChunk {
  const size = chunkSize(fields, entries, order);
  return {
    get bytes(): Uint8Array {
      return copyChunk(bytes, fields, entries, order, new Uint8Array(size));
    },
    size,
    copyTo: (out) => copyChunk(bytes, fields, entries, order, out),
    neighborOrder: order,
    idle,
  };
}

/**
 * Checks the top-level framing (throws SplitError) and counts the neighbor entries; lists the
 * shared fields ([start, end) pairs, tags included).
 */
function frame(
  bytes: Uint8Array,
  version: 1 | 2,
): { neighborCount: number; shared: number[]; sharedResources: boolean } {
  const neighborField = version === 2 ? V2_NEIGHBOR_STATES : V1_NEIGHBOR_STATES;
  const end = bytes.length;
  const c: Cursor = { pos: 0, value: 0 };
  const shared: number[] = [];
  let neighborCount = 0;
  let sharedResources = false;
  let fields = 0;
  while (c.pos < end) {
    const fieldStart = c.pos;
    if (++fields > MAX_TOP_LEVEL_FIELDS) {
      throw new SplitError(
        `more than ${MAX_TOP_LEVEL_FIELDS} top-level fields (the limit per goal state); field ${fields} is at byte ${fieldStart} of ${end}`,
        fieldStart,
      );
    }
    if (!readVarint(bytes, end, c)) throw new SplitError(`truncated tag at byte ${fieldStart}`, fieldStart);
    // Not protobuf, and read otherwise by the generated decoder (which stops at field 0 and keeps 32 bits
    // of a longer tag, maybe a neighbor's): refused, so every partition reads the fields this scan does.
    if (c.value < 8 || c.value > 0xffffffff)
      throw new SplitError(
        `invalid tag ${c.value} (field number 0, or past 32 bits) at byte ${fieldStart}`,
        fieldStart,
      );
    const field = Math.floor(c.value / 8);
    const wire = c.value & 7;
    if (field === neighborField && wire === WIRE_LEN) {
      if (!readVarint(bytes, end, c)) throw new SplitError(`truncated length at byte ${c.pos}`, c.pos);
      if (c.pos + c.value > end) {
        throw new SplitError(
          `neighbor entry at byte ${fieldStart} needs ${c.value} bytes, ${end - c.pos} left`,
          fieldStart,
        );
      }
      c.pos += c.value;
      neighborCount++;
      continue;
    }
    if (!skipField(bytes, end, wire, c)) {
      throw new SplitError(`malformed field ${field} (wire type ${wire}) at byte ${fieldStart}`, fieldStart);
    }
    // host_resources is for the control plane (which resources each host needs); an agent
    // ignores it, as Alcor's does, and it can list a million ids.
    if (version === 2 && field === V2_HOST_RESOURCES) continue;
    // Adjacent shared fields are one range: the list grows per run of shared fields (at most one
    // per neighbor), not per field, and copying a chunk is one copy per run.
    if (shared.length > 0 && shared[shared.length - 1] === fieldStart) shared[shared.length - 1] = c.pos;
    else shared.push(fieldStart, c.pos);
    if (field !== FORMAT_VERSION) sharedResources = true;
  }
  return { neighborCount, shared, sharedResources };
}

/**
 * The shared fields (`shared`: [start, end) pairs) and the neighbors `order` (message indexes
 * into `entries`: field start, payload end), in `out`; returns the written view of it.
 */
function copyChunk(
  bytes: Uint8Array,
  shared: readonly number[],
  entries: Uint32Array,
  order: Uint32Array,
  out: Uint8Array,
): Uint8Array {
  let w = 0;
  for (let i = 0; i < shared.length; i += 2) {
    out.set(bytes.subarray(shared[i], shared[i + 1]), w);
    w += shared[i + 1] - shared[i];
  }
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    out.set(bytes.subarray(entries[2 * i], entries[2 * i + 1]), w);
    w += entries[2 * i + 1] - entries[2 * i];
  }
  return out.length === w ? out : out.subarray(0, w);
}

function chunkSize(shared: readonly number[], entries: Uint32Array, order: Uint32Array): number {
  let size = 0;
  for (let i = 0; i < shared.length; i += 2) size += shared[i + 1] - shared[i];
  for (let k = 0; k < order.length; k++) size += entries[2 * order[k] + 1] - entries[2 * order[k]];
  return size;
}
