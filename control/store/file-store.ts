// Embedded-mode desired-state store: an append-only log of JSON lines in `<dataDir>/desired.log`, fsynced
// before a commit resolves (so an acknowledged goal state survives a crash), compacted into a snapshot on start.
// A torn last line (crash mid-write, never acknowledged) is ignored on replay.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OperationType } from '../../proto';
import { ParsedGoalState, ControlError, encodeHostsOnly, parseGoalStateV2 } from '../resources';
import { AppendLog } from './append-log';
import { readJsonLines } from './json-lines';
import { CommitPlan, ControlStore, HostResult, keysAfter, planCommit, StateCache, StoreEvents } from './store';

type LogRecord =
  | { readonly t: 'r'; readonly k: string; readonly b: string }
  | { readonly t: 'x'; readonly k: string }
  | { readonly t: 'h'; readonly h: string; readonly v: number; readonly k: readonly string[] }
  | { readonly t: 'a'; readonly h: string; readonly a: string | null }
  // One whole accepted goal state (base64 of the GoalStateV2) committed at version v: replay re-plans it.
  // Logging the message once is far cheaper than one record per resource (100k resources = 1 record).
  | { readonly t: 'g'; readonly v: number; readonly b: string };

/** JSON line of one record; resource records (the bulk) are assembled by hand, JSON.stringify is slow for 100k. */
function encodeRecord(r: LogRecord): string {
  if (r.t === 'r') return `{"t":"r","k":${JSON.stringify(r.k)},"b":"${r.b}"}\n`;
  if (r.t === 'g') return `{"t":"g","v":${r.v},"b":"${r.b}"}\n`;
  return `${JSON.stringify(r)}\n`;
}

/** Bytes base64-encoded at a time for a goal-state record (a multiple of 3: 64 KiB of base64, a short string). */
const BASE64_SLICE = 3 * 16384;
/** A goal-state record is written in pieces of about this many bytes (see appendGoalState). */
const RECORD_PIECE = 1024 * 1024;

/** Whether a commit of `gs` changes anything: a host index (any host listed) or a resource put. */
function writesAnything(gs: ParsedGoalState): boolean {
  if (gs.hosts.size > 0) return true;
  for (const r of gs.resources.values()) if (r.operation !== OperationType.DELETE) return true;
  return false;
}

export class FileStore implements ControlStore {
  readonly kind = 'file' as const;
  readonly cache = new StateCache();
  readonly events = new EventEmitter<StoreEvents>();
  private readonly file: string;
  private log: AppendLog | null = null;
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private ok = true;
  /** appendGoalState's two piece buffers, made on first use and kept: written alternately. */
  private pieces: readonly [Buffer, Buffer] | null = null;

  constructor(private readonly dataDir: string) {
    this.file = path.join(dataDir, 'desired.log');
  }

  async start(): Promise<void> {
    await fs.promises.mkdir(this.dataDir, { recursive: true });
    for (const rec of await readJsonLines<LogRecord>(this.file)) this.replay(rec);
    await this.compact();
    this.log = await AppendLog.open(this.file);
  }

  private replay(rec: LogRecord): void {
    switch (rec.t) {
      case 'r':
        this.cache.putResource(rec.k, Buffer.from(rec.b, 'base64'));
        return;
      case 'x':
        this.cache.deleteResource(rec.k);
        return;
      case 'h':
        this.seq = Math.max(this.seq, rec.v);
        this.cache.setHost(rec.h, { version: rec.v, keys: new Set(rec.k) });
        return;
      case 'a':
        if (rec.a === null) this.cache.agents.delete(rec.h);
        else this.cache.agents.set(rec.h, rec.a);
        return;
      case 'g': {
        const gs = parseGoalStateV2(Buffer.from(rec.b, 'base64'));
        this.applyPlan(planCommit(this.cache, gs), rec.v);
        this.seq = Math.max(this.seq, rec.v);
        return;
      }
      default: {
        const never: never = rec;
        throw new ControlError('STORE_CORRUPT', `unknown record ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Appends the 'g' record of a goal state (what encodeRecord writes for it) and syncs it, base64-encoded a
   * slice at a time into two 1 MiB buffers kept from one commit to the next, each written while the other
   * fills. The whole record in one buffer (23 MB for a 17 MB message) was fresh memory at every first big
   * commit, and first-touching fresh memory is slow here (page faults of ~30 us each on these VMs: 150-250 ms
   * for 23 MB, against 1 ms to write into memory already touched). Commits are serialized, so the buffers are
   * not reused before their writes are done. A failed piece fails the append (STORE_UNAVAILABLE): nothing is
   * acknowledged, and AppendLog cuts the torn record off the file.
   */
  private async appendGoalState(version: number, raw: Uint8Array): Promise<void> {
    const log = this.log;
    if (log === null) throw new ControlError('STORE_CLOSED', 'file store is not open');
    const src = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const pieces = (this.pieces ??= [
      Buffer.allocUnsafe(RECORD_PIECE + (4 * BASE64_SLICE) / 3 + 64),
      Buffer.allocUnsafe(RECORD_PIECE + (4 * BASE64_SLICE) / 3 + 64),
    ]);
    await this.#appending(
      log.append(async (put) => {
        let which = 0;
        let out = pieces[0];
        let at = out.write(`{"t":"g","v":${version},"b":"`, 0, 'latin1');
        let writing: Promise<void> = Promise.resolve();
        const flush = async (): Promise<void> => {
          const [buf, len] = [out, at];
          await writing;
          writing = put(buf, len);
          which ^= 1;
          out = pieces[which] as Buffer;
          at = 0;
        };
        try {
          // A slice a multiple of 3 bytes long encodes without padding, so the slices' base64 is the whole one's.
          for (let i = 0; i < src.length; i += BASE64_SLICE) {
            at += out.write(src.toString('base64', i, Math.min(src.length, i + BASE64_SLICE)), at, 'latin1');
            if (at >= RECORD_PIECE) await flush();
          }
          at += out.write('"}\n', at, 'latin1');
          await flush();
        } finally {
          // The cut-back must not race a piece still being written.
          await writing;
        }
      }),
    );
  }

  /** Rewrites the log as a snapshot of the cache (tmp file, fsync, rename). */
  private async compact(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const out: string[] = [];
    for (const [k, r] of this.cache.resources)
      out.push(JSON.stringify({ t: 'r', k, b: Buffer.from(r.state).toString('base64') }));
    for (const [h, idx] of this.cache.hosts) out.push(JSON.stringify({ t: 'h', h, v: idx.version, k: [...idx.keys] }));
    for (const [h, a] of this.cache.agents) out.push(JSON.stringify({ t: 'a', h, a }));
    const fh = await fs.promises.open(tmp, 'w');
    try {
      await fh.writeFile(out.length === 0 ? '' : out.join('\n') + '\n');
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, this.file);
  }

  private async append(records: readonly LogRecord[]): Promise<void> {
    if (this.log === null) throw new ControlError('STORE_CLOSED', 'file store is not open');
    await this.#appending(this.log.appendText(records.map(encodeRecord).join('')));
  }

  /** An append's outcome as the store's health and, failed, as STORE_UNAVAILABLE. */
  async #appending(append: Promise<void>): Promise<void> {
    try {
      await append;
      this.ok = true;
    } catch (err: unknown) {
      this.ok = false;
      throw new ControlError('STORE_UNAVAILABLE', `cannot write ${this.file}: ${(err as Error).message}`);
    }
  }

