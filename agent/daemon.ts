// The agent daemon: it wires the parts and owns their lifetime, and does nothing else.
//
//   OVSDB (bridge, tunnel port)    InterfaceMonitor ──port events──▶ ApplyPath ──afterCommit──▶ HostState
//   gRPC GoalStateServer ──goal states──▶ ApplyPath (engine + OpenFlow session, statuses back)
//   OpenFlow session ──packet-ins──▶ PacketInHandler (DHCP from HostState's leases, punts, on-demand)
//   HTTP (--metrics) ──reads──▶ status / flows / metrics of the parts
//
// agent/apply-path.ts: goal states and host facts → engine → bundle → statuses; converges.
// agent/host-state.ts: the snapshot, the DHCP lease table, the XDP ARP map, refreshed after commits.
// agent/packet-in.ts: DHCP answers, punt rate limit, on-demand requests.
// agent/http-endpoints.ts: /metrics, /status, /flows.
// Everything that opens an engine transaction runs through one SerialQueue (agent/serial-queue.ts).
// See docs/agent.md for the startup sequence, the apply path and restart semantics.

import type * as http from 'node:http';
import * as path from 'node:path';
import { Engine } from '../core/engine/engine';
import type { StoreSnapshot } from '../core/goalstate';
import { parseIpv4 } from '../core/goalstate/addr';
import { GoalStateServer } from './grpc/server';
import { NatsSouthbound } from './nats/consumer';
import type { NatsSecurity } from '../core/southbound/nats-security';
import { InterfaceMonitor, OvsdbClient, ensureBridge, ensureVxlanPort, type PortEvent } from './ovsdb';
import { OpenFlowSession, mgmtSocketPath, type PacketIn } from './openflow/session';
import { WARM_UP_FLOWS, warmUpOvs } from './ovs-warm-up';
import { ZetaOam } from './zeta-oam';
import { dumpDirectPathCookies } from './zeta-direct-paths';
import type { FlowRemovedParse } from '../core/openflow';
import { ApplyPath, countOurFlows } from './apply-path';
import { errorText } from '../core/errors';
import { DaemonError } from './errors';
import { HostState, readSnapshot, setAsideSnapshot } from './host-state';
import { flowsReport, httpPort, startHttp, stopHttp } from './http-endpoints';
import type { Logger } from './log';
import { Metrics } from './metrics';
import { OnDemandClient } from './ondemand';
import { PacketInHandler } from './packet-in';
import { FullStateWatch, clearReadBack, markReadBack, readBackMarked } from './read-back';
import { snapshotBehind } from './snapshot-lag';
import { GoalStateLog, listSegments, readGoalStateLog, type LogReplay } from './goalstate-log';
import { replayGoalStates } from './replay';
import { IdleCollector } from './idle-collector';
import { SerialQueue } from './serial-queue';
import { XdpArpDataplane } from './xdp-arp';
import { ReloadableTls, type TlsFiles, type TlsReloadResult } from './tls';

export { DaemonError, type DaemonErrorCode } from './errors';
export { splitHostPort } from './http-endpoints';
export { jsonLogger, type LogLevel, type Logger } from './log';

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
  /** Budget of goal-state bytes being received at once (agent/grpc/receive-budget.ts); default 512. */
  readonly maxReceivingMb?: number;
  /** Receive deadline per goal state; default 60. */
  readonly receiveTimeoutS?: number;
  readonly tunnelPortName?: string;
  /** 'ovs' when absent. */
  readonly dataplane?: DataplaneKind;
  /** Namespace of the VM ports' OVS-side interfaces, for XDP attach; the agent's own when absent. */
  readonly xdpNetns?: string;
  /** bpffs directory of the XDP ARP responder's pinned maps. */
  readonly bpfPinDir?: string;
  /** TLS for the gRPC server (agent/tls.ts); with a CA, client certificates are required. Plaintext when absent. */
  readonly tls?: TlsFiles;
  /** NATS servers to take goal states from as well (--southbound); gRPC only when absent. */
  readonly southbound?: readonly string[];
  /** TLS and credentials for --southbound (--southbound-ca, -cert, -key, -creds, -user, -password, -token). */
  readonly southboundSecurity?: NatsSecurity;
}

