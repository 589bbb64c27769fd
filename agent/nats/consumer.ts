// The agent's NATS southbound (--southbound): a durable JetStream consumer on this host's subject, each goal
// state applied through the same path as one arriving over gRPC (ApplyPath's applier, one queue for both).
//
// Acknowledgement: a message's chunks are acked only after the applier resolved, i.e. after OVS confirmed
// the bundle and the engine committed. A crash before that leaves them unacked, and JetStream redelivers
// them to the durable consumer after the restart; applying a goal state twice is harmless (revisions).
// The reply (GoalStateOperationReply) goes to alcor.gs.reply.<host> with the message id, for the control
// service. A message the agent refuses (it will never apply) is terminated, not redelivered, and the reply
// carries the reason in a header.
import { connect } from '@nats-io/transport-node';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { GoalStateOperationReply } from '../../proto';
import {
  durableName,
  H_CHUNK,
  H_ERROR,
  H_MSG_ID,
  H_SHA256,
  hostSubject,
  parseChunkHeader,
  Reassembler,
  replySubject,
  STREAM,
  vpcSubject,
} from '../../core/southbound/nats-wire';
import { isGoalStateValidationError, type GoalStateApplier } from '../grpc/server';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface NatsSouthboundOptions {
  readonly servers: readonly string[];
  /** This host's IP as the control service knows it (its subject). */
  readonly hostIp: string;
  /** VPCs this host holds: their subjects (changes every host of the VPC needs) are consumed too. */
  readonly vpcs?: readonly (string | number)[];
  /** Consume this host's own subject (default true). */
  readonly hostSubject?: boolean;
  /** How long JetStream waits for an ack before redelivering (a big goal state must fit in it). */
  readonly ackWaitMs?: number;
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

/** How long one pull request lives (the consume loop renews it); its idle heartbeat is half of it. */
const PULL_EXPIRES_MS = 5_000;

export class NatsSouthbound {
  private nc: NatsConnection | null = null;
  private stopped = false;
  private seq = 0;
  private readonly reassembler = new Reassembler();
  /** Chunks of each message being assembled, acked together once it is applied. */
  private readonly held = new Map<string, JsMsg[]>();
  /** Goal states applied from the broker, and messages still in this host's consumer (its lag). */
  applied = 0;
  pending = 0;
  private running: Promise<void> | null = null;

  constructor(
    private readonly opts: NatsSouthboundOptions,
    private readonly applier: GoalStateApplier,
    private readonly log: Log,
  ) {}

  start(): void {
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
        if (!this.stopped) this.log('warn', 'nats southbound: retrying', { error: (e as Error).message });
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** One connection: make sure the durable consumer exists, then apply what it delivers, in order. */
  private async session(): Promise<void> {
    const nc: NatsConnection = await connect({
      servers: [...this.opts.servers],
      name: `alcor-agent-${this.opts.hostIp}`,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    this.nc = nc;
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      const subjects: Array<[string, string]> = (this.opts.vpcs ?? []).map((v) => [
        durableName(this.opts.hostIp, v),
        vpcSubject(v),
      ]);
      if (this.opts.hostSubject !== false)
        subjects.unshift([durableName(this.opts.hostIp), hostSubject(this.opts.hostIp)]);
      // One durable consumer per subject (nats-server 2.9 filters a consumer on one subject); the applier's
      // queue keeps the goal states of all of them in one order.
      await Promise.all(subjects.map(([durable, subject]) => this.consume(nc, jsm, durable, subject)));
    } finally {
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
  }

  private async consume(nc: NatsConnection, jsm: JetStreamManager, durable: string, subject: string): Promise<void> {
    await jsm.consumers.add(STREAM, {
      durable_name: durable,
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: (this.opts.ackWaitMs ?? 120_000) * 1e6,
      max_ack_pending: 10_000,
    });
    const consumer = await jetstream(nc).consumers.get(STREAM, durable);
    this.log('info', 'nats southbound consuming', { durable, subject });
    // Pull requests that live 5 s, not the client's 30 s: when the node serving one dies (a cluster member
    // killed), the missed heartbeats re-issue it elsewhere within seconds instead of half a minute.
    const msgs = await consumer.consume({ max_messages: 64, expires: PULL_EXPIRES_MS });
    for await (const m of msgs) {
      if (this.stopped) break;
      this.pending = m.info.pending;
      await this.onMessage(nc, m);
    }
  }

  private async onMessage(nc: NatsConnection, m: JsMsg): Promise<void> {
    const id = m.headers?.get(H_MSG_ID) ?? `seq-${m.seq}`;
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
    let reply: GoalStateOperationReply;
    try {
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
    const h = headers();
    h.set(H_MSG_ID, id);
    nc.publish(replySubject(this.opts.hostIp), GoalStateOperationReply.encode(reply).finish(), { headers: h });
  }

  private refuse(nc: NatsConnection, id: string, msgs: readonly JsMsg[], reason: string): void {
    this.log('warn', 'nats goal state refused', { id, reason });
    for (const c of msgs) c.term(reason);
    const h = headers();
    h.set(H_MSG_ID, id);
    h.set(H_ERROR, reason.replace(/[\r\n]/g, ' ').slice(0, 1000));
    nc.publish(replySubject(this.opts.hostIp), new Uint8Array(0), { headers: h });
  }
}
