// Replica membership in etcd: each replica keeps `P members/<id>` alive under its own lease (TTL --lease-ttl)
// and watches `P members/`. Host ownership follows by rendezvous hashing over the live members, so when a
// member key vanishes every survivor picks up that replica's share at once.
//
// A member key vanishes when its lease is revoked (graceful stop, or crash evidence below) or expires (TTL).
//
// Crash evidence (peer-liveness.ts): the member value advertises the replica's peer-liveness listener and a
// random per-process instance id; every replica keeps a verified connection to each peer. When a peer's
// connection closes and reconnecting is refused (ECONNREFUSED: nothing listens there any more), the peer's
// process is gone, and the survivor revokes the lease recorded with that peer's member key. The key vanishes,
// every replica sees it through its watch, and the hosts move within milliseconds instead of within the TTL.
// Timeouts, resets after a handshake, unverified peers: no evidence, the TTL decides as before.
//
// Why this is safe:
// - It only ever speeds up what the TTL would do anyway to a dead process: a live replica keeps its listener
//   open for its whole life (closed only after its own lease is released), and the kernel answers for it
//   even when its event loop is busy or stopped, so overload, GC pauses and SIGSTOP never look like a crash.
// - The lease revoked is the one of the very registration (member record: instance, address, lease) that
//   was verified and then lost: a replica restarted under the same id (new instance, new lease) is never
//   touched, and a revocation never races a rejoin (a rejoin is a new lease; the old one is gone already).
// - If the evidence is still wrong (a middlebox answering RST for a live replica), the revoked replica is
//   alive and fences itself: it sees its own member key deleted through its watch (the same event that moves
//   its hosts away), or at the latest its next keepalive (every TTL/3) is answered with TTL <= 0. It stops
//   pushing, rejoins with a new lease and takes its hosts back after the join grace. One registration gives
//   one piece of evidence: the rejoined peer has to be verified again before it can be revoked again.
//
// Fencing: a replica stops pushing (active() = false) as soon as it KNOWS its lease is gone: a keepalive
// answered with TTL <= 0, or the watch shows its own current member key deleted (a delete with a revision
// newer than our put; older deletes belong to a previous registration). It then rejoins with a new lease.
// While etcd is unreachable the lease state is unknown; the replica keeps serving its hosts from memory,
// because nobody can take them over without etcd either. (Trade-off: a replica partitioned from an etcd
// that others still reach keeps pushing until it reconnects; the others' full re-push is idempotent.)
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { Etcd3, EtcdLeaseInvalidError, IKeyValue, IWatchResponse, Lease, Watcher } from 'etcd3';
import { Logger } from '../log';
import { ControlMetrics } from '../metrics';
import { Membership, MembershipEvents } from './membership';
import { joinHostPort, splitHostPort } from '../../core/net/hostport';
import { DEFAULT_PEER_MONITOR, PeerListener, PeerMonitor, PeerMonitorOptions, PeerTarget } from './peer-liveness';

export interface PeerLivenessOptions {
  /** Where this replica's peer-liveness listener binds (port 0: any free port). */
  readonly listenHost: string;
  readonly listenPort: number;
  /**
   * What the peers dial: HOST or HOST:PORT ([v6]:PORT); null: the listen host (the hostname when the listen
   * host is a wildcard) and the bound port. A port is for NAT or a proxy in between.
   */
  readonly advertise: string | null;
  /** Timing overrides for the peer monitor (tests). */
  readonly monitor?: Partial<Omit<PeerMonitorOptions, 'log' | 'onGone' | 'onClose'>>;
}

export interface EtcdMembershipOptions {
  readonly client: Etcd3;
  readonly prefix: string;
  readonly replicaId: string;
  readonly leaseTtlSec: number;
  readonly log: Logger;
  /** Wait before a (re)joining replica pushes, so the previous owners have seen it and let go. */
  readonly joinGraceMs?: number;
  /** Crash evidence between replicas; null or absent: none (hosts of a dead replica move after its TTL). */
  readonly peerLiveness?: PeerLivenessOptions | null;
  readonly metrics?: ControlMetrics;
}

