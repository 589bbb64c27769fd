// The br-int pipeline, declared as data: one entry per OpenFlow table.
//
// Before adding a table:
//  - Put it in the stage it belongs to, in packet order; leave the number gaps alone so that a new
//    table never renumbers the others (installed flows of a running agent keep their meaning).
//  - Give it a miss action. `drop` installs an explicit priority-0 drop flow (a default deny, so a
//    forgotten flow fails closed). `goto` names the table a miss continues in; it is usually the next
//    table, but a stage may skip its own second half (EgressSgConntrack skips EgressSgRules when the
//    source port has no security group). `controller` punts the miss (on-demand resolution).
//  - Flows refer to `TABLES.X`, never to a number. Jumps between tables are goto_table instructions
//    (OpenFlow 1.3 §5.9: goto may only go forward, which this order guarantees); `resubmit` is used only
//    where a flow must run a table several times for one packet (the per-VNI flood).
//  - Document it in docs/pipeline.md (the table-layout test checks the document names every table).

export type Stage =
  | 'classification'
  | 'validation'
  | 'services'
  | 'egressSecurity'
  | 'routing'
  | 'switching'
  | 'ingressSecurity'
  | 'output';

export type TableName =
  | 'Classifier'
  | 'SpoofGuard'
  | 'ArpResponder'
  | 'ServiceResponder'
  | 'EgressSgConntrack'
  | 'EgressSgRules'
  | 'L3Routing'
  | 'L3Resolve'
  | 'L2Forwarding'
  | 'IngressSgConntrack'
  | 'IngressSgRules'
  | 'Output';

export type MissAction =
  { readonly kind: 'drop' } | { readonly kind: 'controller' } | { readonly kind: 'goto'; readonly to: TableName };

export interface Table {
  readonly name: TableName;
  readonly id: number;
  readonly stage: Stage;
  readonly miss: MissAction;
  readonly purpose: string;
}

const drop: MissAction = { kind: 'drop' };
const toController: MissAction = { kind: 'controller' };
const goto = (to: TableName): MissAction => ({ kind: 'goto', to });

/** Declaration order is packet order. */
export const TABLE_LIST: readonly Table[] = [
  {
    name: 'Classifier',
    id: 0,
    stage: 'classification',
    miss: drop,
    purpose:
      'Which port a packet came from: a VM port loads its VNI into reg6 and marks from-local; the tunnel port copies tun_id to reg6 and marks from-tunnel (restoring the gateway MAC on DVR-routed packets).',
  },
  {
    name: 'SpoofGuard',
    id: 10,
    stage: 'validation',
    miss: drop,
    purpose:
      "From VM ports only: the source MAC/IP (and ARP sender MAC/IP) must be the port's own (fixed IPs, allowed address pairs, DHCP and ARP probes from 0.0.0.0).",
  },
  {
    name: 'ArpResponder',
    id: 20,
    stage: 'services',
    miss: goto('ServiceResponder'),
    purpose:
      'Answers ARP requests for every known IP of the VNI in place; unknown targets from VM ports are punted for on-demand resolution.',
  },
  {
    name: 'ServiceResponder',
    id: 30,
    stage: 'services',
    miss: goto('EgressSgConntrack'),
    purpose: 'DHCP requests go to the agent; ICMP echo requests to a router gateway IP are answered by flows.',
  },
  {
    name: 'EgressSgConntrack',
    id: 40,
    stage: 'egressSecurity',
    miss: goto('L3Routing'),
    purpose:
      "IPv4 from a port with security groups is sent through conntrack in the port's zone; other packets skip egress security.",
  },
  {
    name: 'EgressSgRules',
    id: 41,
    stage: 'egressSecurity',
    miss: drop,
    purpose:
      'After conntrack: established/related pass, invalid drops, new connections matching an egress rule are committed; everything else is dropped.',
  },
  {
    name: 'L3Routing',
    id: 50,
    stage: 'routing',
    miss: goto('L2Forwarding'),
    purpose:
      'Packets to a router gateway MAC are routed (DVR): TTL decremented, source MAC rewritten, reg6 set to the destination VNI.',
  },
  {
    name: 'L3Resolve',
    id: 51,
    stage: 'routing',
    miss: toController,
    purpose:
      'Routed packets: destination IP -> destination MAC in the destination VNI. Unknown destinations are punted (on demand).',
  },
  {
    name: 'L2Forwarding',
    id: 60,
    stage: 'switching',
    miss: drop,
    purpose:
      "Destination MAC in the VNI: local port -> reg7, remote neighbor -> tunnel; broadcast to the VNI's local ports; unknown unicast from VM ports is punted.",
  },
  {
    name: 'IngressSgConntrack',
    id: 70,
    stage: 'ingressSecurity',
    miss: goto('Output'),
    purpose:
      "IPv4 to a port with security groups (reg7) is sent through conntrack in the destination port's zone; other packets go straight to output.",
  },
  {
    name: 'IngressSgRules',
    id: 71,
    stage: 'ingressSecurity',
    miss: drop,
    purpose:
      'After conntrack: established/related pass, invalid drops, new connections matching an ingress rule are committed; everything else is dropped.',
  },
  {
    name: 'Output',
    id: 80,
    stage: 'output',
    miss: drop,
    purpose: 'reg7 = ofport -> output to that port.',
  },
];

function indexTables(list: readonly Table[]): Readonly<Record<TableName, Table>> {
  const out: Partial<Record<TableName, Table>> = {};
  for (const t of list) out[t.name] = t;
  return out as Readonly<Record<TableName, Table>>;
}

/** Tables by name: `TABLES.L2Forwarding.id`. */
export const TABLES: Readonly<Record<TableName, Table>> = indexTables(TABLE_LIST);

const BY_ID: ReadonlyMap<number, Table> = new Map(TABLE_LIST.map((t) => [t.id, t]));

/** The table with OpenFlow number `id`, for formatting and decoding dumps. */
export function tableById(id: number): Table | undefined {
  return BY_ID.get(id);
}

/** The pipeline's name for table `id` (undefined for a table it does not declare): openflow formatFlow's `tableNames`. */
export function tableNameOf(id: number): string | undefined {
  return BY_ID.get(id)?.name;
}
