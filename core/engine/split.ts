// Splits one encoded goal state into per-partition goal states without decoding it.
//
// Neighbors are the only resource kind that reaches the millions, so they are the kind we
// partition: each neighbor goes to partition fnv1a(id) % n. Every other top-level field is small
// and is copied to every partition, so each partition sees the full context (VPCs, subnets,
// routers, ports…) it needs to validate and compile its neighbors. A concatenation of
// top-level fields is itself a valid message (protobuf merges repeated and map fields), so each
// part decodes with the ordinary decoder.

import { hash32 } from '../pipeline/cookie';
import { type Cursor, WIRE_LEN, fnv1a, readVarint, skipField } from './wire';

/** Top-level field numbers of the neighbor collections (goalstate.proto). */
const V1_NEIGHBOR_STATES = 5;
const V2_NEIGHBOR_STATES = 7;
const V2_HOST_RESOURCES = 2;

export class SplitError extends Error {
  readonly code = 'ERR_GOALSTATE_WIRE';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * The partition of a neighbor id, from its encoded bytes. It is the id hash the flow cookie carries
 * (core/pipeline/cookie.ts hash32), so after a restart each installed neighbor flow can be routed
 * back to its partition from its cookie alone (partitionOfCookieHash).
 */
export function partitionOfId(idBytes: Uint8Array, start: number, end: number, parts: number): number {
  if (parts <= 1) return 0;
  for (let i = start; i < end; i++) {
    // hash32 works on UTF-16 code units; for ASCII (the common case) those are the bytes.
    if (idBytes[i] >= 0x80) return hash32(new TextDecoder().decode(idBytes.subarray(start, end))) % parts;
  }
  return fnv1a(idBytes, start, end) % parts;
}

export function partitionOfCookieHash(hash: number, parts: number): number {
  return parts <= 1 ? 0 : hash % parts;
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
const FORMAT_VERSION = 1;

/** Finds the id bytes of a neighbor field payload: the map key (v2) or configuration.id (v1). */
function neighborIdRange(buf: Uint8Array, start: number, end: number, version: 1 | 2, c: Cursor): [number, number] {
  c.pos = start;
  const wantField = version === 2 ? 1 : 2;
  while (c.pos < end) {
    if (!readVarint(buf, end, c)) break;
    const field = Math.floor(c.value / 8);
    const wire = c.value & 7;
    if (field === wantField && wire === WIRE_LEN) {
      if (!readVarint(buf, end, c)) break;
      const s = c.pos;
      const e = s + c.value;
      if (e > end) break;
      if (version === 2) return [s, e];
      return neighborIdRangeInConfig(buf, s, e, c);
    }
    if (!skipField(buf, end, wire, c)) break;
  }
  // No id: hash nothing; such a neighbor fails validation in whichever partition gets it.
  return [start, start];
}

function neighborIdRangeInConfig(buf: Uint8Array, start: number, end: number, c: Cursor): [number, number] {
  c.pos = start;
  while (c.pos < end) {
    if (!readVarint(buf, end, c)) break;
    const field = Math.floor(c.value / 8);
    const wire = c.value & 7;
    if (field === 3 && wire === WIRE_LEN) {
      if (!readVarint(buf, end, c)) break;
      return c.pos + c.value <= end ? [c.pos, c.pos + c.value] : [start, start];
    }
    if (!skipField(buf, end, wire, c)) break;
  }
  return [start, start];
}

/**
 * Splits `bytes` for `parts` partitions, each share cut into chunks of at most `chunkNeighbors`
 * neighbors (default: one chunk per partition): a quarter of the share when that is smaller, but not
 * under MIN_CHUNK_NEIGHBORS, and larger where needed to stay within `maxChunks`.
 * Neighbors keep their message order inside a partition. Throws SplitError on malformed framing.
 */
export function splitGoalState(
  bytes: Uint8Array,
  version: 1 | 2,
  parts: number,
  chunkNeighbors = Number.POSITIVE_INFINITY,
  maxChunks = Number.POSITIVE_INFINITY,
): SplitGoalState {
  const neighborField = version === 2 ? V2_NEIGHBOR_STATES : V1_NEIGHBOR_STATES;
  const end = bytes.length;
  const c: Cursor = { pos: 0, value: 0 };
  // Ranges of whole top-level fields (tag included): shared ones, and neighbors per partition.
  const shared: number[] = [];
  // Per partition: (field start, payload end, message index) per neighbor. Typed, because a
  // million pushes onto plain arrays cost more than the scan itself.
  const owned = Array.from({ length: parts }, () => new Growing());
  let neighborCount = 0;
  let idRanges = new Uint32Array(64);
  let sharedResources = false;
  const idCursor: Cursor = { pos: 0, value: 0 };
  while (c.pos < end) {
    const fieldStart = c.pos;
    if (!readVarint(bytes, end, c)) throw new SplitError(`truncated tag at byte ${fieldStart}`, fieldStart);
    const field = Math.floor(c.value / 8);
    const wire = c.value & 7;
    if (field === neighborField && wire === WIRE_LEN) {
      if (!readVarint(bytes, end, c)) throw new SplitError(`truncated length at byte ${c.pos}`, c.pos);
      const payloadStart = c.pos;
      const payloadEnd = payloadStart + c.value;
      if (payloadEnd > end) {
        throw new SplitError(
          `neighbor entry at byte ${fieldStart} needs ${c.value} bytes, ${end - payloadStart} left`,
          fieldStart,
        );
      }
      let s: number;
      let e: number;
      // The usual v2 entry starts with its key (tag 0x0a, one length byte).
      if (version === 2 && bytes[payloadStart] === 0x0a && bytes[payloadStart + 1] < 0x80) {
        s = payloadStart + 2;
        e = s + bytes[payloadStart + 1];
        if (e > payloadEnd) [s, e] = neighborIdRange(bytes, payloadStart, payloadEnd, version, idCursor);
      } else [s, e] = neighborIdRange(bytes, payloadStart, payloadEnd, version, idCursor);
      if (2 * neighborCount + 2 > idRanges.length) {
        const grown = new Uint32Array(idRanges.length * 2);
        grown.set(idRanges);
        idRanges = grown;
      }
      idRanges[2 * neighborCount] = s;
      idRanges[2 * neighborCount + 1] = e;
      owned[partitionOfId(bytes, s, e, parts)].push3(fieldStart, payloadEnd, neighborCount++);
      c.pos = payloadEnd;
      continue;
    }
    if (!skipField(bytes, end, wire, c)) {
      throw new SplitError(`malformed field ${field} (wire type ${wire}) at byte ${fieldStart}`, fieldStart);
    }
    // host_resources is for the control plane (which resources each host needs); an agent
    // ignores it, as Alcor's does, and it can list a million ids.
    if (version === 2 && field === V2_HOST_RESOURCES) continue;
    shared.push(fieldStart, c.pos);
    if (field !== FORMAT_VERSION) sharedResources = true;
  }
  idRanges = idRanges.subarray(0, 2 * neighborCount);
  // One partition, one chunk: the message itself, and the neighbor order is the identity.
  if (parts <= 1 && chunkNeighbors === Number.POSITIVE_INFINITY) {
    const order = new Uint32Array(neighborCount);
    for (let i = 0; i < neighborCount; i++) order[i] = i;
    const whole: SplitChunk = {
      bytes,
      size: bytes.length,
      copyTo: (out) => {
        out.set(bytes);
        return out.subarray(0, bytes.length);
      },
      neighborOrder: order,
      idle: false,
    };
    return { chunks: [[whole]], neighborCount, idRanges };
  }
  const chunks: SplitChunk[][] = [];
  for (let p = 0; p < parts; p++) {
    const ranges = owned[p].values;
    const count = owned[p].length / 3;
    // A small share still goes in a few chunks (OVS starts on the first while the rest is computed),
    // but never in chunks so small that their fixed cost shows.
    const wanted = Math.min(chunkNeighbors, Math.max(MIN_CHUNK_NEIGHBORS, Math.ceil(count / FEW_CHUNKS)));
    const step = Math.max(wanted, Math.ceil(count / maxChunks));
    const list: SplitChunk[] = [];
    for (let first = 0; first === 0 || first < count; first += step) {
      const last = Math.min(count, first + step);
      const fields = first === 0 ? shared : [];
      const size = chunkSize(fields, ranges, first, last);
      list.push({
        get bytes(): Uint8Array {
          return copyChunk(bytes, fields, ranges, first, last, new Uint8Array(size));
        },
        size,
        copyTo: (out) => copyChunk(bytes, fields, ranges, first, last, out),
        neighborOrder: neighborOrder(ranges, first, last),
        idle: last === 0 && !sharedResources,
      });
    }
    chunks.push(list);
  }
  return { chunks, neighborCount, idRanges };
}

/** A growable Uint32Array of triples. */
class Growing {
  values = new Uint32Array(3 * 256);
  length = 0;
  push3(a: number, b: number, c: number): void {
    if (this.length + 3 > this.values.length) {
      const grown = new Uint32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length] = a;
    this.values[this.length + 1] = b;
    this.values[this.length + 2] = c;
    this.length += 3;
  }
}

function neighborOrder(ranges: Uint32Array, first: number, last: number): Uint32Array {
  const out = new Uint32Array(last - first);
  for (let i = first; i < last; i++) out[i - first] = ranges[3 * i + 2];
  return out;
}

/**
 * The shared fields (`shared`: [start, end) pairs) and neighbors first..last-1 of `ranges`
 * (triples: field start, payload end, index), in a buffer of their own.
 */
function copyChunk(
  bytes: Uint8Array,
  shared: readonly number[],
  ranges: Uint32Array,
  first: number,
  last: number,
  out: Uint8Array,
): Uint8Array {
  let w = 0;
  for (let i = 0; i < shared.length; i += 2) {
    out.set(bytes.subarray(shared[i], shared[i + 1]), w);
    w += shared[i + 1] - shared[i];
  }
  for (let i = first; i < last; i++) {
    out.set(bytes.subarray(ranges[3 * i], ranges[3 * i + 1]), w);
    w += ranges[3 * i + 1] - ranges[3 * i];
  }
  return out.length === w ? out : out.subarray(0, w);
}

function chunkSize(shared: readonly number[], ranges: Uint32Array, first: number, last: number): number {
  let size = 0;
  for (let i = 0; i < shared.length; i += 2) size += shared[i + 1] - shared[i];
  for (let i = first; i < last; i++) size += ranges[3 * i + 1] - ranges[3 * i];
  return size;
}
