// OVSDB JSON-RPC client (RFC 7047) over a unix socket (`<rundir>/db.sock`), written for the agent's few needs:
// list_dbs, get_schema, transact, monitor / monitor_cond with update notifications, echo both ways, and reconnect
// with exponential backoff.
//
// Connection semantics:
// - Requests in flight when the connection drops are rejected with code OVSDB_DISCONNECTED. A transact may or may
//   not have committed; callers make their transactions idempotent (bridge.ts re-reads and re-ensures).
// - Monitors survive reconnects: after reconnecting, every monitor is re-registered and its handler gets a fresh
//   `reset` update holding the full current contents, which replaces whatever the handler had.
// - Idle probe: when nothing arrives for `probeIntervalMs`, we send an echo; if the next interval passes silently
//   too, the connection is considered dead and is torn down (then reconnected).
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { JsonMessageSplitter, DEFAULT_MAX_MESSAGE_BYTES } from './framing';
import type { Operation, OperationResult, OvsdbRow, OvsdbValue } from './values';

/** Codes of OVSDB failures (the module-prefix scheme of core/errors.ts). */
export type OvsdbErrorCode =
  | 'OVSDB_CONNECT'
  | 'OVSDB_CLOSED'
  | 'OVSDB_DISCONNECTED'
  | 'OVSDB_TIMEOUT'
  | 'OVSDB_BAD_REPLY'
  | 'OVSDB_BAD_MESSAGE'
  | 'OVSDB_BAD_SCHEMA'
  | 'OVSDB_RPC_ERROR'
  | 'OVSDB_TRANSACTION'
  | 'OVSDB_NO_BRIDGE'
  | 'OVSDB_PORT_ON_OTHER_BRIDGE'
  | 'OVSDB_CONTENDED';

export class OvsdbError extends Error {
  constructor(
    readonly code: OvsdbErrorCode,
    message: string,
    /** For OVSDB_TRANSACTION: the per-operation results as received. */
    readonly results: readonly OperationResult[] = [],
  ) {
    super(message);
    this.name = 'OvsdbError';
  }
}

export interface ReconnectOptions {
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface OvsdbClientOptions {
  readonly socketPath: string;
  /** false = no reconnect: a dropped connection stays dropped. */
  readonly reconnect?: ReconnectOptions | false;
  /** 0 disables the idle probe. Default 5000 (ovsdb-server's own default probe interval). */
  readonly probeIntervalMs?: number;
  /** 0 = no timeout. Default 60000. */
  readonly requestTimeoutMs?: number;
  readonly maxMessageBytes?: number;
}

/** Column type as in the schema (RFC 7047 §3.2 <type>), reduced to what diff application needs. */
export type ColumnShape = 'scalar' | 'set' | 'map';

export interface TableSchema {
  readonly columns: Readonly<Record<string, ColumnShape>>;
}

export interface DbSchema {
  readonly name: string;
  readonly version: string;
  readonly tables: Readonly<Record<string, TableSchema>>;
}

export interface RowChange {
  readonly table: string;
  readonly uuid: string;
  readonly kind: 'insert' | 'modify' | 'delete';
  /** Full row before the change (modify, delete). */
  readonly old?: OvsdbRow;
  /** Full row after the change (insert, modify). */
  readonly new?: OvsdbRow;
}

export interface MonitorUpdate {
  /** True for the initial contents (also after a reconnect): the handler must drop what it had for this monitor. */
  readonly reset: boolean;
  readonly changes: readonly RowChange[];
}

export interface MonitorTableRequest {
  readonly columns?: readonly string[];
  /** monitor_cond only: condition list (RFC 7047 conditions, or [true]). */
  readonly where?: readonly unknown[];
}

export interface MonitorHandle {
  readonly id: string;
  /** Current contents seen by this monitor: table -> uuid -> row. */
  readonly rows: ReadonlyMap<string, ReadonlyMap<string, OvsdbRow>>;
  cancel(): Promise<void>;
}

type MonitorKind = 'monitor' | 'monitor_cond';

interface MonitorState {
  readonly id: string;
  readonly kind: MonitorKind;
  readonly db: string;
  readonly tables: Readonly<Record<string, MonitorTableRequest>>;
  readonly handler: (update: MonitorUpdate) => void;
  readonly rows: Map<string, Map<string, OvsdbRow>>;
  schema: DbSchema | null;
  cancelled: boolean;
}

interface Pending {
  readonly method: string;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout | null;
}

interface JsonRpcMessage {
  readonly id?: unknown;
  readonly method?: unknown;
  readonly params?: unknown;
  readonly result?: unknown;
  readonly error?: unknown;
}

/**
 * Events: 'connected' (after every (re)connect, once monitors are re-registered), 'disconnected' (err?),
 * 'error' is never emitted (failures surface as rejections or 'disconnected').
 */
export class OvsdbClient extends EventEmitter {
  readonly #opts: OvsdbClientOptions;
  #socket: net.Socket | null = null;
  #splitter: JsonMessageSplitter;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #monitors = new Map<string, MonitorState>();
  readonly #schemas = new Map<string, DbSchema>();
  #closed = false;
  #connected = false;
  #backoffMs = 0;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #probeTimer: NodeJS.Timeout | null = null;
  #lastRxMs = 0;
  #probeSent = false;
  #nextMonitorSerial = 1;