/** What the watch tells about one member key. */
interface MemberRecord {
  readonly lease: string;
  readonly revision: bigint;
  /** null: a member without crash evidence (no listener advertised, or an older version). */
  readonly peer: PeerTarget | null;
}

/** This replica's current registration. */
interface OwnRegistration {
  readonly lease: Lease;
  readonly leaseId: string;
  /** Revision of our put: deletes of our key at or below it are about an earlier registration. */
  readonly revision: bigint;
}

function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::' || host === '[::]';
}

function advertisedAddress(p: PeerLivenessOptions, boundPort: number): string {
  const a = p.advertise;
  if (a === null || a === '') return joinHostPort(isWildcard(p.listenHost) ? hostname() : p.listenHost, boundPort);
  const hostOnly = a.startsWith('[') ? !/\]:\d+$/.test(a) : !/^[^:]+:\d+$/.test(a);
  if (hostOnly) return joinHostPort(a.replace(/^\[(.*)\]$/, '$1'), boundPort);
  const { host, port } = splitHostPort(a);
  return joinHostPort(host, port);
}

export class EtcdMembership implements Membership {
  readonly events = new EventEmitter<MembershipEvents>();
  readonly self: string;
  /** Random per process start, in the member value and the peer greeting. */
  readonly instance = randomUUID();
  private readonly records = new Map<string, MemberRecord>();
  private own: OwnRegistration | null = null;
  private leaseId = '';
  /** Highest revision at which the watch showed our key deleted. */
  private ownDeletedAt = 0n;
  private isActive = false;
  private stopped = false;
  private watcher: Watcher | null = null;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private lastKeepaliveMs = 0;
  private etcdReachable = true;
  private joining: Promise<void> | null = null;
  private readonly memberPrefix: string;
  private listener: PeerListener | null = null;
  private monitor: PeerMonitor | null = null;
  private peerAddress: string | null = null;

  constructor(private readonly opts: EtcdMembershipOptions) {
    this.self = opts.replicaId;
    this.memberPrefix = `${opts.prefix}members/`;
  }

  members(): readonly string[] {
    return [...this.records.keys()].sort();
  }

  active(): boolean {
    return this.isActive && !this.stopped;
  }

  /** HOST:PORT other replicas dial for crash evidence (null without peer liveness or before start). */
  peerListenAddress(): string | null {
    return this.peerAddress;
  }

  async start(): Promise<void> {
    const { client } = this.opts;
    await this.startPeerLiveness();
    const res = await client.getAll().prefix(this.memberPrefix).exec();
    for (const kv of res.kvs) this.records.set(this.idOf(kv), this.recordOf(kv));
    this.watcher = await client
      .watch()
      .prefix(this.memberPrefix)
      .startRevision(String(BigInt(res.header.revision) + 1n))
      .create();
    this.watcher.on('data', (r: IWatchResponse) => this.onWatch(r));
    this.watcher.on('error', (err) => this.opts.log.warn('membership watch error', { error: err.message }));
    this.updatePeers();
    await this.join();
    this.keepaliveTimer = setInterval(() => void this.keepalive(), Math.max(200, (this.opts.leaseTtlSec * 1000) / 3));
    this.keepaliveTimer.unref();
  }

  private async startPeerLiveness(): Promise<void> {
    const p = this.opts.peerLiveness;
    if (p === null || p === undefined) return;
    const listener = new PeerListener({ replica: this.self, instance: this.instance }, this.opts.log);
    const port = await listener.listen(p.listenHost, p.listenPort);
    this.listener = listener;
    this.peerAddress = advertisedAddress(p, port);
    this.monitor = new PeerMonitor({
      ...DEFAULT_PEER_MONITOR,
      ...p.monitor,
      log: this.opts.log,
      onGone: (target, reason) => void this.revokePeer(target, reason),
      onClose: (_target, outcome) => this.opts.metrics?.peerDisconnects.inc(1, { outcome }),
    });
  }

