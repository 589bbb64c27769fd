// alcor-bench mix: the seed notes' mixed scene (ports, VPCs and subnets created at the same time). Open-loop
// create+delete pairs of several kinds, interleaved by weight (--mix port=70,subnet=20,vpc=10), at one fixed
// offered rate; latency per kind under the mix, from the scheduled send time (perf/scenario/open-loop.ts).
import { parseArgs, type OptionSpec, type OptionValues } from '../core/cli/args';
import type { CliIo, SubcommandModule } from '../core/cli/commands';
import { badInteger, startBed } from './scenario/bed';
import { runOpenLoop } from './scenario/open-loop';
import { LOAD_KINDS, pairOp, setupLoadVpc, warmUp, type LoadKind } from './scenario/ops';
import { writeReport, type Sample } from './report/report';
import { stats, type Stats } from './report/stats';
import { cdfChart } from './report/svg';
import { OUTPUT_OPTIONS, SIMULATED_HOSTS_OPTION } from './scenario/options';

export type Mix = ReadonlyArray<{ readonly kind: LoadKind; readonly weight: number }>;

export interface MixOptions {
  readonly hosts: number;
  readonly rate: number;
  readonly durationS: number;
  readonly mix: Mix;
  readonly wait: boolean;
  readonly out?: string;
  readonly progress?: (line: string) => void;
}

export interface MixKindResult {
  readonly weight: number;
  readonly sent: number;
  readonly errors: number;
  readonly create: Stats;
  readonly pair: Stats;
}

export interface MixResult {
  readonly bench: 'mix';
  readonly hosts: number;
  readonly offeredRate: number;
  readonly achievedRate: number;
  readonly durationS: number;
  readonly wait: boolean;
  readonly errors: number;
  readonly kinds: Record<string, MixKindResult>;
  readonly report?: string;
}

/** `port=70,subnet=20,vpc=10` -> weights; throws a message naming the bad part. */
export function parseMix(text: string): Mix {
  const out: Array<{ kind: LoadKind; weight: number }> = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    const m = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(part);
    if (m === null) throw new Error(`--mix: ${JSON.stringify(part)} is not kind=weight (e.g. port=70)`);
    const kind = m[1] as LoadKind;
    if (!LOAD_KINDS.includes(kind)) throw new Error(`--mix: unknown kind ${kind} (kinds: ${LOAD_KINDS.join(', ')})`);
    if (out.some((x) => x.kind === kind)) throw new Error(`--mix: ${kind} given twice`);
    const weight = Number(m[2]);
    if (weight > 0) out.push({ kind, weight });
  }
  if (out.length === 0) throw new Error('--mix: no kind has a weight above 0');
  return out;
}

/**
 * The kind of operation i: a low-discrepancy sequence (i times the golden ratio, mod 1) over the cumulative
 * weights, so every stretch of the run holds the kinds in about their proportions without any randomness.
 */
export function kindAt(mix: Mix, i: number): LoadKind {
  const total = mix.reduce((s, x) => s + x.weight, 0);
  let u = ((i * 0.6180339887498949) % 1) * total;
  for (const x of mix) {
    if (u < x.weight) return x.kind;
    u -= x.weight;
  }
  return (mix[mix.length - 1] as Mix[number]).kind;
}