  constructor(opts: OvsdbClientOptions) {
    super();
    this.#opts = opts;
    this.#splitter = new JsonMessageSplitter(opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  }

  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Connects. With reconnect enabled, keeps retrying with backoff until `timeoutMs` (default 10 s) runs out;
   * afterwards the client reconnects by itself whenever the connection drops.
   */
  async connect(timeoutMs = 10_000): Promise<void> {
    if (this.#connected) return;
    this.#closed = false;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.#open();
        return;
      } catch (e: unknown) {
        if (this.#opts.reconnect === false || Date.now() >= deadline) {
          throw new OvsdbError('OVSDB_CONNECT', `cannot connect to ${this.#opts.socketPath}: ${errorText(e)}`);
        }
        await sleep(Math.min(this.#nextBackoff(), Math.max(0, deadline - Date.now())));
      }
    }
  }

  /** Closes for good: no reconnect; pending requests are rejected. */
  close(): void {
    this.#closed = true;
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.#teardown(new OvsdbError('OVSDB_CLOSED', 'client closed'));
  }

  async listDbs(): Promise<string[]> {
    const r = await this.request('list_dbs', []);
    if (!Array.isArray(r) || !r.every((x) => typeof x === 'string'))
      throw new OvsdbError('OVSDB_BAD_REPLY', 'list_dbs: expected an array of names');
    return r as string[];
  }

  async getSchema(db: string): Promise<DbSchema> {
    const cached = this.#schemas.get(db);
    if (cached !== undefined) return cached;
    const schema = parseSchema(await this.request('get_schema', [db]));
    this.#schemas.set(db, schema);
    return schema;
  }

  /** Runs a transaction; rejects with OVSDB_TRANSACTION (with all results) if any operation failed. */
  async transact(db: string, ops: readonly Operation[]): Promise<OperationResult[]> {
    const r = await this.request('transact', [db, ...ops]);
    if (!Array.isArray(r)) throw new OvsdbError('OVSDB_BAD_REPLY', 'transact: expected an array of results');
    const results = r as OperationResult[];
    const failed = results.findIndex((x) => x !== null && typeof x === 'object' && typeof x.error === 'string');
    if (failed >= 0) {
      const f = results[failed];
      const opName = failed < ops.length ? ops[failed]?.op : 'commit';
      throw new OvsdbError(
        'OVSDB_TRANSACTION',
        `transaction failed at operation ${failed} (${opName}): ${f?.error}${f?.details ? `: ${f.details}` : ''}`,
        results,
      );
    }
    return results;
  }

  /** Round-trips an echo (liveness check). */
  async echo(): Promise<void> {
    await this.request('echo', ['alcor']);
  }

  /** RFC 7047 `monitor`: the handler gets full rows for every change. */
  monitor(
    db: string,
    tables: Readonly<Record<string, MonitorTableRequest>>,
    handler: (u: MonitorUpdate) => void,
  ): Promise<MonitorHandle> {
    return this.#addMonitor('monitor', db, tables, handler);
  }

  /** `monitor_cond` (ovsdb-server(7)): server-side row conditions, `update2` diffs applied here into full rows. */
  monitorCond(
    db: string,
    tables: Readonly<Record<string, MonitorTableRequest>>,
    handler: (u: MonitorUpdate) => void,
  ): Promise<MonitorHandle> {
    return this.#addMonitor('monitor_cond', db, tables, handler);
  }

  /** A raw JSON-RPC request. */
  request(method: string, params: readonly unknown[]): Promise<unknown> {
    const socket = this.#socket;
    if (socket === null || !this.#connected) {
      return Promise.reject(
        new OvsdbError('OVSDB_DISCONNECTED', `${method}: not connected to ${this.#opts.socketPath}`),
      );
    }
    return this.#send(socket, method, params);
  }

  #send(socket: net.Socket, method: string, params: readonly unknown[]): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timeoutMs = this.#opts.requestTimeoutMs ?? 60_000;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.#pending.delete(id);
              reject(new OvsdbError('OVSDB_TIMEOUT', `${method}: no reply within ${timeoutMs} ms`));
            }, timeoutMs)
          : null;
      this.#pending.set(id, { method, resolve, reject, timer });
      socket.write(JSON.stringify({ id, method, params }));
    });
  }

  async #addMonitor(
    kind: MonitorKind,
    db: string,
    tables: Readonly<Record<string, MonitorTableRequest>>,
    handler: (u: MonitorUpdate) => void,
  ): Promise<MonitorHandle> {
    const id = `alcor-${kind}-${this.#nextMonitorSerial++}`;
    const state: MonitorState = { id, kind, db, tables, handler, rows: new Map(), schema: null, cancelled: false };
    if (kind === 'monitor_cond') state.schema = await this.getSchema(db);
    this.#monitors.set(id, state);
    try {
      await this.#registerMonitor(state);
    } catch (e: unknown) {
      this.#monitors.delete(id);
      throw e;
    }
    return {
      id,
      rows: state.rows,
      cancel: async () => {
        state.cancelled = true;
        this.#monitors.delete(id);
        if (this.#connected) await this.request('monitor_cancel', [id]).catch(() => undefined);
      },
    };
  }

  async #registerMonitor(state: MonitorState): Promise<void> {
    const req: Record<string, unknown> = {};
    for (const [table, t] of Object.entries(state.tables)) {
      const r: Record<string, unknown> = {};
      if (t.columns !== undefined) r.columns = t.columns;
      if (state.kind === 'monitor_cond' && t.where !== undefined) r.where = t.where;
      req[table] = r;
    }
    const initial = await this.request(state.kind, [state.db, state.id, req]);
    if (state.cancelled) return;
    state.rows.clear();
    const changes = this.#applyUpdates(state, initial);
    state.handler({ reset: true, changes });
  }

  /** Applies a table-updates (monitor) or table-updates2 (monitor_cond) object to the cache; returns full-row changes. */
  #applyUpdates(state: MonitorState, updates: unknown): RowChange[] {
    const changes: RowChange[] = [];
    if (updates === null || typeof updates !== 'object') return changes;
    for (const [table, rowsObj] of Object.entries(updates as Record<string, unknown>)) {
      if (rowsObj === null || typeof rowsObj !== 'object') continue;
      let cache = state.rows.get(table);
      if (cache === undefined) {
        cache = new Map();
        state.rows.set(table, cache);
      }
      for (const [rowUuid, u] of Object.entries(rowsObj as Record<string, unknown>)) {
        if (u === null || typeof u !== 'object') continue;
        const change =
          state.kind === 'monitor'
            ? applyRowUpdate(table, rowUuid, u as { old?: OvsdbRow; new?: OvsdbRow }, cache)
            : applyRowUpdate2(
                table,
                rowUuid,
                u as Record<string, OvsdbRow | undefined>,
                cache,
                state.schema?.tables[table],
              );
        if (change !== null) changes.push(change);
      }
    }
    return changes;
  }

  #open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = net.createConnection({ path: this.#opts.socketPath });
      let established = false;
      // Set once the monitors are re-registered and the caller was told; before that, failures go to the caller
      // (connect() retries, or #scheduleReconnect's catch does), so 'close' must not schedule a second reconnect.
      let opened = false;
      socket.once('connect', () => {
        if (this.#closed) {
          // close() was called while this connection attempt was in flight.
          socket.destroy();
          reject(new OvsdbError('OVSDB_CLOSED', 'client closed'));
          return;
        }
        established = true;
        this.#socket = socket;
        this.#connected = true;
        this.#splitter.reset();
        this.#lastRxMs = Date.now();
        this.#probeSent = false;
        this.#startProbe();
        this.#reRegisterMonitors().then(
          () => {
            if (this.#socket !== socket) {
              reject(new OvsdbError('OVSDB_DISCONNECTED', 'connection lost while registering monitors'));
              return;
            }
            opened = true;
            this.#backoffMs = 0;
            this.emit('connected');
            resolve();
          },
          (e: unknown) => {
            if (this.#socket === socket) {
              this.#teardown(new OvsdbError('OVSDB_DISCONNECTED', `re-registering monitors failed: ${errorText(e)}`));
            }
            reject(e instanceof Error ? e : new Error(String(e)));
          },
        );
      });
      socket.on('data', (chunk: Buffer) => this.#onData(socket, chunk));
      socket.on('error', (err) => {
        if (!established) reject(err);
      });
      socket.on('close', () => {
        if (!established) return;
        if (this.#socket !== socket) return;
        this.#teardown(new OvsdbError('OVSDB_DISCONNECTED', `connection to ${this.#opts.socketPath} closed`));
        if (opened) this.#scheduleReconnect();
      });
    });
  }

  async #reRegisterMonitors(): Promise<void> {
    for (const state of [...this.#monitors.values()]) {
      if (!state.cancelled) await this.#registerMonitor(state);
    }
  }

  #teardown(err: OvsdbError): void {
    const wasConnected = this.#connected;
    this.#connected = false;
    if (this.#probeTimer !== null) clearInterval(this.#probeTimer);
    this.#probeTimer = null;
    const socket = this.#socket;
    this.#socket = null;
    if (socket !== null) socket.destroy();
    for (const p of this.#pending.values()) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.reject(new OvsdbError(err.code, `${p.method}: ${err.message}`));
    }
    this.#pending.clear();
    if (wasConnected) this.emit('disconnected', err);
  }

  #nextBackoff(): number {
    const r = this.#opts.reconnect === false ? {} : (this.#opts.reconnect ?? {});
    const initial = r.initialDelayMs ?? 100;
    const max = r.maxDelayMs ?? 5000;
    this.#backoffMs = this.#backoffMs === 0 ? initial : Math.min(max, this.#backoffMs * 2);
    return this.#backoffMs;
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#opts.reconnect === false || this.#reconnectTimer !== null) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#closed) return;
      this.#open().catch(() => this.#scheduleReconnect());
    }, this.#nextBackoff());
  }

  #startProbe(): void {
    const intervalMs = this.#opts.probeIntervalMs ?? 5000;
    if (intervalMs <= 0) return;
    this.#probeTimer = setInterval(() => {
      const socket = this.#socket;
      if (socket === null) return;
      if (Date.now() - this.#lastRxMs < intervalMs) return;
      if (this.#probeSent) {
        socket.destroy(); // 'close' does the teardown and reconnect
        return;
      }
      this.#probeSent = true;
      this.#send(socket, 'echo', ['alcor-probe']).catch(() => undefined);
    }, intervalMs);
    this.#probeTimer.unref();
  }

  #onData(socket: net.Socket, chunk: Buffer): void {
    if (this.#socket !== socket) return;
    this.#lastRxMs = Date.now();
    this.#probeSent = false;
    let texts: string[];
    try {
      texts = this.#splitter.write(chunk);
    } catch (e: unknown) {
      socket.destroy(e instanceof Error ? e : undefined);
      return;
    }
    for (const text of texts) {
      let msg: JsonRpcMessage;
      try {
        msg = JSON.parse(text) as JsonRpcMessage;
      } catch {
        socket.destroy();
        return;
      }
      // A message of the wrong shape (a monitor update whose rows or diffs are not what RFC 7047 says)
      // must not throw out of this socket callback, which would end the process: the server is talking
      // nonsense, so the connection goes (and comes back) instead.
      try {
        this.#dispatch(socket, msg);
      } catch (e: unknown) {
        socket.destroy(new OvsdbError('OVSDB_BAD_MESSAGE', `cannot handle a message from the server: ${errorText(e)}`));
        return;
      }
    }
  }

  #dispatch(socket: net.Socket, msg: JsonRpcMessage): void {
    if (typeof msg.method === 'string') {
      const params = Array.isArray(msg.params) ? (msg.params as unknown[]) : [];
      if (msg.method === 'echo') {
        socket.write(JSON.stringify({ id: msg.id ?? null, result: params, error: null }));
      } else if (msg.method === 'update' || msg.method === 'update2') {
        const state = this.#monitors.get(String(params[0]));
        if (state === undefined || state.cancelled) return;
        const changes = this.#applyUpdates(state, params[1]);
        if (changes.length > 0) state.handler({ reset: false, changes });
      } else if (msg.id !== undefined && msg.id !== null) {
        socket.write(JSON.stringify({ id: msg.id, result: null, error: `unknown method ${msg.method}` }));
      }
      return;
    }
    if (typeof msg.id !== 'number') return;
    const p = this.#pending.get(msg.id);
    if (p === undefined) return;
    this.#pending.delete(msg.id);
    if (p.timer !== null) clearTimeout(p.timer);
    if (msg.error !== null && msg.error !== undefined) {
      p.reject(
        new OvsdbError(
          'OVSDB_RPC_ERROR',
          `${p.method}: ${typeof msg.error === 'string' ? msg.error : JSON.stringify(msg.error)}`,
        ),
      );
    } else {
      p.resolve(msg.result);
    }
  }
}

