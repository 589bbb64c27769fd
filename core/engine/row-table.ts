// An open-addressing hash table from a 32-bit hash to row numbers, for the neighbor lane
// (neighbor-lane.ts): linear probing over one Int32Array of (row + 1, hash) pairs, so a probe reads
// one cache line and compares the hash before the caller ever touches the row. Rows with equal
// hashes are told apart by the caller (it owns the keys); the table never looks at them.
//
// A lookup (first/next) that misses remembers where the key would go, and the insert that usually
// follows goes straight there instead of probing the same cache-cold cells again.

const EMPTY = 0;
const DELETED = -1;

export class RowTable {
  /** Pairs: cells[2i] = row + 1 (0 empty, -1 deleted), cells[2i + 1] = the row's hash. */
  cells = new Int32Array(32);
  /** Slots minus one (a power of two minus one). */
  mask = 15;
  /** Slots not empty (live or deleted). */
  #used = 0;
  #hint = -1;
  #hintHash = 0;
  #hintCells: Int32Array | undefined;

  #probeSlot = 0;
  #probeHash = 0;
  #probeFree = -1;

  /**
   * Starts a lookup: returns the first row stored under `hash` (the caller checks it is the one it
   * wants, and asks `next()` if not), or -1 when there is none; then the slot where an insert of
   * `hash` would go is remembered for that insert.
   */
  first(hash: number): number {
    this.#probeHash = hash | 0;
    this.#probeSlot = (hash | 0) & this.mask;
    this.#probeFree = -1;
    return this.#scan();
  }

  /** The next row stored under the lookup's hash, or -1 (see first()). */
  next(): number {
    this.#probeSlot = (this.#probeSlot + 1) & this.mask;
    return this.#scan();
  }

  #scan(): number {
    const cells = this.cells;
    const h = this.#probeHash;
    for (let i = this.#probeSlot; ; i = (i + 1) & this.mask) {
      const cell = cells[2 * i];
      if (cell === EMPTY) {
        this.#hint = this.#probeFree < 0 ? i : this.#probeFree;
        this.#hintHash = h;
        this.#hintCells = cells;
        return -1;
      }
      if (cell === DELETED) {
        if (this.#probeFree < 0) this.#probeFree = i;
        continue;
      }
      if (cells[2 * i + 1] === h) {
        this.#probeSlot = i;
        return cell - 1;
      }
    }
  }

  /** Adds `row` under `hash` (not present). */
  insert(hash: number, row: number): void {
    if ((this.#used + 1) * 2 > this.cells.length / 2) this.resize(1);
    const cells = this.cells;
    const h = hash | 0;
    let i =
      this.#hintCells === cells && this.#hintHash === h && cells[2 * this.#hint] <= 0 ? this.#hint : h & this.mask;
    this.#hintCells = undefined;
    while (cells[2 * i] > 0) i = (i + 1) & this.mask;
    if (cells[2 * i] === EMPTY) this.#used++;
    cells[2 * i] = row + 1;
    cells[2 * i + 1] = h;
  }

  /** Removes `row` (stored under `hash`), if present. */
  remove(hash: number, row: number): void {
    const i = this.#slotOf(hash, row);
    if (i >= 0) this.cells[2 * i] = DELETED;
  }

  /** Puts row `to` where row `from` is (same hash). */
  replace(hash: number, from: number, to: number): void {
    const i = this.#slotOf(hash, from);
    if (i >= 0) this.cells[2 * i] = to + 1;
  }

  /** Makes room for `more` inserts at no more than half load (dropping deleted cells). */
  resize(more: number): void {
    const old = this.cells;
    if ((this.#used + more) * 2 <= old.length / 2) return;
    let live = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] > 0) live++;
    let slots = 16;
    while (slots < (live + more) * 2) slots *= 2;
    const cells = new Int32Array(2 * slots);
    const mask = slots - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] <= 0) continue;
      let j = old[i + 1] & mask;
      while (cells[2 * j] !== EMPTY) j = (j + 1) & mask;
      cells[2 * j] = old[i];
      cells[2 * j + 1] = old[i + 1];
    }
    this.cells = cells;
    this.mask = mask;
    this.#used = live;
    this.#hintCells = undefined;
  }

  #slotOf(hash: number, row: number): number {
    const cells = this.cells;
    for (let i = (hash | 0) & this.mask; ; i = (i + 1) & this.mask) {
      const cell = cells[2 * i];
      if (cell === EMPTY) return -1;
      if (cell === row + 1) return i;
    }
  }
}
