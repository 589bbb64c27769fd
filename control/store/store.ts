// Desired-state store contract shared by the embedded file store and the etcd store.
//
// Every replica keeps the whole desired state in memory (StateCache): resources stored once by key, and a
// per-host index of the keys that host needs. The store makes writes durable and feeds back, in commit order,
// one HostChange per host a commit touched; owners of those hosts turn each change into a push.
import { EventEmitter } from 'node:events';
import { OperationType } from '../../proto';
import { encodeResourceEntry, ParsedGoalState, stateLength, WireResource } from '../resources';
import { NeighborIndex } from './neighbor-index';

export interface StoredResource {
  readonly state: Uint8Array;
  /** The GoalStateV2 map entry (see encodeResourceEntry): as received, or built when first needed. */
  entry?: Buffer;
}

export interface HostIndex {
  /** Increases with every commit that touches the host (file store: a counter; etcd: the key's mod revision). */
  readonly version: number;
  readonly keys: ReadonlySet<string>;
}

/** Keys a new host index adds and removes, against the host's index in the cache. */
export interface HostKeysDelta {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/** What one commit asks of one host: push these keys (current states) and these deletions. */
export interface HostChange {
  readonly host: string;
  readonly version: number;
  readonly keys: readonly string[];
  /** Resources deleted on this host by the commit: key -> the DELETE state to push. */
  readonly deletes: ReadonlyMap<string, Uint8Array>;
  /** Replica id that accepted the goal state (its caller waits for the result). */
  readonly origin: string;
  /**
   * Of `keys`, those the commit added to the host's index (it did not need them before). Known to the file
   * store; absent (nothing known) from the etcd store's feed. A host session cancels a push of such a key
   * against a later retraction of it while neither was sent (control/southbound/host-session.ts).
   */
  readonly added?: readonly string[];
}

export interface HostResult {
  readonly host: string;
  readonly version: number;
  readonly ok: boolean;
  readonly error?: string;
  /** Encoded GoalStateOperationReply statuses, as JSON-friendly objects. */
  readonly statuses: ReadonlyArray<{
    resourceId: string;
    resourceType: number;
    operationType: number;
    operationStatus: number;
  }>;
  readonly atMs: number;
}

/**
 * key -> the hosts that reference it (refcount for garbage collection). Most keys (a port) have one host: that
 * host is kept as the bare string, and a Set only once a second host references the key. A Set per key was
 * 111k Sets for a 100k-port goal state, ~20 MB of fresh memory and a third of applying it to the cache.
 */
export class HostRefs {
  private readonly byKey = new Map<string, string | Set<string>>();

  get size(): number {
    return this.byKey.size;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** The hosts referencing `key` (a new set for a key with one host; do not keep it). */
  get(key: string): ReadonlySet<string> | undefined {
    const v = this.byKey.get(key);
    return typeof v === 'string' ? new Set([v]) : v;
  }

  /** How many hosts reference `key`, leaving out those in `except`. */
  countExcept(key: string, except: ReadonlySet<string>): number {
    const v = this.byKey.get(key);
    if (v === undefined) return 0;
    if (typeof v === 'string') return except.has(v) ? 0 : 1;
    let n = 0;
    for (const h of v) if (!except.has(h)) n++;
    return n;
  }

  add(key: string, host: string): void {
    const v = this.byKey.get(key);
    if (v === undefined) this.byKey.set(key, host);
    else if (typeof v === 'string') {
      if (v !== host) this.byKey.set(key, new Set([v, host]));
    } else v.add(host);
  }

  delete(key: string, host: string): void {
    const v = this.byKey.get(key);
    if (v === undefined) return;
    if (typeof v === 'string') {
      if (v === host) this.byKey.delete(key);
      return;
    }
    v.delete(host);
    if (v.size === 0) this.byKey.delete(key);
  }
}

export class StateCache {
  private readonly stored = new Map<string, StoredResource>();
  /** Neighbors by fixed IP and VNI, kept in step with every put and delete (on-demand lookups). */
  readonly neighbors = new NeighborIndex();
  readonly hosts = new Map<string, HostIndex>();
  /** host IP -> agent gRPC address */
  readonly agents = new Map<string, string>();
  /** key -> hosts that reference it (refcount for garbage collection). */
  readonly refs = new HostRefs();
  /** Host key sets made by moveHost: changed in place; any other (setHost's) is copied once first. */
  private readonly owned = new WeakSet<ReadonlySet<string>>();
  /** Sums over every stored resource of its key's length (UTF-16 units) and its state's bytes: a size bound. */
  private keyChars = 0;
  private stateBytes = 0;

