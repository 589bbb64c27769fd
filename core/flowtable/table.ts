// The desired flow table: every flow the agent wants installed, keyed by flow identity
// (table, priority, canonical match), each with the set of owners that need it.
//
// Semantics:
//  - apply(changes): each change says "owner X now has exactly these flows" (replace). The result is
//    the minimal flow-mod delta from the table before the call to the table after it:
//      ADD            for a key that is new, or whose cookie changed (a modify cannot change the cookie
//                     of a flow; OVN's ofctrl does the same),
//      MODIFY_STRICT  for a key whose actions/goto changed,
//      DELETE_STRICT  for a key that no owner wants any more.
//    A key removed and re-added with the same body within one call produces nothing. The cost is
//    proportional to the flows of the changed owners, not to the table size.
//  - Several owners may want the same key (ref-counted: the flow stays until its last owner drops it).
//    If they disagree on the body, the preferred owner wins (by `preferOwner`, default: smallest owner
//    key), so the result never depends on the order in which owners were applied.
//  - reconcile(installed): the delta from a dump of installed flows to this table, for restarts and
//    resyncs. Only flows for which `isOurs(cookie)` holds are looked at; nothing is flushed.
// Not thread-safe; one table per OpenFlow bridge connection.

import type { Flow } from '../flow';
import { fastFlowKey, sameActions, sameBody } from './key';

export interface OwnerChange {
  /** The owner's key (core/pipeline/view.ts ownerKey, e.g. "port:<id>"). */
  readonly owner: string;
  /** Everything the owner wants now; empty = the owner is gone. */
  readonly flows: readonly Flow[];
}

export interface FlowDelta {
  readonly add: Flow[];
  readonly modify: Flow[];
  readonly delete: Flow[];
}

export interface FlowTableOptions {
  /** Negative when owner `a` should win over `b` for a contested key. */
  readonly preferOwner?: (a: string, b: string) => number;
  /** Which installed flows are ours (reconcile ignores the rest). */
  readonly isOurs?: (cookie: bigint) => boolean;
  /** Told when a key gains its first owner (present) or loses its last, with the flow in effect. */
  readonly onKey?: (flow: Flow, present: boolean) => void;
}

interface Entry {
  /** The flow in effect (the preferred owner's). */
  flow: Flow;
  /** Sole owner, or the preferred one when `others` is set. */
  owner: string;
  /** Every owner's own version when more than one owner wants the key. */
  others: Map<string, Flow> | undefined;
  /** The apply() call that created the entry, while that call runs; 0 otherwise. */
  born: number;
}

