// Replica membership in etcd: each replica keeps `P members/<id>` alive under its own lease (TTL --lease-ttl)
// and watches `P members/`. Host ownership follows by rendezvous hashing over the live members, so when a
// replica dies its key vanishes with its lease (within the TTL) and every survivor picks up its share.
//
// Fencing: a replica stops pushing (active() = false) as soon as it KNOWS its lease is gone: a keepalive
// answered with TTL <= 0, or the watch shows its own member key deleted. It then rejoins with a new lease.
// While etcd is unreachable the lease state is unknown; the replica keeps serving its hosts from memory,
// because nobody can take them over without etcd either. (Trade-off: a replica partitioned from an etcd
// that others still reach keeps pushing until it reconnects; the others' full re-push is idempotent.)
import { Etcd3, EtcdLeaseInvalidError, IWatchResponse, Lease, Watcher } from 'etcd3';
import { EventEmitter } from 'node:events';
import { Logger } from '../log';
import { Membership, MembershipEvents } from './membership';

export interface EtcdMembershipOptions {
  readonly client: Etcd3;
  readonly prefix: string;
  readonly replicaId: string;
  readonly leaseTtlSec: number;
  readonly log: Logger;
  /** Wait before a (re)joining replica pushes, so the previous owners have seen it and let go. */
  readonly joinGraceMs?: number;
}

export class EtcdMembership implements Membership {
  readonly events = new EventEmitter<MembershipEvents>();
  readonly self: string;
  private readonly live = new Set<string>();
  private lease: Lease | null = null;
  private leaseId = '';
  private isActive = false;
  private stopped = false;
  private watcher: Watcher | null = null;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private lastKeepaliveMs = 0;
  private etcdReachable = true;
  private joining: Promise<void> | null = null;
  private readonly memberPrefix: string;

  constructor(private readonly opts: EtcdMembershipOptions) {
    this.self = opts.replicaId;
    this.memberPrefix = `${opts.prefix}members/`;
  }

  members(): readonly string[] {
    return [...this.live].sort();
  }

  active(): boolean {
    return this.isActive && !this.stopped;
  }

  async start(): Promise<void> {
    const { client } = this.opts;
    const res = await client.getAll().prefix(this.memberPrefix).exec();
    for (const kv of res.kvs) this.live.add(kv.key.toString('utf8').slice(this.memberPrefix.length));
    this.watcher = await client
      .watch()
      .prefix(this.memberPrefix)
      .startRevision(String(Number(res.header.revision) + 1))
      .create();
    this.watcher.on('data', (r: IWatchResponse) => this.onWatch(r));
    this.watcher.on('error', (err) => this.opts.log.warn('membership watch error', { error: err.message }));
    await this.join();
    this.keepaliveTimer = setInterval(() => void this.keepalive(), Math.max(200, (this.opts.leaseTtlSec * 1000) / 3));
    this.keepaliveTimer.unref();
  }

  private onWatch(r: IWatchResponse): void {
    let changed = false;
    for (const ev of r.events) {
      const id = ev.kv.key.toString('utf8').slice(this.memberPrefix.length);
      if (ev.type === 'Put') {
        if (!this.live.has(id)) changed = true;
        this.live.add(id);
      } else {
        if (this.live.delete(id)) changed = true;
        if (id === this.self && !this.stopped && this.joining === null) {
          this.fence('own member key deleted (lease expired)');
          changed = false;
        }
      }
    }
    if (changed) this.events.emit('change');
  }

  private join(): Promise<void> {
    if (this.joining !== null) return this.joining;
    this.joining = (async () => {
      try {
        const lease = this.opts.client.lease(this.opts.leaseTtlSec, { autoKeepAlive: false });
        lease.on('lost', () => undefined); // we run our own keepalive loop below
        const id = await lease.grant();
        const value = JSON.stringify({ id: this.self, pid: process.pid, sinceMs: Date.now() });
        await lease.put(`${this.memberPrefix}${this.self}`).value(value).exec();
        this.leaseId = id;
        this.lease = lease;
        this.lastKeepaliveMs = Date.now();
        this.live.add(this.self);
        this.events.emit('change'); // others' hosts are not ours yet (inactive): this only releases
        await new Promise((r) => setTimeout(r, this.opts.joinGraceMs ?? 300));
        if (this.stopped) return;
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
    if (!this.isActive && this.lease === null) return;
    this.opts.log.warn('lease lost: pushing stops until rejoined', { replica: this.self, why });
    this.isActive = false;
    this.lease = null;
    this.live.delete(this.self);
    this.events.emit('change');
    this.rejoinSoon();
  }

  /** Rejoins with a fresh lease, retrying until it works (etcd may be down or this process overloaded). */
  private rejoinSoon(delayMs = 0): void {
    if (this.stopped) return;
    setTimeout(() => {
      if (this.stopped || this.lease !== null || this.joining !== null) return;
      this.join().catch((err: unknown) => {
        this.opts.log.warn('rejoin failed, retrying', { error: (err as Error).message });
        this.rejoinSoon(Math.min(2000, Math.max(200, delayMs * 2)));
      });
    }, delayMs).unref();
  }

  private async keepalive(): Promise<void> {
    if (this.stopped) return;
    const lease = this.lease;
    if (lease === null) {
      if (this.joining === null) this.rejoinSoon();
      return;
    }
    try {
      const res = await lease.keepaliveOnce({ deadline: Date.now() + this.opts.leaseTtlSec * 1000 });
      if (this.lease !== lease) return;
      if (Number(res.TTL) <= 0) {
        this.fence('keepalive: lease not found');
        return;
      }
      this.lastKeepaliveMs = Date.now();
      if (!this.etcdReachable) this.opts.log.info('etcd reachable again', { replica: this.self });
      this.etcdReachable = true;
    } catch (err: unknown) {
      if (this.lease !== lease) return;
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
    const lease = this.lease;
    this.lease = null;
    if (lease !== null)
      await lease
        .revoke()
        .catch((err: unknown) => this.opts.log.warn('lease revoke failed', { error: (err as Error).message }));
    await this.watcher?.cancel().catch(() => undefined);
  }

  describe(): Record<string, unknown> {
    return {
      mode: 'etcd',
      self: this.self,
      lease: this.leaseId,
      leaseTtlSec: this.opts.leaseTtlSec,
      active: this.active(),
      etcdReachable: this.etcdReachable,
      lastKeepaliveAgoMs: this.lastKeepaliveMs === 0 ? null : Date.now() - this.lastKeepaliveMs,
      members: this.members(),
    };
  }
}
