// Sharded mode's record store: records under `<prefix>api/` in etcd, followed by one watch. A transaction's
// reads become etcd compares (a key's mod revision; for a listed prefix: nothing under it newer than the
// view), its writes the success branch. A failed compare means another replica wrote first: wait until the
// watch shows that write, then run the function again. So two replicas can never both take one address,
// and any replica can release what another allocated (the release compares the current owner record).
import { Etcd3, IKeyValue, IRequestOp, IWatchResponse, Watcher } from 'etcd3';
import { EventEmitter } from 'node:events';
import { ApiError } from './errors';
import {
  MAX_TXN_ATTEMPTS,
  RecordChange,
  RecordEntry,
  RecordEvents,
  RecordStore,
  RecordTxn,
  tooContended,
  TxnResult,
} from './record-store';

/** etcd's --max-txn-ops default is 128 (compares and operations count separately). */
const MAX_TXN_OPS = 128;

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export class EtcdRecordStore implements RecordStore {
  readonly events = new EventEmitter<RecordEvents>();
  readonly view = new Map<string, RecordEntry>();
  private rev = 0;
  private watcher: Watcher | null = null;
  private waiting: Array<{ rev: number; resolve: () => void }> = [];
  private readonly p: string;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.p = `${prefix}api/`;
  }

  revision(): number {
    return this.rev;
  }

  async start(): Promise<void> {
    const res = await this.client.getAll().prefix(this.p).exec();
    for (const kv of res.kvs) {
      const key = kv.key.toString('utf8').slice(this.p.length);
      this.view.set(key, {
        value: JSON.parse(kv.value.toString('utf8')) as unknown,
        modRev: Number(kv.mod_revision),
        createRev: Number(kv.create_revision),
      });
    }
    this.rev = Number(res.header.revision);
    this.watcher = await this.client
      .watch()
      .prefix(this.p)
      .startRevision(String(this.rev + 1))
      .create();
    this.watcher.on('data', (r: IWatchResponse) => this.onWatch(r));
  }

  private onWatch(r: IWatchResponse): void {
    const changes: RecordChange[] = [];
    for (const ev of r.events) {
      const kv: IKeyValue = ev.kv;
      const key = kv.key.toString('utf8').slice(this.p.length);
      const modRev = Number(kv.mod_revision);
      if (ev.type === 'Put') {
        let value: unknown;
        try {
          value = JSON.parse(kv.value.toString('utf8'));
        } catch {
          continue; // not one of ours
        }
        const createRev = Number(kv.create_revision);
        this.view.set(key, { value, modRev, createRev });
        changes.push({ key, value, modRev, createRev });
      } else {
        // A delete event's kv carries no create revision: the one the view had.
        const old = this.view.get(key);
        if (old !== undefined && this.view.delete(key))
          changes.push({ key, value: null, modRev, createRev: old.createRev });
      }
    }
    const rev = Number(r.header.revision);
    if (rev > this.rev) this.rev = rev;
    if (changes.length > 0) this.events.emit('change', changes);
    if (this.waiting.length > 0) {
      const ready = this.waiting.filter((w) => w.rev <= this.rev);
      this.waiting = this.waiting.filter((w) => w.rev > this.rev);
      for (const w of ready) w.resolve();
    }
  }

  private caughtUp(rev: number): Promise<void> {
    if (this.rev >= rev) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ApiError(503, 'STORE_UNAVAILABLE', `etcd watch did not reach revision ${rev}`)),
        15000,
      );
      this.waiting.push({
        rev,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private k(key: string): Buffer {
    return Buffer.from(this.p + key, 'utf8');
  }

  async transact<T>(fn: (tx: RecordTxn) => T): Promise<TxnResult<T>> {
    for (let attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
      const tx = new RecordTxn(this.view, this.rev, attempt);
      try {
        const out = await this.attempt(tx, fn);
        if (out !== null) return out;
      } finally {
        tx.finish();
      }
    }
    throw tooContended();
  }

  /** One try: the result, or null when a compare failed (someone else wrote first). */
  private async attempt<T>(tx: RecordTxn, fn: (tx: RecordTxn) => T): Promise<TxnResult<T> | null> {
    const result = fn(tx);
    if (tx.puts.size === 0 && tx.deletes.size === 0) return { result, revision: this.rev };
    const compare = [
      ...[...tx.reads].map(([key, modRev]) => ({
        key: this.k(key),
        target: 'Mod' as const,
        result: 'Equal' as const,
        mod_revision: String(modRev),
      })),
      ...[...tx.ranges].map((prefix) => ({
        key: this.k(prefix),
        range_end: prefixEnd(this.k(prefix)),
        target: 'Mod' as const,
        result: 'Less' as const,
        mod_revision: String(tx.viewRev + 1),
      })),
    ];
    const ops: IRequestOp[] = [
      ...[...tx.puts].map(([key, value]) => ({
        request_put: { key: this.k(key), value: Buffer.from(JSON.stringify(value)) },
      })),
      ...[...tx.deletes].map((key) => ({ request_delete_range: { key: this.k(key) } })),
    ];
    if (compare.length > MAX_TXN_OPS || ops.length > MAX_TXN_OPS) {
      throw new ApiError(
        400,
        'TOO_LARGE',
        `one request may write at most ${MAX_TXN_OPS} keys in sharded mode (${ops.length} needed): split it`,
      );
    }
    let res;
    try {
      res = await this.client.kv.txn({ compare, success: ops });
    } catch (err: unknown) {
      throw new ApiError(503, 'STORE_UNAVAILABLE', `etcd: ${(err as Error).message}`);
    }
    const rev = Number(res.header.revision);
    await this.caughtUp(rev);
    return res.succeeded ? { result, revision: rev } : null;
  }

  async putLoose(entries: ReadonlyMap<string, unknown>): Promise<void> {
    const list = [...entries];
    for (let i = 0; i < list.length; i += MAX_TXN_OPS) {
      const ops = list.slice(i, i + MAX_TXN_OPS).map(([key, value]) => ({
        request_put: { key: this.k(key), value: Buffer.from(JSON.stringify(value)) },
      }));
      await this.client.kv.txn({ compare: [], success: ops });
    }
  }

  async close(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
  }
}