  /** Every stored resource by key. Change it only through putResource/deleteResource (they keep the indexes). */
  get resources(): ReadonlyMap<string, StoredResource> {
    return this.stored;
  }

  /** `entry`: the resource's map entry as received, when it is what encodeResourceEntry would write. */
  putResource(key: string, state: Uint8Array, entry?: Buffer): void {
    this.putStored(key, entry === undefined ? { state } : { state, entry });
  }

  /** A received resource with a canonical entry is kept as it is (it reads its bytes from the message). */
  putStored(key: string, r: StoredResource): void {
    const kept = r instanceof WireResource && r.canonical ? r : { state: r.state, entry: r.entry };
    this.forget(this.stored.get(key), key);
    this.keyChars += key.length;
    this.stateBytes += stateLength(kept);
    this.stored.set(key, kept);
    this.neighbors.put(key, kept);
  }

  deleteResource(key: string): void {
    this.forget(this.stored.get(key), key);
    this.stored.delete(key);
    this.neighbors.delete(key);
  }

  /** Replaces a host's index (a loaded snapshot, an etcd host document): a pass over its keys. */
  setHost(host: string, index: HostIndex): void {
    const old = this.hosts.get(host);
    if (old !== undefined) for (const k of old.keys) if (!index.keys.has(k)) this.refs.delete(k, host);
    for (const k of index.keys) this.refs.add(k, host);
    this.hosts.set(host, index);
  }

  /**
   * Moves a host's index by a commit's delta, in place: only the keys added and removed move the refcounts
   * and the set. A pass over every key of the host (or a copy of its set) on each commit was most of a small
   * commit's cost with a hundred hosts holding a thousand neighbors each. The set is the cache's own (made
   * here or handed over by setHost), so nobody holds it as a snapshot: readers use it synchronously.
   */
  moveHost(host: string, version: number, delta: HostKeysDelta): void {
    const old = this.hosts.get(host);
    let keys = old?.keys as Set<string> | undefined;
    if (keys === undefined || !this.owned.has(keys)) {
      keys = new Set(old?.keys);
      this.owned.add(keys);
    }
    for (const k of delta.removed) {
      keys.delete(k);
      this.refs.delete(k, host);
    }
    for (const k of delta.added) {
      keys.add(k);
      this.refs.add(k, host);
    }
    this.hosts.set(host, { version, keys });
  }

  entry(key: string): Buffer | undefined {
    const r = this.stored.get(key);
    if (r === undefined) return undefined;
    return r.entry ?? (r.entry = encodeResourceEntry(key, r.state));
  }

  resourceCount(): number {
    return this.stored.size;
  }

  /** What every stored resource adds up to, for a bound on any host's message (messageBytesBound). */
  storedTotals(): { readonly count: number; readonly keyChars: number; readonly stateBytes: number } {
    return { count: this.stored.size, keyChars: this.keyChars, stateBytes: this.stateBytes };
  }