  private idOf(kv: IKeyValue): string {
    return kv.key.toString('utf8').slice(this.memberPrefix.length);
  }

  private recordOf(kv: IKeyValue): MemberRecord {
    const id = this.idOf(kv);
    let peer: PeerTarget | null = null;
    try {
      const v = JSON.parse(kv.value.toString('utf8')) as { instance?: unknown; peer?: unknown };
      if (typeof v.instance === 'string' && typeof v.peer === 'string' && v.peer !== '')
        peer = { replica: id, instance: v.instance, address: v.peer, lease: kv.lease };
    } catch {
      // an unreadable member value: a member all the same, just without crash evidence
    }
    return { lease: kv.lease, revision: BigInt(kv.mod_revision), peer };
  }

  private onWatch(r: IWatchResponse): void {
    let changed = false;
    for (const ev of r.events) {
      const id = this.idOf(ev.kv);
      if (ev.type === 'Put') {
        if (!this.records.has(id)) changed = true;
        this.records.set(id, this.recordOf(ev.kv));
        continue;
      }
      const revision = BigInt(ev.kv.mod_revision);
      if (id !== this.self) {
        if (this.records.delete(id)) changed = true;
        continue;
      }
      if (revision > this.ownDeletedAt) this.ownDeletedAt = revision;
      const own = this.own;
      if (own !== null && revision <= own.revision) continue; // an earlier registration's key
      if (this.records.delete(id)) changed = true;
      if (own !== null && !this.stopped) {
        this.fence('own member key deleted (lease expired or revoked)');
        changed = false; // fence() announced it
      }
    }
    this.updatePeers();
    if (changed) this.events.emit('change');
  }

  private updatePeers(): void {
    if (this.monitor === null) return;
    const targets: PeerTarget[] = [];
    for (const [id, rec] of this.records) if (id !== this.self && rec.peer !== null) targets.push(rec.peer);
    this.monitor.update(targets);
  }

  /** Crash evidence for a peer: revoke the lease its (still current) member record was written with. */
  private async revokePeer(target: PeerTarget, reason: string): Promise<void> {
    const rec = this.records.get(target.replica);
    const fields = { peer: target.replica, address: target.address, evidence: reason };
    if (rec === undefined || rec.peer?.instance !== target.instance || rec.lease !== target.lease) {
      this.opts.log.info('peer process gone; its member key is already gone or re-registered', fields);
      return;
    }
    this.opts.log.warn('peer process gone: revoking its lease so its hosts move now', { ...fields, lease: rec.lease });
    try {
      await this.opts.client.leaseClient.leaseRevoke({ ID: rec.lease }, { deadline: Date.now() + 5000 });
      this.opts.metrics?.peerRevocations.inc();
      this.opts.log.warn('revoked lease of a crashed peer', { peer: target.replica, lease: rec.lease });
    } catch (err: unknown) {
      const msg = (err as Error).message;
      if (err instanceof EtcdLeaseInvalidError || /lease not found|requested lease not found/i.test(msg))
        this.opts.log.info('peer lease already gone', { peer: target.replica, lease: rec.lease });
      else this.opts.log.warn('cannot revoke peer lease: it will expire with its TTL', { ...fields, error: msg });
    }
  }

