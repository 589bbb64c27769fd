// Embedded mode's record store: one process, so transactions simply run one after another. Each commit is
// one JSON line in `<dataDir>/resources.log`, fsynced before the transaction resolves; the log is compacted
// into a snapshot on start. A torn last line (a crash mid-write, never acknowledged) is ignored.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AppendLog } from '../store/append-log';
import { readJsonLines } from '../store/json-lines';
import { ApiError } from './errors';
import {
  RecordChange,
  RecordEntry,
  RecordEvents,
  RecordStore,
  RecordTxn,
  type RecordView,
  TxnResult,
} from './record-store';

interface LogLine {
  readonly r: number;
  readonly p?: ReadonlyArray<readonly [string, unknown]>;
  readonly d?: readonly string[];
  /**
   * Snapshot lines only: the create revision of each put (same order as `p`), so creation order survives
   * compaction. Elsewhere a put creates the key at `r` unless the key already exists.
   */
  readonly c?: readonly number[];
}

/** The entry a log line's i-th put leaves, given what the key held before it (undefined: absent). */
function entryOf(line: LogLine, i: number, value: unknown, before: RecordEntry | undefined): RecordEntry {
  return { value, modRev: line.r, createRev: line.c?.[i] ?? before?.createRev ?? line.r };
}

interface Queued {
  readonly fn: (tx: RecordTxn) => unknown;
  readonly resolve: (r: TxnResult<unknown>) => void;
  readonly reject: (err: unknown) => void;
}

/** The view with a commit group's earlier writes on top (what a later transaction of the group reads). */
class Overlay implements RecordView {
  private readonly puts = new Map<string, RecordEntry>();
  private readonly deletes = new Set<string>();

  constructor(private readonly base: ReadonlyMap<string, RecordEntry>) {}

  apply(line: LogLine): void {
    (line.p ?? []).forEach(([k, v], i) => {
      const e = entryOf(line, i, v, this.get(k));
      this.deletes.delete(k);
      this.puts.set(k, e);
    });
    for (const k of line.d ?? []) {
      this.puts.delete(k);
      this.deletes.add(k);
    }
  }

