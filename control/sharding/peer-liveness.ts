// Crash evidence between replicas, so a dead replica's hosts move as soon as it is gone instead of after its
// lease TTL (see etcd-membership.ts for how the evidence is used).
//
// Every replica runs a PeerListener: a plain TCP listener that greets each connection with one JSON line
// naming the replica and its process instance, then keeps the connection open and idle for as long as the
// process lives. Every replica keeps one connection to each peer (PeerMonitor). The kernel, not the peer's
// event loop, answers for a peer: when the process dies its sockets are closed (FIN or RST) and its listening
// port answers SYNs with RST, so a connection closing AND a fresh connect refused (ECONNREFUSED) means "that
// process is gone", within milliseconds. Nothing else counts:
// - a connect or greeting that times out (host down, partition, SYN dropped, process hung or stopped) is not
//   evidence: the lease TTL decides, as before;
// - a reconnect that succeeds (the connection was only dropped) is a false alarm;
// - errors after the TCP handshake (ECONNRESET, EOF before the greeting: e.g. a live listener out of file
//   descriptors, or net.ipv4.tcp_abort_on_overflow resetting a full accept queue) are not evidence;
// - a peer never verified (its greeting never matched its member record: wrong address, another process on
//   that port) produces no evidence at all, and a link gives one piece of evidence at most (a link follows
//   one registration of the peer: a rejoined peer has to be verified again).
import * as net from 'node:net';
import { Logger } from '../log';
import { splitHostPort } from '../../core/net/hostport';

/** What a peer says about itself on connect, and what its member record in etcd says. */
export interface PeerIdentity {
  readonly replica: string;
  /** Random per process start: tells a restarted replica (same id) from the one that died. */
  readonly instance: string;
}

export interface PeerTarget extends PeerIdentity {
  /** HOST:PORT of the peer's PeerListener, as advertised in its member value. */
  readonly address: string;
  /** The peer's registration (its member key's lease): evidence is about this one, a new one needs a new link. */
  readonly lease: string;
}

const HELLO_PROTOCOL = 'alcor-control-peer/1';
const MAX_HELLO_BYTES = 1024;

// ---- the listener every replica runs --------------------------------------------------------------------

export class PeerListener {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly hello: string;

  constructor(
    identity: PeerIdentity,
    private readonly log: Logger,
  ) {
    this.hello = `${JSON.stringify({ protocol: HELLO_PROTOCOL, replica: identity.replica, instance: identity.instance })}\n`;
  }

  /** Listens on host:port (0: any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    // A listener error after start would silently end this replica's liveness signal: say so loudly.
    server.on('error', (err) => this.log.error('peer listener error', { error: err.message }));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        this.server = server;
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined); // a peer going away is its business
    socket.on('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    socket.resume(); // peers send nothing; drain anyway
    socket.write(this.hello);
  }

  /** Closes the listener and every peer connection (graceful stop, after the lease is released). */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server === null) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

// ---- one connection attempt ------------------------------------------------------------------------------

export type DialResult =
  | { readonly kind: 'verified'; readonly socket: net.Socket }
  /** ECONNREFUSED on connect: nothing listens at the address any more. The only evidence. */
  | { readonly kind: 'refused'; readonly reason: string }
  | { readonly kind: 'timeout'; readonly reason: string }
  /** Anything else (unreachable network, wrong or no greeting, reset after the handshake): not evidence. */
  | { readonly kind: 'failed'; readonly reason: string };

