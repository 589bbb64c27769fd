// Where each neighbor lives: the one partition rule.
//
// A neighbor belongs to partition hash32(id) % parts (the hash its flow cookie carries, so a dumped
// flow finds its partition after a restart) — unless it is *pinned*. Flow keys a neighbor's flows
// have, (VNI, MAC) and (VNI, IP), can be wanted by several owners, and the FlowTable's contest rule
// (the preferred owner wins; the next one takes over when it lets go) only holds if every claimant
// of a key is seen by one partition. So a neighbor found contesting a key with an owner of another
// partition is pinned to partition 0, which also owns every flow that is not a neighbor's (a port's
// ARP answer can contest a neighbor's); the engine moves it there before the goal state that
// created the contest is planned again (engine.ts, contests.ts). Pins only accumulate: a pinned
// neighbor in partition 0 computes the same flows it would anywhere else.

import { hash32 } from '../pipeline/cookie';
import { asciiIdHash } from './wire';

/** The partition rule without pins: where neighbor id hash `hash` goes among `parts` partitions. */
export function partitionOf(hash: number, parts: number): number {
  return parts <= 1 ? 0 : hash % parts;
}

/** The partition rule without pins, for neighbor `id` (no pins exist when a snapshot is split at start). */
export function partitionOfNeighbor(id: string, parts: number): number {
  return partitionOf(hash32(id), parts);
}

/** The partition pinned neighbors (and every contested key) live in. */
export const CONTEST_PARTITION = 0;

export class Placement {
  readonly parts: number;
  /** Pinned ids by id hash (a cookie carries only the hash; ids are compared when one is pinned). */
  readonly #pinned = new Map<number, Set<string>>();

  constructor(parts: number, pinned: Iterable<string> = []) {
    this.parts = parts;
    this.pin(pinned);
  }

  /** Pins ids to the contest partition; returns those not pinned before. */
  pin(ids: Iterable<string>): string[] {
    const added: string[] = [];
    for (const id of ids) {
      const h = hash32(id);
      let set = this.#pinned.get(h);
      if (set === undefined) this.#pinned.set(h, (set = new Set()));
      if (set.has(id)) continue;
      set.add(id);
      added.push(id);
    }
    return added;
  }

  get pinnedCount(): number {
    let n = 0;
    for (const s of this.#pinned.values()) n += s.size;
    return n;
  }

  /** Every pinned id. */
  *pinned(): IterableIterator<string> {
    for (const s of this.#pinned.values()) yield* s;
  }

  /** Whether an id hash has pinned ids (then the id itself decides). */
  hashPinned(hash: number): boolean {
    return this.#pinned.size > 0 && this.#pinned.has(hash);
  }

  /** The partition of neighbor `id` (whose hash32 is `hash`). */
  of(hash: number, id: string | (() => string)): number {
    if (this.hashPinned(hash) && this.#pinned.get(hash)?.has(typeof id === 'string' ? id : id()) === true) {
      return CONTEST_PARTITION;
    }
    return partitionOf(hash, this.parts);
  }

  /**
   * The partition of a neighbor id given as UTF-8 bytes buf[start, end), hashed straight from the
   * wire when it is ASCII (wire.ts asciiIdHash equals hash32 then); decoded only when it is not, or
   * when its hash is pinned.
   */
  ofBytes(buf: Uint8Array, start: number, end: number): number {
    if (this.parts <= 1) return 0;
    const ascii = asciiIdHash(buf, start, end);
    // A leading U+FEFF is part of the id, as the generated decoder reads it.
    const text = (): string => new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf.subarray(start, end));
    return this.of(ascii >= 0 ? ascii : hash32(text()), text);
  }

  /**
   * The partition whose installed flows carry this cookie hash: the contest partition also claims a
   * pinned hash (an unpinned id sharing it, in its own partition, then sees its flows deleted by
   * partition 0 and added back by its own, in that order in the bundle: correct, if wasteful, for
   * a 1-in-4-billion collision).
   */
  ownsCookieHash(hash: number, partition: number): boolean {
    if (this.hashPinned(hash)) return partition === CONTEST_PARTITION;
    return partitionOf(hash, this.parts) === partition;
  }
}
