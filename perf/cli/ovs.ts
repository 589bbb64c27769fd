// alcor-bench ovs --neighbors N [--workers W] [--json]
import { parseArgs, type OptionSpec } from '../../core/cli/args';
import { CliError, EXIT_OK, type SubcommandModule } from '../../core/cli/commands';
import { runOvsBench } from '../ovs';

const OPTIONS = [
  {
    name: 'neighbors',
    type: 'number',
    default: 10000,
    help: 'L2 neighbors in the goal state (besides 1 local port)',
    metavar: 'N',
  },
  { name: 'workers', type: 'number', help: "the agent's worker threads; default one per core", metavar: 'W' },
  {
    name: 'dataplane',
    type: 'string',
    default: 'ovs',
    help: "the agent's --dataplane (ebpf: XDP answers ARP, one flow fewer per neighbor; needs the XDP objects)",
    metavar: 'ovs|ebpf|both',
  },
  {
    name: 'warm-rounds',
    type: 'number',
    help: 'warm pushes and warm floor replays to time (agentMs, floorMs: their medians); default 3 up to 100k neighbors, else 1',
    metavar: 'R',
  },
  { name: 'json', type: 'boolean', help: 'print only the JSON result line' },
] as const satisfies readonly OptionSpec[];

export const command: SubcommandModule = {
  help: {
    usage: 'alcor-bench ovs [--neighbors N] [--workers W] [--dataplane ovs|ebpf|both] [--warm-rounds R] [--json]',
    description:
      'Starts a private OVS (needs root) and a real `alcor-agent run`, pushes one GoalStateV2 with 1 port and N\n' +
      'neighbors over gRPC and times it until the reply (every flow installed). Baseline in the same run on the\n' +
      'same bridge: the same flows loaded by `ovs-ofctl -O OpenFlow14 --bundle add-flows`. Last line is JSON:\n' +
      'neighbors, flows, agentMs, baselineMs, ratio (agent / baseline), incrementalMedianMs (one more neighbor\n' +
      'at a time on one stream, after the big one), agentColdMs (the first push to the fresh agent), floorMs and\n' +
      "floorColdMs (the agent's bundle replayed pre-encoded: what OVS itself needs), agentColdSplit/agentWarmSplit\n" +
      "(the agent's own prepare/bundle/commit times). agentMs and floorMs are medians of --warm-rounds rounds.\n" +
      "With --dataplane ebpf|both also arpReadyMs: the warm push until XDP's arp_table holds every neighbor.",
    options: OPTIONS,
    footer: 'Example:\n  alcor-bench ovs --neighbors 100000 --json',
  },
  async run(argv, io) {
    const o = parseArgs(OPTIONS, argv, io.env).options;
    if (!Number.isInteger(o.neighbors) || o.neighbors < 1 || o.neighbors > 1_000_000) {
      throw new CliError('E_CLI_BAD_VALUE', `--neighbors must be an integer from 1 to 1000000, got ${o.neighbors}`);
    }
    const dataplane = o.dataplane;
    if (dataplane !== 'ovs' && dataplane !== 'ebpf' && dataplane !== 'both')
      throw new CliError('E_CLI_BAD_VALUE', `--dataplane must be ovs, ebpf or both, got '${dataplane}'`);
    const warmRounds = o['warm-rounds'];
    if (warmRounds !== undefined && (!Number.isInteger(warmRounds) || warmRounds < 1 || warmRounds > 100))
      throw new CliError('E_CLI_BAD_VALUE', `--warm-rounds must be an integer from 1 to 100, got ${warmRounds}`);
    const result = await runOvsBench({
      warmRounds,
      neighbors: o.neighbors,
      dataplane,
      workers: o.workers,
      progress: o.json ? undefined : (line) => io.stderr(`ovs: ${line}\n`),
    });
    io.stdout(`${JSON.stringify(result)}\n`);
    return EXIT_OK;
  },
};
