// The ZETA OAM listener: one UDP socket per OAM port of the held ZETA gateways (on all addresses,
// as ACA), each message parsed and judged by core/zeta/oam.ts, and each accepted injection or
// deletion sent to OVS as a one-message bundle through the serial queue (never interleaved with a
// goal state's bundle). The direct-path flows carry their own cookie marker (core/zeta/direct-path.ts)
// so the agent's reconcile leaves them to their idle timeout. They are the only flows installed with
// OFPFF_SEND_FLOW_REM: their FLOW_REMOVED messages feed the counts of agent/zeta-direct-paths.ts.

import dgram from 'node:dgram';
import { BUNDLE_ATOMIC_ORDERED, ByteWriter, OFP14_VERSION, OFPFF, writeBundledFlowMod } from '../core/openflow';
import { directPathFlow, directPathKey } from '../core/zeta/direct-path';
import { judgeOam, parseOam, type OamParse } from '../core/zeta/oam';
import type { BundleTimings } from './openflow/session';
import type { SerialQueue } from './serial-queue';
import { DirectPathTracker } from './zeta-direct-paths';

export interface ZetaOamParts {
  readonly applyBundle: (bundleId: number, deltas: readonly Uint8Array[]) => Promise<BundleTimings>;
  readonly queue: SerialQueue;
  readonly tunnelOfport: number;
  /** The cookies of the direct paths OVS holds (a cookie-filtered flow dump). */
  readonly dumpDirectPaths: () => Promise<bigint[]>;
  readonly log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Address the sockets bind; default all (0.0.0.0). */
  readonly address?: string;
}

/** Bundle ids of direct paths: a range the engine's (counting up from 1) does not reach in practice. */
const BUNDLE_BASE = 0xc000_0000;
/**
 * The flow-mod's xid: at or above the session's limit (as the engine's), so an ERROR for it belongs to
 * the bundle in flight, which is then discarded and rejected; with a session-range xid the ERROR was
 * only logged and the empty bundle committed, counted as installed.
 */
const OAM_XID = 0xf100_0000;

export class ZetaOam {
  readonly #p: ZetaOamParts;
  readonly #sockets = new Map<number, dgram.Socket>();
  #portOf = new Map<number, number>();
  #nextBundle = 0;
  /** Messages by outcome: inject, delete, a drop reason, or failed (OVS refused the flow-mod). */
  readonly outcomes = new Map<string, number>();
  installed = 0;
  deleted = 0;
  /** What OVS holds and what it removed (FLOW_REMOVED). */
  readonly paths = new DirectPathTracker();

  constructor(parts: ZetaOamParts) {
    this.#p = parts;
  }

  /** The ports to listen on (UDP), from the held ZETA gateways: VNI -> port. */
  setPorts(byVni: readonly (readonly [number, number])[]): void {
    this.#portOf = new Map(byVni.map(([v, p]) => [v, p]));
    const want = new Set(this.#portOf.values());
    const first = this.#sockets.size === 0 && want.size > 0;
    for (const [port, s] of this.#sockets) {
      if (want.has(port)) continue;
      s.close();
      this.#sockets.delete(port);
    }
    for (const port of want) if (!this.#sockets.has(port)) this.#listen(port);
    if (first) this.resync();
  }

  /**
   * Re-reads which direct paths OVS holds: on every OpenFlow (re)connect and when the first gateway
   * port opens (direct paths of an earlier run may be there). Not without gateways: a cookie-filtered
   * dump walks every flow of the bridge, and a host without ZETA gateways has no paths to count.
   */
  resync(): void {
    if (this.#sockets.size === 0) return;
    this.#p.dumpDirectPaths().then(
      (cookies) => this.paths.resync(cookies),
      (e: unknown) => this.#p.log('debug', 'zeta direct paths not re-read', { error: (e as Error).message }),
    );
  }

  /** Bound ports (tests, status). */
  get ports(): number[] {
    return [...this.#sockets.keys()].sort((a, b) => a - b);
  }

  #listen(port: number): void {
    const s = dgram.createSocket('udp4');
    this.#sockets.set(port, s);
    s.on('error', (e) => {
      // A port another process holds: counted and logged; the gateway's flows still work without it.
      this.#p.log('warn', 'zeta oam socket failed', { port, error: e.message });
      this.#count('listen_failed');
      s.close();
      if (this.#sockets.get(port) === s) this.#sockets.delete(port);
    });
    s.on('message', (msg) => void this.#handle(msg, port));
    s.bind(port, this.#p.address ?? '0.0.0.0');
  }

  #count(outcome: string): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  async #handle(payload: Uint8Array, port: number): Promise<void> {
    const m: OamParse = judgeOam(parseOam(payload), port, (vni) => this.#portOf.get(vni));
    if (m.op === 'drop') {
      this.#count(m.reason);
      return;
    }
    const bundleId = (BUNDLE_BASE + (this.#nextBundle++ % 0x3fff_ffff)) >>> 0;
    const w = new ByteWriter(512);
    if (m.op === 'inject') {
      const flow = directPathFlow(m, this.#p.tunnelOfport);
      // SEND_FLOW_REM on this flow only: the agent's own flows (a million, deleted in bundles) never
      // make OVS send a FLOW_REMOVED.
      writeBundledFlowMod(w, OAM_XID, OFP14_VERSION, bundleId, flow, 'add', BUNDLE_ATOMIC_ORDERED, {
        idleTimeout: m.idleTimeout,
        flags: OFPFF.SEND_FLOW_REM,
      });
    } else {
      writeBundledFlowMod(
        w,
        OAM_XID,
        OFP14_VERSION,
        bundleId,
        directPathKey(m),
        'delete_strict',
        BUNDLE_ATOMIC_ORDERED,
      );
    }
    try {
      await this.#p.queue.run(() => this.#p.applyBundle(bundleId, [w.view().slice()]));
      this.#count(m.op);
      if (m.op === 'inject') {
        this.installed++;
        this.paths.installed(directPathKey(m).cookie);
      } else this.deleted++;
    } catch (e: unknown) {
      this.#count('failed');
      this.#p.log('warn', 'zeta direct path not installed', { op: m.op, error: (e as Error).message });
    }
  }

  /** Prometheus lines (text format 0.0.4). */
  metricsText(): string {
    const lines = [
      '# HELP alcor_agent_zeta_oam_messages_total ZETA OAM messages by outcome (inject, delete, or why dropped).',
      '# TYPE alcor_agent_zeta_oam_messages_total counter',
      ...[...this.outcomes].sort().map(([k, n]) => `alcor_agent_zeta_oam_messages_total{outcome="${k}"} ${n}`),
      '# HELP alcor_agent_zeta_direct_paths_total ZETA direct-path flows sent to OVS, by operation.',
      '# TYPE alcor_agent_zeta_direct_paths_total counter',
      `alcor_agent_zeta_direct_paths_total{op="installed"} ${this.installed}`,
      `alcor_agent_zeta_direct_paths_total{op="deleted"} ${this.deleted}`,
      '# HELP alcor_agent_zeta_oam_ports OAM ports the agent listens on.',
      '# TYPE alcor_agent_zeta_oam_ports gauge',
      `alcor_agent_zeta_oam_ports ${this.#sockets.size}`,
      ...this.paths.metricsLines(),
    ];
    return lines.join('\n') + '\n';
  }

  close(): void {
    for (const s of this.#sockets.values()) s.close();
    this.#sockets.clear();
  }
}
