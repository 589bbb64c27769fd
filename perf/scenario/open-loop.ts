// Open-loop load: operation i is started at t0 + i/rate whatever happened to the earlier ones, and its latency
// is measured from that scheduled time, not from when it actually went out. A closed loop (the next request
// when the last answered, as autocannon's connections do) slows down with the server and hides the queueing
// it causes (coordinated omission); the open loop shows it as latency.
export interface OpMark {
  /** e.g. `create` or `pair`; one sample per mark. */
  readonly name: string;
  readonly atNs: bigint;
}

export interface OpOutcome {
  readonly ok: boolean;
  readonly marks: readonly OpMark[];
}

export interface OpenLoopSample {
  readonly index: number;
  /** Scheduled start, ms from the run's start. */
  readonly scheduledMs: number;
  readonly ok: boolean;
  /** Mark name -> ms from the scheduled start. */
  readonly ms: Readonly<Record<string, number>>;
}

export interface OpenLoopResult {
  readonly offeredRate: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  /** Successful operations per second, over the time from the start until the last one finished. */
  readonly achievedRate: number;
  readonly elapsedMs: number;
  readonly samples: readonly OpenLoopSample[];
}

export interface OpenLoopOptions {
  readonly rate: number;
  readonly durationS: number;
  /** Runs operation `index`; `scheduledNs` is when it should have started. Must not throw. */
  readonly op: (index: number, scheduledNs: bigint) => Promise<OpOutcome>;
  /** Operations still running this long after the last send count as errors (the run does not hang). */
  readonly drainTimeoutMs?: number;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const total = Math.max(1, Math.round(o.rate * o.durationS));
  const intervalNs = BigInt(Math.round(1e9 / o.rate));
  const t0 = process.hrtime.bigint();
  const samples: OpenLoopSample[] = [];
  const inFlight = new Set<Promise<void>>();
  let lastEnd = t0;
  for (let i = 0; i < total; i++) {
    const due = t0 + BigInt(i) * intervalNs;
    // Coarse timers overshoot; sleep while far from the due time, then yield until it comes.
    for (let now = process.hrtime.bigint(); now < due; now = process.hrtime.bigint()) {
      const leftMs = Number(due - now) / 1e6;
      if (leftMs > 2) await sleep(leftMs - 1);
      else await tick();
    }
    const p = o
      .op(i, due)
      .catch((): OpOutcome => ({ ok: false, marks: [{ name: 'error', atNs: process.hrtime.bigint() }] }))
      .then((out) => {
        const ms: Record<string, number> = {};
        for (const m of out.marks) {
          ms[m.name] = Number(m.atNs - due) / 1e6;
          if (m.atNs > lastEnd) lastEnd = m.atNs;
        }
        samples.push({ index: i, scheduledMs: Number(due - t0) / 1e6, ok: out.ok, ms });
      });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }
  const drain = Promise.all(inFlight).then(() => true);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((r) => (timer = setTimeout(r, o.drainTimeoutMs ?? 30000)));
  await Promise.race([drain, limit]);
  clearTimeout(timer);
  // Unfinished operations have no sample, so they count as errors below.
  const ok = samples.filter((s) => s.ok).length;
  const elapsedMs = Math.max(Number(lastEnd - t0) / 1e6, o.durationS * 1000);
  samples.sort((a, b) => a.index - b.index);
  return {
    offeredRate: o.rate,
    sent: total,
    ok,
    errors: total - ok,
    achievedRate: Math.round((ok / (elapsedMs / 1000)) * 100) / 100,
    elapsedMs: Math.round(elapsedMs),
    samples,
  };
}