  /** Runs fn after every earlier serialized operation, so log order = commit order = version order. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Applies a planned commit to the cache (the same code for a live commit and for replay). */
  private applyPlan(plan: CommitPlan, version: number): Map<string, number> {
    for (const [k, r] of plan.puts) this.cache.putStored(k, r);
    const versions = new Map<string, number>();
    for (const h of plan.hosts) {
      this.cache.moveHost(h.host, version, h.delta);
      versions.set(h.host, version);
    }
    for (const k of plan.removes) if (!this.cache.refs.has(k)) this.cache.deleteResource(k);
    return versions;
  }

  commit(gs: ParsedGoalState, origin: string): Promise<{ versions: ReadonlyMap<string, number>; plan: CommitPlan }> {
    return this.serialize(async () => {
      const version = this.seq + 1;
      const raw = gs.raw ?? (gs.resources.size === 0 ? encodeHostsOnly(gs.hosts) : null);
      let plan: CommitPlan;
      if (raw !== null) {
        // The record is the message itself: it is written and synced while the plan is made.
        const written = writesAnything(gs) ? this.appendGoalState(version, raw) : Promise.resolve();
        try {
          plan = planCommit(this.cache, gs);
        } finally {
          await written;
        }
      } else {
        plan = planCommit(this.cache, gs);
        const records: LogRecord[] = [];
        for (const [k, { state }] of plan.puts)
          records.push({
            t: 'r',
            k,
            b: Buffer.from(state.buffer, state.byteOffset, state.byteLength).toString('base64'),
          });
        for (const h of plan.hosts) records.push({ t: 'h', h: h.host, v: version, k: [...keysAfter(this.cache, h)] });
        for (const k of plan.removes) records.push({ t: 'x', k });
        if (plan.hosts.length > 0 || plan.puts.size > 0) await this.append(records);
      }
      this.seq = version;
      const versions = this.applyPlan(plan, version);
      for (const h of plan.hosts) {
        this.events.emit('hostChange', {
          host: h.host,
          version,
          keys: h.changed,
          deletes: h.deletes,
          origin,
          added: h.delta.added,
        });
      }
      return { versions, plan };
    });
  }

  putAgents(agents: ReadonlyArray<readonly [string, string]>): Promise<void> {
    return this.serialize(async () => {
      const fresh = agents.filter(([host, address]) => this.cache.agents.get(host) !== address);
      if (fresh.length === 0) return;
      await this.append(fresh.map(([h, a]) => ({ t: 'a', h, a })));
      for (const [host, address] of fresh) {
        this.cache.agents.set(host, address);
        this.events.emit('agentChange', host, address);
      }
    });
  }

  deleteAgent(host: string): Promise<void> {
    return this.serialize(async () => {
      if (!this.cache.agents.has(host)) return;
      await this.append([{ t: 'a', h: host, a: null }]);
      this.cache.agents.delete(host);
      this.events.emit('agentChange', host, null);
    });
  }

  async publishResult(_result: HostResult, _origin: string): Promise<void> {
    // One process: the controller resolves its own waiters directly.
  }

  async requestRepush(host: string): Promise<void> {
    this.events.emit('repush', host);
  }

  healthy(): boolean {
    return this.ok;
  }

  async close(): Promise<void> {
    await this.chain;
    const log = this.log;
    this.log = null;
    if (log !== null) await log.close();
  }
}