/**
 * Which data plane answers ARP: OpenFlow only, the XDP responder only (the engine compiles no ARP
 * answer flow), or both.
 */
export type DataplaneKind = 'ovs' | 'ebpf' | 'both';

/** The parts that exist once the engine and the session are up. */
interface Running {
  readonly engine: Engine;
  readonly session: OpenFlowSession;
  readonly monitor: InterfaceMonitor;
  readonly apply: ApplyPath;
  readonly host: HostState;
}

export class AgentDaemon {
  readonly #opts: DaemonOptions;
  readonly #log: Logger;
  readonly #metrics = new Metrics();
  readonly #queue = new SerialQueue();
  #ovsdb: OvsdbClient | undefined;
  #monitor: InterfaceMonitor | undefined;
  /** The XDP ARP responder, with --dataplane ebpf|both. */
  #xdp: XdpArpDataplane | undefined;
  #zetaOam: ZetaOam | undefined;
  #engine: Engine | undefined;
  #session: OpenFlowSession | undefined;
  #running: Running | undefined;
  #onDemand: OnDemandClient | undefined;
  /** Read-back start (no trusted snapshot, flows installed): waits for the full state, then sweeps. */
  #fullState: FullStateWatch | undefined;
  #grpc: GoalStateServer | undefined;
  #nats: NatsSouthbound | undefined;
  #http: http.Server | undefined;
  #grpcPort = 0;
  #stopping = false;
  #goalLog: GoalStateLog | undefined;
  #collector: IdleCollector | undefined;

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
    const stateDir = this.#opts.stateDir;
    const { snapshot, logFrom, trusted, behind } = await this.#localState();
    // The log is read while OVSDB connects and the engine's workers start: at 1M neighbors it is 200 MB.
    const logRead =
      stateDir !== undefined && snapshot !== undefined && logFrom !== undefined
        ? readGoalStateLog(stateDir, logFrom)
        : undefined;
    const [ovsdb, opened] = await Promise.allSettled([this.#openOvsdb(), this.#openEngine(snapshot)]);
    if (ovsdb.status === 'rejected') throw ovsdb.reason;
    if (opened.status === 'rejected') throw opened.reason;
    const monitor = ovsdb.value;
    const restored = opened.value;
    const engine = restored.engine;
    const session = this.#openSession();
    this.#zetaOam = this.#openZetaOam(session);
    // OVS's count of our flows, taken while the engine restores: nothing else writes them until we serve.
    const counted = trusted && restored.snapshot !== undefined ? countOurFlows(session) : undefined;
    counted?.catch(() => undefined); // awaited by the start-up converge, which retries a failed count
    const logged = await this.#restoreLog(engine, monitor, restored.snapshot, restored.snapshot && logRead);
    this.#goalLog = logged.goalLog;
    const host = new HostState(
      {
        engine,
        monitor,
        queue: this.#queue,
        metrics: this.#metrics,
        log: this.#log,
        stateDir: this.#opts.stateDir,
        xdp: this.#xdp,
        zetaOam: this.#zetaOam,
        goalLog: logged.goalLog,
      },
      restored.snapshot,
      behind,
    );
    if (restored.snapshot !== undefined) await host.syncRestored();
    // The DHCP table was built from the snapshot alone; the ZETA OAM ports come from held views too.
    if (logged.applied > 0 || (restored.snapshot?.resources.gateway.length ?? 0) > 0) host.afterCommit(true);
    const collector = new IdleCollector(engine, this.#log);
    this.#collector = collector;
    collector.goalState(logged.replayedBytes);
    const apply = new ApplyPath({
      engine,
      session,
      monitor,
      queue: this.#queue,
      metrics: this.#metrics,
      log: this.#log,
      afterCommit: (heldViews) => host.afterCommit(heldViews),
      onApplied: (seq) => this.#fullState?.applied(seq),
      snapshotLag: host.lag,
      goalLog: logged.goalLog,
      onGoalState: (bytes) => collector.goalState(bytes),
    });
    this.#running = { engine, session, monitor, apply, host };
    monitor.on('port', (ev: PortEvent) => this.#onPortEvent(ev));
    const packetIns = new PacketInHandler({
      session,
      lease: (mac) => host.lease(mac),
      metrics: this.#metrics,
      log: this.#log,
    });
    session.on('packet_in', (p: PacketIn) => packetIns.handle(p));
    const fullStateKnown = trusted && restored.snapshot !== undefined && logged.complete;
    // Before any snapshot of this run can be written: until the sweep, it would not be a full state.
    if (!fullStateKnown) await this.#tryStateDir(() => markReadBack(stateDir, 'no trusted snapshot at start-up'));
    // The log this run appends to must follow a snapshot that names it.
    if (!logged.anchored) await this.#tryStateDir(() => host.snapshotNow());
    // A fresh engine was warmed (#createEngine); the switch is warmed too, before the first push needs it.
    if (restored.snapshot === undefined) await this.#warmUpOvs(session);
    await apply.convergeAtStartup(fullStateKnown, fullStateKnown ? counted : undefined);
    await this.#awaitFullState(apply, fullStateKnown);
    await this.#serve(packetIns);
  }

  /** After the first converge: a read-back start waits for the full state (FullStateWatch), else the marker goes. */
  async #awaitFullState(apply: ApplyPath, fullStateKnown: boolean): Promise<void> {
    if (apply.holdingDeletes) {
      this.#log('warn', 'installed flows read back and kept until the full state is known', {
        ...apply.readBack,
        control: this.#opts.control,
      });
      this.#fullState = new FullStateWatch({
        lastArrivedSeq: () => apply.lastArrivedSeq,
        sweep: () => this.#sweep(),
        log: this.#log,
      });
    } else if (!fullStateKnown) {
      await this.#tryStateDir(() => clearReadBack(this.#opts.stateDir));
    }
  }

  /**
   * The OpenFlow session, connecting from now on (a service connection: OVS flushes nothing). Until
   * the packet-in handler is attached, a packet-in is dropped, as while no agent runs.
   */
  #openSession(): OpenFlowSession {
    const session = new OpenFlowSession({
      socketPath: mgmtSocketPath(this.#opts.ovsRundir, this.#opts.bridge),
      log: (level, msg, fields) => this.#log(level, msg, fields),
    });
    this.#session = session;
    session.start();
    return session;
  }

  /**
   * The snapshot, and whether it is a full state. An unusable file is set aside and the start goes
   * on without it (read-back); so does a snapshot the read-back marker says is partial.
   */
  async #localState(): Promise<{
    snapshot: StoreSnapshot | undefined;
    logFrom: number | undefined;
    trusted: boolean;
    behind: boolean;
  }> {
    const stateDir = this.#opts.stateDir;
    const read = await readSnapshot(stateDir);
    if (read.kind === 'unusable') {
      const aside = await setAsideSnapshot(read.file);
      this.#log('warn', 'snapshot unusable; reading the installed flows back instead, deleting none', {
        file: read.file,
        reason: read.reason,
        setAsideAs: aside,
      });
    }
    const marked = await readBackMarked(stateDir);
    if (marked && read.kind === 'ok') {
      this.#log('warn', 'snapshot is from a run that had not learnt its full state; installed flows are kept', {
        stateDir,
      });
    }
    const behind = await snapshotBehind(stateDir);
    if (behind && !marked && read.kind === 'ok') {
      this.#log('warn', 'snapshot may lack goal states acknowledged after it was written; installed flows are kept', {
        stateDir,
      });
    }
    return {
      snapshot: read.kind === 'ok' ? read.snapshot : undefined,
      logFrom: read.kind === 'ok' ? read.logFrom : undefined,
      trusted: !marked && !behind,
      behind,
    };
  }

  /**
   * Replays the goal states logged after the snapshot (`logRead`, a read of its segments begun
   * earlier), binds the held ports the bridge has, then opens the log this run appends to, in a
   * segment of its own. `complete`: the engine holds everything the log says was committed.
   * `anchored`: the snapshot on disk names the log (else one must be written before the first
   * append; an older snapshot without `logFrom` is one of those).
   */
  async #restoreLog(
    engine: Engine,
    monitor: InterfaceMonitor,
    snapshot: StoreSnapshot | undefined,
    logRead: Promise<LogReplay> | undefined,
  ): Promise<{
    goalLog: GoalStateLog | undefined;
    complete: boolean;
    anchored: boolean;
    applied: number;
    replayedBytes: number;
  }> {
    const stateDir = this.#opts.stateDir;
    const t0 = Date.now();
    const read = await logRead;
    const readMs = Date.now() - t0;
    const heldPorts = (snapshot?.resources.port ?? []).map((p) => p.id);
    const r = await replayGoalStates(engine, monitor, read?.goalStates ?? [], heldPorts);
    const problem = read?.problem ?? r.problem;
    if (read !== undefined) {
      this.#log(problem === undefined ? 'info' : 'warn', 'goal-state log replayed', {
        goalStates: r.applied,
        bytes: read.bytes,
        segments: read.segments.length,
        boundPorts: r.boundPorts,
        waitedForReadMs: readMs,
        ms: Date.now() - t0,
        ...(problem === undefined ? {} : { problem, then: 'installed flows are kept until the full state is known' }),
      });
    }
    const complete = problem === undefined;
    const applied = r.applied;
    const replayedBytes = read?.bytes ?? 0;
    if (stateDir === undefined) return { goalLog: undefined, complete, anchored: true, applied, replayedBytes };
    const replayed = { records: read?.goalStates.length ?? 0, bytes: read?.bytes ?? 0 };
    const logFrom = read?.segments[0];
    const segments = await listSegments(stateDir);
    const next = Math.max(-1, (logFrom ?? 0) - 1, ...segments) + 1;
    const goalLog = await GoalStateLog.open(stateDir, next, this.#log, replayed);
    return { goalLog, complete, anchored: read !== undefined && complete, applied, replayedBytes };
  }

  /** The full state is known: delete what it does not want, make the snapshot a full one, then drop the marker. */
  async #sweep(): Promise<void> {
    const r = this.#need();
    const t0 = Date.now();
    const flowMods = await r.apply.sweep();
    await r.host.snapshotNow();
    await clearReadBack(this.#opts.stateDir);
    this.#log('info', 'full state known: flows no resource wants were removed', { flowMods, ms: Date.now() - t0 });
  }

  /** State-directory bookkeeping that must not stop the agent (a read-only or full disk): logged. */
  async #tryStateDir(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e: unknown) {
      this.#log('warn', 'state directory not writable', { stateDir: this.#opts.stateDir, error: errorText(e) });
    }
  }

  /** OVSDB: the bridge (fail-mode secure: no NORMAL fallback while we are away), the tunnel port, the interface monitor, XDP. */
  async #openOvsdb(): Promise<InterfaceMonitor> {
    const o = this.#opts;
    const ovsdb = new OvsdbClient({ socketPath: path.join(o.ovsRundir, 'db.sock') });
    this.#ovsdb = ovsdb;
    await ovsdb.connect();
    const bridge = await ensureBridge(ovsdb, {
      name: o.bridge,
      datapathType: o.datapathType,
      failMode: 'secure',
      protocols: ['OpenFlow13', 'OpenFlow14'],
    });
    const tunnel = await ensureVxlanPort(ovsdb, {
      bridge: o.bridge,
      name: o.tunnelPortName ?? 'vxlan-alcor',
      localIp: o.tunnelIp,
      ofportRequest: o.tunnelOfport,
    });
    this.#log('info', 'bridge ensured', { bridge: o.bridge, changes: [...bridge.actions, ...tunnel.actions] });
    // Which port id sits on which ofport.
    const monitor = new InterfaceMonitor(ovsdb);
    this.#monitor = monitor;
    await monitor.start();
    if ((o.dataplane ?? 'ovs') !== 'ovs') {
      const pinDir = o.bpfPinDir ?? path.join('/sys/fs/bpf/alcor', o.bridge);
      this.#xdp = await XdpArpDataplane.open({ pinDir, netns: o.xdpNetns });
      this.#log('info', 'xdp arp responder ready', { pinDir, entries: this.#xdp.mirror.size, netns: o.xdpNetns });
    }
    return monitor;
  }

  /**
   * The engine, from the local snapshot when there is one; restored ports already on the bridge keep
   * their ofport. A snapshot the engine refuses is treated like an unusable file: the engine starts
   * empty (read-back).
   */
  async #openEngine(
    snapshot: StoreSnapshot | undefined,
  ): Promise<{ engine: Engine; snapshot: StoreSnapshot | undefined }> {
    if (snapshot !== undefined) {
      try {
        return { engine: await this.#createEngine(snapshot), snapshot };
      } catch (e: unknown) {
        this.#log('warn', 'snapshot refused by the engine; reading the installed flows back instead', {
          error: errorText(e),
        });
      }
    }
    return { engine: await this.#createEngine(undefined), snapshot: undefined };
  }

  /** Restored ports learn their ofports once OVSDB is up (replayGoalStates): the two start side by side. */
  async #createEngine(snapshot: StoreSnapshot | undefined): Promise<Engine> {
    const o = this.#opts;
    const engine = await Engine.create({
      workers: o.workers,
      localTunnelIp: o.tunnelIp === undefined ? undefined : parseIpv4(o.tunnelIp),
      tunnelOfport: o.tunnelOfport,
      snapshot,
      arpAnswers: (o.dataplane ?? 'ovs') === 'ebpf' ? 'none' : 'flows',
    });
    this.#engine = engine;
    // A fresh engine plans a synthetic push once and takes it back, so that the first real push (a
    // restart's full state) runs compiled code into filled buffer pools. A restored engine is warmed
    // by its own replay, and holds state a synthetic push could contest.
    const warmUpMs = snapshot === undefined ? await this.#warmUp(engine) : undefined;
    this.#log('info', 'engine ready', {
      workers: o.workers,
      warmUpMs,
      restored: snapshot !== undefined,
      ports: snapshot?.resources.port.length ?? 0,
      neighbors: snapshot?.resources.neighbor.length ?? 0,
    });
    return engine;
  }

  async #warmUp(engine: Engine): Promise<number> {
    const t0 = performance.now();
    await engine.warmUp(this.#opts.tunnelIp ?? '0.0.0.0');
    return Math.round(performance.now() - t0);
  }

  /** OVS's first growth (ovs-warm-up.ts), taken now; a failure costs only the first push's speed. */
  async #warmUpOvs(session: OpenFlowSession): Promise<void> {
    try {
      this.#log('info', 'switch warmed', { flows: WARM_UP_FLOWS, ms: await warmUpOvs(session) });
    } catch (e: unknown) {
      this.#log('warn', 'switch warm-up failed; the first push meets a cold switch', { error: errorText(e) });
    }
  }

  /** On-demand requests, the HTTP endpoints, then the gRPC server: the agent is ready. */
  async #serve(packetIns: PacketInHandler): Promise<void> {
    const o = this.#opts;
    const r = this.#need();
    // One TLS identity for the server and, in a mutual-TLS deployment, for the calls to --control; a SIGHUP
    // reload reaches both.
    const tls = o.tls === undefined ? undefined : new ReloadableTls(o.tls);
    if (o.control !== undefined) {
      this.#onDemand = new OnDemandClient(
        o.control,
        o.tunnelIp,
        tls?.mutual === true ? tls.channelCredentials() : undefined,
      );
      packetIns.askOnDemand(this.#onDemand);
    }
    if (o.metrics !== undefined) {
      this.#http = await startHttp(o.metrics, {
        metricsText: () =>
          this.#metrics.render(this.#grpc?.load) +
          (this.#xdp?.metricsText() ?? '') +
          (this.#nats?.metricsText() ?? '') +
          (this.#zetaOam?.metricsText() ?? ''),
        status: () => this.status(),
        flowsReport: () => this.flowsReport(),
      });
    }
    this.#grpc = new GoalStateServer(r.apply.applier(), {
      address: o.listen,
      requestMode: 'raw',
      maxReceiveMessageBytes: o.maxMessageMb * 1024 * 1024,
      receive: {
        ...(o.maxReceivingMb === undefined ? {} : { budgetBytes: o.maxReceivingMb * 1024 * 1024 }),
        ...(o.receiveTimeoutS === undefined ? {} : { timeoutMs: o.receiveTimeoutS * 1000 }),
        onRefuse: (why, details) => this.#log('warn', 'goal state refused while receiving', { why, details }),
      },
      ...(tls === undefined ? {} : { tls }),
    });
    this.#grpcPort = await this.#grpc.start();
    if (o.southbound !== undefined && o.tunnelIp !== undefined) {
      this.#nats = new NatsSouthbound(
        {
          servers: o.southbound,
          hostIp: o.tunnelIp,
          ...(o.southboundSecurity === undefined ? {} : { security: o.southboundSecurity }),
        },
        r.apply.applier(),
        this.#log,
      );
      this.#nats.start();
    }
    this.#log('info', 'agent ready', {
      listen: o.listen,
      grpcPort: this.#grpcPort,
      bridge: o.bridge,
      metrics: o.metrics,
      metricsPort: httpPort(this.#http),
      convergeFlowMods: r.apply.lastConvergeFlowMods,
      ...(r.apply.holdingDeletes ? { readBack: r.apply.readBack.flows } : {}),
    });
    const onDemand = this.#onDemand;
    this.#fullState?.start(onDemand === undefined ? undefined : () => onDemand.agentRestarted());
    r.apply.verifyInBackground();
  }

  /** The ZETA OAM listener, told of every FLOW_REMOVED (direct paths) and of every (re)connect. */
  #openZetaOam(session: OpenFlowSession): ZetaOam {
    const zetaOam = new ZetaOam({
      applyBundle: (id, deltas) => session.applyBundle(id, deltas),
      queue: this.#queue,
      tunnelOfport: this.#opts.tunnelOfport,
      dumpDirectPaths: () => dumpDirectPathCookies(session),
      log: this.#log,
    });
    session.on('flow_removed', (r: FlowRemovedParse) => zetaOam.paths.flowRemoved(r));
    session.on('ready', () => zetaOam.resync());
    return zetaOam;
  }

  /** Re-reads the TLS files (SIGHUP): new connections get the new certificate; flows and open streams stay. */
  reloadTls(): TlsReloadResult | null {
    return this.#grpc?.reloadTls() ?? null;
  }

  /** Stops serving and disconnects. Installed flows stay: nothing is deleted on the way out. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#fullState?.stop();
    await this.#grpc?.stop(2000).catch(() => undefined);
    await this.#nats?.stop();
    await this.#queue.idle();
    await this.#running?.host.idle();
    await this.#goalLog?.close();
    this.#collector?.close();
    this.#zetaOam?.close();
    this.#session?.stop();
    this.#onDemand?.close();
    await this.#monitor?.stop().catch(() => undefined);
    this.#ovsdb?.close();
    await this.#engine?.close().catch(() => undefined);
    this.#xdp?.close();
    if (this.#http !== undefined) await stopHttp(this.#http);
    this.#log('info', 'agent stopped (flows left installed)');
  }

  #need(): Running {
    if (this.#running === undefined) throw new DaemonError('DAEMON_START', 'agent is not started');
    return this.#running;
  }

  #onPortEvent(ev: PortEvent): void {
    if (this.#stopping) return;
    const r = this.#need();
    if (ev.kind === 'unbound') r.host.portUnbound(ev.portId);
    r.apply.portEvent(ev);
  }

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
      dhcpLeases: this.#running?.host.leaseCount ?? 0,
      lastConvergeFlowMods: this.#running?.apply.lastConvergeFlowMods ?? 0,
      readBack:
        this.#running === undefined
          ? undefined
          : { ...this.#running.apply.readBack, fullState: this.#fullState?.state },
    };
  }

  /** Desired vs installed (ours), compared by the engine's reconcile: the flow-mods it would send. */
  async flowsReport(): Promise<Record<string, unknown>> {
    const r = this.#need();
    return flowsReport(r.engine, r.session, this.#queue, this.#zetaOam?.paths.report());
  }
}
