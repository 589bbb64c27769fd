// The agent's NATS southbound (--southbound): a durable JetStream consumer on this host's subject, each goal
// state applied through the same path as one arriving over gRPC (ApplyPath's applier, one queue for both).
//
// Acknowledgement: a message's chunks are acked only after the applier resolved, i.e. after OVS confirmed
// the bundle and the engine committed. A crash before that leaves them unacked, and JetStream redelivers
// them to the durable consumer after the restart; applying a goal state twice is harmless (revisions).
// The reply goes to alcor.gs.reply.<host> as a small record with the message id (nats-wire.ts), for the
// control service. A message the agent refuses (it will never apply) is terminated, not redelivered, and
// the reply carries the reason.
import * as fs from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { natsConnectError, natsConnectOptions, type NatsSecurity } from '../../core/southbound/nats-security';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { OperationStatus, type GoalStateOperationReply } from '../../proto';
import { encodeGoalStateOperationReply } from '../../core/wire/operation-reply';
import {
  DELIVER_PREFIX,
  durableName,
  H_CHUNK,
  encodeReplyRecord,
  H_HOSTS,
  H_HOSTS_REF,
  H_MSG_ID,
  HOSTS_STREAM,
  hostsSubject,
  H_SHA256,
  H_SEQ,
  H_VPCS,
  hostSubject,
  listHas,
  okReplyBody,
  parseChunkHeader,
  Reassembler,
  REPLY_FULL,
  REPLY_OK,
  REPLY_REFUSED,
  REPLY_RESYNC,
  ackMsgId,
  ackSubject,
  subjectToken,
  replySubject,
  seqBefore,
  seqGap,
  STREAM,
  vpcSubject,
  VPC_PREFIX,
} from '../../core/southbound/nats-wire';
import { isGoalStateValidationError, type GoalStateApplier } from '../grpc/server';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface NatsSouthboundOptions {
  readonly servers: readonly string[];
  /** TLS and credentials (--southbound-ca ...). */
  readonly security?: NatsSecurity;
  /** This host's IP as the control service knows it (its subject). */
  readonly hostIp: string;
  /** VPCs this host holds: their subjects (changes every host of the VPC needs) are consumed too. */
  readonly vpcs?: readonly (string | number)[];
  /** Consume this host's own subject (default true). */
  readonly hostSubject?: boolean;
  /** How long JetStream waits for an ack before redelivering (a big goal state must fit in it). */
  readonly ackWaitMs?: number;
  /**
   * Resume the VPC consumers this host made before (listed from the stream at each connection; default
   * true). The control service asks for them with H_VPCS; after a restart they are found again this way.
   */
  readonly resumeVpcs?: boolean;
}

/** Parses `--southbound nats://HOST:PORT[,...]`. */
export function parseSouthbound(text: string): string[] {
  const out = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (out.length === 0) throw new Error('--southbound needs nats://HOST:PORT[,...]');
  for (const s of out)
    if (!/^(nats|tls):\/\/[^\s/:]+(:\d{1,5})?$/.test(s))
      throw new Error(`--southbound: not a nats://HOST:PORT address: ${s}`);
  return out;
}

/** Host lists (by digest) whose membership this agent keeps. */
const LISTS_KEPT = 256;

const PUSH_MAX_ACK_PENDING = 64;

/** How long one pull request lives (the consume loop renews it); its idle heartbeat is half of it. */
const PULL_EXPIRES_MS = 5_000;

export class NatsSouthbound {
  private nc: NatsConnection | null = null;
  private stopped = false;
  private seq = 0;
  private readonly reassembler = new Reassembler();
  /** Chunks of each message being assembled, acked together once it is applied. */
  private readonly held = new Map<string, JsMsg[]>();
  /** Goal states applied from the broker. */
  applied = 0;
  /**
   * The last message delivered: its reply subject tells how many were still in its consumer (this host's
   * lag), parsed only when asked for (the parse was ~3 us per message, for a gauge read every few seconds).
   */
  private lastMsg: JsMsg | null = null;

  /** Messages still in this host's durable consumer when the last one was delivered (its lag). */
  get pending(): number {
    return this.lastMsg?.info.pending ?? 0;
  }
  private running: Promise<void> | null = null;
  private jsm: JetStreamManager | null = null;
  /** Durable name -> its consume loop, on the current connection. */
  private readonly consumers = new Map<string, { ready: Promise<void>; loop: Promise<void> }>();
  /** The last H_SEQ applied from this host's subject, and how many gaps were reported. */
  private lastSeq: string | null = null;
  resyncs = 0;
  /** Host lists seen by digest (H_HOSTS_REF): whether this host is on each, or null if none was found. */
  private readonly lists = new Map<string, Promise<boolean | null>>();

