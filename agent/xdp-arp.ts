// The agent's side of `--dataplane ebpf|both`: keeps the XDP ARP responder's pinned arp_table equal to the ARP
// answers the engine holds, and attaches the responder to each local VM port's OVS-side interface.
//
// Scope key: the VNI. Every entry is keyed (VNI, IPv4); each attached interface is mapped to its port's VNI through
// arp_scope, so the ports of one network share one set of entries. Pinned maps and attached programs outlive the
// agent: on start the mirror reads arp_table and reconciles it (never clears it).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArpChange } from '../core/engine/arp-entries';
import { ArpAnswers } from '../native/arp-answers';
import { ARP_TABLE_SPEC, ArpResponder, type ArpStats } from '../native/arp-responder';
import { MapMirror, type MapSyncResult } from '../native/ebpf-dataplane';

interface Attached {
  readonly ifname: string;
  readonly ifindex: number;
  vni: number | undefined;
}

export class XdpArpDataplane {
  readonly #attached = new Map<string, Attached>();
  /** Entries the engine's answers asked for at the last sync (above capacity, the rest is left out). */
  #wanted = 0;
  #syncFailures = 0;
  /** The engine's answers as changes have built them (syncChanges). */
  readonly #answers = new ArpAnswers();
  /** The last full plan left keys out (over capacity): the next one is full again, so they get in once there is room. */
  #truncated = false;

  private constructor(
    readonly responder: ArpResponder,
    readonly mirror: MapMirror,
    readonly netns: string | undefined,
  ) {}

  /** Opens (or creates and pins) the responder's maps under pinDir and reads what arp_table holds. */
  static async open(opts: { readonly pinDir: string; readonly netns?: string }): Promise<XdpArpDataplane> {
    fs.mkdirSync(opts.pinDir, { recursive: true });
    const responder = await ArpResponder.open({ pinDir: opts.pinDir });
    try {
      const mirror = await MapMirror.openArpTable(path.join(opts.pinDir, 'arp_table'));
      return new XdpArpDataplane(responder, mirror, opts.netns);
    } catch (e: unknown) {
      responder.close();
      throw e;
    }
  }

  /** Attaches the responder to a port's interface (replacing a program already there, e.g. ours before a restart). */
  async attach(portId: string, ifname: string): Promise<number> {
    // Generic mode: native XDP_TX on a veth only delivers when the peer (inside the VM) runs an XDP program too.
    const r = await this.responder.attach({ ifname, netns: this.netns, mode: 'generic' });
    this.#attached.set(portId, { ifname, ifindex: r.ifindex, vni: undefined });
    return r.ifindex;
  }

  isAttached(portId: string): boolean {
    return this.#attached.has(portId);
  }

  /** The interface is gone (or re-bound): forget it; the kernel dropped the program with the interface. */
  forget(portId: string): void {
    this.#attached.delete(portId);
  }

  /**
   * Moves arp_table by the engine's ARP changes (Engine.arpChanges) and points each attached interface at its port's
   * VNI. A plan covers only the keys the changes touched, except in full: on a `full` report, after a failed write
   * (the view is stale), and around capacity. Throws what the map throws; the caller then asks the engine for a
   * full report, which rebuilds everything here.
   */
  async syncChanges(report: {
    readonly full: boolean;
    readonly changes: readonly ArpChange[];
    readonly portVnis: ReadonlyMap<string, number>;
  }): Promise<MapSyncResult & { conflicts: number }> {
    if (report.full) this.#answers.clear();
    const touched = this.#answers.apply(report.changes);
    this.#wanted = this.#answers.size;
    const capacity = ARP_TABLE_SPEC.maxEntries;
    const whole = report.full || this.mirror.isStale || this.#truncated || this.#answers.size > capacity;
    let result: MapSyncResult;
    try {
      if (whole) {
        const desired = this.#answers.desired(this.mirror.entries());
        this.#truncated = desired.size > capacity;
        result = await this.mirror.sync(withinCapacity(desired, capacity));
      } else {
        result = await this.mirror.applyPlan(this.#answers.planFor(touched, this.mirror.entries()));
      }
    } catch (e: unknown) {
      this.#syncFailures++;
      throw e;
    }
    this.#pointPorts(report.portVnis);
    return { ...result, conflicts: this.#answers.conflicts };
  }

  #pointPorts(portVnis: ReadonlyMap<string, number>): void {
    for (const [portId, a] of this.#attached) {
      const vni = portVnis.get(portId);
      if (vni !== undefined && vni !== a.vni) {
        this.responder.setScope(a.ifindex, vni);
        a.vni = vni;
      }
    }
  }

  statsByPort(): Map<string, ArpStats & { readonly ifname: string }> {
    const out = new Map<string, ArpStats & { readonly ifname: string }>();
    for (const [portId, a] of this.#attached)
      out.set(portId, { ...this.responder.statsFor(a.ifindex), ifname: a.ifname });
    return out;
  }

  /** Prometheus text of the per-port XDP counters. */
  metricsText(): string {
    const lines: string[] = [
      '# HELP alcor_agent_xdp_arp_total ARP requests the XDP responder saw on a port, by outcome.',
      '# TYPE alcor_agent_xdp_arp_total counter',
    ];
    for (const [portId, s] of this.statsByPort()) {
      const labels = `port="${portId}",ifname="${s.ifname}"`;
      lines.push(`alcor_agent_xdp_arp_total{${labels},outcome="replied"} ${s.arpReplied}`);
      lines.push(`alcor_agent_xdp_arp_total{${labels},outcome="missed"} ${s.arpMissed}`);
    }
    lines.push(
      '# HELP alcor_agent_xdp_arp_entries Entries in the pinned arp_table.',
      '# TYPE alcor_agent_xdp_arp_entries gauge',
      `alcor_agent_xdp_arp_entries ${this.mirror.size}`,
      '# HELP alcor_agent_xdp_arp_wanted ARP answers the held state has; above the capacity the rest get none from XDP.',
      '# TYPE alcor_agent_xdp_arp_wanted gauge',
      `alcor_agent_xdp_arp_wanted ${this.#wanted}`,
      '# HELP alcor_agent_xdp_arp_capacity Entries arp_table can hold (max_entries of the compiled map).',
      '# TYPE alcor_agent_xdp_arp_capacity gauge',
      `alcor_agent_xdp_arp_capacity ${ARP_TABLE_SPEC.maxEntries}`,
      '# HELP alcor_agent_xdp_arp_sync_failures_total Syncs of arp_table the kernel refused (the next pass retries).',
      '# TYPE alcor_agent_xdp_arp_sync_failures_total counter',
      `alcor_agent_xdp_arp_sync_failures_total ${this.#syncFailures}`,
    );
    return lines.join('\n') + '\n';
  }

  /** Closes our fds only: the pinned maps and attached programs keep answering. */
  close(): void {
    this.mirror.close();
    this.responder.close();
  }
}

/**
 * At most `capacity` entries, the same ones for the same state: the smallest keys. A map that is full refuses the
 * whole batch, and then no address gets an answer from XDP; this way all but the excess do (alcor_agent_xdp_arp_wanted
 * above alcor_agent_xdp_arp_capacity says so, and docs/ebpf.md says when to stay with --dataplane both).
 */
export function withinCapacity<V>(entries: ReadonlyMap<string, V>, capacity: number): ReadonlyMap<string, V> {
  if (entries.size <= capacity) return entries;
  const keys = [...entries.keys()].sort().slice(0, capacity);
  return new Map(keys.map((k) => [k, entries.get(k) as V]));
}
