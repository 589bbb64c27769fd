// The agent's OpenFlow session with one bridge, over its `<rundir>/<bridge>.mgmt` unix socket.
//
// Why the mgmt socket: it is a "service" connection. Becoming an active controller
// (set-controller) makes OVS flush every flow when the controller appears or goes away
// (platform.md gotcha 1); the mgmt socket never does, so a restarting agent is hitless.
// A service connection gets no PACKET_IN until SET_CONFIG sets miss_send_len != 0 (gotcha 2).
//
// The connection is a union of states with one message handler each (as ovn-controller's
// ofctrl.c has run_X/recv_X per state):
//   connecting -> hello (version negotiation: OpenFlow 1.4, needed for bundles, 1.4 §7.3.9)
//   -> features (FEATURES_REQUEST, datapath id) -> config (SET_CONFIG + BARRIER) -> ready
//   any failure -> backoff -> connecting.  stop() -> closed.
//
// Semantics of the verbs:
// - applyBundle: one atomic, ordered bundle (OFPBF_ATOMIC|OFPBF_ORDERED): OPEN, the delta bytes as
//   they are, BARRIER; then COMMIT + BARRIER, or DISCARD + BARRIER when OVS refused any message at
//   add time (OVS 3.1 would otherwise commit the bundle without the refused messages: measured in
//   session.test.ts). Resolves after the commit reply and the last barrier reply; rejects with every
//   OVS ERROR that answered one of its messages. Either way nothing is half-applied: add-time
//   errors discard, commit-time errors roll the whole bundle back (OFPBF_ATOMIC, OpenFlow 1.4
//   §6.8). Bundles run one at a time, in call order.
//   If the connection drops mid-bundle the outcome is unknown: the promise rejects with
//   OF_SESSION_DOWN, and the caller must converge again (dump + reconcile) after reconnecting.
// - dumpFlows: FLOW_STATS multipart request; resolves with every reply body (OFPMPF_REPLY_MORE).
//   dumpGroups: GROUP_DESC, the same way.
// - packetOut: fire and forget.
// Writes wait for 'drain' when the socket buffer is full, so nothing buffers without bound.

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  BUNDLE_ATOMIC_ORDERED,
  OFP14_VERSION,
  OFPMP,
  OpenFlowFramer,
  decodeMessage,
  describeError,
  encodeBarrierRequest,
  encodeBundleControl,
  encodeEchoReply,
  encodeEchoRequest,
  encodeFeaturesRequest,
  encodeFlowStatsRequest,
  encodeAggregateStatsRequest,
  aggregateFlowCount,
  decodeGroupDescs,
  encodeGroupDescRequest,
  encodeHello,
  encodePacketOut,
  encodeSetConfig,
  negotiateVersion,
  type GroupDesc,
  type OfMessage,
  type OfVersion,
  type PacketOut,
} from '../../core/openflow';

/** Session xids stay below the engine's XID_BASE (core/engine/engine.ts), so an ERROR's xid tells whose it is. */
const SESSION_XID_LIMIT = 0x4000_0000;
/** miss_send_len: the whole packet in PACKET_IN (OFPCML_NO_BUFFER, OpenFlow 1.3 §7.3.2). */
const MISS_SEND_LEN_NO_BUFFER = 0xffff;
const OFPC_FRAG_NORMAL = 0;
/** Slice size for large writes (see #write). */
const WRITE_CHUNK_BYTES = 1 << 20;

export type OfErrorMessage = Extract<OfMessage, { kind: 'error' }>;
export type PacketIn = Extract<OfMessage, { kind: 'packet_in' }>;

export type SessionErrorCode =
  | 'OF_SESSION_DOWN'
  | 'OF_SESSION_CLOSED'
  | 'OF_VERSION'
  | 'OF_REJECTED'
  | 'OF_TIMEOUT'
  | 'OF_PROTOCOL'
  | 'OF_ABANDONED';

/** A bundle being fed (OpenFlowSession.streamBundle). */
export interface BundleStream {
  /**
   * Queues `delta` for the bundle. `written`, if given, is called once the socket no longer needs
   * the bytes (flushed to the kernel, or dropped: the bundle failed or was abandoned), so the
   * producer may reuse them: called exactly once, whatever happens.
   */
  push(delta: Uint8Array, written?: () => void): void;
  /** No more deltas: barrier, then commit (or discard if OVS refused an add). */
  end(): void;
  /** Discard the bundle; `result` rejects with OF_ABANDONED. */
  abandon(why: string): void;
  readonly result: Promise<BundleTimings>;
}