  constructor(
    private readonly opts: NatsSouthboundOptions,
    private readonly applier: GoalStateApplier,
    private readonly log: Log,
  ) {}

  /** Starts consuming; after stop() it may start again (what it applied last is kept: see checkSeq). */
  start(): void {
    this.stopped = false;
    this.running = this.loop();
  }

  /** Prometheus lines: goal states applied from the broker, and this host's consumer lag. */
  metricsText(): string {
    return [
      '# HELP alcor_agent_nats_applied_total Goal states applied from NATS JetStream',
      '# TYPE alcor_agent_nats_applied_total counter',
      `alcor_agent_nats_applied_total ${this.applied}`,
      "# HELP alcor_agent_nats_pending Messages in this host's durable consumers not yet delivered (its lag)",
      '# TYPE alcor_agent_nats_pending gauge',
      `alcor_agent_nats_pending ${this.pending}`,
      '# HELP alcor_agent_nats_resyncs_total Times messages had expired before this host consumed them (full state asked for)',
      '# TYPE alcor_agent_nats_resyncs_total counter',
      `alcor_agent_nats_resyncs_total ${this.resyncs}`,
      '',
    ].join('\n');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.nc?.close().catch(() => undefined);
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.session();
      } catch (e: unknown) {
        if (!this.stopped)
          this.log('warn', 'nats southbound: retrying', { error: natsConnectError(e, this.opts.security) });
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** One connection: the host's durable consumers, each applied as it delivers, until the connection ends. */
  private async session(): Promise<void> {
    const nc: NatsConnection = await connect({
      servers: [...this.opts.servers],
      name: `alcor-agent-${this.opts.hostIp}`,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...natsConnectOptions(this.opts.security, (f) => fs.readFileSync(f)),
    });
    this.nc = nc;
    this.consumers.clear();
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      this.jsm = jsm;
      if (this.opts.hostSubject !== false)
        void this.startConsumer(nc, jsm, durableName(this.opts.hostIp), hostSubject(this.opts.hostIp), true).catch(
          () => undefined,
        );
      for (const v of this.opts.vpcs ?? [])
        void this.startConsumer(nc, jsm, durableName(this.opts.hostIp, v), vpcSubject(v), true).catch(() => undefined);
      if (this.opts.resumeVpcs !== false) {
        const mine = `${durableName(this.opts.hostIp)}_v_`;
        for await (const ci of jsm.consumers.list(STREAM)) {
          const subject = ci.config.filter_subject;
          if (ci.name.startsWith(mine) && subject !== undefined)
            void this.startConsumer(nc, jsm, ci.name, subject, false).catch(() => undefined);
        }
      }
      await nc.closed();
    } finally {
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
      await Promise.all([...this.consumers.values()].map((c) => c.loop.catch(() => undefined)));
      this.consumers.clear();
      this.jsm = null;
    }
  }

  /** Consumes `subject` through `durable` (made if missing) for the rest of the connection; once per durable. */
  private startConsumer(
    nc: NatsConnection,
    jsm: JetStreamManager,
    durable: string,
    subject: string,
    fromStart: boolean,
  ): Promise<void> {
    const had = this.consumers.get(durable);
    if (had !== undefined) return had.ready; // not its loop: that only ends with the connection
    const ready = this.consume(nc, jsm, durable, subject, fromStart);
    const done = ready.then((c) => c.loop);
    this.consumers.set(durable, { ready: ready.then(() => undefined), loop: done });
    // A consumer that fails ends the connection: the next one starts every consumer again.
    done.catch((e: unknown) => {
      if (!this.stopped) this.log('warn', 'nats southbound consumer failed', { durable, error: (e as Error).message });
      void nc.close().catch(() => undefined);
    });
    return (this.consumers.get(durable) as { ready: Promise<void> }).ready;
  }

