// The control service's one connection to the NATS cluster (--nats): keeps the goal-state stream, publishes
// goal states (chunked above the server's max_payload) and matches the agents' replies to what was sent.
//
// The connection is made in the background and retried for ever: a broker that is down at start-up or later
// only makes `up()` false, and the hosts that also have a gRPC agent address are pushed over gRPC meanwhile
// (nats-host.ts). Every (re)connection re-declares the stream, so a wiped broker gets it back.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { natsConnectError, natsConnectOptions, type NatsSecurity } from '../../core/southbound/nats-security';
import { connect } from '@nats-io/transport-node';
import { headers, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, StorageType, type JetStreamClient, type StreamConfig } from '@nats-io/jetstream';
import { GoalStateOperationReply } from '../../proto';
import {
  ACK_PREFIX,
  ACK_STREAM,
  ackSubject,
  chunksOf,
  H_CHUNK,
  H_HOSTS,
  H_HOSTS_REF,
  H_MSG_ID,
  HOSTS_PREFIX,
  HOSTS_STREAM,
  hostsDigest,
  hostsSubject,
  INLINE_HOSTS_MAX,
  H_SHA256,
  HOST_PREFIX,
  REPLY_OK,
  REPLY_PREFIX,
  REPLY_REFUSED,
  REPLY_RESYNC,
  replyRecordHead,
  H_SEQ,
  sha256Hex,
  STREAM,
  STREAM_SUBJECTS,
  subjectToken,
} from '../../core/southbound/nats-wire';
import { firstAckPollMs, watchAcks, type AckGroup, type AllAcked } from './nats-acks';
import type { Logger } from '../log';
import type { ControlMetrics } from '../metrics';
import { ControlError } from '../resources';

export interface NatsLinkOptions {
  readonly servers: readonly string[];
  /** Stream replicas; default: the number of servers listed, at most 3. */
  readonly replicas?: number;
  readonly maxAgeS?: number;
  readonly maxBytes?: number;
  /** Messages the stream keeps at most (default: no limit besides age and bytes; tests make it tiny). */
  readonly maxMsgs?: number;
  readonly publishTimeoutMs?: number;
  /** TLS and credentials (--nats-ca, --nats-cert, --nats-key, --nats-creds, --nats-user, --nats-token). */
  readonly security?: NatsSecurity;
  /** Host lists of VPC-wide messages longer than this go by reference (H_HOSTS_REF); tests set 0. */
  readonly inlineHostsMax?: number;
}

export const DEFAULT_NATS_MAX_AGE_S = 3600;
export const DEFAULT_NATS_MAX_BYTES = 1024 * 1024 * 1024;
/** How long the broker keeps the acks of a VPC-wide message (and deduplicates them). */
const ACK_MAX_AGE_S = 60;

interface Settle {
  readonly resolve: (r: GoalStateOperationReply) => void;
  readonly reject: (e: unknown) => void;
}

interface Waiter extends Settle {
  readonly timer: NodeJS.Timeout;
}

/** A VPC-wide message awaited: its hosts still to answer (subject token -> waiter), counted by nats-acks.ts. */
interface Shared extends AckGroup {
  readonly waiting: Map<string, Settle>;
  readonly timer: NodeJS.Timeout;
}

/**
 * What a reply "every resource succeeded" resolves to: no statuses are sent or built per host; the host's
 * session makes them from the keys it sent (host-session.ts), only when it reports them.
 */
export const ALL_SUCCEEDED: GoalStateOperationReply = Object.freeze({
  formatVersion: 0,
  operationStatuses: [],
  messageTotalOperationTime: 0,
});

function settleReply(w: Settle, head: { kind: number; body: number }, data: Uint8Array): void {
  if (head.kind === REPLY_OK) {
    w.resolve(ALL_SUCCEEDED);
    return;
  }
  const body = Buffer.from(data.buffer, data.byteOffset + head.body, data.length - head.body);
  if (head.kind === REPLY_REFUSED) {
    w.reject(new ControlError('AGENT_REFUSED', `agent refused the message: ${body.toString()}`));
    return;
  }
  try {
    w.resolve(GoalStateOperationReply.decode(body));
  } catch (e: unknown) {
    w.reject(new ControlError('STREAM_BROKEN', `unreadable reply: ${(e as Error).message}`));
  }
}