/** A delta and who to tell once its bytes are no longer needed (BundleStream.push). */
interface QueuedDelta {
  readonly bytes: Uint8Array;
  readonly written: (() => void) | undefined;
}

/** Deltas handed over by a producer, read once by the bundle runner. */
class DeltaQueue implements AsyncIterable<QueuedDelta> {
  readonly #items: QueuedDelta[] = [];
  #ended = false;
  /** The runner stopped reading: whatever comes now is never written. */
  #closed = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;

  push(d: Uint8Array, written?: () => void): void {
    if (this.#ended || this.#closed || this.#failure !== undefined) {
      written?.();
      return;
    }
    this.#items.push({ bytes: d, written });
    this.#notify();
  }
  end(): void {
    this.#ended = true;
    this.#notify();
  }
  fail(e: Error): void {
    this.#failure ??= e;
    this.#drop();
    this.#notify();
  }
  /** The runner is done with the queue (committed, failed or abandoned): nothing queued will be written. */
  close(): void {
    this.#closed = true;
    this.#drop();
  }
  #drop(): void {
    for (const item of this.#items.splice(0)) item.written?.();
  }
  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<QueuedDelta> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure;
      const d = this.#items.shift();
      if (d !== undefined) {
        yield d;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** Where a bundle's time went: sending the adds until OVS answered their barrier, then the commit. */
export interface BundleTimings {
  readonly addUs: number;
  readonly commitUs: number;
}

export class SessionError extends Error {
  readonly code: SessionErrorCode;
  /** For OF_REJECTED: the ERRORs OVS sent, in arrival order. */
  readonly ofErrors: readonly OfErrorMessage[];
  constructor(code: SessionErrorCode, message: string, ofErrors: readonly OfErrorMessage[] = []) {
    super(message);
    this.name = 'SessionError';
    this.code = code;
    this.ofErrors = ofErrors;
  }
}

export interface SessionOptions {
  /** Path of the bridge's mgmt socket; see mgmtSocketPath(). */
  readonly socketPath: string;
  /** Send our own ECHO_REQUEST this often. */
  readonly echoIntervalMs?: number;
  /** Declare the connection dead after this long without any message from OVS. */
  readonly deadAfterMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** A handshake or a request (bundle, dump) that takes longer than this fails with OF_TIMEOUT. */
  readonly requestTimeoutMs?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export function mgmtSocketPath(rundir: string, bridge: string): string {
  return path.join(rundir, `${bridge}.mgmt`);
}

interface Conn {
  readonly socket: net.Socket;
  readonly framer: OpenFlowFramer;
  /** Last sign of life from OVS: a message received, or our writes drained (OVS is reading). */
  lastRxMs: number;
}

/** The connection state; fields are valid only in their own state. */
export type SessionState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'connecting'; readonly conn: Conn; readonly attempt: number }
  | { readonly kind: 'hello'; readonly conn: Conn; readonly attempt: number }
  | { readonly kind: 'features'; readonly conn: Conn; readonly version: OfVersion; readonly xid: number }
  | {
      readonly kind: 'config';
      readonly conn: Conn;
      readonly version: OfVersion;
      readonly datapathId: bigint;
      readonly barrierXid: number;
    }
  | { readonly kind: 'ready'; readonly conn: Conn; readonly version: OfVersion; readonly datapathId: bigint }
  | { readonly kind: 'backoff'; readonly attempt: number; readonly timer: NodeJS.Timeout }
  | { readonly kind: 'closed' };

/** An outstanding request, answered by messages with its xid(s). */
interface BundleWait {
  readonly kind: 'bundle';
  readonly bundleId: number;
  commitXid: number;
  committed: boolean;
  readonly errors: OfErrorMessage[];
  /** The barrier the bundle is waiting for, if any; a lost connection rejects it. */
  barrier:
    { readonly xid: number; readonly resolve: () => void; readonly reject: (e: SessionError) => void } | undefined;
  /** Set by #failAll: the connection went away. */
  failed: SessionError | undefined;
}

interface DumpWait {
  readonly kind: 'dump';
  readonly xid: number;
  /** OFPMP.FLOW, AGGREGATE or GROUP_DESC. */
  readonly mpType: number;
  readonly bodies: Buffer[];
  readonly resolve: (bodies: Buffer[]) => void;
  readonly reject: (e: SessionError) => void;
}

interface BarrierWait {
  readonly kind: 'barrier';
  readonly xid: number;
  readonly resolve: () => void;
  readonly reject: (e: SessionError) => void;
}

type Wait = BundleWait | DumpWait | BarrierWait;

/**
 * Events: 'ready' (datapathId: bigint) after every successful handshake; 'down' (reason: string)
 * when an established or half-established connection is lost; 'packet_in' (PacketIn);
 * 'flow_removed' (FlowRemovedParse: a flow installed with OFPFF_SEND_FLOW_REM went, or malformed bytes).
 */
export class OpenFlowSession extends EventEmitter {
  readonly #opts: Required<Omit<SessionOptions, 'log'>> & Pick<SessionOptions, 'log'>;
  #state: SessionState = { kind: 'idle' };
  #xid = 0;
  /** Requests in flight, each registered under every xid that may answer it. */
  readonly #waits = new Map<number, Wait>();
  /** The bundle in flight, if any (errors with engine xids belong to it). */
  #bundle: BundleWait | undefined;
  /** Serializes bundles: each starts after the previous settled. */
  #bundleChain: Promise<unknown> = Promise.resolve();
  #echoTimer: NodeJS.Timeout | undefined;
  #readyWaiters: (() => void)[] = [];

  constructor(opts: SessionOptions) {
    super();
    this.#opts = {
      socketPath: opts.socketPath,
      echoIntervalMs: opts.echoIntervalMs ?? 5000,
      deadAfterMs: opts.deadAfterMs ?? 15000,
      backoffInitialMs: opts.backoffInitialMs ?? 100,
      backoffMaxMs: opts.backoffMaxMs ?? 5000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 120_000,
      log: opts.log,
    };
  }

  get state(): SessionState {
    return this.#state;
  }

  get isReady(): boolean {
    return this.#state.kind === 'ready';
  }

  /** Starts connecting (and keeps reconnecting until stop()). */
  start(): void {
    if (this.#state.kind !== 'idle') return;
    this.#connect(0);
    this.#echoTimer = setInterval(() => this.#keepalive(), Math.max(100, Math.floor(this.#opts.echoIntervalMs / 2)));
    this.#echoTimer.unref();
  }

  /** Resolves once the session is ready (immediately if it is). */
  whenReady(): Promise<void> {
    if (this.#state.kind === 'ready') return Promise.resolve();
    if (this.#state.kind === 'closed') return Promise.reject(new SessionError('OF_SESSION_CLOSED', 'session closed'));
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  /** Closes the connection for good. Flows stay installed (a service connection never flushes). */
  stop(): void {
    if (this.#echoTimer !== undefined) clearInterval(this.#echoTimer);
    this.#echoTimer = undefined;
    const s = this.#state;
    if (s.kind === 'backoff') clearTimeout(s.timer);
    if ('conn' in s) s.conn.socket.destroy();
    this.#state = { kind: 'closed' };
    this.#failAll(new SessionError('OF_SESSION_CLOSED', 'session closed'));
  }

  // -------------------------------------------------------------------------------------------
  // Verbs

  /**
   * Sends `deltas` (BUNDLE_ADD_MESSAGE bytes for bundle `bundleId`, ATOMIC|ORDERED) in one bundle.
   * See the file comment for the semantics. Empty deltas send nothing.
   */
  applyBundle(bundleId: number, deltas: readonly Uint8Array[]): Promise<BundleTimings> {
    if (deltas.every((d) => d.length === 0)) return Promise.resolve({ addUs: 0, commitUs: 0 });
    return this.#chain(bundleId, deltas);
  }

  /**
   * A bundle whose deltas arrive while it is being sent (the engine hands each chunk over as soon as
   * it is encoded, so OVS parses the first flow-mods while the rest are still being computed). Push
   * deltas in order, then end() to commit, or abandon() to discard whatever was sent. `result` is
   * applyBundle's promise; abandon() makes it reject with OF_ABANDONED. Nothing is written until the
   * first non-empty delta, so a goal state that changes no flow costs no round trip.
   */
  streamBundle(bundleId: number): BundleStream {
    const queue = new DeltaQueue();
    const result = this.#chain(bundleId, queue);
    return {
      push: (delta, written) => queue.push(delta, written),
      end: () => queue.end(),
      abandon: (why) => queue.fail(new SessionError('OF_ABANDONED', `bundle ${bundleId} abandoned: ${why}`)),
      result,
    };
  }

  #chain(bundleId: number, deltas: Iterable<Uint8Array> | DeltaQueue): Promise<BundleTimings> {
    const run = this.#bundleChain.then(
      () => this.#runBundle(bundleId, deltas),
      () => this.#runBundle(bundleId, deltas),
    );
    this.#bundleChain = run.catch(() => undefined);
    return run;
  }

  async #runBundle(bundleId: number, deltas: Iterable<Uint8Array> | DeltaQueue): Promise<BundleTimings> {
    const t0 = process.hrtime.bigint();
    let opened: { conn: Conn; v: OfVersion; w: BundleWait; deadline: number } | undefined;
    const xids: number[] = [];
    const xidFor = (w: BundleWait): number => {
      const x = this.#nextXid();
      xids.push(x);
      this.#waits.set(x, w);
      return x;
    };
    const open = async (): Promise<{ conn: Conn; v: OfVersion; w: BundleWait; deadline: number }> => {
      const ready = this.#requireReady();
      const w: BundleWait = {
        kind: 'bundle',
        bundleId,
        commitXid: 0,
        committed: false,
        errors: [],
        barrier: undefined,
        failed: undefined,
      };
      this.#bundle = w;
      const o = { conn: ready.conn, v: ready.version, w, deadline: Date.now() + this.#opts.requestTimeoutMs };
      await this.#write(o.conn, encodeBundleControl(xidFor(w), o.v, bundleId, 'open', BUNDLE_ATOMIC_ORDERED));
      return o;
    };
    const discard = async (o: { conn: Conn; v: OfVersion; w: BundleWait; deadline: number }): Promise<void> => {
      await this.#write(o.conn, encodeBundleControl(xidFor(o.w), o.v, bundleId, 'discard', BUNDLE_ATOMIC_ORDERED));
      await this.#barrierFor(o.w, o.conn, xidFor(o.w), o.v, o.deadline);
    };
    try {
      // Phase 1: open and add, then a barrier. OVS checks each BUNDLE_ADD when it arrives and would
      // commit the bundle WITHOUT the messages it refused (seen with OVS 3.1), so errors found here
      // must discard the bundle instead of committing it.
      try {
        for await (const item of deltas) {
          const { bytes, written } = item instanceof Uint8Array ? { bytes: item, written: undefined } : item;
          let handed = false;
          try {
            if (bytes.length === 0) continue;
            opened ??= await open();
            handed = true;
            await this.#write(opened.conn, bytes, written);
          } finally {
            if (!handed) written?.();
          }
        }
      } catch (e: unknown) {
        // The producer gave up (or the connection went): take back what OVS holds of the bundle.
        if (opened !== undefined && !opened.conn.socket.destroyed) await discard(opened);
        throw e;
      }
      if (opened === undefined) return { addUs: 0, commitUs: 0 };
      const { conn, v, w, deadline } = opened;
      await this.#barrierFor(w, conn, xidFor(w), v, deadline);
      if (w.errors.length > 0) {
        await discard(opened);
        throw this.#rejected(w);
      }
      // Phase 2: commit. A flow-mod that fails here fails the whole bundle (OFPBF_ATOMIC): OVS rolls back.
      const tCommit = process.hrtime.bigint();
      w.commitXid = xidFor(w);
      await this.#write(conn, encodeBundleControl(w.commitXid, v, bundleId, 'commit', BUNDLE_ATOMIC_ORDERED));
      await this.#barrierFor(w, conn, xidFor(w), v, deadline);
      if (w.errors.length > 0) throw this.#rejected(w);
      if (!w.committed)
        throw new SessionError('OF_PROTOCOL', `bundle ${bundleId}: barrier reply before the commit reply`);
      const tEnd = process.hrtime.bigint();
      return { addUs: Number((tCommit - t0) / 1000n), commitUs: Number((tEnd - tCommit) / 1000n) };
    } finally {
      for (const x of xids) this.#waits.delete(x);
      this.#bundle = undefined;
      if (deltas instanceof DeltaQueue) deltas.close();
    }
  }

  #rejected(w: BundleWait): SessionError {
    return new SessionError(
      'OF_REJECTED',
      `OVS rejected bundle ${w.bundleId}: ${w.errors.map((e) => describeError(e)).join('; ')}`,
      w.errors,
    );
  }

  /** Sends a BARRIER for bundle `w` and waits for its reply (or the connection's loss, or the deadline). */
  async #barrierFor(w: BundleWait, conn: Conn, barrierXid: number, v: OfVersion, deadlineMs: number): Promise<void> {
    if (w.failed !== undefined) throw w.failed;
    const done = new Promise<void>((resolve, reject) => {
      w.barrier = { xid: barrierXid, resolve, reject };
    });
    const timer = this.#timeout(Math.max(1, deadlineMs - Date.now()), `bundle ${w.bundleId}`);
    try {
      await this.#write(conn, encodeBarrierRequest(barrierXid, v));
      await Promise.race([done, timer.promise]);
    } finally {
      timer.cancel();
      w.barrier = undefined;
    }
  }

  /** Every flow whose cookie matches `cookie` under `mask` (all tables): FLOW_STATS reply bodies. */
  dumpFlows(cookie: bigint, mask: bigint): Promise<Buffer[]> {
    return this.#multipart(OFPMP.FLOW, 'flow dump', (xid, v) =>
      encodeFlowStatsRequest(xid, v, { cookie, cookieMask: mask }),
    );
  }

  /** Every group of the bridge (OFPMP_GROUP_DESC; groups are not in flow dumps). */
  async dumpGroups(): Promise<GroupDesc[]> {
    const bodies = await this.#multipart(OFPMP.GROUP_DESC, 'group dump', (xid, v) => encodeGroupDescRequest(xid, v));
    return bodies.flatMap((b) => decodeGroupDescs(b));
  }

  /** How many flows have a cookie matching `cookie` under `mask` (AGGREGATE stats: one small reply). */
  async countFlows(cookie: bigint, mask: bigint): Promise<number> {
    const bodies = await this.#multipart(OFPMP.AGGREGATE, 'flow count', (xid, v) =>
      encodeAggregateStatsRequest(xid, v, { cookie, cookieMask: mask }),
    );
    return bodies.reduce((n, b) => n + aggregateFlowCount(b), 0);
  }

