// alcor-agent compile FILE [--v1] [--ofport NAME=N]... [--tunnel-ip IP] [--tunnel-ofport N]
//
// Prints the flows a goal state compiles to, one per line in `ovs-ofctl add-flows` syntax, so that
// anyone can load them into a bridge that has those ports with `ovs-ofctl --bundle add-flows` and get
// a working dataplane without an agent. Local ports are named `tap` + the first 11 characters of the
// port id, unless --ofport gives their OpenFlow port numbers.
import * as fs from 'node:fs/promises';
import { parseArgs, type OptionSpec } from '../../core/cli/args';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type SubcommandModule } from '../../core/cli/commands';
import { Engine } from '../../core/engine/engine';
import { INVALID, parseIpv4 } from '../../core/goalstate/addr';
import { isGroupEntry } from '../../core/flow';
import { formatFlow } from '../../core/openflow';
import { GoalState, GoalStateV2 } from '../../proto';
import { OperationStatus, operationStatusToJSON, resourceTypeToJSON } from '../../proto';
import { describeWireProblem, scanMessage } from '../../core/wire/scan';

const OPTIONS = [
  { name: 'v1', type: 'boolean', help: 'the file holds a v1 GoalState instead of a GoalStateV2' },
  {
    name: 'ofport',
    type: 'list',
    help: 'OpenFlow port number of an interface, NAME=N (repeatable); unmapped ports print by name',
    metavar: 'NAME=N',
  },
  { name: 'tunnel-ip', type: 'string', help: "this host's underlay IP: neighbors on it get no flows", metavar: 'IP' },
  { name: 'tunnel-ofport', type: 'number', default: 100, help: 'ofport of the flow-based VXLAN port', metavar: 'N' },
  {
    name: 'dataplane',
    type: 'string',
    default: 'ovs',
    help: "the agent's --dataplane: with ebpf, XDP answers ARP and no ARP answer flows are compiled",
    metavar: 'ovs|ebpf|both',
  },
] as const satisfies readonly OptionSpec[];

/** The interface name Alcor gives a port: tap + the first 11 characters of its id (ACA: 14 chars). */
export function portInterfaceName(portId: string): string {
  return `tap${portId.slice(0, 11)}`;
}

function tunnelIpOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ip = parseIpv4(text);
  if (ip === INVALID) throw new CliError('E_CLI_BAD_VALUE', `--tunnel-ip: '${text}' is not an IPv4 address`);
  return ip;
}

/** With --dataplane ebpf XDP answers ARP, so the engine compiles no answer flows (as the daemon does). */
function arpAnswersFor(dataplane: string): 'flows' | 'none' {
  if (dataplane !== 'ovs' && dataplane !== 'ebpf' && dataplane !== 'both')
    throw new CliError('E_CLI_BAD_VALUE', `--dataplane must be ovs, ebpf or both, got '${dataplane}'`);
  return dataplane === 'ebpf' ? 'none' : 'flows';
}

/** First placeholder ofport for unmapped ports: high enough not to clash with real ones in practice. */
const PLACEHOLDER_BASE = 60000;

export const command: SubcommandModule = {
  help: {
    usage:
      'alcor-agent compile FILE [--v1] [--ofport NAME=N]... [--tunnel-ip IP] [--tunnel-ofport N] [--dataplane ovs|ebpf|both]',
    description:
      'Compiles a binary GoalStateV2 (or v1 GoalState) to the OpenFlow flows the agent would install, one per\n' +
      'line in `ovs-ofctl add-flows` syntax (table=, priority=, cookie=). Local ports appear by interface name\n' +
      '(tap + the first 11 characters of the port id) unless --ofport maps a name to its number. Statuses that\n' +
      'are not SUCCESS go to standard error. The select group of a ZETA gateway prints first as a comment,\n' +
      "`# add-group: group_id=...`: load it with `ovs-ofctl -O OpenFlow14 add-group br-int '<text>'` before the\n" +
      'flows that send to it.',
    options: OPTIONS,
    footer:
      'Example:\n' +
      '  alcor-agent compile gs.bin --tunnel-ip 192.0.2.1 > flows.txt\n' +
      '  ovs-ofctl -O OpenFlow14 --bundle add-flows br-int flows.txt',
  },
  async run(argv, io) {
    const args = parseArgs(OPTIONS, argv, io.env);
    const file = args.positionals[0];
    if (file === undefined || args.positionals.length > 1) throw new CliError('E_CLI_BAD_VALUE', 'expected one FILE');
    const o = args.options;
    const byName = new Map<string, number>();
    for (const item of o.ofport ?? []) {
      const m = /^([^=]+)=(\d+)$/.exec(item);
      if (m === null) throw new CliError('E_CLI_BAD_VALUE', `--ofport wants NAME=N, got '${item}'`);
      byName.set(m[1], Number(m[2]));
    }
    const localTunnelIp = tunnelIpOf(o['tunnel-ip']);
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(file);
    } catch (e: unknown) {
      io.stderr(`compile: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT_USAGE;
    }
    const messageName = o.v1 ? 'GoalState' : 'GoalStateV2';
    const scan = scanMessage(bytes, messageName);
    if (scan.kind === 'corrupt') {
      io.stderr(`compile: ${describeWireProblem(messageName, scan.problem)}\n`);
      return EXIT_USAGE;
    }
    // Every port of the message gets an ofport: the mapped one, or a placeholder that is printed by name.
    const portIds = o.v1
      ? GoalState.decode(bytes).portStates.map((p) => p.configuration?.id ?? '')
      : Object.keys(GoalStateV2.decode(bytes).portStates);
    const ofports = new Map<string, number>();
    const names = new Map<number, string>();
    let next = PLACEHOLDER_BASE;
    for (const id of [...portIds].sort()) {
      if (id === '') continue;
      const name = portInterfaceName(id);
      const mapped = byName.get(name) ?? byName.get(id);
      if (mapped !== undefined) {
        ofports.set(id, mapped);
      } else {
        ofports.set(id, next);
        names.set(next++, name);
      }
    }
    const arpAnswers = arpAnswersFor(o.dataplane);
    const engine = await Engine.create({
      workers: 0,
      localTunnelIp,
      tunnelOfport: o['tunnel-ofport'],
      ofports,
      arpAnswers,
    });
    try {
      const prepared = await engine.prepare(bytes, o.v1 ? 1 : 2);
      await engine.commit(prepared.txns);
      for (const s of prepared.statuses) {
        if (s.status === OperationStatus.SUCCESS) continue;
        io.stderr(
          `compile: ${resourceTypeToJSON(s.resourceType)} ${s.resourceId}: ${operationStatusToJSON(s.status)}${s.reason ? ` (${s.reason})` : ''}\n`,
        );
      }
      const desired = await engine.desiredFlows();
      // add-flows cannot load a group: ZETA gateways' groups come first, as comments it skips.
      const lines = [
        ...desired.filter(isGroupEntry).map((g) => `# add-group: ${formatFlow(g, { portNames: names })}`),
        ...desired.filter((f) => !isGroupEntry(f)).map((f) => formatFlow(f, { portNames: names })),
      ];
      io.stdout(lines.length ? `${lines.join('\n')}\n` : '');
      const failed =
        prepared.statuses.countStatus(OperationStatus.INVALID_ARG) +
        prepared.statuses.countStatus(OperationStatus.FAILURE);
      return failed > 0 ? EXIT_FAILURE : EXIT_OK;
    } finally {
      await engine.close();
    }
  },
};
