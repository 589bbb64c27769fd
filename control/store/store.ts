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

  /**
   * `delta`: the keys the new index adds to and removes from the host's current one, when the caller knows
   * (a commit plan does): only those move the refcounts, instead of a pass over every key of the host, which
   * for a hundred hosts of a thousand neighbors each was most of a small commit's cost.
   */
  setHost(host: string, index: HostIndex, delta?: HostKeysDelta): void {
    const old = this.hosts.get(host);
    if (delta !== undefined) {
      for (const k of delta.removed) this.refs.delete(k, host);
      for (const k of delta.added) this.refs.add(k, host);
      this.hosts.set(host, index);
      return;
    }
    if (old !== undefined) for (const k of old.keys) if (!index.keys.has(k)) this.refs.delete(k, host);
    for (const k of index.keys) this.refs.add(k, host);
    this.hosts.set(host, index);
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
  readonly hosts: ReadonlyArray<{
    readonly host: string;
    readonly keys: ReadonlySet<string>;
    readonly changed: readonly string[];
    readonly deletes: ReadonlyMap<string, Uint8Array>;
    /** Against the host's index when the plan was made (the store applies plans in order, so still true). */
    readonly delta: HostKeysDelta;
  }>;
  /** Keys a host asked for that neither the message nor the store has: host -> keys. */
  readonly missing: ReadonlyMap<string, readonly string[]>;
}

function withDelta(held: ReadonlySet<string>, added: Set<string>, removed: ReadonlySet<string>): ReadonlySet<string> {
  // A host that held nothing gets exactly what was added (the plan keeps no other use of that set).
  if (held.size === 0) return added;
  const keys = new Set(held);
  for (const k of removed) keys.delete(k);
  for (const k of added) keys.add(k);
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
  const hosts: Array<CommitPlan['hosts'][number]> = [];
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
    // The held set itself when nothing is added or removed (a change of keys the host has): a copy of a
    // 100k-neighbor host's keys for each update of one of its ports was most of that update's cost.
    const keys = added.size === 0 && removed.size === 0 ? held : withDelta(held, added, removed);
    hosts.push({ host, keys, changed, deletes, delta: { added: [...added], removed: [...removed] } });
  }
  const removes: string[] = [];
  for (const [key, droppers] of dropped) {
    const still = cache.refs.countExcept(key, droppers);
    const readded = hosts.some((h) => h.keys.has(key));
    if (still === 0 && !readded) removes.push(key);
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
