// alcor-agent: the host agent's command line. bin/alcor-agent.js calls main(process.argv.slice(2)).
// Adding a subcommand: one entry below plus its own module exporting `command: SubcommandModule`.
import { dispatch, ioFromProcess, type BinarySpec, type CliIo, type SubcommandEntry } from '../../core/cli/commands';
import { VERSION } from '../../core/index';

export const AGENT_SUBCOMMANDS: readonly SubcommandEntry[] = [
  { name: 'run', summary: 'run the agent: serve goal states over gRPC and program OVS', load: () => import('./run') },
  {
    name: 'compile',
    summary: 'compile a goal-state file to OpenFlow flows without touching OVS',
    load: () => import('./compile'),
  },
  { name: 'status', summary: "show a running agent's state and counters", load: () => import('./status') },
  { name: 'flows', summary: 'show the flows a running agent has installed', load: () => import('./flows') },
  {
    name: 'inspect',
    summary: 'decode a binary GoalStateV2 (or v1 GoalState) file and print it as JSON',
    load: () => import('./inspect'),
  },
];

export const AGENT_BINARY: BinarySpec = {
  bin: 'alcor-agent',
  description: 'Alcor host agent: turns Alcor goal states into Open vSwitch flows and eBPF maps.',
  subcommands: AGENT_SUBCOMMANDS,
  version: VERSION,
};

export function main(argv: readonly string[], io: CliIo = ioFromProcess(process)): Promise<number> {
  return dispatch(AGENT_BINARY, argv, io);
}