function applyRowUpdate(
  table: string,
  rowUuid: string,
  u: { old?: OvsdbRow; new?: OvsdbRow },
  cache: Map<string, OvsdbRow>,
): RowChange | null {
  const before = cache.get(rowUuid);
  if (u.new === undefined) {
    cache.delete(rowUuid);
    return { table, uuid: rowUuid, kind: 'delete', old: before ?? u.old ?? {} };
  }
  // `new` holds every monitored column (RFC 7047 §4.1.6).
  cache.set(rowUuid, u.new);
  return before === undefined
    ? { table, uuid: rowUuid, kind: 'insert', new: u.new }
    : { table, uuid: rowUuid, kind: 'modify', old: before, new: u.new };
}

function applyRowUpdate2(
  table: string,
  rowUuid: string,
  u: Record<string, OvsdbRow | undefined>,
  cache: Map<string, OvsdbRow>,
  schema: TableSchema | undefined,
): RowChange | null {
  const before = cache.get(rowUuid);
  const inserted = u.initial ?? u.insert;
  if (inserted !== undefined) {
    cache.set(rowUuid, inserted);
    return before === undefined
      ? { table, uuid: rowUuid, kind: 'insert', new: inserted }
      : { table, uuid: rowUuid, kind: 'modify', old: before, new: inserted };
  }
  if ('delete' in u) {
    cache.delete(rowUuid);
    return { table, uuid: rowUuid, kind: 'delete', old: before ?? {} };
  }
  const diff = u.modify;
  if (diff === undefined || before === undefined) return null;
  const after: Record<string, OvsdbValue> = { ...before };
  for (const [col, d] of Object.entries(diff)) {
    after[col] = applyColumnDiff(schema?.columns[col] ?? 'scalar', before[col], d);
  }
  cache.set(rowUuid, after);
  return { table, uuid: rowUuid, kind: 'modify', old: before, new: after };
}