  async #multipart(
    mpType: number,
    what: string,
    encode: (xid: number, version: OfVersion) => Buffer,
  ): Promise<Buffer[]> {
    const ready = this.#requireReady();
    const xid = this.#nextXid();
    const done = new Promise<Buffer[]>((resolve, reject) => {
      this.#waits.set(xid, { kind: 'dump', xid, mpType, bodies: [], resolve, reject });
    });
    const timer = this.#timeout(this.#opts.requestTimeoutMs, what);
    try {
      await this.#write(ready.conn, encode(xid, ready.version));
      return await Promise.race([done, timer.promise]);
    } finally {
      timer.cancel();
      this.#waits.delete(xid);
    }
  }

  /** BARRIER: resolves when OVS has processed everything sent before. */
  async barrier(): Promise<void> {
    const ready = this.#requireReady();
    const xid = this.#nextXid();
    const done = new Promise<void>((resolve, reject) =>
      this.#waits.set(xid, { kind: 'barrier', xid, resolve, reject }),
    );
    const timer = this.#timeout(this.#opts.requestTimeoutMs, 'barrier');
    try {
      await this.#write(ready.conn, encodeBarrierRequest(xid, ready.version));
      await Promise.race([done, timer.promise]);
    } finally {
      timer.cancel();
      this.#waits.delete(xid);
    }
  }

  /** PACKET_OUT (fire and forget; OVS reports a bad one with an ERROR we log). */
  async packetOut(p: PacketOut): Promise<void> {
    const ready = this.#requireReady();
    await this.#write(ready.conn, encodePacketOut(this.#nextXid(), ready.version, p));
  }

  // -------------------------------------------------------------------------------------------
  // Connection life cycle

  #connect(attempt: number): void {
    if (this.#state.kind === 'closed') return;
    const socket = net.createConnection(this.#opts.socketPath);
    const conn: Conn = { socket, framer: new OpenFlowFramer(), lastRxMs: Date.now() };
    this.#state = { kind: 'connecting', conn, attempt };
    socket.once('connect', () => {
      const s = this.#state;
      if (s.kind !== 'connecting' || s.conn !== conn) return;
      this.#state = { kind: 'hello', conn, attempt };
      socket.write(encodeHello(this.#nextXid(), [OFP14_VERSION]));
    });
    socket.on('data', (chunk: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = conn.framer.push(chunk);
      } catch (e: unknown) {
        this.#lost(conn, `framing: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      // Only whole messages are a sign of life: bytes that never complete a message (a stray byte put the
      // framer on a length no message follows) would otherwise keep a wedged connection looking alive, and
      // every request on it would wait for its timeout. No message is over 64 KiB, so a real one completes.
      if (msgs.length > 0) conn.lastRxMs = Date.now();
      for (const m of msgs) {
        let msg: OfMessage;
        try {
          msg = decodeMessage(m);
        } catch (e: unknown) {
          this.#log('warn', 'undecodable OpenFlow message', { error: e instanceof Error ? e.message : String(e) });
          continue;
        }
        this.#onMessage(conn, msg);
      }
    });
    socket.on('error', (e: Error) => this.#lost(conn, e.message));
    socket.on('close', () => this.#lost(conn, 'connection closed'));
  }

  /** Called for any loss of `conn`; idempotent. */
  #lost(conn: Conn, reason: string): void {
    const s = this.#state;
    // Only the current connection counts: a late 'close' of an earlier socket must not end a newer one.
    const current = 'conn' in s && s.conn === conn;
    if (!current) return;
    conn.socket.destroy();
    const attempt = s.kind === 'hello' || s.kind === 'connecting' ? s.attempt + 1 : 0;
    const wasUp = s.kind !== 'connecting';
    this.#failAll(new SessionError('OF_SESSION_DOWN', `OpenFlow connection lost: ${reason}`));
    const delayMs = Math.min(this.#opts.backoffMaxMs, this.#opts.backoffInitialMs * 2 ** Math.min(attempt, 10));
    const timer = setTimeout(() => this.#connect(attempt), delayMs);
    this.#state = { kind: 'backoff', attempt, timer };
    if (wasUp) {
      this.#log('warn', 'openflow session down', { reason, retryInMs: delayMs });
      this.emit('down', reason);
    }
  }

  #keepalive(): void {
    const s = this.#state;
    if (!('conn' in s)) return;
    const idleMs = Date.now() - s.conn.lastRxMs;
    if (idleMs > this.#opts.deadAfterMs) {
      // Timers run before I/O callbacks: after this thread was busy for a while, OVS's answers may be
      // waiting unread. Decide after the poll phase has delivered them.
      const conn = s.conn;
      setImmediate(() => {
        const stillIdleMs = Date.now() - conn.lastRxMs;
        if (stillIdleMs > this.#opts.deadAfterMs) this.#lost(conn, `no message from OVS for ${stillIdleMs} ms`);
      });
      return;
    }
    if (s.kind === 'ready' && idleMs >= this.#opts.echoIntervalMs / 2) {
      // Written directly: a full socket buffer must not block the keepalive behind a bundle.
      s.conn.socket.write(encodeEchoRequest(this.#nextXid(), s.version));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Message handling: one handler per state

  #onMessage(conn: Conn, msg: OfMessage): void {
    const s = this.#state;
    if (!('conn' in s) || s.conn !== conn) return;
    if (msg.kind === 'echo_request') {
      conn.socket.write(encodeEchoReply(msg.xid, msg.version as OfVersion, msg.data));
      return;
    }
    switch (s.kind) {
      case 'connecting':
        return; // no data before 'connect'
      case 'hello':
        this.#onHello(s, msg);
        return;
      case 'features':
        this.#onFeatures(s, msg);
        return;
      case 'config':
        this.#onConfig(s, msg);
        return;
      case 'ready':
        this.#onReady(s, msg);
        return;
      default: {
        const never: never = s;
        void never;
      }
    }
  }

  #onHello(s: Extract<SessionState, { kind: 'hello' }>, msg: OfMessage): void {
    if (msg.kind !== 'hello') {
      this.#lost(s.conn, `expected HELLO, got ${msg.kind}`);
      return;
    }
    const version = negotiateVersion([OFP14_VERSION], msg);
    if (version === undefined) {
      this.#log('error', 'OpenFlow version negotiation failed: OVS does not offer OpenFlow 1.4 (bridge protocols)', {
        offered: msg.versions,
      });
      this.#lost(s.conn, 'version negotiation failed');
      return;
    }
    const xid = this.#nextXid();
    this.#state = { kind: 'features', conn: s.conn, version, xid };
    s.conn.socket.write(encodeFeaturesRequest(xid, version));
  }

  #onFeatures(s: Extract<SessionState, { kind: 'features' }>, msg: OfMessage): void {
    if (msg.kind === 'error') {
      this.#lost(s.conn, `handshake: ${describeError(msg)}`);
      return;
    }
    if (msg.kind !== 'features_reply') return;
    const barrierXid = this.#nextXid();
    this.#state = { kind: 'config', conn: s.conn, version: s.version, datapathId: msg.datapathId, barrierXid };
    s.conn.socket.write(encodeSetConfig(this.#nextXid(), s.version, OFPC_FRAG_NORMAL, MISS_SEND_LEN_NO_BUFFER));
    s.conn.socket.write(encodeBarrierRequest(barrierXid, s.version));
  }

  #onConfig(s: Extract<SessionState, { kind: 'config' }>, msg: OfMessage): void {
    if (msg.kind === 'error') {
      this.#lost(s.conn, `handshake: ${describeError(msg)}`);
      return;
    }
    if (msg.kind !== 'barrier_reply' || msg.xid !== s.barrierXid) return;
    this.#state = { kind: 'ready', conn: s.conn, version: s.version, datapathId: s.datapathId };
    this.#log('info', 'openflow session ready', {
      socket: this.#opts.socketPath,
      version: s.version,
      datapathId: `0x${s.datapathId.toString(16)}`,
    });
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) w();
    this.emit('ready', s.datapathId);
  }

  #onReady(_s: Extract<SessionState, { kind: 'ready' }>, msg: OfMessage): void {
    switch (msg.kind) {
      case 'packet_in':
        this.emit('packet_in', msg);
        return;
      case 'flow_removed':
        // OVS sends these to a service connection once SET_CONFIG set miss_send_len (platform.md
        // gotcha 2): the default async config of an equal-role OpenFlow 1.4 connection includes every
        // FLOW_REMOVED reason, and this session sends no SET_ASYNC or ROLE_REQUEST to mask them.
        this.emit('flow_removed', msg.removed);
        return;
      case 'error':
        this.#onError(msg);
        return;
      case 'bundle_control': {
        const w = this.#waits.get(msg.xid);
        if (w?.kind === 'bundle' && msg.xid === w.commitXid && msg.ctrlTypeName === 'commit_reply') w.committed = true;
        return;
      }
      case 'barrier_reply': {
        const w = this.#waits.get(msg.xid);
        if (w === undefined) return;
        if (w.kind === 'barrier') w.resolve();
        else if (w.kind === 'bundle' && w.barrier?.xid === msg.xid) w.barrier.resolve();
        return;
      }
      case 'multipart_reply': {
        const w = this.#waits.get(msg.xid);
        if (w?.kind !== 'dump') return;
        if (msg.mpType !== w.mpType) return;
        // The body is a view into a socket chunk; copy it, the engine keeps it past this tick.
        w.bodies.push(Buffer.from(msg.body));
        if (!msg.more) w.resolve(w.bodies);
        return;
      }
      case 'hello':
      case 'echo_request':
      case 'echo_reply':
      case 'features_reply':
      case 'port_status':
      case 'other':
        return;
      default: {
        const never: never = msg;
        void never;
      }
    }
  }

  #onError(e: OfErrorMessage): void {
    const w = this.#waits.get(e.xid);
    if (w !== undefined) {
      switch (w.kind) {
        case 'bundle':
          w.errors.push(e);
          return;
        case 'dump':
        case 'barrier':
          w.reject(new SessionError('OF_REJECTED', describeError(e), [e]));
          return;
        default: {
          const never: never = w;
          void never;
        }
      }
    }
    // Engine xids (>= XID_BASE) are the bundle's flow-mods.
    if (e.xid >= SESSION_XID_LIMIT && this.#bundle !== undefined) {
      this.#bundle.errors.push(e);
      return;
    }
    this.#log('warn', 'OpenFlow error for no pending request', { error: describeError(e) });
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  #requireReady(): Extract<SessionState, { kind: 'ready' }> {
    const s = this.#state;
    if (s.kind !== 'ready') throw new SessionError('OF_SESSION_DOWN', `OpenFlow session is ${s.kind}, not ready`);
    return s;
  }

  #nextXid(): number {
    this.#xid = this.#xid + 1 >= SESSION_XID_LIMIT ? 1 : this.#xid + 1;
    return this.#xid;
  }

  /**
   * Writes whole OpenFlow messages, waiting for 'drain' when the socket's buffer is full (bounded
   * buffering). Large deltas go in slices of about WRITE_CHUNK_BYTES (views, no copy), cut at message
   * boundaries because the keepalive may write an ECHO between two slices. Each drained slice is a
   * sign that OVS is reading, so a bundle of hundreds of MB does not look like a dead peer while OVS
   * works through it.
   */
  /**
   * Writes `bytes`, waiting for the socket to drain when its buffer is full. `flushed`, if given, is
   * called exactly once: when the socket has handed the last slice to the kernel (or dropped it, the
   * connection lost), or at once when nothing was handed to the socket.
   */
  async #write(conn: Conn, bytes: Uint8Array, flushed?: () => void): Promise<void> {
    let pending = flushed;
    try {
      let start = 0;
      while (start < bytes.length) {
        let end = start;
        while (end < bytes.length && end - start < WRITE_CHUNK_BYTES) {
          const length = end + 4 <= bytes.length ? (bytes[end + 2] << 8) | bytes[end + 3] : 0;
          if (length < 8) throw new SessionError('OF_PROTOCOL', `bad OpenFlow message length ${length} at byte ${end}`);
          end += length;
        }
        const last = end >= bytes.length ? pending : undefined;
        if (last !== undefined) pending = undefined;
        await this.#writeChunk(conn, bytes.subarray(start, Math.min(end, bytes.length)), last);
        start = end;
      }
    } finally {
      pending?.();
    }
  }

  async #writeChunk(conn: Conn, bytes: Uint8Array, flushed?: () => void): Promise<void> {
    if (conn.socket.destroyed) {
      flushed?.();
      throw new SessionError('OF_SESSION_DOWN', 'OpenFlow connection lost');
    }
    if (conn.socket.write(bytes, flushed === undefined ? undefined : () => flushed())) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        // OVS took our bytes: it is alive, only busy (an echo queued behind a large bundle is not
        // answered until OVS has worked through everything before it).
        conn.lastRxMs = Date.now();
        conn.socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        conn.socket.off('drain', onDrain);
        reject(new SessionError('OF_SESSION_DOWN', 'OpenFlow connection lost while writing'));
      };
      conn.socket.once('drain', onDrain);
      conn.socket.once('close', onClose);
    });
  }

  #timeout(ms: number, what: string): { promise: Promise<never>; cancel: () => void } {
    let timer: NodeJS.Timeout | undefined;
    const promise = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new SessionError('OF_TIMEOUT', `${what}: no answer from OVS in ${ms} ms`)), ms);
    });
    promise.catch(() => undefined);
    return { promise, cancel: () => clearTimeout(timer) };
  }

  #failAll(e: SessionError): void {
    const seen = new Set<Wait>();
    for (const w of this.#waits.values()) {
      if (seen.has(w)) continue;
      seen.add(w);
      if (w.kind === 'bundle') {
        w.failed = e;
        w.barrier?.reject(e);
      } else w.reject(e);
    }
    this.#waits.clear();
  }

  #log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
    this.#opts.log?.(level, msg, fields);
  }
}