/** Parses `nats://HOST:PORT[,nats://HOST:PORT...]`; throws a clear message on anything else. */
export function parseNatsServers(text: string): string[] {
  const out = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (out.length === 0) throw new Error('--nats needs at least one nats://HOST:PORT');
  for (const s of out) {
    if (!/^(nats|tls):\/\/[^\s/:]+(:\d{1,5})?$/.test(s)) throw new Error(`not a nats://HOST:PORT address: ${s}`);
  }
  return out;
}

export class NatsLink {
  /** resync: a host's agent (by subject token) lost messages and asks for its full state. */
  readonly events = new EventEmitter<{ up: []; down: []; resync: [token: string] }>();
  /** Messages published to each host's subject by this process (H_SEQ). */
  private readonly hostSeq = new Map<string, number>();
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private ready = false;
  /** Why the last connection attempt failed ('' once connected). */
  private failure = '';
  private closed = false;
  private seq = 0;
  private readonly waiters = new Map<string, Waiter>();
  /** VPC-wide messages still waiting for replies: message id -> its hosts (subject tokens) still to answer. */
  private readonly shared = new Map<string, Shared>();
  /** The last VPC-wide message every host acknowledged: its hosts, and how long that took. */
  private lastAllAcked: AllAcked | null = null;
  /** Host lists stored in HOSTS_STREAM by this process (digest -> when, and the store's promise). */
  private readonly lists = new Map<string, { at: number; stored: Promise<void> }>();
  /** Hosts' subject tokens, so a VPC-wide message to a thousand hosts makes no thousand of them. */
  private readonly tokens = new Map<string, string>();
  private readonly prefix = `c${process.pid.toString(36)}${Date.now().toString(36)}`;

  constructor(
    private readonly opts: NatsLinkOptions,
    private readonly log: Logger,
    private readonly metrics: ControlMetrics,
  ) {
    metrics.gauge('alcor_control_nats_up', '1 while the NATS broker is connected and the stream declared', () =>
      this.ready ? 1 : 0,
    );
  }

  up(): boolean {
    return this.ready;
  }

  lastError(): string {
    return this.failure;
  }

  /** Connects in the background (retrying for ever); resolves at once. */
  start(): void {
    void this.connectLoop();
  }

