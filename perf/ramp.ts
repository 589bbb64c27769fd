// alcor-bench ramp: "keep adding QPS and record latency". Open-loop load of port create+delete pairs at a rising
// offered rate, a fixed time per step; per step the achieved rate, latency percentiles (from the scheduled send
// time, perf/scenario/open-loop.ts) and errors. It stops at the first step whose p99 passes --slo-ms or whose
// errors pass 1%, and reports the highest offered rate that held (maxRateHeld).
//
// Not autocannon: its connections are closed loops (a request goes out when the last one answered), so a slow
// server is offered less load and its queueing never shows as latency; the knee this scenario looks for is
// exactly that queueing. Each pair is also two dependent requests with a fresh id, which autocannon's fixed
// request lists do not express.
import { parseArgs, type OptionSpec, type OptionValues } from '../core/cli/args';
import type { CliIo, SubcommandModule } from '../core/cli/commands';
import { badInteger, startBed } from './scenario/bed';
import { runOpenLoop } from './scenario/open-loop';
import { pairOp, setupLoadVpc, warmUp } from './scenario/ops';
import { writeReport, type Sample } from './report/report';
import { stats, type Stats } from './report/stats';
import { cdfChart, xyChart } from './report/svg';
import { OUTPUT_OPTIONS, SIMULATED_HOSTS_OPTION } from './scenario/options';

export interface RampOptions {
  readonly hosts: number;
  readonly stepS: number;
  readonly startRate: number;
  /** Added per step; 0: multiply by `rateFactor` instead. */
  readonly rateStep: number;
  readonly rateFactor: number;
  readonly maxSteps: number;
  readonly sloMs: number;
  /** ?wait=true on both calls: a pair is done when every affected agent acknowledged. */
  readonly wait: boolean;
  readonly out?: string;
  readonly progress?: (line: string) => void;
}

export interface RampStep {
  readonly step: number;
  readonly offeredRate: number;
  readonly achievedRate: number;
  readonly sent: number;
  readonly errors: number;
  readonly errorRate: number;
  /** Scheduled send until the delete answered. */
  readonly pair: Stats;
  /** Scheduled send until the create answered. */
  readonly create: Stats;
  readonly held: boolean;
}

