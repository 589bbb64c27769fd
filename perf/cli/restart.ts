// alcor-bench restart --neighbors N [--singles S] [--workers W] [--json]
import { parseArgs, type OptionSpec } from '../../core/cli/args';
import { CliError, EXIT_OK, type SubcommandModule } from '../../core/cli/commands';
import { runRestartBench } from '../restart';

const OPTIONS = [
  {
    name: 'neighbors',
    type: 'number',
    default: 100000,
    help: 'neighbors the agent holds (1 goal state)',
    metavar: 'N',
  },
  {
    name: 'singles',
    type: 'number',
    default: 100,
    help: 'single-neighbor goal states pushed after it (records the restart replays)',
    metavar: 'S',
  },
  { name: 'workers', type: 'number', help: "the agent's worker threads; default one per core", metavar: 'W' },
  { name: 'json', type: 'boolean', help: 'print only the JSON result line' },
] as const satisfies readonly OptionSpec[];

export const command: SubcommandModule = {
  help: {
    usage: 'alcor-bench restart [--neighbors N] [--singles S] [--workers W] [--json]',
    description:
      'Starts a private OVS (needs root) and a real `alcor-agent run` with its default state dir, pushes 1 port\n' +
      '+ N neighbors and S single-neighbor goal states, kills the agent with SIGKILL and starts it again. Last\n' +
      'line is JSON: restartMs (spawn to ready), restartFlowMods (what the restart sent to OVS), flows before and\n' +
      'after, and the restarted agent phases from its log (replayMs, convergeMs).',
    options: OPTIONS,
    footer: 'Example:\n  alcor-bench restart --neighbors 1000000 --json',
  },
  async run(argv, io) {
    const o = parseArgs(OPTIONS, argv, io.env).options;
    if (!Number.isInteger(o.neighbors) || o.neighbors < 1 || o.neighbors > 999_000) {
      throw new CliError('E_CLI_BAD_VALUE', `--neighbors must be an integer from 1 to 999000, got ${o.neighbors}`);
    }
    if (!Number.isInteger(o.singles) || o.singles < 0 || o.neighbors + o.singles > 1_000_000) {
      throw new CliError('E_CLI_BAD_VALUE', `--singles must be an integer ≥ 0 with N + S ≤ 1000000, got ${o.singles}`);
    }
    const result = await runRestartBench({
      neighbors: o.neighbors,
      singles: o.singles,
      workers: o.workers,
      progress: o.json ? undefined : (line) => io.stderr(`restart: ${line}\n`),
    });
    io.stdout(`${JSON.stringify(result)}\n`);
    return EXIT_OK;
  },
};