  private join(): Promise<void> {
    if (this.joining !== null) return this.joining;
    this.joining = (async () => {
      try {
        const lease = this.opts.client.lease(this.opts.leaseTtlSec, { autoKeepAlive: false });
        lease.on('lost', () => undefined); // we run our own keepalive loop below
        const id = await lease.grant();
        const value = JSON.stringify({
          id: this.self,
          pid: process.pid,
          sinceMs: Date.now(),
          instance: this.instance,
          peer: this.peerAddress,
        });
        const put = await lease.put(`${this.memberPrefix}${this.self}`).value(value).exec();
        if (this.stopped) {
          await lease.revoke().catch(() => undefined);
          return;
        }
        const revision = BigInt(put.header.revision);
        this.own = { lease, leaseId: id, revision };
        this.leaseId = id;
        this.lastKeepaliveMs = Date.now();
        this.records.set(this.self, { lease: id, revision, peer: null });
        if (this.ownDeletedAt > revision) {
          this.fence('own member key deleted while joining');
          return;
        }
        this.events.emit('change'); // others' hosts are not ours yet (inactive): this only releases
        await new Promise((r) => setTimeout(r, this.opts.joinGraceMs ?? 300));
        if (this.stopped) return;
        if (this.own?.lease !== lease) {
          this.rejoinSoon(); // fenced during the grace; runs once this join has finished
          return;
        }
        this.isActive = true;
        this.opts.log.info('joined', { replica: this.self, lease: this.leaseId, members: this.members() });
        this.events.emit('change');
      } finally {
        this.joining = null;
      }
    })();
    return this.joining;
  }

  private fence(why: string): void {
    if (!this.isActive && this.own === null) return;
    this.opts.log.warn('lease lost: pushing stops until rejoined', { replica: this.self, why });
    this.isActive = false;
    this.own = null;
    this.records.delete(this.self);
    this.events.emit('change');
    this.rejoinSoon();
  }

  /** Rejoins with a fresh lease, retrying until it works (etcd may be down or this process overloaded). */
  private rejoinSoon(delayMs = 0): void {
    if (this.stopped) return;
    setTimeout(() => {
      if (this.stopped || this.own !== null || this.joining !== null) return;
      this.join().catch((err: unknown) => {
        this.opts.log.warn('rejoin failed, retrying', { error: (err as Error).message });
        this.rejoinSoon(Math.min(2000, Math.max(200, delayMs * 2)));
      });
    }, delayMs).unref();
  }

  private async keepalive(): Promise<void> {
    if (this.stopped) return;
    const own = this.own;
    if (own === null) {
      if (this.joining === null) this.rejoinSoon();
      return;
    }
    try {
      const res = await own.lease.keepaliveOnce({ deadline: Date.now() + this.opts.leaseTtlSec * 1000 });
      if (this.own !== own) return;
      if (Number(res.TTL) <= 0) {
        this.fence('keepalive: lease not found');
        return;
      }
      this.lastKeepaliveMs = Date.now();
      if (!this.etcdReachable) this.opts.log.info('etcd reachable again', { replica: this.self });
      this.etcdReachable = true;
    } catch (err: unknown) {
      if (this.own !== own) return;
      if (err instanceof EtcdLeaseInvalidError || /lease not found|expired or revoked/i.test((err as Error).message)) {
        this.fence(`keepalive: ${(err as Error).message}`);
        return;
      }
      if (this.etcdReachable) {
        this.opts.log.warn('etcd unreachable: serving owned hosts from memory', { error: (err as Error).message });
      }
      this.etcdReachable = false;
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.isActive = false;
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer);
    this.events.emit('change'); // drop every session before the others start pushing
    this.monitor?.stop();
    const own = this.own;
    this.own = null;
    if (own !== null)
      await own.lease
        .revoke()
        .catch((err: unknown) => this.opts.log.warn('lease revoke failed', { error: (err as Error).message }));
    // Only now, with the lease released: closing the listener earlier would look like a crash to the peers
    // (harmless, they would revoke a lease being released anyway, but noisy).
    await this.listener?.close();
    await this.watcher?.cancel().catch(() => undefined);
  }

  describe(): Record<string, unknown> {
    return {
      mode: 'etcd',
      self: this.self,
      instance: this.instance,
      lease: this.leaseId,
      leaseTtlSec: this.opts.leaseTtlSec,
      active: this.active(),
      etcdReachable: this.etcdReachable,
      lastKeepaliveAgoMs: this.lastKeepaliveMs === 0 ? null : Date.now() - this.lastKeepaliveMs,
      members: this.members(),
      peerListen: this.peerAddress,
      peers: this.monitor?.describe() ?? null,
    };
  }
}