  /** Resolves once connected and the stream exists, or false after `timeoutMs`. */
  async waitUp(timeoutMs: number): Promise<boolean> {
    if (this.ready) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.events.off('up', on);
        resolve(false);
      }, timeoutMs);
      const on = (): void => {
        clearTimeout(t);
        resolve(true);
      };
      this.events.once('up', on);
    });
  }

  private async connectLoop(): Promise<void> {
    while (!this.closed) {
      try {
        const nc: NatsConnection = await connect({
          servers: [...this.opts.servers],
          name: 'alcor-control',
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          waitOnFirstConnect: false,
          ...natsConnectOptions(this.opts.security, (f) => fs.readFileSync(f)),
        });
        if (this.closed) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.failure = '';
        this.js = jetstream(nc, { timeout: this.opts.publishTimeoutMs ?? 10000 });
        nc.subscribe(`${REPLY_PREFIX}>`, {
          callback: (err: Error | null, msg: Msg) => {
            if (err === null) this.onReply(msg);
          },
        });
        void this.watchStatus(nc);
        await this.declared(nc);
        await nc.closed();
        this.setReady(false);
      } catch (e: unknown) {
        // Said once per distinct reason: a wrong CA or password is an operator's to fix, not a blip.
        const reason = natsConnectError(e, this.opts.security);
        if (reason !== this.failure) this.log.warn('cannot connect to NATS', { error: reason });
        this.failure = reason;
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.setReady(false);
      else if (s.type === 'reconnect') void this.declared(nc);
    }
  }

  /** Declares (or updates) the stream, then reports the link up. */
  private async declared(nc: NatsConnection): Promise<void> {
    const cfg: Partial<StreamConfig> & { name: string } = {
      name: STREAM,
      subjects: STREAM_SUBJECTS,
      max_age: (this.opts.maxAgeS ?? DEFAULT_NATS_MAX_AGE_S) * 1e9,
      max_bytes: this.opts.maxBytes ?? DEFAULT_NATS_MAX_BYTES,
      max_msgs: this.opts.maxMsgs ?? -1,
      num_replicas: this.opts.replicas ?? Math.min(3, this.opts.servers.length),
    };
    for (let attempt = 0; !this.closed && !nc.isClosed(); attempt++) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 5000 });
        try {
          await jsm.streams.update(STREAM, cfg);
        } catch {
          await jsm.streams.add(cfg);
        }
        const acks: Partial<StreamConfig> & { name: string } = {
          name: ACK_STREAM,
          subjects: [`${ACK_PREFIX}>`],
          storage: StorageType.Memory,
          max_age: ACK_MAX_AGE_S * 1e9,
          duplicate_window: ACK_MAX_AGE_S * 1e9,
          num_replicas: cfg.num_replicas,
        };
        await jsm.streams.update(ACK_STREAM, acks).catch(() => jsm.streams.add(acks));
        // A list outlives every message naming it: it is stored again after half the goal stream's max age,
        // and kept twice that age. One message per list (the digest is the subject).
        const lists: Partial<StreamConfig> & { name: string } = {
          name: HOSTS_STREAM,
          subjects: [`${HOSTS_PREFIX}*`],
          max_age: 2 * (cfg.max_age as number),
          max_bytes: Math.min(cfg.max_bytes as number, 256 * 1024 * 1024),
          max_msgs_per_subject: 1,
          allow_direct: true,
          num_replicas: cfg.num_replicas,
        };
        await jsm.streams.update(HOSTS_STREAM, lists).catch(() => jsm.streams.add(lists));
        this.lists.clear(); // a broker that was wiped has none of them
        this.setReady(true);
        return;
      } catch (e: unknown) {
        // Right after a cluster (re)starts JetStream has no leader yet: keep trying.
        if (attempt % 10 === 0) this.log.warn('cannot declare the NATS stream yet', { error: (e as Error).message });
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }

  private setReady(v: boolean): void {
    if (this.ready === v) return;
    this.ready = v;
    this.log.notice(v ? 'nats broker up' : 'nats broker unreachable', { servers: this.opts.servers.join(',') });
    this.events.emit(v ? 'up' : 'down');
  }

  /** Messages this connection has received and sent so far (alcor-bench shows what one change costs). */
  messageCounts(): { in: number; out: number } | null {
    const st = this.nc?.stats();
    return st === undefined ? null : { in: st.inMsgs, out: st.outMsgs };
  }

  /** Largest message the connected server accepts. */
  maxPayload(): number {
    return this.nc?.info?.max_payload ?? 1024 * 1024;
  }

  /**
   * Publishes one goal-state message to `subject` (every chunk stored by JetStream before it resolves).
   * With `replyTimeoutMs` it then waits for the agent's reply, else resolves with null once stored.
   */
  async send(
    subject: string,
    message: Uint8Array,
    replyTimeoutMs: number | null,
    extra?: Readonly<Record<string, string>>,
  ): Promise<GoalStateOperationReply | null> {
    const id = this.nextId();
    const reply = replyTimeoutMs === null ? null : this.waitReply(id, replyTimeoutMs);
    let headers = extra;
    const token = subject.startsWith(HOST_PREFIX) ? subject.slice(HOST_PREFIX.length) : null;
    if (token !== null) {
      // Counted when asked for, so the numbers follow the publish order; a failed publish leaves a gap
      // the agent reports, which only costs a full push.
      const n = (this.hostSeq.get(token) ?? 0) + 1;
      this.hostSeq.set(token, n);
      headers = { ...extra, [H_SEQ]: `${this.prefix}.${n}` };
    }
    await this.publish(subject, id, message, headers, [id]);
    if (token !== null) this.metrics.natsHostLag.sent(token);
    return reply;
  }

  /**
   * Publishes one message to a VPC's subject for `hosts` (all consumers of the subject get it; the others
   * ack it unapplied). One publish, and a reply awaited from each of `hosts`: their promises by host, all
   * under one timer (a VPC-wide change to a thousand hosts makes no thousand timers).
   */
  sendShared(
    subject: string,
    message: Uint8Array,
    hosts: readonly string[],
    replyTimeoutMs: number,
  ): Map<string, Promise<GoalStateOperationReply>> {
    const id = this.nextId();
    const out = new Map<string, Promise<GoalStateOperationReply>>();
    const byHost = new Map<string, Settle>();
    const lag = this.metrics.natsHostLag;
    for (const h of hosts) {
      let token = this.tokens.get(h);
      if (token === undefined) this.tokens.set(h, (token = subjectToken(h)));
      lag.sent(token);
      const p = new Promise<GoalStateOperationReply>((resolve, reject) => byHost.set(token, { resolve, reject }));
      p.catch(() => undefined);
      out.set(h, p);
    }
    const timer = setTimeout(() => {
      this.shared.delete(id);
      const err = new ControlError('STREAM_BROKEN', `no reply through NATS within ${replyTimeoutMs} ms`);
      for (const w of byHost.values()) w.reject(err);
    }, replyTimeoutMs);
    timer.unref();
    const g: Shared = { subject: ackSubject(id), total: byHost.size, waiting: byHost, replied: 0, timer };
    this.shared.set(id, g);
    this.metrics.natsVpcPublishes.inc();
    const list = hosts.join(',');
    const published =
      list.length <= (this.opts.inlineHostsMax ?? INLINE_HOSTS_MAX)
        ? this.publish(subject, id, message, { [H_HOSTS]: list }, [id])
        : this.storeList(list, id).then((digest) =>
            this.publish(subject, id, message, { [H_HOSTS_REF]: digest }, [id]),
          );
    published.then(
      () => this.countAcks(id, g),
      () => undefined,
    );
    return out;
  }

  /**
   * Stores a host list under its digest unless this process did so recently (so the same VPC's hosts cost
   * one 40-byte header per change); resolves with the digest once JetStream has it, so no agent can see a
   * message before its list.
   */
  private storeList(list: string, waiterKey: string): Promise<string> {
    const digest = hostsDigest(list);
    const now = performance.now();
    const republishMs = ((this.opts.maxAgeS ?? DEFAULT_NATS_MAX_AGE_S) * 1000) / 2;
    let e = this.lists.get(digest);
    if (e === undefined || now - e.at > republishMs) {
      const js = this.js as JetStreamClient;
      const stored = js.publish(hostsSubject(digest), Buffer.from(list, 'latin1')).then(() => undefined);
      e = { at: now, stored };
      this.lists.delete(digest);
      this.lists.set(digest, e);
      if (this.lists.size > 256) this.lists.delete(this.lists.keys().next().value as string);
      stored.catch(() => {
        if (this.lists.get(digest)?.stored === stored) this.lists.delete(digest);
      });
    }
    return e.stored.then(
      () => digest,
      (err: unknown) => {
        this.metrics.natsPublishFailures.inc();
        const failure = new ControlError('STREAM_BROKEN', `NATS publish failed: ${(err as Error).message}`);
        this.failWaiter(waiterKey, failure);
        throw failure;
      },
    );
  }

  /** Settles the hosts of a VPC-wide message as their acks are counted (nats-acks.ts). */
  private async countAcks(id: string, g: Shared): Promise<void> {
    const done = (): void => {
      if (this.shared.get(id) !== g) return;
      clearTimeout(g.timer);
      this.shared.delete(id);
    };
    const lag = this.metrics.natsHostLag;
    const acked = (token: string): void => {
      const w = g.waiting.get(token);
      if (w === undefined) return;
      g.waiting.delete(token);
      lag.answered(token);
      w.resolve(ALL_SUCCEEDED);
    };
    const first = firstAckPollMs(g.total, this.lastAllAcked);
    const all = await watchAcks(
      g,
      {
        nc: () => this.nc,
        js: () => this.js,
        live: () => this.shared.get(id) === g,
        acked,
        allAcked: () => {
          done();
          for (const token of [...g.waiting.keys()]) acked(token);
        },
      },
      first,
    );
    if (all !== null) this.lastAllAcked = { total: g.total, ...all };
    done();
  }

  private nextId(): string {
    if (!this.ready || this.js === null) throw new ControlError('STREAM_NOT_CONNECTED', 'NATS broker is not connected');
    return `${this.prefix}.${++this.seq}`;
  }

  private waitReply(key: string, timeoutMs: number): Promise<GoalStateOperationReply> {
    const p = new Promise<GoalStateOperationReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new ControlError('STREAM_BROKEN', `no reply through NATS within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.waiters.set(key, { resolve, reject, timer });
    });
    p.catch(() => undefined);
    return p;
  }

  private async publish(
    subject: string,
    id: string,
    message: Uint8Array,
    extra: Readonly<Record<string, string>> | undefined,
    waiterKeys: readonly string[],
  ): Promise<void> {
    const js = this.js as JetStreamClient;
    const started = performance.now();
    try {
      const sha = sha256Hex(message);
      for (const c of chunksOf(message, this.maxPayload())) {
        const h = headers();
        h.set(H_MSG_ID, id);
        h.set(H_CHUNK, `${c.index}/${c.count}`);
        h.set(H_SHA256, sha);
        if (extra !== undefined) for (const [k, v] of Object.entries(extra)) h.set(k, v);
        await js.publish(subject, c.data, { msgID: `${id}.${c.index}`, headers: h });
      }
    } catch (e: unknown) {
      this.metrics.natsPublishFailures.inc();
      const err = new ControlError('STREAM_BROKEN', `NATS publish failed: ${(e as Error).message}`);
      for (const k of waiterKeys) this.failWaiter(k, err);
      throw err;
    }
    this.metrics.natsPublishes.inc();
    this.metrics.natsPublishLatency.observe(performance.now() - started);
  }

  private failWaiter(id: string, err: unknown): void {
    const g = this.shared.get(id);
    if (g !== undefined) {
      this.shared.delete(id);
      clearTimeout(g.timer);
      for (const w of g.waiting.values()) w.reject(err);
    }
    const w = this.waiters.get(id);
    if (w === undefined) return;
    this.waiters.delete(id);
    clearTimeout(w.timer);
    w.reject(err);
  }

  /** One agent's reply record: settles the waiter of its message (a VPC-wide one: of its host). */
  private onReply(msg: Msg): void {
    const head = replyRecordHead(msg.data);
    if (head === null) return;
    if (head.kind === REPLY_RESYNC) {
      this.events.emit('resync', msg.subject.slice(REPLY_PREFIX.length));
      return;
    }
    let w: Settle | undefined = this.waiters.get(head.id);
    if (w !== undefined) {
      this.waiters.delete(head.id);
      clearTimeout((w as Waiter).timer);
    } else {
      const g = this.shared.get(head.id);
      const token = msg.subject.slice(REPLY_PREFIX.length);
      w = g?.waiting.get(token);
      if (g === undefined || w === undefined) return; // another replica's message, or one that timed out
      g.waiting.delete(token);
      g.replied++;
      if (g.waiting.size === 0) {
        clearTimeout(g.timer);
        this.shared.delete(head.id);
      }
    }
    this.metrics.natsHostLag.answered(msg.subject.slice(REPLY_PREFIX.length));
    settleReply(w, head, msg.data);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.setReady(false);
    for (const id of [...this.waiters.keys(), ...this.shared.keys()])
      this.failWaiter(id, new ControlError('STREAM_STOPPED', 'closed'));
    await this.nc?.close().catch(() => undefined);
  }
}