export async function runMix(o: MixOptions): Promise<MixResult> {
  const say = o.progress ?? (() => undefined);
  const bed = await startBed(o.hosts, 1000, say);
  let shown = 0;
  try {
    await setupLoadVpc(bed);
    await warmUp(
      bed,
      o.mix.map((x) => x.kind),
      20,
    );
    say(`offering ${o.rate} pairs/s for ${o.durationS} s: ${o.mix.map((x) => `${x.kind}=${x.weight}`).join(',')}`);
    const r = await runOpenLoop({
      rate: o.rate,
      durationS: o.durationS,
      op: (i) => pairOp(bed, kindAt(o.mix, i), 'm', i, o.wait, (w) => (++shown <= 3 ? say(w) : undefined)),
    });
    const samples: Sample[] = [];
    const kinds: Record<string, MixKindResult> = {};
    for (const { kind, weight } of o.mix) {
      const mine = r.samples.filter((s) => kindAt(o.mix, s.index) === kind);
      const sent = Array.from({ length: r.sent }, (_, i) => i).filter((i) => kindAt(o.mix, i) === kind).length;
      const okOnes = mine.filter((s) => s.ok);
      for (const s of mine) {
        if (s.ms.create !== undefined)
          samples.push({ series: `${kind}/create`, ms: s.ms.create, atMs: s.scheduledMs, ok: s.ok });
        if (s.ms.pair !== undefined)
          samples.push({ series: `${kind}/pair`, ms: s.ms.pair, atMs: s.scheduledMs, ok: s.ok });
      }
      kinds[kind] = {
        weight,
        sent,
        errors: sent - okOnes.length,
        create: stats(mine.filter((s) => s.ms.create !== undefined).map((s) => s.ms.create as number)),
        pair: stats(okOnes.map((s) => s.ms.pair as number)),
      };
    }
    const result: MixResult = {
      bench: 'mix',
      hosts: o.hosts,
      offeredRate: o.rate,
      achievedRate: r.achievedRate,
      durationS: o.durationS,
      wait: o.wait,
      errors: r.errors,
      kinds,
      ...(o.out === undefined ? {} : { report: o.out }),
    };
    say(`achieved ${r.achievedRate}/s, errors ${r.errors}/${r.sent}`);
    if (o.out !== undefined) {
      const chart = (what: 'create' | 'pair', title: string): string =>
        cdfChart(
          title,
          o.mix.map(({ kind }) => ({
            name: kind,
            samplesMs: samples.filter((s) => s.series === `${kind}/${what}`).map((s) => s.ms),
          })),
        );
      writeReport(o.out, {
        title: 'alcor-bench mix: kinds at a fixed offered rate',
        description:
          `${o.hosts} simulated agents, ${o.rate} create+delete pairs/s for ${o.durationS} s, open loop (latency from ` +
          `the scheduled send), ?wait=${o.wait}, mix ${o.mix.map((x) => `${x.kind}=${x.weight}`).join(',')}.`,
        result,
        charts: [
          chart('create', 'create latency CDF per kind under the mix'),
          chart('pair', 'create+delete latency CDF per kind'),
        ],
        samples,
      });
      say(`report: ${o.out}/report.html`);
    }
    return result;
  } finally {
    await bed.close();
  }
}

const OPTIONS = [
  SIMULATED_HOSTS_OPTION,
  {
    name: 'rate',
    type: 'number',
    default: 50,
    metavar: 'R',
    help: 'offered create+delete pairs per second, all kinds together',
  },
  { name: 'duration-s', type: 'number', default: 10, metavar: 'S', help: 'seconds of load' },
  {
    name: 'mix',
    type: 'string',
    default: 'port=70,subnet=20,vpc=10',
    metavar: 'K=W,...',
    help: `weights per kind (kinds: ${LOAD_KINDS.join(', ')})`,
  },
  { name: 'no-wait', type: 'boolean', help: 'time until the API answered instead of until every agent acknowledged' },
  ...OUTPUT_OPTIONS,
] as const satisfies readonly OptionSpec[];

const HELP = {
  usage:
    'alcor-bench mix [--hosts H] [--rate R] [--duration-s S] [--mix port=70,subnet=20,vpc=10] [--out DIR] [--json]',
  description:
    'Create+delete pairs of several kinds interleaved by weight at one open-loop offered rate (each call\n' +
    '?wait=true); latency per kind under the mix, from the scheduled send. Last line: JSON.',
  options: OPTIONS,
  footer: 'Example:\n  alcor-bench mix --rate 50 --duration-s 10 --mix port=70,subnet=20,vpc=10 --out /tmp/mix --json',
};

function checkOptions(o: OptionValues<typeof OPTIONS>): string | null {
  const bad = badInteger('hosts', o.hosts, 1);
  if (bad !== null) return bad;
  if (!(o.rate > 0 && o.rate <= 100000)) return '--rate must be in (0, 100000]';
  if (!(o['duration-s'] > 0 && o['duration-s'] <= 3600)) return '--duration-s must be a number of seconds in (0, 3600]';
  return null;
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(OPTIONS, argv, io.env).options;
  let mix: Mix;
  try {
    mix = parseMix(o.mix);
  } catch (err: unknown) {
    io.stderr(`alcor-bench mix: ${(err as Error).message}\n`);
    return 2;
  }
  const bad = checkOptions(o);
  if (bad !== null) {
    io.stderr(`alcor-bench mix: ${bad}\n`);
    return 2;
  }
  const result = await runMix({
    hosts: o.hosts,
    rate: o.rate,
    durationS: o['duration-s'],
    mix,
    wait: o['no-wait'] !== true,
    progress: (line) => io.stderr(`${line}\n`),
    ...(o.out === undefined ? {} : { out: o.out }),
  });
  io.stdout(`${JSON.stringify(result)}\n`);
  return result.errors === 0 ? 0 : 1;
}

export const command: SubcommandModule = { help: HELP, run };
