// Resource records (what the operator asked for) and their allocation keys, with optimistic transactions.
//
// Every replica keeps all records in memory (the view), each with the store revision that last wrote it.
// A transaction is a synchronous function over the view: what it reads (`get`, `list`) becomes the compare
// of the commit, what it writes is applied all at once or not at all. When someone else wrote a key it read
// in between, the commit fails, the view catches up, and the function runs again on the new view: a
// contended address is a retried transaction, never a duplicate. Two backends give the same semantics:
// one process with an fsynced log (file-record-store.ts) and etcd transactions (etcd-record-store.ts).
import { EventEmitter } from 'node:events';
import { ApiError } from './errors';

export interface RecordEntry {
  readonly value: unknown;
  /** Store revision of the write that produced this value (etcd mod revision; file store sequence). */
  readonly modRev: number;
  /**
   * Store revision of the write that created the key (etcd create revision; file store: its first put since
   * it last did not exist). Every replica and restart sees the same one: the DPM orders a VPC's ports by it.
   */
  readonly createRev: number;
}

export interface RecordChange {
  readonly key: string;
  /** null: deleted. */
  readonly value: unknown;
  /** Revision of this change (for a delete: the revision of the delete). */
  readonly modRev: number;
  /** The key's create revision (RecordEntry.createRev); for a delete, the one the deleted value had. */
  readonly createRev: number;
}

export type RecordEvents = {
  /** Changes in store order, from this replica or any other. */
  change: [changes: readonly RecordChange[]];
};

export interface TxnWrites {
  readonly puts: ReadonlyMap<string, unknown>;
  readonly deletes: ReadonlySet<string>;
  /** key -> the mod revision it had when read (0: absent). */
  readonly reads: ReadonlyMap<string, number>;
  /** key prefixes listed: nothing under them may have been written after `viewRev`. */
  readonly ranges: ReadonlySet<string>;
  readonly viewRev: number;
}

/** What a transaction reads: the store's view, or the view with the writes of transactions committed with it. */
export type RecordView = Pick<ReadonlyMap<string, RecordEntry>, 'get' | 'has' | typeof Symbol.iterator>;

/** One attempt of a transaction: reads come from the view and are remembered for the commit's compare. */
export class RecordTxn {
  readonly puts = new Map<string, unknown>();
  readonly deletes = new Set<string>();
  readonly reads = new Map<string, number>();
  readonly ranges = new Set<string>();
  /** Run once this attempt committed or failed (allocators release their in-flight reservations). */
  readonly cleanups: Array<() => void> = [];

  constructor(
    private readonly view: RecordView,
    readonly viewRev: number,
    /** 0 on the first attempt: allocators start elsewhere after a conflict. */
    readonly attempt: number,
  ) {}

  /** The value (this transaction's own write first), recording the read. */
  get<T>(key: string): T | undefined {
    if (this.deletes.has(key)) return undefined;
    if (this.puts.has(key)) return this.puts.get(key) as T;
    const e = this.view.get(key);
    if (!this.reads.has(key)) this.reads.set(key, e?.modRev ?? 0);
    return e?.value as T | undefined;
  }

  /** Whether the key exists, without making it part of the compare (for scanning candidates). */
  peek(key: string): boolean {
    if (this.deletes.has(key)) return false;
    return this.puts.has(key) || this.view.has(key);
  }

  /** Every record under a prefix; the commit fails if any key under it was written since the view. */
  list<T>(prefix: string): Array<[string, T]> {
    this.ranges.add(prefix);
    const out: Array<[string, T]> = [];
    for (const [k, e] of this.view) {
      if (k.startsWith(prefix) && !this.deletes.has(k) && !this.puts.has(k)) out.push([k, e.value as T]);
    }
    for (const [k, v] of this.puts) if (k.startsWith(prefix)) out.push([k, v as T]);
    return out;
  }

  put(key: string, value: unknown): void {
    this.deletes.delete(key);
    this.puts.set(key, value);
  }

  del(key: string): void {
    this.puts.delete(key);
    this.deletes.add(key);
  }

  finish(): void {
    for (const f of this.cleanups.splice(0)) f();
  }

  writes(): TxnWrites {
    return { puts: this.puts, deletes: this.deletes, reads: this.reads, ranges: this.ranges, viewRev: this.viewRev };
  }
}

export interface TxnResult<T> {
  readonly result: T;
  /** Store revision of the commit (the view has caught up with it when transact resolves). */
  readonly revision: number;
}

export interface RecordStore {
  readonly events: EventEmitter<RecordEvents>;
  /** All records, kept current by the store; read-only for callers. */
  readonly view: ReadonlyMap<string, RecordEntry>;
  /** The newest store revision the view reflects. */
  revision(): number;
  start(): Promise<void>;
  /**
   * Runs `fn` against the view and commits its writes atomically, retrying on conflict. An ApiError thrown
   * by `fn` aborts without writing. A transaction that writes nothing commits nothing.
   */
  transact<T>(fn: (tx: RecordTxn) => T): Promise<TxnResult<T>>;
  /** Writes outside any transaction, not fsynced (derived data such as port statuses). */
  putLoose(entries: ReadonlyMap<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export const MAX_TXN_ATTEMPTS = 40;

export function tooContended(): ApiError {
  return new ApiError(
    503,
    'CONTENDED',
    `the transaction kept conflicting with other writers (${MAX_TXN_ATTEMPTS} tries)`,
  );
}
