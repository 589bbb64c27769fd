// Per-VM times of `alcor-bench vms` and their summary, the same for our run and for the OVN baseline
// (perf/vms-ovn.ts), so that both systems report the same fields and plot on one chart.
import { percentile, stats, type Stats } from '../report/stats';
import type { GuestTimes } from './guest';

export interface VmTimes {
  readonly vm: string;
  readonly host: number;
  /** ms from the run's t0 until the port was ACTIVE (ours) or `up` (OVN), leased, and pinging both peers. */
  activeMs?: number;
  leaseMs?: number;
  upMs?: number;
  error?: string;
}

/** What both systems report for the VM scenario. */
export interface VmsSummary {
  /** First port create until the last VM pinged its gateway and its remote VM (-1 when some VM never did). */
  readonly allUpMs: number;
  readonly p50UpMs: number;
  readonly p99UpMs: number;
  readonly active: Stats;
  readonly lease: Stats;
  readonly up: Stats;
  readonly failed: number;
  readonly errors: readonly string[];
}

export const hostUnderlay = (h: number): string => `192.0.2.${h + 1}`;
export const vmMac = (i: number): string =>
  `02:cf:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

export function newTimes(vms: number, hosts: number): VmTimes[] {
  return Array.from({ length: vms }, (_, i) => ({ vm: `vm${i}`, host: i % hosts }));
}

/** Folds a guest's own stamps (seconds of /proc/uptime) into its VM's times, relative to `uptime0`. */
export function recordGuest(t: VmTimes, i: number, g: GuestTimes, uptime0: number): void {
  const ms = (at: number | undefined): number | undefined =>
    at === undefined ? undefined : Math.max(0, (at - uptime0) * 1000);
  t.leaseMs = ms(g.leaseAt);
  t.upMs = t.error === undefined && g.error === undefined ? ms(g.upAt) : undefined;
  if (t.error === undefined && g.error !== undefined) t.error = `vm${i}: ${g.error}`;
}

export function summarizeTimes(times: readonly VmTimes[]): VmsSummary {
  const upMs = times.filter((t) => t.upMs !== undefined).map((t) => t.upMs as number);
  const sorted = [...upMs].sort((a, b) => a - b);
  const failed = times.filter((t) => t.upMs === undefined);
  const of = (pick: (t: VmTimes) => number | undefined): Stats =>
    stats(times.map(pick).filter((x): x is number => x !== undefined));
  return {
    allUpMs: failed.length === 0 ? Math.round(sorted[sorted.length - 1] ?? 0) : -1,
    p50UpMs: Math.round(percentile(sorted, 50)),
    p99UpMs: Math.round(percentile(sorted, 99)),
    active: of((t) => t.activeMs),
    lease: of((t) => t.leaseMs),
    up: stats(upMs),
    failed: failed.length,
    errors: failed.slice(0, 5).map((t) => t.error ?? `${t.vm}: unknown`),
  };
}