export interface RampResult {
  readonly bench: 'ramp';
  readonly hosts: number;
  readonly stepS: number;
  readonly sloMs: number;
  readonly wait: boolean;
  /** Highest offered rate (pairs/s) whose step held the SLO with <= 1% errors; 0 if the first did not. */
  readonly maxRateHeld: number;
  /** The same, under the name the acceptance asks for. */
  readonly maxRate: number;
  readonly stoppedBy: 'slo' | 'errors' | 'max-steps';
  readonly steps: readonly RampStep[];
  readonly report?: string;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export function stepRate(o: Pick<RampOptions, 'startRate' | 'rateStep' | 'rateFactor'>, step: number): number {
  return round2(o.rateStep > 0 ? o.startRate + step * o.rateStep : o.startRate * o.rateFactor ** step);
}

function writeRampReport(dir: string, result: RampResult, samples: readonly Sample[]): void {
  const offered = result.steps.map((s) => s.offeredRate);
  const charts = [
    xyChart(
      'achieved against offered rate (pairs/s)',
      'offered (pairs/s)',
      'achieved (pairs/s)',
      [{ name: 'achieved', points: result.steps.map((s) => ({ x: s.offeredRate, y: s.achievedRate })) }],
      true,
    ),
    xyChart('latency against offered rate (the knee)', 'offered (pairs/s)', 'pair latency (ms)', [
      { name: 'p50', points: result.steps.map((s) => ({ x: s.offeredRate, y: s.pair.p50Ms })) },
      { name: 'p99', points: result.steps.map((s) => ({ x: s.offeredRate, y: s.pair.p99Ms })) },
      { name: `SLO ${result.sloMs} ms`, points: offered.map((x) => ({ x, y: result.sloMs })) },
    ]),
    cdfChart(
      'pair latency CDF per step',
      result.steps.map((s) => ({
        name: `${s.offeredRate}/s`,
        samplesMs: samples.filter((x) => x.series === `step ${s.step} (${s.offeredRate}/s)`).map((x) => x.ms),
      })),
    ),
  ];
  writeReport(dir, {
    title: 'alcor-bench ramp: port create+delete pairs at rising offered rates',
    description:
      `${result.hosts} simulated agents, ${result.stepS} s per step, open loop (latency from the scheduled send), ` +
      `SLO p99 <= ${result.sloMs} ms and errors <= 1%, ?wait=${result.wait}. Highest rate that held: ${result.maxRateHeld}/s.`,
    result,
    charts,
    samples,
  });
}

export async function runRamp(o: RampOptions): Promise<RampResult> {
  const say = o.progress ?? (() => undefined);
  const bed = await startBed(o.hosts, 1000, say);
  const samples: Sample[] = [];
  const steps: RampStep[] = [];
  let stoppedBy: RampResult['stoppedBy'] = 'max-steps';
  let shown = 0;
  const onError = (what: string): void => {
    if (++shown <= 3) say(what);
  };
  try {
    await setupLoadVpc(bed);
    await warmUp(bed, ['port'], 20);
    for (let step = 1; step <= o.maxSteps; step++) {
      const rate = stepRate(o, step - 1);
      say(`step ${step}: offering ${rate} pairs/s for ${o.stepS} s`);
      const r = await runOpenLoop({
        rate,
        durationS: o.stepS,
        op: (i) => pairOp(bed, 'port', `s${step}`, i, o.wait, onError),
        drainTimeoutMs: Math.min(120000, Math.max(10000, o.sloMs * 20)),
      });
      const series = `step ${step} (${rate}/s)`;
      for (const s of r.samples)
        samples.push({ series, ms: s.ms.pair ?? s.ms.create ?? 0, atMs: s.scheduledMs, ok: s.ok });
      const pair = stats(r.samples.filter((s) => s.ok).map((s) => s.ms.pair as number));
      const create = stats(r.samples.filter((s) => s.ms.create !== undefined).map((s) => s.ms.create as number));
      const errorRate = r.errors / r.sent;
      const held = pair.p99Ms <= o.sloMs && errorRate <= 0.01;
      steps.push({
        step,
        offeredRate: rate,
        achievedRate: r.achievedRate,
        sent: r.sent,
        errors: r.errors,
        errorRate: round2(errorRate),
        pair,
        create,
        held,
      });
      say(
        `step ${step}: achieved ${r.achievedRate}/s, p50 ${pair.p50Ms} ms, p99 ${pair.p99Ms} ms, errors ${r.errors}/${r.sent}${held ? '' : ' (did not hold)'}`,
      );
      if (!held) {
        stoppedBy = errorRate > 0.01 ? 'errors' : 'slo';
        break;
      }
    }
    const maxRateHeld = steps.filter((s) => s.held).reduce((m, s) => Math.max(m, s.offeredRate), 0);
    const base = { bench: 'ramp', hosts: o.hosts, stepS: o.stepS, sloMs: o.sloMs, wait: o.wait } as const;
    const result: RampResult = {
      ...base,
      maxRateHeld,
      maxRate: maxRateHeld,
      stoppedBy,
      steps,
      ...(o.out === undefined ? {} : { report: o.out }),
    };
    if (o.out !== undefined) {
      writeRampReport(o.out, result, samples);
      say(`report: ${o.out}/report.html`);
    }
    return result;
  } finally {
    await bed.close();
  }
}

const OPTIONS = [
  SIMULATED_HOSTS_OPTION,
  { name: 'step-s', type: 'number', default: 5, metavar: 'S', help: 'seconds of load per step' },
  { name: 'start-rate', type: 'number', default: 20, metavar: 'R', help: 'offered pairs per second in the first step' },
  {
    name: 'rate-step',
    type: 'number',
    default: 0,
    metavar: 'R',
    help: 'added to the rate each step (0: use --rate-factor)',
  },
  {
    name: 'rate-factor',
    type: 'number',
    default: 1.5,
    metavar: 'F',
    help: 'rate multiplier per step when --rate-step is 0',
  },
  { name: 'max-steps', type: 'number', default: 12, metavar: 'N', help: 'stop after this many steps even if all held' },
  {
    name: 'slo-ms',
    type: 'number',
    default: 250,
    metavar: 'MS',
    help: 'a step holds while its pair p99 is at most this',
  },
  { name: 'no-wait', type: 'boolean', help: 'time until the API answered instead of until every agent acknowledged' },
  ...OUTPUT_OPTIONS,
] as const satisfies readonly OptionSpec[];

const HELP = {
  usage:
    'alcor-bench ramp [--hosts H] [--step-s S] [--start-rate R] [--rate-step R | --rate-factor F] [--slo-ms MS] [--out DIR] [--json]',
  description:
    'Open-loop load of port create+delete pairs (each call ?wait=true) at rising offered rates, --step-s seconds\n' +
    'per step. Latency counts from the scheduled send time. Stops when p99 passes --slo-ms or errors pass 1%;\n' +
    'reports maxRateHeld and the per-step table. Last line: JSON.',
  options: OPTIONS,
  footer:
    'Example:\n  alcor-bench ramp --hosts 10 --step-s 5 --start-rate 20 --rate-factor 1.5 --slo-ms 250 --out /tmp/ramp --json',
};

function checkOptions(o: OptionValues<typeof OPTIONS>): string | null {
  const ints = [badInteger('hosts', o.hosts, 1), badInteger('max-steps', o['max-steps'], 1)].find((x) => x !== null);
  if (ints !== undefined) return ints;
  if (!(o['step-s'] > 0 && o['step-s'] <= 3600)) return '--step-s must be a number of seconds in (0, 3600]';
  if (!(o['start-rate'] > 0 && o['start-rate'] <= 100000)) return '--start-rate must be in (0, 100000]';
  if (!(o['rate-step'] >= 0)) return '--rate-step must be >= 0';
  if (o['rate-step'] === 0 && !(o['rate-factor'] > 1)) return '--rate-factor must be > 1 (or give --rate-step)';
  if (!(o['slo-ms'] > 0)) return '--slo-ms must be > 0';
  return null;
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(OPTIONS, argv, io.env).options;
  const bad = checkOptions(o);
  if (bad !== null) {
    io.stderr(`alcor-bench ramp: ${bad}\n`);
    return 2;
  }
  const result = await runRamp({
    hosts: o.hosts,
    stepS: o['step-s'],
    startRate: o['start-rate'],
    rateStep: o['rate-step'],
    rateFactor: o['rate-factor'],
    maxSteps: o['max-steps'],
    sloMs: o['slo-ms'],
    wait: o['no-wait'] !== true,
    progress: (line) => io.stderr(`${line}\n`),
    ...(o.out === undefined ? {} : { out: o.out }),
  });
  io.stdout(`${JSON.stringify(result)}\n`);
  return 0;
}

export const command: SubcommandModule = { help: HELP, run };
