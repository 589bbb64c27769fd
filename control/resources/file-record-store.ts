// Embedded mode's record store: one process, so transactions simply run one after another. Each commit is
// one JSON line in `<dataDir>/resources.log`, fsynced before the transaction resolves; the log is compacted
// into a snapshot on start. A torn last line (a crash mid-write, never acknowledged) is ignored.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonLines } from '../store/json-lines';
import { ApiError } from './errors';
import { RecordChange, RecordEntry, RecordEvents, RecordStore, RecordTxn, TxnResult } from './record-store';

interface LogLine {
  readonly r: number;
  readonly p?: ReadonlyArray<readonly [string, unknown]>;
  readonly d?: readonly string[];
}

export class FileRecordStore implements RecordStore {
  readonly events = new EventEmitter<RecordEvents>();
  readonly view = new Map<string, RecordEntry>();
  private rev = 0;
  private fd: fs.promises.FileHandle | null = null;
  private chain: Promise<unknown> = Promise.resolve();
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
      for (const [k, v] of rec.p ?? []) this.view.set(k, { value: v, modRev: rec.r });
      for (const k of rec.d ?? []) this.view.delete(k);
      this.rev = Math.max(this.rev, rec.r);
    }
    // Snapshot: one line per revision that still has live keys, so mod revisions survive compaction.
    const byRev = new Map<number, Array<[string, unknown]>>();
    for (const [k, e] of this.view) {
      if (k.startsWith('status/')) continue;
      let list = byRev.get(e.modRev);
      if (list === undefined) byRev.set(e.modRev, (list = []));
      list.push([k, e.value]);
    }
    const out = [...byRev].map(([r, p]) => JSON.stringify({ r, p }));
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
    this.fd = await fs.promises.open(this.file, 'a');
  }

  transact<T>(fn: (tx: RecordTxn) => T): Promise<TxnResult<T>> {
    const run = this.chain.then(async () => {
      const tx = new RecordTxn(this.view, this.rev, 0);
      let result: T;
      try {
        result = fn(tx);
      } finally {
        tx.finish();
      }
      if (tx.puts.size === 0 && tx.deletes.size === 0) return { result, revision: this.rev };
      const r = this.rev + 1;
      const line: LogLine = { r, p: [...tx.puts], d: [...tx.deletes] };
      if (this.fd === null) throw new ApiError(503, 'STORE_UNAVAILABLE', 'record store is not open');
      try {
        await this.fd.write(JSON.stringify(line) + '\n');
        await this.fd.datasync();
      } catch (err: unknown) {
        throw new ApiError(503, 'STORE_UNAVAILABLE', `cannot write ${this.file}: ${(err as Error).message}`);
      }
      this.rev = r;
      const changes: RecordChange[] = [];
      for (const [k, v] of tx.puts) {
        this.view.set(k, { value: v, modRev: r });
        changes.push({ key: k, value: v, modRev: r });
      }
      for (const k of tx.deletes) {
        if (!this.view.delete(k)) continue;
        changes.push({ key: k, value: null, modRev: r });
      }
      this.events.emit('change', changes);
      return { result, revision: r };
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  async putLoose(entries: ReadonlyMap<string, unknown>): Promise<void> {
    for (const [k, v] of entries) this.view.set(k, { value: v, modRev: this.rev });
  }

  async close(): Promise<void> {
    await this.chain;
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) await fd.close();
  }
}