/**
 * update2 "modify" diffs (ovsdb-server(7), "update2 notification"): a scalar column carries its new value; a set
 * column the symmetric difference; a map column the pairs to add, remove (same value) or change (other value).
 */
export function applyColumnDiff(shape: ColumnShape, before: OvsdbValue | undefined, diff: OvsdbValue): OvsdbValue {
  switch (shape) {
    case 'scalar':
      return diff;
    case 'set': {
      const key = (a: unknown): string => JSON.stringify(a);
      const cur = new Map<string, unknown>();
      for (const a of asSetAtoms(before)) cur.set(key(a), a);
      for (const a of asSetAtoms(diff)) {
        const k = key(a);
        if (cur.has(k)) cur.delete(k);
        else cur.set(k, a);
      }
      return ['set', [...cur.values()]] as unknown as OvsdbValue;
    }
    case 'map': {
      const key = (a: unknown): string => JSON.stringify(a);
      const cur = new Map<string, readonly [unknown, unknown]>();
      for (const pair of asMapPairs(before)) cur.set(key(pair[0]), pair);
      for (const pair of asMapPairs(diff)) {
        const k = key(pair[0]);
        const existing = cur.get(k);
        if (existing !== undefined && key(existing[1]) === key(pair[1])) cur.delete(k);
        else cur.set(k, pair);
      }
      return ['map', [...cur.values()]] as unknown as OvsdbValue;
    }
    default: {
      const never: never = shape;
      return never;
    }
  }
}

