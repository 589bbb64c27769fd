// The agent daemon: OVSDB (bridge, tunnel port, interface monitor) + the compute engine + the
// OpenFlow session + the gRPC goal-state server + a small HTTP server for metrics and status.
// See docs/agent.md for the startup sequence, the apply path and restart semantics.
//
// Everything that opens an engine transaction (goal states, host facts, converge after a
// (re)connect) runs through one serial queue: the engine holds at most one open transaction, and
// OVS sees the bundles in the order the engine planned them.

import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { Engine, type Txns } from '../core/engine/engine';
import type { PlannedStatus, StoreSnapshot } from '../core/goalstate';
import { formatIpv4, formatMac, parseIpv4 } from '../core/goalstate/addr';
import { COOKIE_MARKER_BITS, COOKIE_MASK } from '../core/pipeline/cookie';
import { handleDhcp, type DhcpLease } from '../core/dhcp/server';
import { OFPP, decodeFlowStatsEntries, formatFlow } from '../core/openflow';
import type { Dhcp, Subnet } from '../core/model';
import {
  GoalStateOperationReply,
  OperationStatus,
  OperationType,
  ResourceType,
  type GoalState,
  type GoalStateV2,
} from '../proto';
import {
  GoalStateServer,
  GoalStateValidationError,
  type GoalStateApplier,
  type GoalStateRequest,
  type RequestContext,
} from './grpc/server';
import { InterfaceMonitor, OvsdbClient, ensureBridge, ensureVxlanPort, type PortEvent } from './ovsdb';
import {
  OpenFlowSession,
  SessionError,
  mgmtSocketPath,
  type BundleStream,
  type BundleTimings,
  type PacketIn,
} from './openflow/session';
import { Metrics } from './metrics';
import { OnDemandClient, onDemandRequestOf } from './ondemand';
import { XdpArpDataplane } from './xdp-arp';
import { parseHostPort } from '../core/net/hostport';

export interface DaemonOptions {
  readonly listen: string;
  readonly ovsRundir: string;
  readonly bridge: string;
  readonly tunnelIp: string | undefined;
  readonly control: string | undefined;
  readonly metrics: string | undefined;
  readonly datapathType: string | undefined;
  readonly workers: number;
  readonly stateDir: string | undefined;
  readonly tunnelOfport: number;
  readonly maxMessageMb: number;
  readonly tunnelPortName?: string;
  /** 'ovs' when absent. */
  readonly dataplane?: DataplaneKind;
  /** Namespace of the VM ports' OVS-side interfaces, for XDP attach; the agent's own when absent. */
  readonly xdpNetns?: string;
  /** bpffs directory of the XDP ARP responder's pinned maps. */
  readonly bpfPinDir?: string;
}

/**
 * Which data plane answers ARP: OpenFlow only, the XDP responder only (the engine compiles no ARP
 * answer flow), or both.
 */
export type DataplaneKind = 'ovs' | 'ebpf' | 'both';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** JSON lines on `write`, one object per event: {ts, level, msg, ...fields}. */
export function jsonLogger(write: (line: string) => void): Logger {
  return (level, msg, fields) => {
    write(
      JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }, (_k, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v,
      ) + '\n',
    );
  };
}

