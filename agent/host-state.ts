// Host bookkeeping: what the agent keeps beside the engine after each commit — the local snapshot
// (--state-dir), the DHCP server's lease table, and the XDP ARP responder's map (--dataplane
// ebpf|both).
//
// Why it is a module of its own: none of this programs OVS or opens an engine transaction; it
// reads the committed engine and mirrors it elsewhere, coalesced so that a burst of commits costs
// one pass. Keeping it apart from the apply path means a slow snapshot can never delay a reply.

import type { ZetaOam } from './zeta-oam';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Engine } from '../core/engine/engine';
import { errorText } from '../core/errors';
import type { DhcpLease } from '../core/dhcp/server';
import { SNAPSHOT_FORMAT, type StoreSnapshot } from '../core/goalstate';
import { formatIpv4, formatMac } from '../core/goalstate/addr';
import type { Dhcp, Subnet } from '../core/model';
import type { Logger } from './log';
import type { Metrics } from './metrics';
import type { InterfaceMonitor } from './ovsdb';
import type { SerialQueue } from './serial-queue';
import type { XdpArpDataplane } from './xdp-arp';
import { SnapshotLag } from './snapshot-lag';
import type { GoalStateLog } from './goalstate-log';

const SNAPSHOT_FILE = 'snapshot.json';

/**
 * What the state directory held at start-up. `unusable`: a file was there but cannot be the held
 * state (not JSON, not a snapshot's shape, unreadable); the agent then reads the installed flows back
 * instead of trusting it (docs/agent.md, "Restart semantics"), and never deletes on its account.
 */
export type SnapshotRead =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'ok';
      readonly snapshot: StoreSnapshot;
      /** The first goal-state log segment to replay after it (agent/goalstate-log.ts); none in older files. */
      readonly logFrom: number | undefined;
    }
  | { readonly kind: 'unusable'; readonly file: string; readonly reason: string };

