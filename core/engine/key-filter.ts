// A filter over the neighbor flow keys a partition holds, in shared memory, so that other
// partitions can ask "might you hold this key?" without a round trip (contests.ts). One bit per
// hashed key: no false negatives, a few percent false positives at a million keys (those are
// asked exactly). Keys are only ever added; a partition rebuilds its filter from what it holds
// when the stale share grows, at a point where no other partition reads it (its own prepare).

/** Bits per filter: 2^24 (2 MiB). At 1M keys about 6% of probes for absent keys hit. */
const BITS_LOG2 = 24;
const WORDS = (1 << BITS_LOG2) >>> 5;

/** The bit of a (family, VNI, value) key; `value` is an IPv4 or a MAC (48 bits) as a number. */
function bitOf(family: number, vni: number, value: number): number {
  const lo = value >>> 0;
  const hi = Math.floor(value / 0x1_0000_0000);
  let h = Math.imul(vni * 2 + family, 0x9e3779b1);
  h = Math.imul(h ^ lo, 0x85ebca6b);
  h = Math.imul(h ^ (hi + (h >>> 15)), 0xc2b2ae35);
  h ^= h >>> 13;
  return (h >>> 0) >>> (32 - BITS_LOG2);
}

export class KeyFilter {
  readonly words: Int32Array;
  /** Keys added since the last clear (with repeats): the rebuild trigger. */
  added = 0;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(WORDS * 4)) {
    this.words = new Int32Array(buffer);
  }

  get buffer(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  // Plain reads and writes, not Atomics (several times slower at a million keys): a filter has one
  // writer, its partition, and is read by others only after the writer's task finished and the
  // main thread sent them a task of their own (message passing orders the memory).
  add(family: number, vni: number, value: number): void {
    const bit = bitOf(family, vni, value);
    this.words[bit >>> 5] |= 1 << (bit & 31);
    this.added++;
  }

  mayHold(family: number, vni: number, value: number): boolean {
    const bit = bitOf(family, vni, value);
    return (this.words[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }

  clear(): void {
    this.words.fill(0);
    this.added = 0;
  }
}

/** A growable list of (family, VNI, value) keys. */
export class KeyList {
  #values = new Float64Array(48);
  #length = 0;

  get size(): number {
    return this.#length / 3;
  }

  push(family: number, vni: number, value: number): void {
    if (this.#length + 3 > this.#values.length) {
      const next = new Float64Array(this.#values.length * 2);
      next.set(this.#values);
      this.#values = next;
    }
    this.#values[this.#length++] = family;
    this.#values[this.#length++] = vni;
    this.#values[this.#length++] = value;
  }

  /** Key i's family, VNI and value. */
  family(i: number): number {
    return this.#values[3 * i];
  }
  vni(i: number): number {
    return this.#values[3 * i + 1];
  }
  value(i: number): number {
    return this.#values[3 * i + 2];
  }

  clear(): void {
    this.#length = 0;
  }

  /** The keys as a plain array (to send to another thread). */
  toArray(): Float64Array {
    return this.#values.slice(0, this.#length);
  }
}
