// `alcor-control vpc|subnet|port|router|sg create|list|show|update|delete`: the operator CLI for the resource
// API on a running control service (--api, default http://127.0.0.1:9017). Human tables by default, --json
// for scripts. One module serves the five kinds: each kind lists its flags, body fields and table columns.
import { readFile } from 'node:fs/promises';
import { formatHelp, isCliError, OptionSpec, parseArgs } from '../../core/cli/args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type SubcommandModule } from '../../core/cli/commands';

type Json = Record<string, unknown>;

interface FieldSpec {
  /** Flag name. */
  readonly flag: string;
  /** Body field. */
  readonly field: string;
  readonly kind: 'string' | 'number' | 'list' | 'onoff' | 'json';
  readonly help: string;
  readonly metavar?: string;
}

interface KindSpec {
  readonly name: string;
  readonly path: string;
  readonly fields: readonly FieldSpec[];
  readonly filters: readonly string[];
  readonly columns: ReadonlyArray<readonly [string, (r: Json) => string]>;
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : Array.isArray(v) ? v.join(',') : String(v));

export const KINDS: Readonly<Record<string, KindSpec>> = {
  vpc: {
    name: 'vpc',
    path: 'vpcs',
    fields: [
      { flag: 'cidr', field: 'cidr', kind: 'string', help: 'address range, e.g. 10.0.0.0/16', metavar: 'CIDR' },
      { flag: 'vni', field: 'vni', kind: 'number', help: 'VXLAN id (default: allocated)', metavar: 'N' },
    ],
    filters: [],
    columns: [
      ['ID', (r) => str(r.id)],
      ['CIDR', (r) => str(r.cidr)],
      ['VNI', (r) => str(r.vni)],
      ['REV', (r) => str(r.revision)],
    ],
  },
  subnet: {
    name: 'subnet',
    path: 'subnets',
    fields: [
      { flag: 'vpc', field: 'vpc', kind: 'string', help: 'the VPC', metavar: 'ID' },
      { flag: 'cidr', field: 'cidr', kind: 'string', help: "inside the VPC's", metavar: 'CIDR' },
      {
        flag: 'gateway-ip',
        field: 'gatewayIp',
        kind: 'string',
        help: 'default: the first host address',
        metavar: 'IP',
      },
      { flag: 'dhcp', field: 'dhcp', kind: 'onoff', help: 'on (default) or off', metavar: 'on|off' },
      { flag: 'dns', field: 'dnsServers', kind: 'list', help: 'DNS servers handed out by DHCP', metavar: 'IP[,IP]' },
    ],
    filters: ['vpc'],
    columns: [
      ['ID', (r) => str(r.id)],
      ['VPC', (r) => str(r.vpc)],
      ['CIDR', (r) => str(r.cidr)],
      ['GATEWAY', (r) => str(r.gatewayIp)],
      ['DHCP', (r) => (r.dhcp === true ? 'on' : 'off')],
      ['VNI', (r) => str(r.vni)],
      ['REV', (r) => str(r.revision)],
    ],
  },
  port: {
    name: 'port',
    path: 'ports',
    fields: [
      { flag: 'subnet', field: 'subnet', kind: 'string', help: 'the subnet', metavar: 'ID' },
      {
        flag: 'host',
        field: 'host',
        kind: 'string',
        help: 'underlay IP of the host the port is bound to',
        metavar: 'IP',
      },
      { flag: 'mac', field: 'mac', kind: 'string', help: 'default: allocated (fa:16:3e:…)', metavar: 'MAC' },
      { flag: 'ip', field: 'ip', kind: 'string', help: 'default: allocated from the subnet', metavar: 'IP' },
      { flag: 'sg', field: 'securityGroups', kind: 'list', help: 'security groups', metavar: 'ID[,ID]' },
      { flag: 'device', field: 'device', kind: 'string', help: 'device name', metavar: 'NAME' },
    ],
    filters: ['vpc', 'subnet', 'host'],
    columns: [
      ['ID', (r) => str(r.id)],
      ['SUBNET', (r) => str(r.subnet)],
      ['HOST', (r) => str(r.host) || '-'],
      ['IP', (r) => str(r.ip)],
      ['MAC', (r) => str(r.mac)],
      ['STATUS', (r) => str(r.status)],
      ['REV', (r) => str(r.revision)],
    ],
  },
  router: {
    name: 'router',
    path: 'routers',
    fields: [{ flag: 'subnets', field: 'subnets', kind: 'list', help: 'attached subnets', metavar: 'ID[,ID]' }],
    filters: [],
    columns: [
      ['ID', (r) => str(r.id)],
      ['SUBNETS', (r) => str(r.subnets)],
      ['REV', (r) => str(r.revision)],
    ],
  },
  sg: {
    name: 'sg',
    path: 'security-groups',
    fields: [
      {
        flag: 'rules',
        field: 'rules',
        kind: 'json',
        help: 'rules as JSON: [{"direction":"ingress","protocol":"tcp","portMin":22,"portMax":22,"remoteCidr":"0.0.0.0/0"}]',
        metavar: 'JSON',
      },
    ],
    filters: [],
    columns: [
      ['ID', (r) => str(r.id)],
      ['RULES', (r) => String((r.rules as unknown[] | undefined)?.length ?? 0)],
      ['NOT PROGRAMMED', (r) => String((r.notProgrammed as unknown[] | undefined)?.length ?? 0)],
      ['REV', (r) => str(r.revision)],
    ],
  },
};

