// alcor-bench core --neighbors N [--workers W] [--baseline] [--json]
import { parseArgs, type OptionSpec } from '../../core/cli/args';
import { CliError, EXIT_OK, type SubcommandModule } from '../../core/cli/commands';
import { runCoreBench } from '../core';

const OPTIONS = [
  {
    name: 'neighbors',
    type: 'number',
    default: 100000,
    help: 'L2 neighbors in the goal state (besides 1 local port)',
    metavar: 'N',
  },
  { name: 'workers', type: 'number', help: 'worker threads (partitions); default one per core', metavar: 'W' },
  {
    name: 'increments',
    type: 'number',
    default: 51,
    help: 'single-neighbor additions timed for incrementalUs (median)',
    metavar: 'K',
  },
  { name: 'baseline', type: 'boolean', help: 'also time the generated ts-proto decoder on the same bytes' },
  { name: 'json', type: 'boolean', help: 'print only the JSON result line' },
] as const satisfies readonly OptionSpec[];

export const command: SubcommandModule = {
  help: {
    usage: 'alcor-bench core [--neighbors N] [--workers W] [--baseline] [--json]',
    description:
      'Times the compute path of one GoalStateV2 with 1 port and N L2 neighbors, without OVS: split across\n' +
      'worker partitions, decode, validate, plan, compile to flows, diff, encode OpenFlow. Then times adding\n' +
      'one neighbor to the held state. The last line is JSON: neighbors, flows, decodeMs, compileMs, diffMs,\n' +
      'totalMs, rssMB (peak, whole process), incrementalUs (median).',
    options: OPTIONS,
    footer: 'Example:\n  alcor-bench core --neighbors 1000000 --json',
  },
  async run(argv, io) {
    const args = parseArgs(OPTIONS, argv, io.env);
    const o = args.options;
    if (!Number.isInteger(o.neighbors) || o.neighbors < 1 || o.neighbors > 1_000_000) {
      throw new CliError('E_CLI_BAD_VALUE', `--neighbors must be an integer from 1 to 1000000, got ${o.neighbors}`);
    }
    const result = await runCoreBench({
      neighbors: o.neighbors,
      workers: o.workers,
      increments: o.increments,
      baseline: o.baseline,
      progress: o.json ? undefined : (line) => io.stderr(`core: ${line}\n`),
    });
    io.stdout(`${JSON.stringify(result)}\n`);
    return EXIT_OK;
  },
};
