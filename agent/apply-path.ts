// The apply path: goal states and host facts go from the engine to OVS as bundles, and statuses go
// back to the sender.
//
// Why it is a module of its own: this is the one place where the engine and the OpenFlow session
// meet, and the order of its steps is the agent's correctness (plan, stream the flow-mods into a
// bundle, commit the engine only after OVS confirmed, abort it when OVS refused, never answer "bad
// input" for our own fault). The daemon wires it; host bookkeeping, packet-ins and HTTP never open
// an engine transaction. Every entry point runs in the serial queue (agent/serial-queue.ts).
// docs/agent.md, "Apply path", describes the behaviour.

import type { Engine, Prepared, Txns } from '../core/engine/engine';
import { codeOf, errorText } from '../core/errors';
import type { PlannedStatus } from '../core/goalstate';
import { COOKIE_MARKER_BITS, COOKIE_MASK } from '../core/pipeline/cookie';
import {
  GoalState,
  GoalStateOperationReply,
  GoalStateV2,
  OperationStatus,
  OperationType,
  ResourceType,
} from '../proto';
import type { GoalStateApplier, GoalStateRequest, RequestContext } from './grpc/server';
import { DaemonError } from './errors';
import type { Logger } from './log';
import type { Metrics } from './metrics';
import type { InterfaceMonitor, PortEvent } from './ovsdb';
import { SessionError, type BundleStream, type BundleTimings, type OpenFlowSession } from './openflow/session';
import { flowsByOwnerKind, withoutDeletes } from './read-back';
import { encodeGroupDeletes, staleGroupIds } from '../core/zeta/stale-groups';
import type { SerialQueue } from './serial-queue';
import type { SnapshotLag } from './snapshot-lag';
import type { GoalStateLog } from './goalstate-log';
import { NONE_BOUND, appliedLogFields, mapStatuses, refusalOf, replyOf, us, withBoundPorts } from './apply-replies';

export { refusalOf, type Refusal } from './apply-replies';

const STARTUP_CONVERGE_ATTEMPTS = 5;
/** Deltas per engine partition encoded and not yet flushed to OVS (engine.ts PrepareOptions.window). */
const DELTA_WINDOW = 4;
/** How long a goal state waits for a reconnecting OpenFlow session before it fails. */
const OVS_WAIT_MS = 10_000;

/** Statuses that mean the resource changed (applied, or PENDING its interface): the held state moved. */
export const CHANGING: ReadonlySet<OperationStatus> = new Set([OperationStatus.SUCCESS, OperationStatus.PENDING]);

/** What the held views (DHCP leases, ZETA OAM ports) are built from. */
const HELD_VIEW_TYPES: ReadonlySet<ResourceType> = new Set([
  ResourceType.DHCP,
  ResourceType.SUBNET,
  ResourceType.VPC,
  ResourceType.GATEWAY,
]);

/** A port id and its ofport, or undefined to unbind it. */
export type HostFact = readonly [string, number | undefined];

export interface ApplyPathParts {
  readonly engine: Engine;
  readonly session: OpenFlowSession;
  readonly monitor: InterfaceMonitor;
  readonly queue: SerialQueue;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** After every commit; `heldViews`: DHCP, subnet, VPC or gateway resources changed. */
  readonly afterCommit: (heldViews: boolean) => void;
  /** After OVS accepted a goal state's bundle; `seq` is its arrival number (RequestContext.seq). */
  readonly onApplied?: (seq: number) => void;
  /** Told of every goal-state bundle: the state on disk is behind OVS from its commit on unless logged. */
  readonly snapshotLag?: Pick<SnapshotLag, 'beforeCommit' | 'bundleDone'>;
  /** Told of every goal state's size once it is answered (agent/idle-collector.ts). */
  readonly onGoalState?: (bytes: number) => void;
  /** Every goal state goes in, before its bundle commits, with its outcome after (agent/goalstate-log.ts). */
  readonly goalLog?: Pick<GoalStateLog, 'begin' | 'written' | 'end'>;
}

/** The flows a start-up without a trusted snapshot found installed and kept (agent/read-back.ts). */
export interface ReadBackInfo {
  readonly flows: number;
  readonly byKind: Readonly<Record<string, number>>;
}

