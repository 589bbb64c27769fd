// alcor-agent flows: ask a running agent to compare the flows it wants with those OVS has (ours, by
// cookie marker). Exit 0 when they agree, 1 when they differ or the agent cannot be reached.
import { parseArgs } from '../../core/cli/args';
import { EXIT_FAILURE, EXIT_OK, type CliIo, type SubcommandModule } from '../../core/cli/commands';
import { AGENT_HTTP_OPTIONS, getJson } from './agent-http';

export async function flows(argv: readonly string[], io: CliIo): Promise<number> {
  const o = parseArgs(AGENT_HTTP_OPTIONS, argv, io.env).options;
  try {
    const v = (await getJson(o.metrics, '/flows', o['timeout-ms'])) as { inSync?: unknown };
    io.stdout(JSON.stringify(v, null, 2) + '\n');
    return v.inSync === true ? EXIT_OK : EXIT_FAILURE;
  } catch (e: unknown) {
    io.stderr(`flows: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_FAILURE;
  }
}

export const command: SubcommandModule = {
  help: {
    usage: 'alcor-agent flows --metrics HOST:PORT',
    description:
      'Compares the desired flows of a running agent with the flows installed in OVS (those with our cookie\n' +
      'marker): prints the desired count, the installed count and the differences (flow-mods a converge would\n' +
      'send, with up to 50 of them as ovs-ofctl text), and the select groups of ZETA gateways as\n' +
      "ovs-ofctl dump-groups text (not in the flow counts). staleGroups: groups in the agent's id range that\n" +
      'no gateway wants (a converge deletes them; they count as differences). zetaDirectPaths: ZETA direct\n' +
      'paths OVS holds (installed), expired by timeout, and removed by FLOW_REMOVED reason. Exit 0 when in sync.',
    options: AGENT_HTTP_OPTIONS,
  },
  run: flows,
};