const COMMON: OptionSpec[] = [
  {
    name: 'api',
    type: 'string',
    default: 'http://127.0.0.1:9017',
    env: 'ALCOR_CONTROL_API',
    metavar: 'URL',
    help: "the control service's --http address",
  },
  {
    name: 'token-file',
    type: 'string',
    env: 'ALCOR_CONTROL_TOKEN_FILE',
    metavar: 'FILE',
    help: 'bearer token for a service run with --http-token-file (https: trust its CA with NODE_EXTRA_CA_CERTS)',
  },
  { name: 'json', type: 'boolean', help: 'print JSON instead of a table' },
  { name: 'wait', type: 'boolean', help: 'create/update/delete: return once every affected agent acknowledged' },
  { name: 'if-match', type: 'number', metavar: 'REV', help: 'update/delete: only if the resource is at this revision' },
  { name: 'id', type: 'string', metavar: 'ID', help: 'create: the id (default: a generated UUID)' },
];

function optionsOf(k: KindSpec): OptionSpec[] {
  const out = [...COMMON];
  const seen = new Set(out.map((o) => o.name));
  for (const f of k.fields) {
    out.push({ name: f.flag, type: f.kind === 'number' ? 'number' : 'string', metavar: f.metavar, help: f.help });
    seen.add(f.flag);
  }
  for (const f of k.filters) {
    if (!seen.has(f)) out.push({ name: f, type: 'string', metavar: 'ID', help: `list: only those with this ${f}` });
  }
  return out;
}

export function table(columns: KindSpec['columns'], rows: readonly Json[]): string {
  const cells = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, f]) => f(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => (row[i] as string).length)));
  return (
    cells
      .map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] as number))).join('  '))
      .join('\n') + '\n'
  );
}

function bodyOf(k: KindSpec, o: Record<string, unknown>): Json {
  const body: Json = {};
  for (const f of k.fields) {
    const v = o[f.flag];
    if (v === undefined) continue;
    if (f.kind === 'list')
      body[f.field] = String(v)
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    else if (f.kind === 'onoff') {
      if (v !== 'on' && v !== 'off') throw new Error(`--${f.flag} must be on or off`);
      body[f.field] = v === 'on';
    } else if (f.kind === 'json') {
      try {
        body[f.field] = JSON.parse(String(v));
      } catch (err: unknown) {
        throw new Error(`--${f.flag} is not JSON: ${(err as Error).message}`);
      }
    } else body[f.field] = v;
  }
  return body;
}

