// Which bound ports of a VPC are pushed to its hosts as neighbors: the first `limit` in creation order (the
// record's create revision, then the port id). The others are resolved on demand. The set is sticky: a VPC
// passing the limit retracts nothing, its newer ports simply are not pushed; a pushed port leaving promotes the
// oldest on-demand one. So one port's change moves at most one other port across the line, whatever the
// limit, and since the order comes from the records alone every replica and every restart computes the
// same set.

interface Entry {
  readonly rev: number;
  readonly id: string;
}

function before(a: Entry, b: Entry): boolean {
  return a.rev !== b.rev ? a.rev < b.rev : a.id < b.id;
}

/**
 * A binary heap whose entries may go stale (the port left or changed sides): `valid` says which still count,
 * and stale ones are dropped when they reach the top. Rebuilt when stale entries outnumber live ones.
 */
class LazyHeap {
  private items: Entry[] = [];

  constructor(
    /** True when `a` must come out before `b`. */
    private readonly first: (a: Entry, b: Entry) => boolean,
    private readonly valid: (e: Entry) => boolean,
  ) {}

  push(e: Entry): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.first(a[i] as Entry, a[parent] as Entry)) break;
      [a[i], a[parent]] = [a[parent] as Entry, a[i] as Entry];
      i = parent;
    }
  }

  /** The first valid entry, stale ones above it dropped. */
  peek(): Entry | undefined {
    for (;;) {
      const top = this.items[0];
      if (top === undefined || this.valid(top)) return top;
      this.pop();
    }
  }

  pop(): Entry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.first(a[l] as Entry, a[m] as Entry)) m = l;
      if (r < a.length && this.first(a[r] as Entry, a[m] as Entry)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m] as Entry, a[i] as Entry];
      i = m;
    }
    return top;
  }

  /** Drops stale entries when they are most of the heap, so memory follows the live set. */
  compact(live: number): void {
    if (this.items.length <= 2 * live + 64) return;
    const keep = this.items.filter((e) => this.valid(e));
    this.items = [];
    for (const e of keep) this.push(e);
  }
}

export class PushedSet {
  private readonly revs = new Map<string, number>();
  private readonly pushedIds = new Set<string>();
  private readonly onDemandIds = new Set<string>();
  /** Newest pushed port on top: the one a port older than it displaces. */
  private readonly newestPushed: LazyHeap;
  /** Oldest on-demand port on top: the one promoted when a pushed port leaves. */
  private readonly oldestOnDemand: LazyHeap;

  constructor(private readonly limit: number) {
    const live = (e: Entry): boolean => this.revs.get(e.id) === e.rev;
    this.newestPushed = new LazyHeap(
      (a, b) => before(b, a),
      (e) => live(e) && this.pushedIds.has(e.id),
    );
    this.oldestOnDemand = new LazyHeap(before, (e) => live(e) && this.onDemandIds.has(e.id));
  }

  get size(): number {
    return this.revs.size;
  }

  /** Ports pushed to every host of the VPC (at most `limit`). */
  get pushed(): ReadonlySet<string> {
    return this.pushedIds;
  }

  /** Ports held only for on-demand lookups. */
  get onDemand(): ReadonlySet<string> {
    return this.onDemandIds;
  }

  /**
   * Adds a bound port; returns the ports other than `id` that changed sides: one at most, or two when it was
   * there with another create revision (then one may have gone and come back).
   */
  add(id: string, rev: number): string[] {
    const had = this.revs.get(id);
    if (had === rev) return [];
    const moved = had === undefined ? [] : this.remove(id);
    const e = { rev, id };
    this.revs.set(id, rev);
    if (this.pushedIds.size < this.limit) {
      this.setPushed(e);
      return moved;
    }
    const newest = this.newestPushed.peek();
    if (newest !== undefined && before(e, newest)) {
      this.newestPushed.pop();
      this.setOnDemand(newest);
      this.setPushed(e);
      moved.push(newest.id);
    } else this.setOnDemand(e);
    this.compact();
    return moved;
  }

  /** Removes a port (deleted or unbound); returns the port promoted in its place, if any. */
  remove(id: string): string[] {
    if (!this.revs.delete(id)) return [];
    this.onDemandIds.delete(id);
    if (!this.pushedIds.delete(id)) return [];
    const oldest = this.oldestOnDemand.peek();
    if (oldest === undefined) return [];
    this.oldestOnDemand.pop();
    this.onDemandIds.delete(oldest.id);
    this.setPushed(oldest);
    this.compact();
    return [oldest.id];
  }

  private setPushed(e: Entry): void {
    this.pushedIds.add(e.id);
    this.newestPushed.push(e);
  }

  private setOnDemand(e: Entry): void {
    this.pushedIds.delete(e.id);
    this.onDemandIds.add(e.id);
    this.oldestOnDemand.push(e);
  }

  private compact(): void {
    this.newestPushed.compact(this.pushedIds.size);
    this.oldestOnDemand.compact(this.onDemandIds.size);
  }
}
