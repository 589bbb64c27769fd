// The options `alcor-bench vms` takes for its simulated-host variant (perf/vms-simulated.ts), apart from
// perf/vms.ts so the real-host command keeps its own shape.
import type { OptionSpec } from '../core/cli/args';
import type { CliIo } from '../core/cli/commands';
import { DEFAULT_NEIGHBOR_LIMIT } from '../control/dpm/dpm';
import { badInteger } from './scenario/bed';
import { runSimulatedVms } from './vms-simulated';

export const SIMULATED_VMS_OPTIONS = [
  {
    name: 'simulated-hosts',
    type: 'number',
    default: 0,
    metavar: 'H',
    help: "H simulated hosts instead of OVS ones (the agent's gRPC server and engine, no OVS; no root needed)",
  },
  {
    name: 'agent-processes',
    type: 'number',
    default: 1,
    metavar: 'P',
    help: 'with --simulated-hosts: child processes the simulated hosts are spread over',
  },
  {
    name: 'neighbor-limit',
    type: 'number',
    default: DEFAULT_NEIGHBOR_LIMIT,
    metavar: 'N',
    help: "with --simulated-hosts: the control service's --neighbor-limit (ports of a VPC pushed as neighbors)",
  },
] as const satisfies readonly OptionSpec[];

export const SIMULATED_VMS_HELP =
  'With --simulated-hosts H: the control path at scale (the 2,400-VM variant). The ports go round-robin over H\n' +
  "simulated hosts, each the agent's real gRPC server and engine without OVS, in child processes; allUpMs is\n" +
  'from the first create until every port is ACTIVE (every agent the creates reach acknowledged).';

interface ParsedVmsOptions {
  readonly vms: number;
  readonly bulk?: boolean;
  readonly out?: string | undefined;
  readonly 'simulated-hosts': number;
  readonly 'agent-processes': number;
  readonly 'neighbor-limit': number;
}

export async function runSimulatedCli(o: ParsedVmsOptions, io: CliIo): Promise<number> {
  const hosts = o['simulated-hosts'];
  const procs = o['agent-processes'];
  const bad =
    badInteger('vms', o.vms, 1) ??
    badInteger('simulated-hosts', hosts, 1) ??
    badInteger('agent-processes', procs, 1) ??
    badInteger('neighbor-limit', o['neighbor-limit'], 0) ??
    (hosts > 5000 ? '--simulated-hosts must be <= 5000' : null) ??
    (procs > hosts ? '--agent-processes must be <= --simulated-hosts' : null) ??
    (o.vms > 60000 ? '--vms must be <= 60000' : null);
  if (bad !== null) {
    io.stderr(`alcor-bench vms: ${bad}\n`);
    return 2;
  }
  const result = await runSimulatedVms({
    vms: o.vms,
    hosts,
    bulk: o.bulk === true,
    agentProcesses: procs,
    neighborLimit: o['neighbor-limit'],
    progress: (line) => io.stderr(`${line}\n`),
    ...(o.out === undefined ? {} : { out: o.out }),
  });
  io.stdout(`${JSON.stringify(result)}\n`);
  return result.failed === 0 ? 0 : 1;
}