function command(k: KindSpec): SubcommandModule {
  const options = optionsOf(k);
  const help = {
    usage: `alcor-control ${k.name} create|list|show ID|update ID|delete ID [options]`,
    description: `Manage ${k.name === 'sg' ? 'security groups' : `${k.name}s`} through the resource API (/v1/${k.path}) of a running control service.`,
    options,
    footer: `Errors print CODE: message and exit 1. Example: alcor-control ${k.name} list --json`,
  };
  const run = async (argv: readonly string[], io: CliIo): Promise<number> => {
    let parsed;
    try {
      parsed = parseArgs(options, argv, io.env);
    } catch (err: unknown) {
      if (isCliError(err)) {
        io.stderr(`alcor-control ${k.name}: ${err.message}\n`);
        return EXIT_USAGE;
      }
      throw err;
    }
    if (parsed.help) {
      io.stdout(formatHelp(help));
      return EXIT_OK;
    }
    const o = parsed.options as Record<string, unknown>;
    const [action, id, ...rest] = parsed.positionals;
    const usage = (msg: string): number => {
      io.stderr(`alcor-control ${k.name}: ${msg}; see alcor-control ${k.name} --help\n`);
      return EXIT_USAGE;
    };
    if (rest.length > 0) return usage(`unexpected ${rest.join(' ')}`);
    const needsId = action === 'show' || action === 'update' || action === 'delete';
    if (needsId && (id === undefined || id === '')) return usage(`${action} needs an ID`);
    if (!needsId && id !== undefined) return usage(`${action ?? ''} takes no ID`);
    const base = String(o.api).replace(/\/+$/, '');
    const q = o.wait === true ? '?wait=true' : '';
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (o['if-match'] !== undefined) headers['if-match'] = `"${String(o['if-match'])}"`;
    if (o['token-file'] !== undefined) {
      try {
        headers.authorization = `Bearer ${(await readFile(String(o['token-file']), 'utf8')).trim()}`;
      } catch (err: unknown) {
        io.stderr(`alcor-control ${k.name}: cannot read --token-file: ${(err as Error).message}\n`);
        return EXIT_FAILURE;
      }
    }
    let method: string;
    let url: string;
    let body: Json | undefined;
    try {
      switch (action) {
        case 'create':
          method = 'POST';
          url = `${base}/v1/${k.path}${q}`;
          body = bodyOf(k, o);
          if (o.id !== undefined) body.id = o.id;
          break;
        case 'list': {
          method = 'GET';
          const params = new URLSearchParams();
          for (const f of k.filters) if (o[f] !== undefined) params.set(f, String(o[f]));
          url = `${base}/v1/${k.path}${params.size > 0 ? `?${params.toString()}` : ''}`;
          break;
        }
        case 'show':
          method = 'GET';
          url = `${base}/v1/${k.path}/${encodeURIComponent(id as string)}`;
          break;
        case 'update':
          method = 'PATCH';
          url = `${base}/v1/${k.path}/${encodeURIComponent(id as string)}${q}`;
          body = bodyOf(k, o);
          break;
        case 'delete':
          method = 'DELETE';
          url = `${base}/v1/${k.path}/${encodeURIComponent(id as string)}${q}`;
          break;
        default:
          return usage(action === undefined ? 'give an action' : `unknown action ${action}`);
      }
    } catch (err: unknown) {
      return usage((err as Error).message);
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err: unknown) {
      io.stderr(`alcor-control ${k.name} ${action}: cannot reach ${base}: ${(err as Error).message}\n`);
      return EXIT_FAILURE;
    }
    const text = await res.text();
    let json: Json;
    try {
      json = JSON.parse(text) as Json;
    } catch {
      io.stderr(`alcor-control ${k.name} ${action}: HTTP ${res.status}: ${text.slice(0, 200)}\n`);
      return EXIT_FAILURE;
    }
    if (!res.ok) {
      if (o.json === true) io.stdout(JSON.stringify(json, null, 2) + '\n');
      io.stderr(`alcor-control ${k.name} ${action}: ${str(json.code)}: ${str(json.message)}\n`);
      return EXIT_FAILURE;
    }
    if (o.json === true) {
      io.stdout(JSON.stringify(json, null, 2) + '\n');
      return EXIT_OK;
    }
    if (action === 'delete') io.stdout(`deleted ${k.name} ${id as string}\n`);
    else if (action === 'list') io.stdout(table(k.columns, (json.items as Json[]) ?? []));
    else {
      const width = Math.max(...Object.keys(json).map((x) => x.length));
      io.stdout(
        Object.entries(json)
          .map(
            ([key, v]) =>
              `${key.padEnd(width)}  ${typeof v === 'object' && v !== null && !Array.isArray(v) ? JSON.stringify(v) : Array.isArray(v) && v.some((x) => typeof x === 'object') ? JSON.stringify(v) : str(v)}`,
          )
          .join('\n') + '\n',
      );
    }
    return EXIT_OK;
  };
  return { help, run };
}

export const vpc = command(KINDS.vpc as KindSpec);
export const subnet = command(KINDS.subnet as KindSpec);
export const port = command(KINDS.port as KindSpec);
export const router = command(KINDS.router as KindSpec);
export const sg = command(KINDS.sg as KindSpec);