  get(key: string): RecordEntry | undefined {
    if (this.deletes.has(key)) return undefined;
    return this.puts.get(key) ?? this.base.get(key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  *[Symbol.iterator](): MapIterator<[string, RecordEntry]> {
    for (const [k, e] of this.base) if (!this.deletes.has(k) && !this.puts.has(k)) yield [k, e];
    yield* this.puts;
  }
}

export class FileRecordStore implements RecordStore {
  readonly events = new EventEmitter<RecordEvents>();
  readonly view = new Map<string, RecordEntry>();
  private rev = 0;
  private log: AppendLog | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly queue: Queued[] = [];
  private flushing = false;
  private readonly file: string;

  constructor(private readonly dataDir: string) {
    this.file = path.join(dataDir, 'resources.log');
  }

  revision(): number {
    return this.rev;
  }

  async start(): Promise<void> {
    await fs.promises.mkdir(this.dataDir, { recursive: true });
    for (const rec of await readJsonLines<LogLine>(this.file)) {
      (rec.p ?? []).forEach(([k, v], i) => this.view.set(k, entryOf(rec, i, v, this.view.get(k))));
      for (const k of rec.d ?? []) this.view.delete(k);
      this.rev = Math.max(this.rev, rec.r);
    }
    // Snapshot: one line per revision that still has live keys, so mod revisions survive compaction.
    const byRev = new Map<number, Array<[string, RecordEntry]>>();
    for (const [k, e] of this.view) {
      if (k.startsWith('status/')) continue;
      let list = byRev.get(e.modRev);
      if (list === undefined) byRev.set(e.modRev, (list = []));
      list.push([k, e]);
    }
    const out = [...byRev].map(([r, list]) => {
      const p = list.map(([k, e]) => [k, e.value]);
      const c = list.map(([, e]) => e.createRev);
      return JSON.stringify(c.every((x) => x === r) ? { r, p } : { r, p, c });
    });
    out.push(JSON.stringify({ r: this.rev }));
    const tmp = `${this.file}.tmp`;
    const fh = await fs.promises.open(tmp, 'w');
    try {
      await fh.writeFile(out.join('\n') + '\n');
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, this.file);
    this.log = await AppendLog.open(this.file);
  }

  /**
   * Transactions that arrive while a commit is being written wait, and are then committed together: each runs
   * on the view plus the writes of those before it in the group, each gets its own revision, and the group is
   * one write and one fsync. The view and the change events move only once the group is durable.
   */
  transact<T>(fn: (tx: RecordTxn) => T): Promise<TxnResult<T>> {
    return new Promise<TxnResult<T>>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (r: TxnResult<unknown>) => void, reject });
      if (this.queue.length === 1 && !this.flushing) this.chain = this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      // A tick first: requests parsed in the same turn of the event loop join the first group.
      await new Promise((r) => setImmediate(r));
      while (this.queue.length > 0) await this.commitGroup(this.queue.splice(0));
    } finally {
      this.flushing = false;
    }
  }

  private async commitGroup(group: readonly Queued[]): Promise<void> {
    const overlay = new Overlay(this.view);
    const done: Array<{ q: Queued; result: unknown; line: LogLine | null; revision: number }> = [];
    let rev = this.rev;
    for (const q of group) {
      const tx = new RecordTxn(overlay, rev, 0);
      let result: unknown;
      try {
        result = q.fn(tx);
      } catch (err: unknown) {
        q.reject(err);
        continue;
      } finally {
        tx.finish();
      }
      if (tx.puts.size === 0 && tx.deletes.size === 0) {
        done.push({ q, result, line: null, revision: rev });
        continue;
      }
      rev++;
      const line: LogLine = { r: rev, p: [...tx.puts], d: [...tx.deletes] };
      overlay.apply(line);
      done.push({ q, result, line, revision: rev });
    }
    const lines = done.flatMap((d) => (d.line === null ? [] : [JSON.stringify(d.line)]));
    try {
      if (lines.length > 0) {
        if (this.log === null) throw new ApiError(503, 'STORE_UNAVAILABLE', 'record store is not open');
        // A failed write is cut off the file again (AppendLog): the group's transactions are rejected, so
        // none of their lines may be replayed at the next start.
        await this.log.appendText(lines.join('\n') + '\n');
      }
    } catch (err: unknown) {
      const e =
        err instanceof ApiError
          ? err
          : new ApiError(503, 'STORE_UNAVAILABLE', `cannot write ${this.file}: ${(err as Error).message}`);
      for (const d of done) d.q.reject(e);
      return;
    }
    for (const d of done) {
      if (d.line !== null) this.applyLine(d.line);
      d.q.resolve({ result: d.result, revision: d.line === null ? this.rev : d.revision });
    }
  }

  private applyLine(line: LogLine): void {
    const r = line.r;
    this.rev = r;
    const changes: RecordChange[] = [];
    (line.p ?? []).forEach(([k, v], i) => {
      const e = entryOf(line, i, v, this.view.get(k));
      this.view.set(k, e);
      changes.push({ key: k, value: v, modRev: r, createRev: e.createRev });
    });
    for (const k of line.d ?? []) {
      const old = this.view.get(k);
      if (old === undefined) continue;
      this.view.delete(k);
      changes.push({ key: k, value: null, modRev: r, createRev: old.createRev });
    }
    this.events.emit('change', changes);
  }

  async putLoose(entries: ReadonlyMap<string, unknown>): Promise<void> {
    for (const [k, v] of entries)
      this.view.set(k, { value: v, modRev: this.rev, createRev: this.view.get(k)?.createRev ?? this.rev });
  }

  async close(): Promise<void> {
    await this.chain;
    const log = this.log;
    this.log = null;
    if (log !== null) await log.close();
  }
}