/** The snapshot in `stateDir` (see SnapshotRead). Never throws. */
export async function readSnapshot(stateDir: string | undefined): Promise<SnapshotRead> {
  if (stateDir === undefined) return { kind: 'none' };
  const file = path.join(stateDir, SNAPSHOT_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e: unknown) {
    if ((e as { code?: unknown }).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'unusable', file, reason: errorText(e) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e: unknown) {
    return { kind: 'unusable', file, reason: `not valid JSON: ${errorText(e)}` };
  }
  if (!looksLikeSnapshot(value)) {
    return { kind: 'unusable', file, reason: `not a snapshot of format ${SNAPSHOT_FORMAT}` };
  }
  const logFrom = (value as { logFrom?: unknown }).logFrom;
  return { kind: 'ok', snapshot: value, logFrom: Number.isSafeInteger(logFrom) ? (logFrom as number) : undefined };
}

function looksLikeSnapshot(v: unknown): v is StoreSnapshot {
  if (typeof v !== 'object' || v === null || (v as { format?: unknown }).format !== SNAPSHOT_FORMAT) return false;
  const r = (v as { resources?: unknown }).resources;
  if (typeof r !== 'object' || r === null) return false;
  return Object.values(r).every((x) => Array.isArray(x));
}

/**
 * Moves an unusable snapshot aside (`snapshot.json.unusable`) so an operator can look at it and the
 * next write does not depend on it. Best effort: failing to move it changes nothing else.
 */
export async function setAsideSnapshot(file: string): Promise<string | undefined> {
  const aside = `${file}.unusable`;
  try {
    await fs.rename(file, aside);
    return aside;
  } catch {
    return undefined;
  }
}

let tmpSeq = 0;

/** Resources serialised per write: a batch is a few MB, so the event loop runs between batches. */
const WRITE_BATCH = 8192;

/**
 * Writes the snapshot to `stateDir` atomically (temp file + rename). The JSON is produced and written
 * in batches of resources, not as one string: at a million neighbors one JSON.stringify held the
 * main thread (gRPC, packet-ins, OpenFlow echoes) for tens of seconds and needed a string of
 * hundreds of MB. The file is the same JSON a single stringify would give (key order aside).
 * A failed write (a full disk) removes its temp file and leaves the previous snapshot as it was.
 * `logFrom`: the goal-state log segment a restore replays from (see agent/goalstate-log.ts).
 */
export async function writeSnapshot(stateDir: string, snap: StoreSnapshot, logFrom?: number): Promise<void> {
  await fs.mkdir(stateDir, { recursive: true });
  const file = path.join(stateDir, SNAPSHOT_FILE);
  // Unique per write: a post-commit pass and snapshotNow() may write at the same time.
  const tmp = `${file}.${process.pid}.${++tmpSeq}.tmp`;
  const fh = await fs.open(tmp, 'w');
  try {
    const log = logFrom === undefined ? '' : `"logFrom":${logFrom},`;
    await fh.write(`{"format":${JSON.stringify(snap.format)},${log}"resources":{`);
    let sep = '';
    for (const [kind, list] of Object.entries(snap.resources) as [string, readonly unknown[]][]) {
      await fh.write(`${sep}${JSON.stringify(kind)}:[`);
      sep = ',';
      for (let i = 0; i < list.length; i += WRITE_BATCH) {
        const batch = list.slice(i, i + WRITE_BATCH).map((r) => JSON.stringify(r));
        await fh.write((i === 0 ? '' : ',') + batch.join(','));
      }
      await fh.write(']');
    }
    await fh.write('}}');
    await fh.close();
  } catch (e: unknown) {
    await fh.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fs.rename(tmp, file); // atomic: a crash leaves the old or the new file, never half of one
}

/** The DHCP server's table: lease by lower-case MAC, for DHCP entries whose subnet has a gateway. */
export function dhcpLeases(dhcp: readonly Dhcp[], heldSubnets: readonly Subnet[]): Map<string, DhcpLease> {
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
  return leases;
}

/** A snapshot read from the engine, not yet on disk. */
interface EngineSnapshot {
  readonly snap: StoreSnapshot;
  readonly token: number | null;
  readonly logFrom: number | undefined;
}

export interface HostStateParts {
  readonly engine: Engine;
  readonly monitor: InterfaceMonitor;
  readonly queue: SerialQueue;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly stateDir: string | undefined;
  /** The XDP ARP responder, with --dataplane ebpf|both. */
  readonly xdp: XdpArpDataplane | undefined;
  /** Listens on the OAM ports of the held ZETA gateways; told after each change of held resources. */
  readonly zetaOam?: ZetaOam;
  /** The goal-state log (with a state dir): a snapshot is taken when it asks for compaction. */
  readonly goalLog: GoalStateLog | undefined;
}

export class HostState {
  readonly #p: HostStateParts;
  #dhcp = new Map<string, DhcpLease>();
  /** The running post-commit pass, if any (see afterCommit). */
  #bookkeeping: Promise<void> | undefined;
  #bookkeepingDirty = false;
  /** DHCP or subnet resources changed since the DHCP table was last rebuilt. */
  #heldViewsDirty = false;
  /** The next XDP sync asks the engine for every ARP answer, not the changes (set until a sync has gone through). */
  #xdpResync = false;
  /** The last snapshot write failed: the next pass tries again whatever the log's size. */
  #snapshotFailed = false;

  /** Whether the snapshot on disk may be behind OVS (agent/snapshot-lag.ts); the apply path tells it of bundles. */
  readonly lag: SnapshotLag;

  constructor(parts: HostStateParts, restored: StoreSnapshot | undefined, behindAtStart: boolean) {
    this.#p = parts;
    this.lag = new SnapshotLag(parts.stateDir, SNAPSHOT_FILE, parts.log, behindAtStart);
    if (restored !== undefined) this.#dhcp = dhcpLeases(restored.resources.dhcp, restored.resources.subnet);
  }

  /** The lease for a MAC (any case), for the DHCP server. */
  lease(mac: string): DhcpLease | undefined {
    return this.#dhcp.get(mac.toLowerCase());
  }

  get leaseCount(): number {
    return this.#dhcp.size;
  }

  /** An interface went away: the kernel dropped the XDP program with it. */
  portUnbound(portId: string): void {
    this.#p.xdp?.forget(portId);
  }

  /**
   * After a restart from a snapshot: restored ports already on the bridge get the responder and
   * their entries now, not at the next commit. With `ebpf` nothing else answers their ARP, and the
   * first converge may remove answer flows an earlier `ovs`/`both` run installed.
   */
  async syncRestored(): Promise<void> {
    const xdp = this.#p.xdp;
    if (xdp === undefined) return;
    try {
      await this.#syncXdp(xdp);
    } catch (e: unknown) {
      this.#p.log('error', 'xdp start-up sync failed; retried after the next commit', { error: errorText(e) });
    }
  }

  /**
   * After commits: refreshes the DHCP table when DHCP or subnet resources changed (`heldViews`),
   * writes a snapshot when the goal-state log is due for compaction (or the snapshot is behind) and
   * mirrors ARP answers into XDP (--dataplane ebpf|both). Each goal state is already in the log, so
   * the snapshot is not needed after every commit. Coalesced: a burst of commits costs one pass. The
   * reads run in the serial queue so they never see a transaction that is still open; a pass with
   * nothing to do costs nothing, so a stream of neighbor updates is not slowed by bookkeeping.
   */
  afterCommit(heldViews: boolean): void {
    this.#heldViewsDirty ||= heldViews;
    this.#bookkeepingDirty = true;
    if (this.#bookkeeping !== undefined) return;
    if (!this.#heldViewsDirty && !this.#snapshotDue() && this.#p.xdp === undefined) return;
    this.#bookkeeping = (async () => {
      try {
        while (this.#bookkeepingDirty) {
          this.#bookkeepingDirty = false;
          await this.#pass();
        }
      } catch (e: unknown) {
        this.#p.log('warn', 'post-commit bookkeeping failed', { error: errorText(e) });
      } finally {
        this.#bookkeeping = undefined;
      }
    })();
  }

  /**
   * Writes the snapshot of the engine as it is now (read in the serial queue), after any running
   * pass. Throws when it cannot be written: the caller relies on it being on disk.
   */
  async snapshotNow(): Promise<void> {
    if (this.#p.stateDir === undefined) return;
    await this.idle();
    await this.#snapshot(await this.#p.queue.run(() => this.#readSnapshot()));
  }

  /** Whether the next pass writes a snapshot. */
  #snapshotDue(): boolean {
    const { stateDir, goalLog } = this.#p;
    if (stateDir === undefined) return false;
    return goalLog === undefined || goalLog.compactionDue || this.lag.marked || this.#snapshotFailed;
  }

  /** In the serial queue: a new log segment, then the engine's state, which covers every segment before it. */
  async #readSnapshot(): Promise<EngineSnapshot> {
    const logFrom = await this.#p.goalLog?.rotate();
    return { snap: await this.#p.engine.snapshot(), token: this.lag.readingSnapshot(), logFrom };
  }

  async #snapshot(r: EngineSnapshot): Promise<void> {
    const { stateDir, goalLog } = this.#p;
    if (stateDir === undefined) return;
    try {
      await writeSnapshot(stateDir, r.snap, r.logFrom);
    } catch (e: unknown) {
      this.#snapshotFailed = true;
      throw e;
    }
    this.#snapshotFailed = false;
    if (r.logFrom !== undefined) await goalLog?.removeBefore(r.logFrom);
    await this.lag.snapshotWritten(r.token);
  }

  /** Resolves when the running post-commit pass (if any) has finished. */
  async idle(): Promise<void> {
    await this.#bookkeeping;
  }

  async #pass(): Promise<void> {
    const { engine, queue, metrics, xdp } = this.#p;
    const wantStats = this.#heldViewsDirty;
    this.#heldViewsDirty = false;
    const wantSnapshot = this.#snapshotDue();
    const [stats, snap] = await queue.run(
      async () =>
        [wantStats ? await engine.stats() : undefined, wantSnapshot ? await this.#readSnapshot() : undefined] as const,
    );
    if (stats !== undefined) {
      this.#dhcp = dhcpLeases(stats.dhcp, stats.subnets);
      metrics.flowsInstalled = stats.flows;
      this.#p.zetaOam?.setPorts(stats.zetaOam);
    }
    if (snap !== undefined) await this.#snapshot(snap);
    if (xdp !== undefined) await this.#syncXdp(xdp);
  }

  /** Attaches the responder to newly bound ports' interfaces, then mirrors the engine's ARP answers into its map. */
  async #syncXdp(xdp: XdpArpDataplane): Promise<void> {
    const { monitor, engine, queue, log } = this.#p;
    for (const [portId, ofport] of monitor.ports) {
      if (ofport === null || xdp.isAttached(portId)) continue;
      const iface = monitor.lookup(portId);
      if (iface === undefined) continue;
      try {
        const ifindex = await xdp.attach(portId, iface.name);
        log('info', 'xdp attached', { portId, ifname: iface.name, ifindex });
      } catch (e: unknown) {
        log('warn', 'xdp attach failed', { portId, ifname: iface.name, error: errorText(e) });
      }
    }
    // After a failure the engine and arp_table may disagree on what was reported: start over from a full report.
    const reset = this.#xdpResync;
    this.#xdpResync = true;
    const report = await queue.run(() => engine.arpChanges(reset));
    const r = await xdp.syncChanges(report);
    this.#xdpResync = false;
    if (r.upserted + r.deleted > 0 || r.conflicts > 0)
      log('debug', 'xdp arp table synced', { ...r, full: report.full });
  }
}
