// The control plane's core: accepts goal states (northbound), makes them durable, and has the owner of each
// host push them (southbound), then gathers the agents' statuses for the caller.
//
// Data flow: submit -> store.commit (durable) -> store emits one HostChange per touched host, in commit order
// (embedded: directly; etcd: through the watch, on every replica) -> the owning replica's HostSession pushes
// -> a HostResult "host applied up to version V" goes back to the caller's waiter (directly or via etcd).
import {
  HostRequest,
  HostRequestReply,
  OperationStatus,
  OperationType,
  RequestType,
  GoalStateOperationReply,
} from '../proto';
import { GoalStateOperationReply_GoalStateOperationStatus as Status } from '../proto';
import { Logger } from './log';
import { ControlMetrics } from './metrics';
import { ControlError, parseGoalStateV2, parseResourceKey, ParsedGoalState } from './resources';
import { Membership, owns } from './sharding/membership';
import { ownerOf, runnerUpOf } from './sharding/rendezvous';
import { AgentChannels } from './southbound/agent-channels';
import { AgentStreamOptions } from './southbound/agent-stream';
import { HostSession } from './southbound/host-session';
import { matchStatuses } from './southbound/match-statuses';
import { decodeRegistration, NatsHostTransport } from './southbound/host-transport';
import type { NatsLink } from './southbound/nats-link';
import { VpcFanout } from './southbound/vpc-fanout';
import { subjectToken } from '../core/southbound/nats-wire';
import { ControlStore, HostChange, HostResult } from './store/store';
import { AGENT_MAX_MESSAGE_BYTES, validateContent, validateSize } from './northbound/validate';

export type AckMode = 'agents' | 'durable';

export interface ControllerOptions {
  readonly store: ControlStore;
  readonly membership: Membership;
  readonly ackMode: AckMode;
  /** How long a caller waits for the agents before their resources are reported PENDING. */
  readonly resultTimeoutMs: number;
  readonly streamOptions: AgentStreamOptions;
  readonly log: Logger;
  readonly metrics: ControlMetrics;
  /** Largest message an agent accepts (its --max-message-mb); the northbound enforces it too. Default 256 MiB. */
  readonly maxMessageBytes?: number;
  /** The broker connection (--nats), for hosts registered with transport "nats". */
  readonly nats?: NatsLink;
}

interface Waiter {
  readonly version: number;
  readonly resolve: (r: HostResult | null) => void;
}

const RECENT_RESULTS = 16;
const RECONCILE_CHUNK = 50;

export class Controller {
  private readonly sessions = new Map<string, HostSession>();
  private readonly waiters = new Map<string, Waiter[]>();
  /** Recent results per host (newest last), so a result that beats its waiter is not missed. */
  private readonly recent = new Map<string, HostResult[]>();
  private readonly store: ControlStore;
  private readonly membership: Membership;
  private readonly channels: AgentChannels;
  /** Hosts this replica would get if their owner left (host -> agent address), kept connected. */
  private readonly standby = new Map<string, string>();
  private stopped = false;
  /** With --nats: VPC-wide changes are published once per VPC (see vpc-fanout.ts). */
  private readonly fanout: VpcFanout | null;
  /** Host changes of the commits being delivered now, handed out together once the emitting turn ends. */
  private batch: HostChange[] = [];

  constructor(private readonly opts: ControllerOptions) {
    this.store = opts.store;
    this.membership = opts.membership;
    this.channels = new AgentChannels(opts.streamOptions);
    this.fanout =
      opts.nats === undefined
        ? null
        : new VpcFanout(opts.nats, opts.store.cache, opts.streamOptions.replyTimeoutMs, opts.metrics);
    const m = opts.metrics;
    m.gauge('alcor_control_hosts_owned', 'Hosts this replica pushes to', () => this.sessions.size);
    m.gauge('alcor_control_hosts_known', 'Hosts with a registered agent', () => this.store.cache.agents.size);
    m.gauge('alcor_control_agents_connected', 'Owned hosts whose agent stream is up', () => {
      let n = 0;
      for (const s of this.sessions.values()) if (s.state() === 'connected') n++;
      return n;
    });
    m.gauge('alcor_control_resources', 'Resources in the desired state (each stored once)', () =>
      this.store.cache.resourceCount(),
    );
    m.gauge(
      'alcor_control_standby_hosts',
      'Hosts this replica takes over if their owner dies; their agent channels are kept connected',
      () => this.standby.size,
    );
    m.gauge(
      'alcor_control_standby_channels_ready',
      'Standby agent channels (kept for a fast takeover) that are connected now',
      () => this.channels.standbyCounts().ready,
    );
    m.gauge('alcor_control_replicas', 'Live replicas seen by this one', () => this.membership.members().length);
    m.gauge('alcor_control_active', '1 while this replica holds its lease and may push', () =>
      this.membership.active() ? 1 : 0,
    );
  }

