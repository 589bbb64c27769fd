// alcor-agent status: ask a running agent (its HTTP server, `run --metrics`) for its state and counters.
import { parseArgs } from '../../core/cli/args';
import { EXIT_FAILURE, EXIT_OK, type CliIo, type SubcommandModule } from '../../core/cli/commands';
import { AGENT_HTTP_OPTIONS, getJson } from './agent-http';

export async function status(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(AGENT_HTTP_OPTIONS, argv, io.env).options;
  try {
    const v = await getJson(o.metrics, '/status', o['timeout-ms']);
    io.stdout(JSON.stringify(v, null, 2) + '\n');
    return EXIT_OK;
  } catch (e: unknown) {
    io.stderr(`status: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_FAILURE;
  }
}

export const command: SubcommandModule = {
  help: {
    usage: 'alcor-agent status --metrics HOST:PORT',
    description:
      "Prints a running agent's state as JSON: OpenFlow session state, ports and their ofports (null = pending),\n" +
      'goal-state counters, desired flow count, DHCP leases held.',
    options: AGENT_HTTP_OPTIONS,
  },
  run: status,
};