/** The flows with their keys; a key given twice keeps the last flow (at the first position). */
function dedupeByKey(flows: readonly Flow[]): { keys: string[]; flows: readonly Flow[] } {
  const keys: string[] = new Array<string>(flows.length);
  let index: Map<string, number> | undefined;
  let dup = false;
  for (let i = 0; i < flows.length; i++) {
    const key = fastFlowKey(flows[i] as Flow);
    keys[i] = key;
    if (flows.length > 16) {
      index ??= new Map();
      if (index.has(key)) dup = true;
      else index.set(key, i);
    } else {
      for (let j = 0; j < i && !dup; j++) if (keys[j] === key) dup = true;
    }
  }
  if (!dup) return { keys, flows };
  // Rare: rebuild keeping the first position and the last flow of each key.
  const outKeys: string[] = [];
  const outFlows: Flow[] = [];
  const at = new Map<string, number>();
  for (let i = 0; i < flows.length; i++) {
    const key = keys[i] as string;
    const j = at.get(key);
    if (j !== undefined) {
      outFlows[j] = flows[i] as Flow;
      continue;
    }
    at.set(key, outKeys.length);
    outKeys.push(key);
    outFlows.push(flows[i] as Flow);
  }
  return { keys: outKeys, flows: outFlows };
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class FlowTable {
  readonly #entries = new Map<string, Entry>();
  readonly #keysByOwner = new Map<string, string[]>();
  readonly #prefer: (a: string, b: string) => number;
  readonly #isOurs: (cookie: bigint) => boolean;
  readonly #onKey: ((flow: Flow, present: boolean) => void) | undefined;
  #batch = 0;

  constructor(options: FlowTableOptions = {}) {
    this.#prefer = options.preferOwner ?? byString;
    this.#isOurs = options.isOurs ?? (() => true);
    this.#onKey = options.onKey;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The flow in effect for `key`, if any. */
  get(key: string): Flow | undefined {
    return this.#entries.get(key)?.flow;
  }

  /** Owners wanting `key`, sorted. */
  ownersOf(key: string): string[] {
    const e = this.#entries.get(key);
    if (e === undefined) return [];
    return e.others === undefined ? [e.owner] : [...e.others.keys()].sort(byString);
  }

  /** Keys the owner currently has. */
  keysOf(owner: string): readonly string[] {
    return this.#keysByOwner.get(owner) ?? [];
  }

  /** Every flow in effect, in insertion order. */
  *flows(): IterableIterator<Flow> {
    for (const e of this.#entries.values()) yield e.flow;
  }

  apply(changes: Iterable<OwnerChange>): FlowDelta {
    const batch = ++this.#batch;
    // The effective flow, before this call, of every touched key that existed before this call.
    // Keys created in this call are stamped with `born = batch` instead and listed in `created`, so
    // bulk inserts cost one map operation per flow.
    const before = new Map<string, Flow>();
    const created: string[] = [];
    const touch = (key: string, e: Entry | undefined): void => {
      if (e !== undefined && e.born !== batch && !before.has(key)) before.set(key, e.flow);
    };
    for (const change of changes) {
      const owner = change.owner;
      const oldKeys = this.#keysByOwner.get(owner);
      const { keys, flows } = dedupeByKey(change.flows);
      if (oldKeys !== undefined) {
        const keep = keys.length > 16 ? new Set(keys) : undefined;
        for (const key of oldKeys) {
          if (keep !== undefined ? keep.has(key) : keys.includes(key)) continue;
          const e = this.#entries.get(key);
          touch(key, e);
          this.#removeOwner(key, owner, e);
        }
      }
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        const f = flows[i] as Flow;
        const e = this.#entries.get(key);
        if (e === undefined) {
          this.#entries.set(key, { flow: f, owner, others: undefined, born: before.has(key) ? 0 : batch });
          this.#onKey?.(f, true);
          if (!before.has(key)) created.push(key);
          continue;
        }
        const mine = e.others === undefined ? (e.owner === owner ? e.flow : undefined) : e.others.get(owner);
        if (mine !== undefined && (mine === f || sameBody(mine, f))) continue;
        touch(key, e);
        this.#setOwner(owner, f, e);
      }
      if (keys.length === 0) this.#keysByOwner.delete(owner);
      else this.#keysByOwner.set(owner, keys);
    }
    const delta: FlowDelta = { add: [], modify: [], delete: [] };
    for (const [key, old] of before) {
      const now = this.#entries.get(key)?.flow;
      if (now === undefined) delta.delete.push(old);
      else if (old.cookie !== now.cookie) delta.add.push(now);
      else if (!sameActions(old, now)) delta.modify.push(now);
    }
    for (const key of created) {
      const e = this.#entries.get(key);
      if (e === undefined || e.born !== batch) continue;
      e.born = 0; // reported; a key created twice in one call is listed once
      delta.add.push(e.flow);
    }
    return delta;
  }

  /**
   * The delta that turns `installed` (a dump of the bridge) into this table. Installed flows that are
   * not ours are left alone; if one of them has a key we want, our ADD replaces it.
   */
  reconcile(installed: Iterable<Flow>): FlowDelta {
    const delta: FlowDelta = { add: [], modify: [], delete: [] };
    const seen = new Set<string>();
    for (const f of installed) {
      if (!this.#isOurs(f.cookie)) continue;
      const key = fastFlowKey(f);
      seen.add(key);
      const e = this.#entries.get(key);
      if (e === undefined) delta.delete.push(f);
      else if (e.flow.cookie !== f.cookie) delta.add.push(e.flow);
      else if (!sameActions(e.flow, f)) delta.modify.push(e.flow);
    }
    for (const [key, e] of this.#entries) if (!seen.has(key)) delta.add.push(e.flow);
    return delta;
  }

  #setOwner(owner: string, f: Flow, e: Entry): void {
    if (e.others === undefined) {
      if (e.owner === owner) {
        e.flow = f;
        return;
      }
      e.others = new Map([[e.owner, e.flow]]);
    }
    e.others.set(owner, f);
    this.#elect(e);
  }

  #removeOwner(key: string, owner: string, e: Entry | undefined): void {
    if (e === undefined) return;
    if (e.others === undefined) {
      if (e.owner === owner) {
        this.#entries.delete(key);
        this.#onKey?.(e.flow, false);
      }
      return;
    }
    e.others.delete(owner);
    if (e.others.size === 0) {
      this.#entries.delete(key);
      this.#onKey?.(e.flow, false);
      return;
    }
    this.#elect(e);
    if (e.others.size === 1) e.others = undefined;
  }

  /** Makes the preferred owner's version the effective flow. */
  #elect(e: Entry): void {
    const others = e.others;
    if (others === undefined) return;
    let best: string | undefined;
    for (const o of others.keys()) if (best === undefined || this.#prefer(o, best) < 0) best = o;
    if (best === undefined) return;
    const f = others.get(best);
    if (f === undefined) return;
    e.owner = best;
    e.flow = f;
  }
}