export class DaemonError extends Error {
  readonly code: 'DAEMON_BAD_OPTIONS' | 'DAEMON_START' | 'DAEMON_SNAPSHOT' | 'DAEMON_OVS_DOWN';
  constructor(code: DaemonError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

const SNAPSHOT_FILE = 'snapshot.json';
const PUNT_LIMIT_PER_SEC = 20;
/** Engine error codes that mean an internal fault; any other prepare() failure is bad input (undecodable bytes). */
const ENGINE_FAULTS: ReadonlySet<string> = new Set([
  'ENGINE_REPLY',
  'ENGINE_BAD_OPTIONS',
  'TXN_OPEN',
  'TXN_ORDER',
  'NO_TXN',
  'STALE_PLAN',
]);
const LOGGED_INVALID_MAX = 20;
const STARTUP_CONVERGE_ATTEMPTS = 5;
/** How long a goal state waits for a reconnecting OpenFlow session before it fails. */
const OVS_WAIT_MS = 10_000;

const us = (fromNs: bigint): number => Number((process.hrtime.bigint() - fromNs) / 1000n);

/** Operations whose status means the dataplane changed (for a FAILURE after OVS rejected the bundle). */
const CHANGING: ReadonlySet<OperationStatus> = new Set([OperationStatus.SUCCESS, OperationStatus.PENDING]);

/** Resource kinds the agent keeps a main-thread view of (the DHCP server's table, #rebuildDhcp). */
const HELD_VIEW_TYPES: ReadonlySet<ResourceType> = new Set([ResourceType.DHCP, ResourceType.SUBNET]);

export class AgentDaemon {
  readonly #opts: DaemonOptions;
  readonly #log: Logger;
  readonly #metrics = new Metrics();
  #ovsdb: OvsdbClient | undefined;
  #monitor: InterfaceMonitor | undefined;
  #engine: Engine | undefined;
  #session: OpenFlowSession | undefined;
  #grpc: GoalStateServer | undefined;
  #http: http.Server | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #dhcp = new Map<string, DhcpLease>();
  #onDemand: OnDemandClient | undefined;
  /** The XDP ARP responder, with --dataplane ebpf|both. */
  #xdp: XdpArpDataplane | undefined;
  #punts = new Map<number, { windowStartMs: number; count: number }>();
  #converged = false;
  #stopping = false;
  /** The running post-commit pass, if any (see #afterCommit). */
  #bookkeeping: Promise<void> | undefined;
  #bookkeepingDirty = false;
  /** DHCP or subnet resources changed since the DHCP table was last rebuilt. */
  #heldViewsDirty = false;
  #grpcPort = 0;
  #lastConvergeFlowMods = 0;
  /** Our flows OVS had when the first converge dumped them. */
  #installedAtStart = 0;

  private constructor(opts: DaemonOptions, log: Logger) {
    this.#opts = opts;
    this.#log = log;
  }

  get grpcPort(): number {
    return this.#grpcPort;
  }

  static async start(opts: DaemonOptions, log: Logger): Promise<AgentDaemon> {
    const d = new AgentDaemon(opts, log);
    try {
      await d.#start();
    } catch (e: unknown) {
      await d.stop();
      throw e;
    }
    return d;
  }

  async #start(): Promise<void> {
    const o = this.#opts;
    const localTunnelIp = o.tunnelIp === undefined ? undefined : parseIpv4(o.tunnelIp);

    // 1. OVSDB: the bridge (fail-mode secure: no NORMAL fallback while we are away) and the tunnel port.
    const ovsdb = new OvsdbClient({ socketPath: path.join(o.ovsRundir, 'db.sock') });
    this.#ovsdb = ovsdb;
    await ovsdb.connect();
    const bridge = await ensureBridge(ovsdb, {
      name: o.bridge,
      datapathType: o.datapathType,
      failMode: 'secure',
      protocols: ['OpenFlow13', 'OpenFlow14'],
    });
    const tunnelName = o.tunnelPortName ?? 'vxlan-alcor';
    const tunnel = await ensureVxlanPort(ovsdb, {
      bridge: o.bridge,
      name: tunnelName,
      localIp: o.tunnelIp,
      ofportRequest: o.tunnelOfport,
    });
    this.#log('info', 'bridge ensured', { bridge: o.bridge, changes: [...bridge.actions, ...tunnel.actions] });

    // 2. Interfaces: which port id sits on which ofport.
    const monitor = new InterfaceMonitor(ovsdb);
    this.#monitor = monitor;
    await monitor.start();
    monitor.on('port', (ev: PortEvent) => this.#onPortEvent(ev));
    const dataplane = o.dataplane ?? 'ovs';
    if (dataplane !== 'ovs') {
      const pinDir = o.bpfPinDir ?? path.join('/sys/fs/bpf/alcor', o.bridge);
      this.#xdp = await XdpArpDataplane.open({ pinDir, netns: o.xdpNetns });
      this.#log('info', 'xdp arp responder ready', { pinDir, entries: this.#xdp.mirror.size, netns: o.xdpNetns });
    }

    // 3. Engine, from the local snapshot when there is one.
    const snapshot = await this.#readSnapshot();
    const ofports = new Map<string, number>();
    for (const p of snapshot?.resources.port ?? []) {
      const ofport = monitor.track(p.id);
      if (ofport !== null) ofports.set(p.id, ofport);
    }
    this.#engine = await Engine.create({
      workers: o.workers,
      localTunnelIp,
      tunnelOfport: o.tunnelOfport,
      snapshot,
      ofports,
      arpAnswers: dataplane === 'ebpf' ? 'none' : 'flows',
    });
    if (snapshot !== undefined) this.#rebuildDhcp(snapshot.resources.dhcp, snapshot.resources.subnet);
    this.#log('info', 'engine ready', {
      workers: o.workers,
      restored: snapshot !== undefined,
      ports: snapshot?.resources.port.length ?? 0,
      neighbors: snapshot?.resources.neighbor.length ?? 0,
    });
    // Restored ports already on the bridge get the responder and their entries now, not at the next
    // commit: with `ebpf` nothing else answers their ARP, and the converge below may remove answer
    // flows an earlier `ovs`/`both` run installed.
    if (this.#xdp !== undefined && snapshot !== undefined) {
      try {
        await this.#syncXdp(this.#xdp, this.#engine);
      } catch (e: unknown) {
        this.#log('error', 'xdp start-up sync failed; retried after the next commit', { error: errorText(e) });
      }
    }

    // 4. OpenFlow: converge on every (re)connect, the first one before serving.
    const session = new OpenFlowSession({
      socketPath: mgmtSocketPath(o.ovsRundir, o.bridge),
      log: (level, msg, fields) => this.#log(level, msg, fields),
    });
    this.#session = session;
    session.on('ready', () => {
      if (this.#converged) void this.#serial(() => this.#converge('reconnect')).catch(() => undefined);
    });
    session.on('packet_in', (p: PacketIn) => this.#onPacketIn(p));
    session.start();
    // The first converge must succeed before we serve; a connection that drops meanwhile is retried.
    for (let attempt = 1; ; attempt++) {
      await session.whenReady();
      try {
        await this.#serial(() => this.#converge('startup'));
        break;
      } catch (e: unknown) {
        if (!(e instanceof SessionError) || e.code !== 'OF_SESSION_DOWN' || attempt >= STARTUP_CONVERGE_ATTEMPTS)
          throw e;
        this.#log('warn', 'startup converge interrupted; retrying', { attempt, error: errorText(e) });
      }
    }
    this.#converged = true;
    if (snapshot === undefined && this.#installedAtStart > 0) {
      this.#log(
        'warn',
        'no local snapshot: flows of an earlier run were converged to an empty state (use --state-dir)',
        {
          installedBefore: this.#installedAtStart,
          flowMods: this.#lastConvergeFlowMods,
        },
      );
    }

    // 5. Serve.
    if (o.control !== undefined) this.#onDemand = new OnDemandClient(o.control);
    if (o.metrics !== undefined) this.#http = await this.#startHttp(o.metrics);
    this.#grpc = new GoalStateServer(this.#applier(), {
      address: o.listen,
      requestMode: 'raw',
      maxReceiveMessageBytes: o.maxMessageMb * 1024 * 1024,
    });
    this.#grpcPort = await this.#grpc.start();
    this.#log('info', 'agent ready', {
      listen: o.listen,
      grpcPort: this.#grpcPort,
      bridge: o.bridge,
      metrics: o.metrics,
      metricsPort: httpPort(this.#http),
      convergeFlowMods: this.#lastConvergeFlowMods,
    });
  }

  /** Stops serving and disconnects. Installed flows stay: nothing is deleted on the way out. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#grpc?.stop(2000).catch(() => undefined);
    await this.#queue.catch(() => undefined);
    await this.#bookkeeping;
    this.#session?.stop();
    this.#onDemand?.close();
    await this.#monitor?.stop().catch(() => undefined);
    this.#ovsdb?.close();
    await this.#engine?.close().catch(() => undefined);
    this.#xdp?.close();
    if (this.#http !== undefined) {
      const h = this.#http;
      await new Promise<void>((resolve) => h.close(() => resolve()));
      h.closeAllConnections();
    }
    this.#log('info', 'agent stopped (flows left installed)');
  }

  // -----------------------------------------------------------------------------------------
  // Serial queue

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #parts(): { engine: Engine; session: OpenFlowSession } {
    if (this.#engine === undefined || this.#session === undefined) {
      throw new DaemonError('DAEMON_START', 'agent is not started');
    }
    return { engine: this.#engine, session: this.#session };
  }

  /**
   * Hitless converge: dump our flows (cookie marker), let the engine diff them against its desired
   * table, send the difference as one bundle. Nothing is flushed; unchanged flows keep forwarding.
   */
  async #converge(why: string): Promise<void> {
    const { engine, session } = this.#parts();
    const t0 = process.hrtime.bigint();
    await session.whenReady();
    const bodies = await session.dumpFlows(COOKIE_MARKER_BITS, COOKIE_MASK);
    if (!this.#converged) this.#installedAtStart = countFlowStats(bodies);
    const r = await engine.reconcile(bodies);
    await session.applyBundle(r.bundleId, r.deltas);
    this.#lastConvergeFlowMods = r.flowMods;
    this.#metrics.flowsInstalled = (await engine.stats()).flows;
    this.#log('info', 'converged', { why, flowMods: r.flowMods, dumpBodies: bodies.length, elapsedUs: us(t0) });
  }

  // -----------------------------------------------------------------------------------------
  // Apply path

  #applier(): GoalStateApplier {
    return {
      applyV1: (req: GoalStateRequest<GoalState>, ctx: RequestContext) => this.#serial(() => this.#apply(req, 1, ctx)),
      applyV2: (req: GoalStateRequest<GoalStateV2>, ctx: RequestContext) =>
        this.#serial(() => this.#apply(req, 2, ctx)),
    };
  }

  async #apply(
    req: GoalStateRequest<GoalState> | GoalStateRequest<GoalStateV2>,
    version: 1 | 2,
    ctx: RequestContext,
  ): Promise<GoalStateOperationReply> {
    const { engine, session } = this.#parts();
    const t0 = process.hrtime.bigint();
    if (req.kind !== 'raw') throw new DaemonError('DAEMON_START', 'the agent serves goal states in raw mode');
    // While the OpenFlow session reconnects, hold the goal state briefly rather than fail it at once.
    await this.#readyWithin(session, OVS_WAIT_MS);
    let prepared;
    // Flow-mods go into the bundle as each chunk is encoded: OVS parses them while the engine
    // computes the rest. The bundle commits only after prepare succeeded as a whole.
    let stream: BundleStream | undefined;
    let streamBundle = -1;
    try {
      prepared = await engine.prepare(req.bytes, version, {
        onDelta: (delta, bundleId) => {
          // A new bundle id: the engine started over (engine.ts PrepareOptions); the old bundle goes.
          if (stream !== undefined && streamBundle !== bundleId) {
            stream.abandon('the engine planned the goal state again');
            stream = undefined;
          }
          if (stream === undefined) {
            streamBundle = bundleId;
            stream = session.streamBundle(bundleId);
            stream.result.catch(() => undefined); // awaited below; a failure before then must not go unhandled
          }
          stream.push(delta);
        },
      });
    } catch (e: unknown) {
      if (stream !== undefined) {
        stream.abandon(errorText(e));
        await stream.result.catch(() => undefined);
      }
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && ENGINE_FAULTS.has(code)) {
        // Our bug, not the sender's: answered as a gRPC error, not INVALID_ARG.
        this.#log('error', 'engine failed on a goal state', { seq: ctx.seq, code, error: errorText(e) });
        throw e;
      }
      this.#log('warn', 'goal state rejected', { seq: ctx.seq, code, error: errorText(e) });
      throw new GoalStateValidationError(errorText(e));
    }
    const tBundle = process.hrtime.bigint();
    const prepareUs = Number((tBundle - t0) / 1000n);
    let statuses: PlannedStatus[] = [...prepared.statuses];
    let bundleUs = 0;
    let ovs: BundleTimings = { addUs: 0, commitUs: 0 };
    try {
      stream?.end();
      if (stream !== undefined) ovs = await stream.result;
      bundleUs = us(tBundle);
    } catch (e: unknown) {
      bundleUs = us(tBundle);
      const named = await this.#nameErrors(e, prepared.txns);
      await engine.abort(prepared.txns);
      this.#metrics.goalStates.failure++;
      this.#log('error', 'OVS rejected the goal state; dataplane unchanged', {
        seq: ctx.seq,
        bundleId: prepared.bundleId,
        error: errorText(e),
        owners: named,
      });
      statuses = statuses.map((s) =>
        CHANGING.has(s.status)
          ? { ...s, status: OperationStatus.FAILURE, reason: `OVS rejected the bundle: ${errorText(e)}` }
          : s,
      );
      return this.#reply(statuses, bundleUs, t0);
    }
    // OVS confirmed: the commit need not delay the reply. Each partition runs its tasks in order, so
    // anything sent to the engine after this (the next goal state, host facts) sees it committed.
    engine.commit(prepared.txns).catch((e: unknown) => {
      this.#log('error', 'engine commit failed after OVS confirmed the bundle', { seq: ctx.seq, error: errorText(e) });
    });
    this.#metrics.goalStates.success++;
    this.#metrics.observeApply(us(t0) / 1e6);

    // Ports: watch their interfaces; a PENDING port whose interface is already on the bridge is
    // bound right away (the engine only learns ofports through host facts).
    // A deleted port forgets its ofport too, so a later port with the same id is not programmed on a
    // stale one.
    const facts: [string, number | undefined][] = [];
    const bindIds = new Set<string>();
    for (const s of statuses) {
      if (s.resourceType !== ResourceType.PORT) continue;
      if (s.operationType === OperationType.DELETE && s.status === OperationStatus.SUCCESS) {
        this.#monitor?.untrack(s.resourceId);
        facts.push([s.resourceId, undefined]);
        continue;
      }
      if (!CHANGING.has(s.status)) continue;
      const ofport = this.#monitor?.track(s.resourceId) ?? null;
      if (s.status === OperationStatus.PENDING && ofport !== null) {
        facts.push([s.resourceId, ofport]);
        bindIds.add(s.resourceId);
      }
    }
    if (facts.length > 0) {
      const bound = await this.#applyHostFacts(facts);
      if (bound && bindIds.size > 0) {
        statuses = statuses.map((s) =>
          s.resourceType === ResourceType.PORT && s.status === OperationStatus.PENDING && bindIds.has(s.resourceId)
            ? { ...s, status: OperationStatus.SUCCESS, reason: '' }
            : s,
        );
        bundleUs = us(tBundle);
      }
    }
    this.#metrics.flowsInstalled += prepared.add - prepared.delete;
    this.#afterCommit(statuses.some((s) => HELD_VIEW_TYPES.has(s.resourceType) && CHANGING.has(s.status)));
    const invalid = statuses.filter((s) => s.status === OperationStatus.INVALID_ARG);
    const applied = {
      seq: ctx.seq,
      version,
      bundleId: prepared.bundleId,
      add: prepared.add,
      modify: prepared.modify,
      delete: prepared.delete,
      resources: statuses.length,
      pending: statuses.filter((s) => s.status === OperationStatus.PENDING).length,
      invalidCount: invalid.length,
      // The first few, with the reason (the reply has no field for it); a million would drown the log.
      invalid: invalid.slice(0, LOGGED_INVALID_MAX).map((s) => `${s.resourceId}: ${s.reason}`),
      prepareUs,
      bundleUs,
      bundleAddUs: ovs.addUs,
      bundleCommitUs: ovs.commitUs,
      prepareMs: prepared.timings,
      totalUs: us(t0),
    };
    // Written after the reply has gone out: a log line to a pipe wakes its reader, and the sender is
    // waiting for the reply, not for the log.
    setImmediate(() => this.#log('info', 'goal state applied', applied));
    return this.#reply(statuses, bundleUs, t0);
  }

  #reply(statuses: readonly PlannedStatus[], bundleUs: number, t0: bigint): GoalStateOperationReply {
    const totalUs = us(t0);
    // Every field set: a plain object is a complete message, without fromPartial's copy of each status.
    return {
      formatVersion: 1,
      messageTotalOperationTime: totalUs,
      operationStatuses: statuses.map((s) => ({
        resourceId: s.resourceId,
        resourceType: s.resourceType,
        operationType: s.operationType,
        operationStatus: s.status,
        dataplaneProgrammingTime: bundleUs,
        networkConfigurationTime: 0,
        stateElapseTime: totalUs,
      })),
    };
  }

  /** "owner: error" for each OVS error of a rejected bundle (owner from the engine xid). */
  async #nameErrors(e: unknown, txns: Txns): Promise<string[]> {
    if (!(e instanceof SessionError) || this.#engine === undefined) return [];
    const out: string[] = [];
    for (const err of e.ofErrors) {
      const owner = await this.#engine.ownerOfXid(txns, err.xid);
      out.push(`${owner ?? 'bundle'}: ${err.typeName}/${err.codeName}`);
    }
    return out;
  }

  async #readyWithin(session: OpenFlowSession, ms: number): Promise<void> {
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

  /** Binds ports to ofports (or unbinds with undefined) in a bundle of their own. True if applied. */
  async #applyHostFacts(ofports: readonly (readonly [string, number | undefined])[]): Promise<boolean> {
    const { engine, session } = this.#parts();
    const prepared = await engine.prepareHostFacts({ ofports });
    try {
      await session.applyBundle(prepared.bundleId, prepared.deltas);
      await engine.commit(prepared.txns);
      this.#metrics.flowsInstalled += prepared.add - prepared.delete;
      this.#log('info', 'host facts applied', {
        ports: ofports.map(([id, of]) => `${id}=${of ?? 'none'}`),
        flowMods: prepared.flowMods,
      });
      return true;
    } catch (e: unknown) {
      await engine.abort(prepared.txns);
      this.#log('error', 'host facts bundle failed', { error: errorText(e) });
      return false;
    }
  }

  #onPortEvent(ev: PortEvent): void {
    if (this.#stopping) return;
    const fact: [string, number | undefined] = ev.kind === 'bound' ? [ev.portId, ev.ofport] : [ev.portId, undefined];
    this.#log('info', `port ${ev.kind}`, { portId: ev.portId, ofport: fact[1] });
    if (ev.kind === 'unbound') this.#xdp?.forget(ev.portId);
    void this.#serial(async () => {
      if (await this.#applyHostFacts([fact])) this.#afterCommit(false);
    }).catch((e: unknown) => this.#log('error', 'port event failed', { error: errorText(e) }));
  }

  // -----------------------------------------------------------------------------------------
  // After a commit: held-state views and the local snapshot

  /**
   * After commits: refreshes the DHCP table when DHCP or subnet resources changed (`heldViews`),
   * writes the snapshot (--state-dir) and mirrors ARP answers into XDP (--dataplane ebpf|both).
   * Coalesced: a burst of commits costs one pass (a snapshot of a million neighbors is not free). The
   * reads run in the serial queue so they never see a transaction that is still open; a pass with
   * nothing to do costs nothing, so a stream of neighbor updates is not slowed by bookkeeping.
   */
  #afterCommit(heldViews: boolean): void {
    this.#heldViewsDirty ||= heldViews;
    this.#bookkeepingDirty = true;
    if (this.#bookkeeping !== undefined) return;
    if (!this.#heldViewsDirty && this.#opts.stateDir === undefined && this.#xdp === undefined) return;
    this.#bookkeeping = (async () => {
      try {
        while (this.#bookkeepingDirty) {
          this.#bookkeepingDirty = false;
          const { engine } = this.#parts();
          const wantStats = this.#heldViewsDirty;
          this.#heldViewsDirty = false;
          const wantSnapshot = this.#opts.stateDir !== undefined;
          const [stats, snap] = await this.#serial(
            async () =>
              [
                wantStats ? await engine.stats() : undefined,
                wantSnapshot ? await engine.snapshot() : undefined,
              ] as const,
          );
          if (stats !== undefined) {
            this.#rebuildDhcp(stats.dhcp, stats.subnets);
            this.#metrics.flowsInstalled = stats.flows;
          }
          if (snap !== undefined) await this.#writeSnapshot(snap);
          if (this.#xdp !== undefined) await this.#syncXdp(this.#xdp, engine);
        }
      } catch (e: unknown) {
        this.#log('warn', 'post-commit bookkeeping failed', { error: errorText(e) });
      } finally {
        this.#bookkeeping = undefined;
      }
    })();
  }

  /** Attaches the responder to newly bound ports' interfaces, then mirrors the engine's ARP answers into its map. */
  async #syncXdp(xdp: XdpArpDataplane, engine: Engine): Promise<void> {
    for (const [portId, ofport] of this.#monitor?.ports ?? []) {
      if (ofport === null || xdp.isAttached(portId)) continue;
      const iface = this.#monitor?.lookup(portId);
      if (iface === undefined) continue;
      try {
        const ifindex = await xdp.attach(portId, iface.name);
        this.#log('info', 'xdp attached', { portId, ifname: iface.name, ifindex });
      } catch (e: unknown) {
        this.#log('warn', 'xdp attach failed', { portId, ifname: iface.name, error: errorText(e) });
      }
    }
    const { entries, portVnis } = await this.#serial(() => engine.arpEntries());
    const r = await xdp.sync(entries, portVnis);
    if (r.upserted + r.deleted > 0 || r.conflicts > 0) this.#log('debug', 'xdp arp table synced', { ...r });
  }

  async #writeSnapshot(snap: StoreSnapshot): Promise<void> {
    const dir = this.#opts.stateDir;
    if (dir === undefined) return;
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, SNAPSHOT_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(snap));
    await fs.rename(tmp, file); // atomic: a crash leaves the old or the new file, never half of one
  }

  async #readSnapshot(): Promise<StoreSnapshot | undefined> {
    const dir = this.#opts.stateDir;
    if (dir === undefined) return undefined;
    let text: string;
    try {
      text = await fs.readFile(path.join(dir, SNAPSHOT_FILE), 'utf8');
    } catch {
      return undefined;
    }
    try {
      return JSON.parse(text) as StoreSnapshot;
    } catch (e: unknown) {
      throw new DaemonError('DAEMON_SNAPSHOT', `${path.join(dir, SNAPSHOT_FILE)} is not valid JSON: ${errorText(e)}`);
    }
  }

  // -----------------------------------------------------------------------------------------
  // Packet-ins: DHCP answered locally; other punts counted and rate-limited per port

  #rebuildDhcp(dhcp: readonly Dhcp[], heldSubnets: readonly Subnet[]): void {
    const subnets = new Map<string, Subnet>(heldSubnets.map((s) => [s.id, s]));
    const leases = new Map<string, DhcpLease>();
    for (const d of dhcp) {
      const subnet = subnets.get(d.subnetId);
      if (subnet === undefined || subnet.gateway === undefined) continue;
      leases.set(formatMac(d.mac).toLowerCase(), {
        ip: formatIpv4(d.ip),
        prefixLength: subnet.cidr.prefix,
        router: formatIpv4(subnet.gateway.ip),
        dns: subnet.dnsServers.map(formatIpv4),
        leaseSeconds: 86400,
        mtu: subnet.networkType === 'vxlan' ? 1450 : undefined,
        hostname: d.hostname === '' ? undefined : d.hostname,
        extraOptions: subnet.extraDhcpOptions,
        serverIp: formatIpv4(subnet.gateway.ip),
        serverMac: formatMac(subnet.gateway.mac).toLowerCase(),
      });
    }
    this.#dhcp = leases;
  }

  #onPacketIn(p: PacketIn): void {
    this.#metrics.packetIns++;
    const inPort = p.inPort;
    if (inPort === undefined) return;
    if (!this.#allowPunt(inPort)) {
      this.#metrics.puntsDropped++;
      return;
    }
    const outcome = handleDhcp(p.data, (mac) => this.#dhcp.get(mac.toLowerCase()));
    switch (outcome.kind) {
      case 'reply':
        this.#metrics.dhcpReplies++;
        this.#log('info', 'dhcp reply', { inPort, mac: outcome.mac, ip: outcome.ip, type: outcome.replyType });
        // OFPP_IN_PORT would be needed to send back out of in_port itself (OpenFlow 1.3 §7.2.5);
        // the packet-out's in_port is CONTROLLER so output:<in_port> is allowed.
        void this.#session
          ?.packetOut({ inPort: OFPP.CONTROLLER, actions: [{ kind: 'output', port: inPort }], data: outcome.frame })
          .catch((e: unknown) => this.#log('warn', 'packet-out failed', { error: errorText(e) }));
        return;
      case 'released':
      case 'declined':
        this.#log('info', `dhcp ${outcome.kind}`, { mac: outcome.mac, ip: outcome.ip });
        return;
      case 'ignored':
        // Not DHCP: an ARP / unknown-unicast punt. With --control, ask for the destination's goal states.
        this.#metrics.otherPunts++;
        this.#requestOnDemand(p);
        return;
      default: {
        const never: never = outcome;
        void never;
      }
    }
  }

  #requestOnDemand(p: PacketIn): void {
    const client = this.#onDemand;
    if (client === undefined) return;
    // reg6 carries the VNI from the classifier on (docs/pipeline.md); OVS puts non-zero registers in the PACKET_IN match.
    const vni = p.match.find((m) => m.field === 'reg6')?.value ?? 0;
    const req = onDemandRequestOf(p.data, vni, client.nextRequestId());
    if (req === undefined) return;
    this.#metrics.onDemandRequests++;
    client.request(req).then(
      (reply) => {
        if (reply !== undefined) {
          this.#log('info', 'on-demand request answered', {
            destination: req.destinationIp,
            vni,
            requestId: req.requestId,
          });
        }
      },
      (e: unknown) =>
        this.#log('warn', 'on-demand request failed', { destination: req.destinationIp, error: errorText(e) }),
    );
  }

  #allowPunt(port: number): boolean {
    const now = Date.now();
    const w = this.#punts.get(port);
    if (w === undefined || now - w.windowStartMs >= 1000) {
      this.#punts.set(port, { windowStartMs: now, count: 1 });
      return true;
    }
    w.count++;
    return w.count <= PUNT_LIMIT_PER_SEC;
  }

  // -----------------------------------------------------------------------------------------
  // HTTP: /metrics (Prometheus text), /status and /flows (JSON)

  async status(): Promise<Record<string, unknown>> {
    return {
      bridge: this.#opts.bridge,
      openflow: this.#session?.state.kind ?? 'none',
      grpcPort: this.#grpcPort,
      grpcLoad: this.#grpc?.load,
      ports: Object.fromEntries(this.#monitor?.ports ?? []),
      flowsDesired: this.#metrics.flowsInstalled,
      goalStates: this.#metrics.goalStates,
      packetIns: this.#metrics.packetIns,
      dhcpLeases: this.#dhcp.size,
      lastConvergeFlowMods: this.#lastConvergeFlowMods,
    };
  }

  /** Desired vs installed (ours), compared by the engine's reconcile: the flow-mods it would send. */
  async flowsReport(): Promise<Record<string, unknown>> {
    return this.#serial(async () => {
      const { engine, session } = this.#parts();
      const bodies = await session.dumpFlows(COOKIE_MARKER_BITS, COOKIE_MASK);
      const desired = (await engine.desiredFlows()).map((f) => formatFlow(f));
      const installed: string[] = [];
      for (const b of bodies)
        for (const e of decodeFlowStatsEntries(b))
          installed.push(
            e.kind === 'flow'
              ? formatFlow(e.flow)
              : `cookie=0x${e.cookie.toString(16)}, table=${e.table}, priority=${e.priority} (${e.code}: ${e.reason})`,
          );
      // The engine's own diff decides "in sync"; the text lists are for a human reading the output.
      const r = await engine.reconcile(bodies);
      const have = new Set(installed);
      const want = new Set(desired);
      const LIST_MAX = 50;
      return {
        desired: desired.length,
        installed: installed.length,
        differences: r.flowMods,
        inSync: r.flowMods === 0,
        missing: desired.filter((f) => !have.has(f)).slice(0, LIST_MAX),
        unexpected: installed.filter((f) => !want.has(f)).slice(0, LIST_MAX),
      };
    });
  }

  async #startHttp(listen: string): Promise<http.Server> {
    const { host, port } = splitHostPort(listen);
    const server = http.createServer((req, res) => {
      const send = (code: number, type: string, body: string): void => {
        res.writeHead(code, { 'content-type': type });
        res.end(body);
      };
      const json = (p: Promise<Record<string, unknown>>): void => {
        p.then(
          (v) => send(200, 'application/json', JSON.stringify(v) + '\n'),
          (e: unknown) => send(503, 'application/json', JSON.stringify({ error: errorText(e) }) + '\n'),
        );
      };
      switch (req.url) {
        case '/metrics':
          send(
            200,
            'text/plain; version=0.0.4',
            this.#metrics.render(this.#grpc?.load) + (this.#xdp?.metricsText() ?? ''),
          );
          return;
        case '/status':
          json(this.status());
          return;
        case '/flows':
          json(this.flowsReport());
          return;
        default:
          send(404, 'text/plain', 'not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return server;
  }
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

function httpPort(server: http.Server | undefined): number | undefined {
  const a = server?.address();
  return a !== null && typeof a === 'object' ? a.port : undefined;
}

export function splitHostPort(text: string): { host: string; port: number } {
  const hp = parseHostPort(text);
  if (hp === undefined) throw new DaemonError('DAEMON_BAD_OPTIONS', `expected HOST:PORT, got "${text}"`);
  return hp;
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