  /**
   * Resolves once the consumer exists and is pulling, with the promise of its loop: a consumer asked for with
   * H_VPCS starts at the next message (DeliverPolicy.New), made before the reply that tells the control
   * service so, so it misses nothing the control service later publishes to that VPC for this host.
   */
  private async consume(
    nc: NatsConnection,
    jsm: JetStreamManager,
    durable: string,
    subject: string,
    fromStart: boolean,
  ): Promise<{ loop: Promise<void> }> {
    let info = await jsm.consumers.info(STREAM, durable).catch(() => null);
    if (info === null)
      info = await jsm.consumers.add(STREAM, {
        durable_name: durable,
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: fromStart ? DeliverPolicy.All : DeliverPolicy.New,
        ack_wait: (this.opts.ackWaitMs ?? 120_000) * 1e6,
        // Pushed at most this many unacknowledged (an agent back from a long absence is not flooded).
        max_ack_pending: PUSH_MAX_ACK_PENDING,
        deliver_subject: DELIVER_PREFIX + durable,
        // A VPC consumer's position is kept in the broker's memory (replicated like the stream in a
        // cluster), not in a file: nats-server rewrote each consumer's state file on every ack, ~1,000 file
        // writes per VPC-wide change to 1,000 hosts and ~20 % of its CPU for it. A broker restarted loses
        // these consumers; the control service asks again for them with the full push that follows
        // (host-transport.ts brokerUp), and that full state supersedes whatever they had not delivered.
        ...(subject.startsWith(VPC_PREFIX) ? { mem_storage: true } : {}),
      });
    const js = jetstream(nc);
    this.log('info', 'nats southbound consuming', { durable, subject });
    // A consumer made by an earlier version is a pull consumer (it cannot become a push one and keep its
    // position). Its pull requests live 5 s, not the client's 30 s: when the node serving one dies (a cluster
    // member killed), the missed heartbeats re-issue it elsewhere within seconds instead of half a minute.
    const msgs =
      info.config.deliver_subject === undefined || info.config.deliver_subject === ''
        ? await (await js.consumers.get(STREAM, durable)).consume({ max_messages: 64, expires: PULL_EXPIRES_MS })
        : await (await js.consumers.getPushConsumer(STREAM, durable)).consume();
    // Wrapped: an async function returning the loop's promise itself would only resolve when the loop ends.
    const loop = (async (): Promise<void> => {
      for await (const m of msgs) {
        if (this.stopped) break;
        this.lastMsg = m;
        await this.onMessage(nc, m);
      }
    })();
    return { loop };
  }

  /** Makes the consumers of the VPCs the control service asked for (H_VPCS) before the message's reply. */
  private async ensureVpcs(nc: NatsConnection, list: string): Promise<void> {
    const jsm = this.jsm;
    if (jsm === null) throw new Error('no JetStream manager');
    const vpcs = list.split(',').filter((v) => v !== '');
    await Promise.all(
      vpcs.map((v) => this.startConsumer(nc, jsm, durableName(this.opts.hostIp, v), vpcSubject(v), false)),
    );
  }

  /**
   * Is this host on the list named `digest` (H_HOSTS_REF)? Fetched once per list: a direct get, which any
   * replica may answer, then the stream leader if that one did not have it yet. null: no such list (it
   * should outlive its messages; see nats-link.ts storeList), so the message is applied and answered on the
   * host's reply subject, which the control service ignores if the host was not one of its targets.
   */
  private onList(digest: string): Promise<boolean | null> {
    let p = this.lists.get(digest);
    if (p === undefined) {
      const jsm = this.jsm;
      if (jsm === null) return Promise.reject(new Error('no JetStream manager'));
      const subject = hostsSubject(digest);
      p = jsm.direct
        .getMessage(HOSTS_STREAM, { last_by_subj: subject })
        .catch(() => null)
        .then((m) => m ?? jsm.streams.getMessage(HOSTS_STREAM, { last_by_subj: subject }))
        .then((m) => (m === null ? null : listHas(Buffer.from(m.data).toString('latin1'), this.opts.hostIp)));
      this.lists.set(digest, p);
      if (this.lists.size > LISTS_KEPT) this.lists.delete(this.lists.keys().next().value as string);
      p.then(
        (v) => {
          if (v === null) this.lists.delete(digest); // asked again next time
        },
        () => this.lists.delete(digest),
      );
    }
    return p;
  }

  /**
   * Whom a message is for: 'own' (this host's subject), 'listed' / 'unlisted' (a VPC-wide one that names
   * this host or not), 'unknown' (its list was not found).
   */
  private async targetOf(m: JsMsg): Promise<'own' | 'listed' | 'unlisted' | 'unknown'> {
    const forHosts = m.headers?.get(H_HOSTS) ?? '';
    if (forHosts !== '') return listHas(forHosts, this.opts.hostIp) ? 'listed' : 'unlisted';
    const ref = m.headers?.get(H_HOSTS_REF) ?? '';
    if (ref === '') return 'own';
    const on = await this.onList(ref);
    if (on === null) this.log('warn', 'nats southbound: host list not found; applying and answering directly', { ref });
    return on === null ? 'unknown' : on ? 'listed' : 'unlisted';
  }