  private forget(old: StoredResource | undefined, key: string): void {
    if (old === undefined) return;
    this.keyChars -= key.length;
    this.stateBytes -= stateLength(old);
  }
}

/** The writes one accepted goal state turns into (computed against the cache, applied by a store). */
export interface CommitPlan {
  /** The resources to store, as received (a canonical map entry is forwarded without a copy). */
  readonly puts: ReadonlyMap<string, StoredResource>;
  /** Resources no host references any more. */
  readonly removes: readonly string[];
  readonly hosts: ReadonlyArray<PlannedHost>;
  /** Keys a host asked for that neither the message nor the store has: host -> keys. */
  readonly missing: ReadonlyMap<string, readonly string[]>;
}

export interface PlannedHost {
  readonly host: string;
  readonly changed: readonly string[];
  readonly deletes: ReadonlyMap<string, Uint8Array>;
  /**
   * Against the host's index when the plan was made (the store applies plans in order, so still true). The
   * plan holds no copy of the host's keys: StateCache.moveHost applies this in place; keysAfter() gives the
   * whole list to a store that writes it (etcd's host documents).
   */
  readonly delta: HostKeysDelta;
}

/** A planned host's whole key set after the commit; call it before the plan is applied to `cache`. */
export function keysAfter(cache: StateCache, h: PlannedHost): Set<string> {
  const keys = new Set(cache.hosts.get(h.host)?.keys);
  for (const k of h.delta.removed) keys.delete(k);
  for (const k of h.delta.added) keys.add(k);
  return keys;
}

export function planCommit(cache: StateCache, gs: ParsedGoalState): CommitPlan {
  // Without deletes (the common push) the message's own map is what to store: no second map of 100k entries.
  let puts: ReadonlyMap<string, StoredResource> = gs.resources;
  for (const r of gs.resources.values()) {
    if (r.operation !== OperationType.DELETE) continue;
    const kept = new Map<string, StoredResource>();
    for (const x of gs.resources.values()) if (x.operation !== OperationType.DELETE) kept.set(x.key, x);
    puts = kept;
    break;
  }
  const hosts: PlannedHost[] = [];
  /** Keys some host adds: a key another host drops is still referenced then. */
  const gained = new Set<string>();
  const missing = new Map<string, string[]>();
  const dropped = new Map<string, Set<string>>(); // key -> hosts dropping it
  for (const [host, wanted] of gs.hosts) {
    const held: ReadonlySet<string> = cache.hosts.get(host)?.keys ?? new Set();
    const changed: string[] = [];
    const deletes = new Map<string, Uint8Array>();
    const added = new Set<string>();
    const removed = new Set<string>();
    for (const key of wanted) {
      const incoming = gs.resources.get(key);
      if (incoming !== undefined && incoming.operation === OperationType.DELETE) {
        if (!added.delete(key) && held.has(key)) removed.add(key);
        deletes.set(key, incoming.state);
        let set = dropped.get(key);
        if (set === undefined) dropped.set(key, (set = new Set()));
        set.add(host);
        continue;
      }
      if (incoming === undefined && !cache.resources.has(key)) {
        const m = missing.get(host);
        if (m === undefined) missing.set(host, [key]);
        else m.push(key);
        continue;
      }
      removed.delete(key);
      if (!held.has(key)) added.add(key);
      changed.push(key);
    }
    for (const k of added) gained.add(k);
    hosts.push({ host, changed, deletes, delta: { added: [...added], removed: [...removed] } });
  }
  const removes: string[] = [];
  for (const [key, droppers] of dropped) {
    // Dropped by these hosts; a host that keeps it is counted in refs (its delta does not remove it).
    if (cache.refs.countExcept(key, droppers) === 0 && !gained.has(key)) removes.push(key);
  }
  return { puts, removes, hosts, missing };
}

export type StoreEvents = {
  hostChange: [HostChange];
  agentChange: [host: string, address: string | null];
  result: [HostResult];
  /** Some replica asked the owner of `host` for a full re-push (agent restarted). */
  repush: [host: string];
};

export interface ControlStore {
  readonly kind: 'file' | 'etcd';
  readonly cache: StateCache;
  readonly events: EventEmitter<StoreEvents>;
  /** Loads the durable state into the cache and starts the change feed. */
  start(): Promise<void>;
  /**
   * Makes the goal state durable; resolves with each touched host's new version only once it is.
   * Rejects (code STORE_UNAVAILABLE) when the write may not be durable: nothing is acknowledged then.
   */
  commit(gs: ParsedGoalState, origin: string): Promise<{ versions: ReadonlyMap<string, number>; plan: CommitPlan }>;
  /** Registers agents (host IP -> agent gRPC address), durably. */
  putAgents(agents: ReadonlyArray<readonly [string, string]>): Promise<void>;
  deleteAgent(host: string): Promise<void>;
  /** Shares a host's apply result with the replica that accepted the goal state (no-op when local). */
  publishResult(result: HostResult, origin: string): Promise<void>;
  /** Asks the host's owner, wherever it runs, for a full re-push. */
  requestRepush(host: string): Promise<void>;
  /** Whether the last interaction with durable storage worked. */
  healthy(): boolean;
  close(): Promise<void>;
}
