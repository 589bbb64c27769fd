// Latency summaries shared by every alcor-bench scenario: nearest-rank percentiles over raw samples.
export interface Stats {
  readonly n: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Nearest-rank percentile of an ascending list (0 when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function stats(samplesMs: readonly number[]): Stats {
  const s = [...samplesMs].sort((a, b) => a - b);
  return {
    n: s.length,
    p50Ms: round2(percentile(s, 50)),
    p95Ms: round2(percentile(s, 95)),
    p99Ms: round2(percentile(s, 99)),
    maxMs: round2(s[s.length - 1] ?? 0),
  };
}

/** Milliseconds since `t0` (a process.hrtime.bigint() reading). */
export function msSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