  private async onMessage(nc: NatsConnection, m: JsMsg): Promise<void> {
    const id = m.headers?.get(H_MSG_ID) ?? `seq-${m.seq}`;
    let target: Awaited<ReturnType<NatsSouthbound['targetOf']>>;
    try {
      target = await this.targetOf(m);
    } catch (e: unknown) {
      this.log('warn', 'nats southbound: cannot read a host list; will be redelivered', {
        error: (e as Error).message,
      });
      m.nak(1000);
      return;
    }
    if (target === 'unlisted') {
      m.ack(); // a VPC-wide change another host needs, not this one
      return;
    }
    const chunk = parseChunkHeader(m.headers?.get(H_CHUNK));
    if (chunk === null) {
      this.refuse(nc, id, [m], 'bad chunk header');
      return;
    }
    const held = this.held.get(id) ?? [];
    held.push(m);
    this.held.set(id, held);
    const r = this.reassembler.add(id, chunk, m.headers?.get(H_SHA256) ?? '', m.data);
    if (r.kind === 'incomplete') return;
    this.held.delete(id);
    if (r.kind === 'bad') {
      this.refuse(nc, id, held, r.reason);
      return;
    }
    this.checkSeq(nc, id, held[0]?.headers?.get(H_SEQ) ?? '');
    let reply: GoalStateOperationReply;
    try {
      const vpcs = held[0]?.headers?.get(H_VPCS) ?? '';
      if (vpcs !== '') await this.ensureVpcs(nc, vpcs);
      reply = await this.applier.applyV2(
        { kind: 'raw', bytes: r.message },
        { rpc: 'PushGoalStatesStream', peer: 'nats', seq: ++this.seq, indexOnStream: 0 },
      );
    } catch (e: unknown) {
      if (isGoalStateValidationError(e)) {
        this.refuse(nc, id, held, (e as Error).message);
        return;
      }
      // Not applied (OVS unreachable...): redelivered later, not lost.
      this.log('warn', 'nats goal state not applied; will be redelivered', { id, error: (e as Error).message });
      for (const c of held) c.nak(1000);
      return;
    }
    for (const c of held) c.ack();
    this.applied++;
    // All succeeded (the usual case): a 4-byte count instead of every status, which the control service
    // rebuilds from the keys it sent.
    const ok = reply.operationStatuses.every((st) => st.operationStatus === OperationStatus.SUCCESS);
    if (ok && target === 'listed') {
      // Counted by the control service in one request; the id makes a second apply count once.
      const h = headers();
      h.set('Nats-Msg-Id', ackMsgId(id, this.opts.hostIp));
      nc.publish(ackSubject(id), subjectToken(this.opts.hostIp), { headers: h });
      return;
    }
    const record = ok
      ? encodeReplyRecord(REPLY_OK, id, okReplyBody(reply.operationStatuses.length))
      : encodeReplyRecord(REPLY_FULL, id, encodeGoalStateOperationReply(reply));
    nc.publish(replySubject(this.opts.hostIp), record);
  }

  /**
   * Messages of this host's subject are numbered by their sender (H_SEQ). A jump means the stream dropped
   * some (its max age or size) before this agent consumed them: it asks the control service for its full
   * state, which also carries whatever the lost messages deleted.
   */
  private checkSeq(nc: NatsConnection, id: string, seq: string): void {
    if (seq === '') return;
    if (seqGap(this.lastSeq, seq)) {
      this.resyncs++;
      this.log('warn', 'nats southbound: messages expired before this host consumed them; asking for its full state', {
        last: this.lastSeq,
        next: seq,
      });
      nc.publish(replySubject(this.opts.hostIp), encodeReplyRecord(REPLY_RESYNC, id.slice(0, 255), new Uint8Array(0)));
    }
    if (this.lastSeq === null || !seqBefore(seq, this.lastSeq)) this.lastSeq = seq;
  }

  private refuse(nc: NatsConnection, id: string, msgs: readonly JsMsg[], reason: string): void {
    this.log('warn', 'nats goal state refused', { id, reason });
    for (const c of msgs) c.term(reason);
    const why = Buffer.from(reason.replace(/[\r\n]/g, ' ').slice(0, 1000));
    nc.publish(replySubject(this.opts.hostIp), encodeReplyRecord(REPLY_REFUSED, id.slice(0, 255), why));
  }
}
