// alcor-control: the control service's command line. bin/alcor-control.js calls main(process.argv.slice(2)).
// Adding a subcommand: one entry below plus its own module exporting `command: SubcommandModule`.
import { dispatch, ioFromProcess, type BinarySpec, type CliIo, type SubcommandEntry } from '../../core/cli/commands';
import { VERSION } from '../../core/index';

export const CONTROL_SUBCOMMANDS: readonly SubcommandEntry[] = [
  {
    name: 'run',
    summary: 'run the control service: push goal states to agents over gRPC',
    load: () => import('./run'),
  },
  { name: 'vpc', summary: 'resource API: VPCs', load: async () => ({ command: (await import('./resource')).vpc }) },
  {
    name: 'subnet',
    summary: 'resource API: subnets',
    load: async () => ({ command: (await import('./resource')).subnet }),
  },
  { name: 'port', summary: 'resource API: ports', load: async () => ({ command: (await import('./resource')).port }) },
  {
    name: 'router',
    summary: 'resource API: routers',
    load: async () => ({ command: (await import('./resource')).router }),
  },
  {
    name: 'sg',
    summary: 'resource API: security groups',
    load: async () => ({ command: (await import('./resource')).sg }),
  },
];

export const CONTROL_BINARY: BinarySpec = {
  bin: 'alcor-control',
  description: 'Alcor control service: stores goal states and streams them to host agents.',
  subcommands: CONTROL_SUBCOMMANDS,
  version: VERSION,
};

export function main(argv: readonly string[], io: CliIo = ioFromProcess(process)): Promise<number> {
  return dispatch(CONTROL_BINARY, argv, io);
}