  get self(): string {
    return this.membership.self;
  }

  async start(): Promise<void> {
    const ev = this.store.events;
    ev.on('hostChange', (c) => this.onHostChange(c));
    ev.on('agentChange', (host) => this.scheduleReconcile([host]));
    ev.on('result', (r) => this.onResult(r));
    ev.on('repush', (host) => this.sessions.get(host)?.repush());
    this.membership.events.on('change', () => this.reconcile());
    this.opts.nats?.events.on('resync', (token) => this.resync(token));
    this.reconcile();
  }

  private readonly toReconcile = new Set<string>();
  private reconciling = false;

  /**
   * Reconciles hosts in small chunks, yielding to the event loop in between: starting 1,000 agent streams
   * at once must not starve the lease keepalive (a missed keepalive would cost this replica all its hosts).
   */
  private scheduleReconcile(hosts: Iterable<string>): void {
    for (const h of hosts) this.toReconcile.add(h);
    if (this.reconciling) return;
    this.reconciling = true;
    const step = (): void => {
      let n = 0;
      for (const host of this.toReconcile) {
        this.toReconcile.delete(host);
        this.reconcileHost(host);
        if (++n >= RECONCILE_CHUNK) break;
      }
      if (this.toReconcile.size > 0 && !this.stopped) setImmediate(step);
      else this.reconciling = false;
    };
    setImmediate(step);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.sessions.values()) s.stop();
    this.sessions.clear();
    this.standby.clear();
    this.channels.close();
    for (const [host, list] of this.waiters) {
      this.waiters.delete(host);
      for (const w of list) w.resolve(null);
    }
  }

  // ---- ownership ---------------------------------------------------------------------------------

  /** Starts sessions for the hosts this replica owns and stops the others; keeps standby channels warm. */
  reconcile(): void {
    // Releasing is cheap and must be immediate (no two owners); taking hosts goes through the chunked path.
    for (const [host, s] of this.sessions) {
      if (this.store.cache.agents.get(host) !== s.address || !owns(this.membership, host)) this.reconcileHost(host);
    }
    this.scheduleReconcile(this.store.cache.agents.keys());
    for (const host of this.standby.keys()) if (!this.store.cache.agents.has(host)) this.reconcileHost(host);
  }

  private reconcileHost(host: string): void {
    if (this.stopped) return;
    const address = this.store.cache.agents.get(host);
    const mine = address !== undefined && owns(this.membership, host);
    // A NATS host needs no warm channel: its subject is there for any replica.
    const grpcAddress = address === undefined ? null : decodeRegistration(address);
    const standby =
      grpcAddress?.transport === 'grpc' && !mine && runnerUpOf(host, this.membership.members()) === this.self
        ? grpcAddress.agent
        : null;
    // Standby is marked before a released session gives its channel back and unmarked after a new session took
    // it, so the agent's connection stays up through both moves.
    if (standby !== null) this.setStandby(host, standby);
    const session = this.sessions.get(host);
    if (session !== undefined && (!mine || session.address !== address)) {
      session.stop();
      this.sessions.delete(host);
      this.opts.log.debug('released host', { host });
    }
    if (mine && !this.sessions.has(host)) {
      const s = new HostSession(host, address, {
        cache: this.store.cache,
        streamOptions: this.opts.streamOptions,
        channels: this.channels,
        mayPush: (h) => !this.stopped && owns(this.membership, h),
        onResult: (r, origins) => this.onLocalResult(r, origins),
        onPushed: (ms, full) => {
          this.opts.metrics.pushes.inc();
          if (full) this.opts.metrics.fullPushes.inc();
          this.opts.metrics.pushLatency.observe(ms);
        },
        onCancelled: (n) => this.opts.metrics.pushesCancelled.inc(n),
        onFailure: (h, reason) => {
          this.opts.metrics.pushFailures.inc();
          this.opts.log.debug('agent stream failed', { host: h, reason });
        },
        transport: (h, value) => this.transportOf(h, value),
      });
      this.sessions.set(host, s);
      this.opts.log.debug('took host', { host, agent: address });
      s.start(); // the first connection pushes the full state
    }
    if (standby === null) this.setStandby(host, null);
  }

  /** NATS hosts get a NatsHostTransport; gRPC hosts the session's own AgentStream (null). */
  private transportOf(host: string, value: string): NatsHostTransport | null {
    const r = decodeRegistration(value);
    if (r.transport === 'grpc') return null;
    return new NatsHostTransport(host, r.agent, {
      link: this.opts.nats ?? null,
      streamOptions: this.opts.streamOptions,
      channels: this.channels,
      onFallback: (h) => {
        this.opts.metrics.natsFallbacks.inc();
        this.opts.log.warn('NATS broker unreachable: pushing over gRPC', { host: h, agent: r.agent });
      },
    });
  }

  /** A host whose runner-up is this replica keeps a connected (idle) channel to its agent. */
  private setStandby(host: string, want: string | null): void {
    const had = this.standby.get(host);
    if (had === (want ?? undefined)) return;
    if (had !== undefined) this.channels.setStandby(had, false);
    if (want === null) this.standby.delete(host);
    else {
      this.standby.set(host, want);
      this.channels.setStandby(want, true);
    }
  }

  /** A NATS host's agent lost messages the stream dropped: its owner pushes its full state. */
  private resync(token: string): void {
    for (const [host, s] of this.sessions) {
      if (subjectToken(host) !== token) continue;
      this.opts.metrics.natsResyncs.inc();
      this.opts.log.warn('NATS messages expired before the host consumed them: pushing its full state', { host });
      s.repush();
      return;
    }
  }

  private onHostChange(change: HostChange): void {
    if (this.fanout === null) {
      this.sessions.get(change.host)?.enqueue(change);
      return;
    }
    // A commit's changes are emitted in one turn: gathered, they show which hosts need the same change.
    this.batch.push(change);
    if (this.batch.length === 1) queueMicrotask(() => this.flushChanges());
  }

  private flushChanges(): void {
    const changes = this.batch;
    this.batch = [];
    this.fanout?.dispatch(
      changes,
      (h) => this.sessions.get(h),
      (h) => !this.stopped && owns(this.membership, h),
    );
  }

  // ---- results -----------------------------------------------------------------------------------

  private onLocalResult(result: HostResult, origins: ReadonlySet<string | null>): void {
    this.onResult(result);
    for (const origin of origins) {
      if (origin === this.self) continue;
      this.store.publishResult(result, origin ?? '').catch((err: unknown) => {
        this.opts.log.warn('cannot publish result', { host: result.host, error: (err as Error).message });
      });
    }
  }

  private onResult(result: HostResult): void {
    let list = this.recent.get(result.host);
    if (list === undefined) this.recent.set(result.host, (list = []));
    list.push(result);
    if (list.length > RECENT_RESULTS) list.shift();
    const waiting = this.waiters.get(result.host);
    if (waiting === undefined) return;
    const keep = waiting.filter((w) => w.version > result.version);
    for (const w of waiting) if (w.version <= result.version) w.resolve(result);
    if (keep.length === 0) this.waiters.delete(result.host);
    else this.waiters.set(result.host, keep);
  }

  lastResult(host: string): HostResult | null {
    const list = this.recent.get(host);
    return list === undefined || list.length === 0 ? null : (list[list.length - 1] as HostResult);
  }

  /** The first result covering `version` (statuses of that very push when we still have it), or null on timeout. */
  private waitFor(host: string, version: number, timeoutMs: number): Promise<HostResult | null> {
    const seen = this.recent.get(host)?.find((r) => r.version >= version);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const list = this.waiters.get(host);
        if (list !== undefined)
          this.waiters.set(
            host,
            list.filter((w) => w !== waiter),
          );
        resolve(null);
      }, timeoutMs);
      const waiter: Waiter = {
        version,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      let list = this.waiters.get(host);
      if (list === undefined) this.waiters.set(host, (list = []));
      list.push(waiter);
    });
  }

  // ---- northbound ----------------------------------------------------------------------------------

  /** Accepts an encoded GoalStateV2; resolves with the reply for the caller. Throws ControlError. */
  async submit(raw: Uint8Array): Promise<GoalStateOperationReply> {
    const started = process.hrtime.bigint();
    let gs: ParsedGoalState;
    try {
      // Everything an agent would refuse whole is refused here, before anything is stored.
      const limit = this.opts.maxMessageBytes ?? AGENT_MAX_MESSAGE_BYTES;
      if (raw.length > limit)
        validateSize({ resources: new Map(), hosts: new Map() }, raw.length, this.store.cache, limit);
      gs = parseGoalStateV2(raw);
      validateContent(gs);
      validateSize(gs, raw.length, this.store.cache, limit);
    } catch (err: unknown) {
      this.opts.metrics.northboundRejected.inc();
      throw err instanceof ControlError ? err : new ControlError('BAD_GOAL_STATE', (err as Error).message);
    }
    const reply = await this.apply(gs, this.opts.ackMode);
    reply.messageTotalOperationTime = Math.min(0xffffffff, Number((process.hrtime.bigint() - started) / 1000n));
    return reply;
  }

  private async apply(gs: ParsedGoalState, ackMode: AckMode): Promise<GoalStateOperationReply> {
    const t0 = Date.now();
    let committed;
    try {
      committed = await this.store.commit(gs, this.self);
    } catch (err: unknown) {
      this.opts.metrics.northboundRejected.inc();
      throw err instanceof ControlError ? err : new ControlError('STORE_UNAVAILABLE', (err as Error).message);
    }
    this.opts.metrics.commitLatency.observe(Date.now() - t0);
    this.opts.metrics.northbound.inc();
    const { versions, plan } = committed;
    const statuses: Status[] = [];
    const opOf = (key: string): OperationType => gs.resources.get(key)?.operation ?? OperationType.INFO;
    const status = (key: string, st: OperationStatus): Status => {
      const { kind, id } = parseResourceKey(key);
      return {
        resourceId: id,
        resourceType: kind.type,
        operationType: opOf(key),
        operationStatus: st,
        dataplaneProgrammingTime: 0,
        networkConfigurationTime: 0,
        stateElapseTime: 0,
      };
    };
    for (const [, keys] of plan.missing) for (const k of keys) statuses.push(status(k, OperationStatus.FAILURE));

    const perHost = await Promise.all(
      plan.hosts.map(async (h) => {
        const expected = [...h.changed, ...h.deletes.keys()];
        const version = versions.get(h.host) ?? 0;
        if (ackMode === 'durable') return expected.map((k) => status(k, OperationStatus.SUCCESS));
        if (!this.store.cache.agents.has(h.host)) return expected.map((k) => status(k, OperationStatus.FAILURE));
        const result = await this.waitFor(h.host, version, this.opts.resultTimeoutMs);
        if (result === null) return expected.map((k) => status(k, OperationStatus.PENDING));
        return matchStatuses(expected, result.statuses, (key) => gs.resources.get(key)?.operation);
      }),
    );
    for (const list of perHost) statuses.push(...list);
    // Alcor's NCM answers the DPM with format_version 100 before the agents did; 102 here means "agents answered".
    return {
      formatVersion: ackMode === 'durable' ? 100 : 102,
      operationStatuses: statuses,
      messageTotalOperationTime: 0,
    };
  }

  /**
   * For the resource layer (control/dpm): makes a goal state it derived durable through the same path as
   * submit, and hands back, per touched host, a promise of the agent's result (null: no agent, or none in time).
   */
  async commitDerived(
    gs: ParsedGoalState,
  ): Promise<{ versions: ReadonlyMap<string, number>; acks: Map<string, Promise<HostResult | null>> }> {
    const { versions } = await this.store.commit(gs, this.self);
    this.opts.metrics.northbound.inc();
    const acks = new Map<string, Promise<HostResult | null>>();
    for (const [host, version] of versions) {
      acks.set(
        host,
        this.store.cache.agents.has(host)
          ? this.waitFor(host, version, this.opts.resultTimeoutMs)
          : Promise.resolve(null),
      );
    }
    return { versions, acks };
  }

  // ---- agents' requests --------------------------------------------------------------------------

  async hostRequest(req: HostRequest, host: string): Promise<HostRequestReply> {
    this.opts.metrics.onDemand.inc();
    const started = Date.now();
    const out: HostRequestReply['operationStatuses'] = [];
    const onDemand: string[] = [];
    const onDemandIds: string[] = [];
    for (const r of req.stateRequests) {
      if (r.requestType === RequestType.AGENT_RESTARTED) {
        const known = this.store.cache.agents.has(host) || this.store.cache.hosts.has(host);
        if (known) await this.repush(host);
        out.push({
          requestId: r.requestId,
          operationStatus: known ? OperationStatus.SUCCESS : OperationStatus.FAILURE,
        });
        continue;
      }
      const keys = this.findNeighbors(r.destinationIp, r.tunnelId);
      if (keys.length === 0) {
        out.push({ requestId: r.requestId, operationStatus: OperationStatus.FAILURE });
        continue;
      }
      onDemand.push(...keys);
      onDemandIds.push(r.requestId);
    }
    if (onDemand.length > 0) {
      // Adding the neighbors to the host's index goes through the normal path: durable, then pushed by the owner.
      let st = OperationStatus.SUCCESS;
      try {
        await this.apply({ resources: new Map(), hosts: new Map([[host, [...new Set(onDemand)]]]) }, 'agents');
      } catch {
        st = OperationStatus.FAILURE;
      }
      for (const id of onDemandIds) out.push({ requestId: id, operationStatus: st });
    }
    return { formatVersion: 1, operationStatuses: out, totalOperationTime: (Date.now() - started) * 1000 };
  }

  /** Full re-push of a host, by whichever replica owns it. */
  async repush(host: string): Promise<void> {
    const local = this.sessions.get(host);
    if (local !== undefined) local.repush();
    else await this.store.requestRepush(host);
  }

  /** Neighbor keys whose fixed IP is `ip` (in tunnel `tunnelId` when the neighbor says): an index lookup. */
  private findNeighbors(ip: string, tunnelId: number): string[] {
    if (ip === '') return [];
    return this.store.cache.neighbors.lookup(ip, tunnelId);
  }

  // ---- operator views ----------------------------------------------------------------------------

  hosts(): Array<Record<string, unknown>> {
    const members = this.membership.members();
    const all = new Set([...this.store.cache.agents.keys(), ...this.store.cache.hosts.keys()]);
    return [...all].sort().map((host) => this.describeHost(host, members));
  }

  /** One host's view, or null when neither an agent nor any state is known for it. */
  host(hostIp: string): Record<string, unknown> | null {
    if (!this.store.cache.agents.has(hostIp) && !this.store.cache.hosts.has(hostIp)) return null;
    return this.describeHost(hostIp, this.membership.members());
  }

  private describeHost(host: string, members: readonly string[]): Record<string, unknown> {
    const s = this.sessions.get(host);
    const idx = this.store.cache.hosts.get(host);
    const reg = this.store.cache.agents.get(host);
    const r = reg === undefined ? null : decodeRegistration(reg);
    return {
      hostIp: host,
      agent: r?.agent ?? null,
      transport: r?.transport ?? null,
      owner: ownerOf(host, members),
      ownedHere: s !== undefined,
      stream: s?.state() ?? null,
      lastError: s === undefined || s.lastError() === '' ? null : s.lastError(),
      pending: s?.pendingCount() ?? 0,
      version: idx?.version ?? 0,
      resources: idx?.keys.size ?? 0,
      lastResult: this.lastResult(host),
    };
  }

  shardMap(): Record<string, unknown> {
    const members = this.membership.members();
    const counts: Record<string, number> = {};
    for (const m of members) counts[m] = 0;
    for (const host of this.store.cache.agents.keys()) {
      const o = ownerOf(host, members);
      if (o !== null) counts[o] = (counts[o] ?? 0) + 1;
    }
    return {
      self: this.self,
      active: this.membership.active(),
      members,
      hostsPerReplica: counts,
      membership: this.membership.describe(),
    };
  }
}
