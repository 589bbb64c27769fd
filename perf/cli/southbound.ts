// alcor-bench southbound --hosts N --transport grpc|nats [--nats URL] [--json]
import { parseArgs, type OptionSpec } from '../../core/cli/args';
import { CliError, EXIT_OK, type SubcommandModule } from '../../core/cli/commands';
import { runSouthboundBench } from '../southbound';

const OPTIONS = [
  { name: 'hosts', type: 'number', default: 100, metavar: 'N', help: 'simulated agents, all in one VPC' },
  { name: 'transport', type: 'string', default: 'grpc', metavar: 'grpc|nats', help: 'how the change reaches them' },
  {
    name: 'nats',
    type: 'string',
    metavar: 'nats://HOST:PORT',
    help: 'an existing NATS JetStream server (default: one is started on loopback)',
  },
  { name: 'rounds', type: 'number', default: 5, metavar: 'N', help: 'timed changes; the median one is reported' },
  { name: 'json', type: 'boolean', help: 'print only the JSON result line' },
  {
    name: 'cpu-prof',
    type: 'string',
    metavar: 'FILE',
    help:
      "write a V8 CPU profile of the control side during the last timed change (open in Chrome's DevTools), and\n" +
      "one of the simulated agents' process beside it (FILE without .cpuprofile + .agents.cpuprofile)",
  },
] as const satisfies readonly OptionSpec[];

export const command: SubcommandModule = {
  help: {
    usage: 'alcor-bench southbound [--hosts N] [--transport grpc|nats] [--nats URL] [--cpu-prof FILE] [--json]',
    description:
      'One VPC-wide neighbor change reaching N simulated agents (a child process): over gRPC one send per host\n' +
      "through the control service's AgentStream; over NATS one publish on the VPC subject, fanned out by\n" +
      'JetStream to a durable consumer per agent. Last line is JSON: allAckedMs (until the last reply), p50Ms,\n' +
      "p99Ms (per-host reply latency), controlCpuMs (the control side's CPU time for the change, user + system;\n" +
      'controlSysMs of it in the kernel), controlSends; of the median of --rounds changes by control CPU.\n' +
      "Not the control's, shown beside it: agentsCpuMs (the agents' process) and brokerCpuMs (the nats-server\n" +
      "started by the bench), 10 ms resolution; controlNatsMsgsIn/Out: messages of the control's NATS connection.",
    options: OPTIONS,
    footer: 'Example:\n  alcor-bench southbound --hosts 1000 --transport nats --json',
  },
  async run(argv, io) {
    const o = parseArgs(OPTIONS, argv, io.env).options;
    if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > 10_000)
      throw new CliError('E_CLI_BAD_VALUE', `--hosts must be an integer from 1 to 10000, got ${o.hosts}`);
    if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 100)
      throw new CliError('E_CLI_BAD_VALUE', `--rounds must be an integer from 1 to 100, got ${o.rounds}`);
    if (o.transport !== 'grpc' && o.transport !== 'nats')
      throw new CliError('E_CLI_BAD_VALUE', `--transport must be grpc or nats, got ${o.transport}`);
    const result = await runSouthboundBench({
      hosts: o.hosts,
      rounds: o.rounds,
      transport: o.transport,
      ...(o.nats === undefined ? {} : { nats: o.nats }),
      ...(o['cpu-prof'] === undefined ? {} : { cpuProf: o['cpu-prof'] }),
      ...(o.json ? {} : { progress: (line: string) => io.stderr(`southbound: ${line}\n`) }),
    });
    io.stdout(`${JSON.stringify(result)}\n`);
    return EXIT_OK;
  },
};