/** A goal state planned by the engine, its flow-mods streaming into a bundle. */
interface Planned {
  readonly prepared: Prepared;
  readonly stream: BundleStream | undefined;
}

type Sent =
  | { readonly ok: true; readonly ovs: BundleTimings; readonly tBundle: bigint; readonly bundleUs: number }
  | { readonly ok: false; readonly reply: GoalStateOperationReply };

export class ApplyPath {
  readonly #p: ApplyPathParts;
  #converged = false;
  #lastConvergeFlowMods = 0;
  /** Our flows OVS had when the first converge dumped them. */
  #installedAtStart = 0;
  #kindsAtStart: Readonly<Record<string, number>> = {};
  /** Converges keep every installed flow (no deletes) until the full state is known (agent/read-back.ts). */
  #holdingDeletes = false;
  #heldDeletes = 0;
  /** The start trusted a flow count: verifyInBackground has the full check to do. */
  #verifyPending = false;
  /** Arrival number of the newest goal state handed to the queue. */
  #lastArrivedSeq = 0;

  constructor(parts: ApplyPathParts) {
    this.#p = parts;
    // Every reconnect after the first converge converges again (the first is convergeAtStartup's).
    parts.session.on('ready', () => {
      if (this.#converged) void parts.queue.run(() => this.#converge('reconnect')).catch(() => undefined);
    });
  }

  get lastConvergeFlowMods(): number {
    return this.#lastConvergeFlowMods;
  }

  /** Arrival number (RequestContext.seq) of the newest goal state received, applied or not. */
  get lastArrivedSeq(): number {
    return this.#lastArrivedSeq;
  }

  /** Whether converges are keeping flows the engine does not desire (read-back, full state not known yet). */
  get holdingDeletes(): boolean {
    return this.#holdingDeletes;
  }

  /** What the start-up converge found installed and, without a trusted snapshot, kept. */
  get readBack(): ReadBackInfo & { readonly holding: boolean; readonly heldDeletes: number } {
    return {
      flows: this.#installedAtStart,
      byKind: this.#kindsAtStart,
      holding: this.#holdingDeletes,
      heldDeletes: this.#heldDeletes,
    };
  }

  /**
   * The full state is known: one converge that may delete, so flows no owner of the held state
   * wants go. Later converges delete as usual. Returns the flow-mods it sent.
   */
  async sweep(): Promise<number> {
    return this.#p.queue.run(async () => {
      await this.#converge('full state known', true);
      this.#holdingDeletes = false;
      this.#heldDeletes = 0;
      return this.#lastConvergeFlowMods;
    });
  }

  /** The gRPC server's view: each goal state queued behind everything before it. */
  applier(): GoalStateApplier {
    const q = this.#p.queue;
    const arrived = (ctx: RequestContext): void => {
      this.#lastArrivedSeq = Math.max(this.#lastArrivedSeq, ctx.seq);
    };
    return {
      applyV1: (req: GoalStateRequest<GoalState>, ctx: RequestContext) => {
        arrived(ctx);
        return q.run(() => this.#apply(req, 1, ctx));
      },
      applyV2: (req: GoalStateRequest<GoalStateV2>, ctx: RequestContext) => {
        arrived(ctx);
        return q.run(() => this.#apply(req, 2, ctx));
      },
    };
  }

  /**
   * The first converge, which must succeed before the agent serves; a connection that drops
   * meanwhile is retried. Later reconnects converge by themselves (the constructor's 'ready').
   * `trusted`: the engine was restored from a snapshot that is a full state. Otherwise every installed
   * flow is kept (read back) and no converge deletes until sweep(): an empty or partial engine is not
   * a reason to remove what forwards traffic now.
   */
  async convergeAtStartup(trusted: boolean, counted?: Promise<number>): Promise<void> {
    const { session, queue, log } = this.#p;
    this.#holdingDeletes = !trusted;
    for (let attempt = 1; ; attempt++) {
      await session.whenReady();
      try {
        await queue.run(() =>
          trusted ? this.#startTrusted(attempt === 1 ? counted : undefined) : this.#converge('startup'),
        );
        break;
      } catch (e: unknown) {
        if (!(e instanceof SessionError) || e.code !== 'OF_SESSION_DOWN' || attempt >= STARTUP_CONVERGE_ATTEMPTS)
          throw e;
        log('warn', 'startup converge interrupted; retrying', { attempt, error: errorText(e) });
      }
    }
    this.#converged = true;
    // Nothing installed: nothing to keep, and nothing a later converge could wrongly delete.
    if (this.#installedAtStart === 0) this.#holdingDeletes = false;
  }

  /**
   * A start from a trusted state (`counted`: OVS's count of our flows, if taken while the engine was
   * restored): when OVS holds as many of our flows as the engine wants, they are
   * taken as installed now and checked one by one after the agent is ready (verifyInBackground). A
   * dump of two million flows takes OVS tens of seconds; an agent killed and restarted finds OVS as
   * it left it, and the count (one AGGREGATE reply) catches a switch that was restarted or touched.
   */
  async #startTrusted(counted: Promise<number> | undefined): Promise<void> {
    const { engine, session, metrics, log } = this.#p;
    const t0 = process.hrtime.bigint();
    const [installed, stats] = await Promise.all([counted ?? countOurFlows(session), engine.stats()]);
    if (installed !== stats.flows) {
      log('info', 'installed flows differ in number from the restored state; converging now', {
        installed,
        desired: stats.flows,
      });
      await this.#converge('startup');
      return;
    }
    this.#installedAtStart = installed;
    this.#lastConvergeFlowMods = 0;
    this.#verifyPending = true;
    metrics.flowsInstalled = stats.flows;
    log('info', 'installed flows match the restored state in number; each is checked after start-up', {
      flows: installed,
      elapsedUs: us(t0),
    });
  }

  /**
   * After a start that trusted a flow count: the full converge it stood in for. The dump runs
   * outside the serial queue, so goal states go on meanwhile; the diff and its bundle run in it,
   * against the engine as it is then. A dump older than goal states applied since is still safe to
   * diff: every flow-mod it yields moves a flow to what the engine wants now, and flows those goal
   * states touched already are that.
   */
  verifyInBackground(): void {
    if (!this.#verifyPending) return;
    this.#verifyPending = false;
    const { session, queue, log } = this.#p;
    void (async () => {
      const t0 = process.hrtime.bigint();
      const bodies = await session.dumpFlows(COOKIE_MARKER_BITS, COOKIE_MASK);
      const dumpUs = us(t0);
      await queue.run(() => this.#converge('verify after a trusted start', undefined, bodies));
      log('info', 'restored flows verified', { dumpUs, elapsedUs: us(t0), flowMods: this.#lastConvergeFlowMods });
    })().catch((e: unknown) => {
      log('warn', 'background flow check failed; the next reconnect converges', { error: errorText(e) });
    });
  }

  /** An interface came or went: bind or unbind its port in a bundle of its own. */
  portEvent(ev: PortEvent): void {
    const fact: HostFact = ev.kind === 'bound' ? [ev.portId, ev.ofport] : [ev.portId, undefined];
    this.#p.log('info', `port ${ev.kind}`, { portId: ev.portId, ofport: fact[1] });
    void this.#p.queue
      .run(async () => {
        if (await this.#applyHostFacts([fact])) this.#p.afterCommit(false);
      })
      .catch((e: unknown) => this.#p.log('error', 'port event failed', { error: errorText(e) }));
  }

  /**
   * Hitless converge: dump our flows (cookie marker), let the engine diff them against its desired
   * table, send the difference as one bundle. Nothing is flushed; unchanged flows keep forwarding.
   * When it may delete, groups of our id range that no gateway wants are deleted in the same bundle
   * (after the flow-mods); while deletes are held (read-back) they stay, as flows do.
   */
  async #converge(why: string, mayDelete = !this.#holdingDeletes, dumped?: readonly Buffer[]): Promise<void> {
    const { engine, session, metrics, log } = this.#p;
    const t0 = process.hrtime.bigint();
    await session.whenReady();
    const bodies = dumped ?? (await session.dumpFlows(COOKIE_MARKER_BITS, COOKIE_MASK));
    const dumpUs = us(t0);
    if (!this.#converged) {
      this.#installedAtStart = countFlowStats(bodies);
      this.#kindsAtStart = flowsByOwnerKind(bodies);
    }
    const r = await engine.reconcile(bodies);
    let deltas = r.deltas;
    let flowMods = r.flowMods;
    let held = 0;
    if (!mayDelete) {
      const kept = withoutDeletes(r.deltas);
      deltas = kept.deltas;
      flowMods = kept.kept;
      held = kept.held;
      this.#heldDeletes = held;
    }
    // Groups are not in the flow dump: those of our id range no gateway wants go last in the bundle.
    const staleGroups = mayDelete ? await this.#staleGroups() : [];
    if (staleGroups.length > 0) deltas = [...deltas, encodeGroupDeletes(staleGroups, r.bundleId)];
    await session.applyBundle(r.bundleId, deltas);
    this.#lastConvergeFlowMods = flowMods + staleGroups.length;
    metrics.flowsInstalled = (await engine.stats()).flows;
    log('info', 'converged', {
      why,
      flowMods,
      ...(mayDelete ? {} : { keptNotDesired: held }),
      ...(staleGroups.length > 0 ? { staleGroupsDeleted: staleGroups } : {}),
      dumpBodies: bodies.length,
      ...(dumped === undefined ? { dumpUs } : {}),
      elapsedUs: us(t0),
    });
  }

  /** Installed groups of our id range that the engine does not want (core/zeta/stale-groups.ts). */
  async #staleGroups(): Promise<number[]> {
    const [installed, stats] = await Promise.all([this.#p.session.dumpGroups(), this.#p.engine.stats()]);
    return staleGroupIds(
      installed.map((g) => g.groupId),
      stats.groups,
    );
  }

  /**
   * A goal state, logged as it arrived while the engine plans it (the log must hold it before its
   * bundle commits: #send waits for that), with its outcome before the reply goes out.
   */
  async #apply(
    req: GoalStateRequest<GoalState> | GoalStateRequest<GoalStateV2>,
    version: 1 | 2,
    ctx: RequestContext,
  ): Promise<GoalStateOperationReply> {
    if (req.kind !== 'raw') throw new DaemonError('DAEMON_START', 'the agent serves goal states in raw mode');
    const goalLog = this.#p.goalLog;
    goalLog?.begin(version, req.bytes);
    const outcome = { committed: false };
    try {
      return await this.#applyRaw(req.bytes, version, ctx, outcome);
    } finally {
      await goalLog?.end(outcome.committed);
      this.#p.onGoalState?.(req.bytes.length);
    }
  }

  async #applyRaw(
    bytes: Uint8Array,
    version: 1 | 2,
    ctx: RequestContext,
    outcome: { committed: boolean },
  ): Promise<GoalStateOperationReply> {
    const t0 = process.hrtime.bigint();
    // While the OpenFlow session reconnects, hold the goal state briefly rather than fail it at once.
    await readyWithin(this.#p.session, OVS_WAIT_MS);
    let planned: Planned;
    try {
      planned = await this.#plan(bytes, version);
    } catch (e: unknown) {
      return this.#refused(e, bytes, version, ctx, t0);
    }
    const sent = await this.#send(planned, ctx, t0);
    if (!sent.ok) return sent.reply;
    outcome.committed = true;
    const { prepared } = planned;
    const { engine, metrics, log } = this.#p;
    // OVS confirmed: the commit need not delay the reply. Each partition runs its tasks in order, so
    // anything sent to the engine after this (the next goal state, host facts) sees it committed.
    engine.commit(prepared.txns).catch((e: unknown) => {
      log('error', 'engine commit failed after OVS confirmed the bundle', { seq: ctx.seq, error: errorText(e) });
    });
    // After the commit is queued: whatever the callback queues (a sweep) sees this goal state held.
    this.#p.onApplied?.(ctx.seq);
    metrics.goalStates.success++;
    metrics.observeApply(us(t0) / 1e6);
    let bundleUs = sent.bundleUs;
    // The neighbors' statuses stay columnar (GoalStateStatuses) until the reply is built: a million
    // status objects held twice cost hundreds of MB. Ports and DHCP are among the others.
    const others = [...prepared.statuses.others()];
    const bound = await this.#bindPorts(others);
    if (bound.size > 0) bundleUs = us(sent.tBundle);
    const statuses = bound.size === 0 ? prepared.statuses : withBoundPorts(prepared.statuses, bound);
    metrics.flowsInstalled += prepared.add - prepared.delete;
    this.#p.afterCommit(others.some((s) => HELD_VIEW_TYPES.has(s.resourceType) && CHANGING.has(s.status)));
    const applied = appliedLogFields(prepared, bound.size, ctx, version, {
      prepareUs: Number((sent.tBundle - t0) / 1000n),
      bundleUs,
      ovs: sent.ovs,
      totalUs: us(t0),
    });
    // Written after the reply has gone out: a log line to a pipe wakes its reader, and the sender is
    // waiting for the reply, not for the log.
    setImmediate(() => log('info', 'goal state applied', applied));
    return replyOf(statuses, bundleUs, t0);
  }

  /**
   * engine.prepare with the flow-mods going into the bundle as each chunk is encoded: OVS parses
   * them while the engine computes the rest. On a failure the bundle is abandoned (OVS discards
   * what it holds) and the error goes up; the engine has already taken every chunk back.
   */
  async #plan(bytes: Uint8Array, version: 1 | 2): Promise<Planned> {
    const { engine, session } = this.#p;
    let stream: BundleStream | undefined;
    let streamBundle = -1;
    try {
      const prepared = await engine.prepare(bytes, version, {
        // Backpressure: a partition encodes ahead of the socket by at most this many chunks, and
        // reuses each chunk's buffer once the socket has flushed it (bounded memory while OVS parses).
        window: DELTA_WINDOW,
        onDelta: (delta, bundleId, release) => {
          // A new bundle id: the engine started over (engine.ts PrepareOptions); the old bundle goes.
          if (stream !== undefined && streamBundle !== bundleId) {
            stream.abandon('the engine planned the goal state again');
            stream = undefined;
          }
          if (stream === undefined) {
            streamBundle = bundleId;
            stream = session.streamBundle(bundleId);
            stream.result.catch(() => undefined); // awaited in #send; a failure before then must not go unhandled
          }
          stream.push(delta, release);
        },
      });
      return { prepared, stream };
    } catch (e: unknown) {
      if (stream !== undefined) {
        stream.abandon(errorText(e));
        await stream.result.catch(() => undefined);
      }
      throw e;
    }
  }

  /** A goal state the engine would not plan: see refusalOf. */
  #refused(e: unknown, bytes: Uint8Array, version: 1 | 2, ctx: RequestContext, t0: bigint): GoalStateOperationReply {
    const code = codeOf(e);
    const refusal = refusalOf(e, bytes, version);
    if (refusal.kind === 'input') {
      this.#p.log('warn', 'goal state rejected', { seq: ctx.seq, code, error: errorText(e) });
      throw refusal.error;
    }
    this.#p.metrics.goalStates.failure++;
    this.#p.log('error', 'engine failed on a goal state', {
      seq: ctx.seq,
      code,
      error: errorText(e),
      stack: e instanceof Error ? e.stack : undefined,
    });
    if (refusal.kind === 'fault') throw e;
    return replyOf(refusal.statuses, 0, t0);
  }

  /** Ends the bundle and waits for OVS. A refused bundle: engine aborted, changing resources answered FAILURE. */
  async #send(planned: Planned, ctx: RequestContext, t0: bigint): Promise<Sent> {
    const { prepared, stream } = planned;
    const tBundle = process.hrtime.bigint();
    const lag = this.#p.snapshotLag;
    let committed = false;
    try {
      await lag?.beforeCommit((await this.#p.goalLog?.written()) ?? false);
      stream?.end();
      const ovs = stream === undefined ? { addUs: 0, commitUs: 0 } : await stream.result;
      committed = true;
      return { ok: true, ovs, tBundle, bundleUs: us(tBundle) };
    } catch (e: unknown) {
      const bundleUs = us(tBundle);
      const named = await this.#nameErrors(e, prepared.txns);
      await this.#p.engine.abort(prepared.txns);
      this.#p.metrics.goalStates.failure++;
      this.#p.log('error', 'OVS rejected the goal state; dataplane unchanged', {
        seq: ctx.seq,
        bundleId: prepared.bundleId,
        error: errorText(e),
        owners: named,
      });
      const reason = `OVS rejected the bundle: ${errorText(e)}`;
      const statuses = mapStatuses(prepared.statuses, (s) =>
        CHANGING.has(s.status) ? { ...s, status: OperationStatus.FAILURE, reason } : s,
      );
      return { ok: false, reply: replyOf(statuses, bundleUs, t0) };
    } finally {
      lag?.bundleDone(committed);
    }
  }

  /**
   * Ports of a committed goal state: watch their interfaces; a PENDING port whose interface is
   * already on the bridge is bound right away (the engine only learns ofports through host facts)
   * and answered SUCCESS. A deleted port forgets its ofport too, so a later port with the same id is
   * not programmed on a stale one. `statuses`: the goal state's, neighbors aside. Returns the ids of
   * the PENDING ports it bound (now SUCCESS).
   */
  async #bindPorts(statuses: readonly PlannedStatus[]): Promise<ReadonlySet<string>> {
    const monitor = this.#p.monitor;
    const facts: HostFact[] = [];
    const bindIds = new Set<string>();
    for (const s of statuses) {
      if (s.resourceType !== ResourceType.PORT) continue;
      if (s.operationType === OperationType.DELETE && s.status === OperationStatus.SUCCESS) {
        monitor.untrack(s.resourceId);
        facts.push([s.resourceId, undefined]);
        continue;
      }
      if (!CHANGING.has(s.status)) continue;
      const ofport = monitor.track(s.resourceId);
      if (s.status === OperationStatus.PENDING && ofport !== null) {
        facts.push([s.resourceId, ofport]);
        bindIds.add(s.resourceId);
      }
    }
    if (facts.length === 0) return NONE_BOUND;
    const bound = await this.#applyHostFacts(facts);
    return bound ? bindIds : NONE_BOUND;
  }

  /** Binds ports to ofports (or unbinds with undefined) in a bundle of their own. True if applied. */
  async #applyHostFacts(ofports: readonly HostFact[]): Promise<boolean> {
    const { engine, session, metrics, log } = this.#p;
    const prepared = await engine.prepareHostFacts({ ofports });
    try {
      await session.applyBundle(prepared.bundleId, prepared.deltas);
      await engine.commit(prepared.txns);
      metrics.flowsInstalled += prepared.add - prepared.delete;
      log('info', 'host facts applied', {
        ports: ofports.map(([id, of]) => `${id}=${of ?? 'none'}`),
        flowMods: prepared.flowMods,
      });
      return true;
    } catch (e: unknown) {
      await engine.abort(prepared.txns);
      log('error', 'host facts bundle failed', { error: errorText(e) });
      return false;
    }
  }

  /** "owner: error" for each OVS error of a rejected bundle (owner from the engine xid). */
  async #nameErrors(e: unknown, txns: Txns): Promise<string[]> {
    if (!(e instanceof SessionError)) return [];
    const out: string[] = [];
    for (const err of e.ofErrors) {
      const owner = await this.#p.engine.ownerOfXid(txns, err.xid);
      out.push(`${owner ?? 'bundle'}: ${err.typeName}/${err.codeName}`);
    }
    return out;
  }
}

async function readyWithin(session: OpenFlowSession, ms: number): Promise<void> {
  if (session.isReady) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(
      () => reject(new DaemonError('DAEMON_OVS_DOWN', `OpenFlow session to OVS not ready after ${ms} ms`)),
      ms,
    );
  });
  try {
    await Promise.race([session.whenReady(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Our flows in OVS, by cookie (one AGGREGATE reply, where a dump of a million flows takes seconds). */
export async function countOurFlows(session: OpenFlowSession): Promise<number> {
  await session.whenReady();
  return session.countFlows(COOKIE_MARKER_BITS, COOKIE_MASK);
}

/** Entries in FLOW_STATS reply bodies, by their length fields only (OpenFlow 1.3 §7.3.5.2: ofp_flow_stats starts with u16 length). */

function countFlowStats(bodies: readonly Uint8Array[]): number {
  let n = 0;
  for (const b of bodies) {
    for (let at = 0; at + 2 <= b.length; n++) {
      const len = (b[at] << 8) | b[at + 1];
      if (len === 0) break;
      at += len;
    }
  }
  return n;
}
