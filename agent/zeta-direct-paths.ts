// Which ZETA direct paths OVS holds, and why they went. A direct path is installed with
// OFPFF_SEND_FLOW_REM (and is the only flow that is), so OVS tells the agent's OpenFlow session
// when it expires or is deleted (FLOW_REMOVED); the agent counts those by reason and keeps the
// number installed as a gauge.
//
// Why a set of cookies and not a counter: a repeated injection of one path replaces the flow (one
// flow, one cookie), and after a reconnect the set is re-read from OVS (resync), so removals the
// agent missed while disconnected do not leave the gauge high forever.

import { decodeFlowStatsEntries, type FlowRemovedParse } from '../core/openflow';
import { DIRECT_PATH_COOKIE_BITS, DIRECT_PATH_COOKIE_MASK, isDirectPathCookie } from '../core/zeta/direct-path';
import type { OpenFlowSession } from './openflow/session';

/** Removal reasons that mean OVS expired the flow by itself. */
const EXPIRY_REASONS: ReadonlySet<string> = new Set(['idle_timeout', 'hard_timeout']);

export interface DirectPathReport {
  readonly installed: number;
  /** Removed by idle or hard timeout. */
  readonly expired: number;
  /** Every removal by OpenFlow reason (idle_timeout, hard_timeout, delete, group_delete, eviction, ...). */
  readonly removed: Readonly<Record<string, number>>;
}

export class DirectPathTracker {
  #installed = new Set<bigint>();
  readonly #removed = new Map<string, number>();
  /** FLOW_REMOVED of a flow that is not a direct path (not ours to count: another controller's flags). */
  otherRemoved = 0;
  /** FLOW_REMOVED bytes that did not decode. */
  malformed = 0;

  /** OVS committed the path's flow. */
  installed(cookie: bigint): void {
    this.#installed.add(cookie);
  }

  /** One FLOW_REMOVED, as the session emits it. Constant work, whatever it holds. */
  flowRemoved(r: FlowRemovedParse): void {
    if (!r.ok) {
      this.malformed++;
      return;
    }
    if (!isDirectPathCookie(r.value.cookie)) {
      this.otherRemoved++;
      return;
    }
    this.#installed.delete(r.value.cookie);
    this.#removed.set(r.value.reasonName, (this.#removed.get(r.value.reasonName) ?? 0) + 1);
  }

  /** The direct paths OVS holds now (their cookies, from a dump). */
  resync(cookies: Iterable<bigint>): void {
    this.#installed = new Set(cookies);
  }

  report(): DirectPathReport {
    let expired = 0;
    for (const [reason, n] of this.#removed) if (EXPIRY_REASONS.has(reason)) expired += n;
    return { installed: this.#installed.size, expired, removed: Object.fromEntries([...this.#removed].sort()) };
  }

  /** Prometheus lines (text format 0.0.4). */
  metricsLines(): string[] {
    return [
      '# HELP alcor_agent_zeta_direct_paths_installed ZETA direct-path flows OVS holds (FLOW_REMOVED takes them off).',
      '# TYPE alcor_agent_zeta_direct_paths_installed gauge',
      `alcor_agent_zeta_direct_paths_installed ${this.#installed.size}`,
      '# HELP alcor_agent_zeta_direct_paths_removed_total ZETA direct-path flows OVS removed, by FLOW_REMOVED reason.',
      '# TYPE alcor_agent_zeta_direct_paths_removed_total counter',
      ...[...this.#removed]
        .sort()
        .map(([reason, n]) => `alcor_agent_zeta_direct_paths_removed_total{reason="${reason}"} ${n}`),
      '# HELP alcor_agent_openflow_flow_removed_ignored_total FLOW_REMOVED messages not counted: not a direct path, or malformed.',
      '# TYPE alcor_agent_openflow_flow_removed_ignored_total counter',
      `alcor_agent_openflow_flow_removed_ignored_total{why="not_direct_path"} ${this.otherRemoved}`,
      `alcor_agent_openflow_flow_removed_ignored_total{why="malformed"} ${this.malformed}`,
    ];
  }
}

/** The cookies of the direct paths the bridge holds (a flow dump filtered by their cookie marker). */
export async function dumpDirectPathCookies(session: Pick<OpenFlowSession, 'dumpFlows'>): Promise<bigint[]> {
  const bodies = await session.dumpFlows(DIRECT_PATH_COOKIE_BITS, DIRECT_PATH_COOKIE_MASK);
  return bodies.flatMap((b) => decodeFlowStatsEntries(b).map((e) => (e.kind === 'flow' ? e.flow.cookie : e.cookie)));
}