/** Connects to a peer's listener and checks its greeting against `target` within `timeoutMs`. */
export function dialPeer(target: PeerTarget, timeoutMs: number): Promise<DialResult> {
  const { host, port } = splitHostPort(target.address);
  return new Promise((resolve) => {
    let done = false;
    let connected = false;
    let buffered = '';
    const socket = net.connect({ host, port });
    const finish = (r: DialResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.removeListener('connect', onConnect);
      socket.removeListener('end', onEnd);
      if (r.kind !== 'verified') {
        socket.on('error', () => undefined);
        socket.destroy();
      }
      resolve(r);
    };
    const timer = setTimeout(
      () =>
        finish({
          kind: 'timeout',
          reason: connected ? `no greeting within ${timeoutMs} ms` : `connect: no answer within ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    const onConnect = (): void => {
      connected = true;
    };
    const onEnd = (): void => finish({ kind: 'failed', reason: 'closed before the greeting' });
    socket.once('connect', onConnect);
    socket.once('end', onEnd);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      // Only a refused SYN proves that no process listens there; a reset after the handshake does not.
      if (!connected && err.code === 'ECONNREFUSED') finish({ kind: 'refused', reason: err.code });
      else finish({ kind: 'failed', reason: `${connected ? 'after connect' : 'connect'}: ${err.code ?? err.message}` });
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) {
        if (buffered.length > MAX_HELLO_BYTES) finish({ kind: 'failed', reason: 'greeting too long' });
        return;
      }
      let hello: unknown;
      try {
        hello = JSON.parse(buffered.slice(0, nl));
      } catch {
        finish({ kind: 'failed', reason: 'unreadable greeting' });
        return;
      }
      const h = hello as Partial<Record<'protocol' | 'replica' | 'instance', unknown>>;
      if (h.protocol !== HELLO_PROTOCOL || h.replica !== target.replica || h.instance !== target.instance) {
        finish({ kind: 'failed', reason: `greeting from another process: ${buffered.slice(0, nl)}` });
        return;
      }
      finish({ kind: 'verified', socket });
    });
  });
}

// ---- the monitor every replica runs ------------------------------------------------------------------------

export type PeerLinkState =
  /** Not (yet, or no longer) verified: retrying with backoff; a failure here is never evidence. */
  | 'connecting'
  /** A verified connection is open. */
  | 'alive'
  /** The verified connection closed: reconnecting right away to tell a crash from a dropped connection. */
  | 'probing'
  /** Evidence delivered: this link is done (a new member record for the replica makes a new link). */
  | 'gone'
  | 'stopped';

/** How a closed verified connection ended. */
export type PeerCloseOutcome = 'gone' | 'reconnected' | 'timeout' | 'failed';

export interface PeerMonitorOptions {
  /** Connect + greeting deadline. Past it the attempt is a timeout: never evidence. */
  readonly connectTimeoutMs: number;
  /** Refused connects in a row, `probeIntervalMs` apart, that make evidence (1: the first refusal). */
  readonly probeAttempts: number;
  readonly probeIntervalMs: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly log: Logger;
  /** The peer's process is gone (its verified connection closed and its address refuses connections). */
  readonly onGone: (target: PeerTarget, reason: string) => void;
  /** Every closed verified connection, with how the probe ended (metrics). */
  readonly onClose?: (target: PeerTarget, outcome: PeerCloseOutcome) => void;
}

export const DEFAULT_PEER_MONITOR = {
  connectTimeoutMs: 1000,
  probeAttempts: 2,
  probeIntervalMs: 20,
  retryInitialMs: 200,
  retryMaxMs: 5000,
} as const;

class PeerLink {
  state: PeerLinkState = 'connecting';
  lastError = '';
  private socket: net.Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private retryMs: number;

  constructor(
    readonly target: PeerTarget,
    private readonly opts: PeerMonitorOptions,
  ) {
    this.retryMs = opts.retryInitialMs;
  }

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.state = 'stopped';
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.destroy();
    this.socket = null;
  }

  private async connect(): Promise<void> {
    if (this.state !== 'connecting') return;
    const r = await dialPeer(this.target, this.opts.connectTimeoutMs);
    if (this.state !== 'connecting') {
      if (r.kind === 'verified') r.socket.destroy();
      return;
    }
    if (r.kind === 'verified') {
      this.adopt(r.socket);
      this.opts.log.debug('peer connected', { peer: this.target.replica, address: this.target.address });
      return;
    }
    this.lastError = r.reason;
    this.retryLater();
  }

  private retryLater(): void {
    const delay = this.retryMs * (0.8 + Math.random() * 0.4);
    this.retryMs = Math.min(this.retryMs * 2, this.opts.retryMaxMs);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
    this.timer.unref();
  }

  private adopt(socket: net.Socket): void {
    this.state = 'alive';
    this.retryMs = this.opts.retryInitialMs;
    this.lastError = '';
    this.socket = socket;
    socket.setKeepAlive(true, 5000);
    socket.resume();
    socket.on('error', (err: NodeJS.ErrnoException) => (this.lastError = err.code ?? err.message));
    socket.once('close', () => {
      if (this.socket !== socket || this.state !== 'alive') return;
      this.socket = null;
      void this.probe();
    });
  }

  /**
   * The verified connection closed: is the process gone, or was only the connection dropped? Dials again at
   * once: a verified answer is a false alarm; `probeAttempts` refusals are evidence; a timeout ends the probe
   * without evidence. Other failures (e.g. a reset from a listener that closed while we connected) neither
   * count nor end the probe, within a couple of extra dials.
   */
  private async probe(): Promise<void> {
    this.state = 'probing';
    let refusals = 0;
    let last: DialResult | null = null;
    for (let dial = 0; dial < this.opts.probeAttempts + 2; dial++) {
      if (dial > 0) {
        await new Promise((res) => setTimeout(res, this.opts.probeIntervalMs));
        if (this.state !== 'probing') return;
      }
      const r = await dialPeer(this.target, this.opts.connectTimeoutMs);
      if (this.state !== 'probing') {
        if (r.kind === 'verified') r.socket.destroy();
        return;
      }
      last = r;
      if (r.kind === 'verified') {
        this.opts.log.info('peer connection dropped but the peer answers again: not a crash', {
          peer: this.target.replica,
          address: this.target.address,
        });
        this.opts.onClose?.(this.target, 'reconnected');
        this.adopt(r.socket);
        return;
      }
      if (r.kind === 'timeout') break;
      if (r.kind === 'refused' && ++refusals >= this.opts.probeAttempts) {
        this.state = 'gone';
        this.opts.onClose?.(this.target, 'gone');
        this.opts.onGone(this.target, `connection closed, reconnect refused ${refusals}x (${r.reason})`);
        return;
      }
    }
    // No evidence: back to plain retries; the lease TTL decides.
    const kind = last?.kind === 'timeout' ? 'timeout' : 'failed';
    this.lastError = last !== null && last.kind !== 'verified' ? last.reason : '';
    this.opts.log.info('peer connection lost, peer not answering: no crash evidence, waiting for its lease', {
      peer: this.target.replica,
      address: this.target.address,
      why: this.lastError,
    });
    this.opts.onClose?.(this.target, kind);
    this.state = 'connecting';
    this.retryLater();
  }
}

/** Keeps one verified connection to each peer and reports the ones whose process is gone. */
export class PeerMonitor {
  private readonly links = new Map<string, PeerLink>();
  private stopped = false;

  constructor(private readonly opts: PeerMonitorOptions) {}

  /** The peers to watch now (self excluded). A changed instance, address or lease gets a new link. */
  update(targets: readonly PeerTarget[]): void {
    if (this.stopped) return;
    const want = new Map(targets.map((t) => [t.replica, t]));
    for (const [id, link] of this.links) {
      const t = want.get(id);
      const l = link.target;
      if (t === undefined || t.instance !== l.instance || t.address !== l.address || t.lease !== l.lease) {
        link.stop();
        this.links.delete(id);
      }
    }
    for (const [id, t] of want) {
      if (this.links.has(id)) continue;
      const link = new PeerLink(t, this.opts);
      this.links.set(id, link);
      link.start();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const l of this.links.values()) l.stop();
    this.links.clear();
  }

  describe(): Record<string, { address: string; state: PeerLinkState; lastError: string | null }> {
    const out: Record<string, { address: string; state: PeerLinkState; lastError: string | null }> = {};
    for (const [id, l] of this.links)
      out[id] = { address: l.target.address, state: l.state, lastError: l.lastError === '' ? null : l.lastError };
    return out;
  }
}
