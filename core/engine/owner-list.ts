// A list of owners to recompile, each once, in first-seen order.

import { type OwnerRef, ownerKey } from '../pipeline';

/** Owners, each once, in first-seen order. */
export class OwnerList {
  readonly #seen = new Set<string>();
  /** Neighbors by id (no key string per neighbor). */
  readonly #neighbors = new Set<string>();
  readonly list: OwnerRef[] = [];
  add(o: OwnerRef): void {
    if (o.kind === 'neighbor') {
      this.addNeighbor(o.id);
      return;
    }
    const k = ownerKey(o);
    if (this.#seen.has(k)) return;
    this.#seen.add(k);
    this.list.push(o);
  }
  addNeighbor(id: string): void {
    if (this.#neighbors.has(id)) return;
    this.#neighbors.add(id);
    this.list.push({ kind: 'neighbor', id });
  }
}
