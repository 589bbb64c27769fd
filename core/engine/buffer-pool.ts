// Output buffers a partition reuses. Fresh memory is expensive here (first touch of a page costs
// about 3 ms/MB on these VMs, more than encoding into it), and a million neighbors make 400 MB of
// flow-mods; so the main thread hands each chunk's buffer back once the bytes are consumed (the
// engine's `release`), and the partition encodes the next chunk into it.

/** Buffers kept for reuse; more are let go. */
const KEEP = 4;

export class BufferPool {
  readonly #free: ArrayBuffer[] = [];

  /** A zero-offset view of at least `bytes` bytes: a returned buffer when one is big enough. */
  take(bytes: number): Uint8Array {
    for (let i = 0; i < this.#free.length; i++) {
      const b = this.#free[i];
      if (b.byteLength >= bytes) {
        this.#free.splice(i, 1);
        return new Uint8Array(b);
      }
    }
    // Room for a little more: the next chunk is usually about as big, not exactly.
    return new Uint8Array(bytes + (bytes >> 3));
  }

  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0) return;
    this.#free.push(buffer);
    // Keep the biggest ones.
    if (this.#free.length > KEEP) {
      this.#free.sort((a, b) => b.byteLength - a.byteLength);
      this.#free.length = KEEP;
    }
  }
}

/**
 * The output pool of every partition on this thread: a worker runs one partition, the calling thread runs
 * the inline ones (`workers: 0`; a hundred of them in one process when hosts are simulated), and a
 * partition encodes only while it runs, so they can draw on one pool. A pool each kept the buffers of a
 * partition that might not run again for a while, and the others encoded into fresh memory meanwhile.
 */
export const threadOutputPool = new BufferPool();
