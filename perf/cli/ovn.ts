// alcor-bench ovn --neighbors N [--ovn-timeout-s S] [--chassis C] [--workers W] [--json]
import { parseArgs, type OptionSpec } from '../../core/cli/args';
import { CliError, EXIT_OK, type SubcommandModule } from '../../core/cli/commands';
import { DEFAULT_CHASSIS, DEFAULT_OVN_TIMEOUT_S, runOvnBench } from '../ovn';

const OPTIONS = [
  {
    name: 'neighbors',
    type: 'number',
    default: 1000,
    help: 'remote ports in the segment (besides 1 local port)',
    metavar: 'N',
  },
  {
    name: 'ovn-timeout-s',
    type: 'number',
    default: DEFAULT_OVN_TIMEOUT_S,
    help: 'limit for each OVN mode (incremental, recompute, add one); past it the mode is null and ovnNote says why',
    metavar: 'S',
  },
  {
    name: 'chassis',
    type: 'number',
    default: DEFAULT_CHASSIS,
    help: "fake remote hypervisors OVN's remote ports are spread over (one geneve tunnel each)",
    metavar: 'C',
  },
  { name: 'workers', type: 'number', help: "the agent's worker threads; default one per core", metavar: 'W' },
  { name: 'json', type: 'boolean', help: 'print only the JSON result line' },
] as const satisfies readonly OptionSpec[];

export const command: SubcommandModule = {
  help: {
    usage: 'alcor-bench ovn [--neighbors N] [--ovn-timeout-s S] [--chassis C] [--workers W] [--json]',
    description:
      'Needs root, Open vSwitch and OVN (ovn-central, ovn-host). Programs 1 local port + N remote ports of one\n' +
      'L2 segment, first with a real `alcor-agent run` on a private OVS (agentColdMs: first push after start;\n' +
      'agentMs: the same push warm), then with OVN on another private OVS: NB, SB, ovn-northd and ovn-controller,\n' +
      'remote hypervisors as fake chassis. ovnIncrementalMs: ports added to the NB while ovn-controller is\n' +
      'connected, until br-int holds every flow (3 per remote port); ovnRecomputeMs: ovn-controller restarted\n' +
      'against the full database. Then, on each, one more port (agentAddOneMs, ovnAddOneMs). Last line is JSON:\n' +
      'neighbors, agentColdMs, agentMs, agentFlows, agentPeakRssMB, ovnIncrementalMs, ovnRecomputeMs, ovnFlows,\n' +
      'ovnControllerPeakRssMB, ovnNote (why an OVN mode is null), speedup (OVN faster mode / agentColdMs).\n' +
      `OVN holds at most 32,767 ports per logical switch; larger N runs only our side and says so in ovnNote.`,
    options: OPTIONS,
    footer: 'Examples:\n  alcor-bench ovn --neighbors 1000 --json\n  alcor-bench ovn --neighbors 10000 --json',
  },
  async run(argv, io) {
    const o = parseArgs(OPTIONS, argv, io.env).options;
    if (!Number.isInteger(o.neighbors) || o.neighbors < 1 || o.neighbors > 1_000_000) {
      throw new CliError('E_CLI_BAD_VALUE', `--neighbors must be an integer from 1 to 1000000, got ${o.neighbors}`);
    }
    const timeout = o['ovn-timeout-s'];
    if (!Number.isFinite(timeout) || timeout < 1 || timeout > 3600) {
      throw new CliError(
        'E_CLI_BAD_VALUE',
        `--ovn-timeout-s must be a number of seconds from 1 to 3600, got ${timeout}`,
      );
    }
    if (!Number.isInteger(o.chassis) || o.chassis < 1 || o.chassis > 10000) {
      throw new CliError('E_CLI_BAD_VALUE', `--chassis must be an integer from 1 to 10000, got ${o.chassis}`);
    }
    const result = await runOvnBench({
      neighbors: o.neighbors,
      ovnTimeoutS: timeout,
      chassis: o.chassis,
      workers: o.workers,
      progress: o.json ? undefined : (line) => io.stderr(`ovn: ${line}\n`),
    });
    io.stdout(`${JSON.stringify(result)}\n`);
    return EXIT_OK;
  },
};