function asSetAtoms(v: OvsdbValue | undefined): unknown[] {
  if (v === undefined) return [];
  if (Array.isArray(v) && v[0] === 'set') return [...(v[1] as unknown[])];
  return [v];
}

function asMapPairs(v: OvsdbValue | undefined): (readonly [unknown, unknown])[] {
  if (Array.isArray(v) && v[0] === 'map') return [...(v[1] as (readonly [unknown, unknown])[])];
  return [];
}

/** Reduces a get_schema reply to the column shapes (RFC 7047 §3.2: a type with `value` is a map; max ≠ 1 or min 0 a set). */
export function parseSchema(raw: unknown): DbSchema {
  if (raw === null || typeof raw !== 'object')
    throw new OvsdbError('OVSDB_BAD_SCHEMA', 'get_schema: reply is not an object');
  const r = raw as { name?: unknown; version?: unknown; tables?: unknown };
  if (typeof r.name !== 'string' || r.tables === null || typeof r.tables !== 'object') {
    throw new OvsdbError('OVSDB_BAD_SCHEMA', 'get_schema: missing name or tables');
  }
  const tables: Record<string, TableSchema> = {};
  for (const [tname, t] of Object.entries(r.tables as Record<string, unknown>)) {
    const columns: Record<string, ColumnShape> = {};
    const cols = (t as { columns?: unknown } | null)?.columns;
    if (cols !== null && typeof cols === 'object') {
      for (const [cname, c] of Object.entries(cols as Record<string, unknown>)) {
        columns[cname] = columnShape((c as { type?: unknown } | null)?.type);
      }
    }
    tables[tname] = { columns };
  }
  return { name: r.name, version: typeof r.version === 'string' ? r.version : '', tables };
}

function columnShape(type: unknown): ColumnShape {
  if (type === null || typeof type !== 'object') return 'scalar';
  const t = type as { value?: unknown; min?: unknown; max?: unknown };
  if (t.value !== undefined) return 'map';
  const min = t.min ?? 1;
  const max = t.max ?? 1;
  return min === 1 && max === 1 ? 'scalar' : 'set';
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
