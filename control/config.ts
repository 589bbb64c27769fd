// `alcor-control run` settings: command-line flags > ALCOR_CONTROL_* environment > JSON config file > defaults.
// The config file is a JSON object of the same option names, plus `agents`: { "<host ip>": "<agent addr>" } or
// { "<host ip>": { "agent": "<agent addr>"?, "transport": "grpc" | "nats" } }.
import * as fs from 'node:fs';
import { CliError, configFromObject, OptionSpec, parseArgs, resolveOptions } from '../core/cli/args';
import { AckMode } from './controller';
import {
  AGENT_CLIENT_TLS_FLAGS,
  TLS_SERVER_OPTIONS,
  tlsClientFilesFromFlags,
  tlsFilesFromFlags,
  type TlsClientFiles,
  type TlsFiles,
} from '../agent/tls';
import { LogLevel } from './log';
import { registrationFrom } from './southbound/host-transport';
import {
  natsSecurityFrom,
  natsSecurityOptions,
  natsSecurityProblem,
  type NatsSecurity,
} from '../core/southbound/nats-security';
import { DEFAULT_NATS_MAX_AGE_S, parseNatsServers, type NatsLinkOptions } from './southbound/nats-link';

export const RUN_OPTIONS = [
  {
    name: 'listen',
    type: 'string',
    default: '127.0.0.1:9016',
    env: 'ALCOR_CONTROL_LISTEN',
    metavar: 'HOST:PORT',
    help: "gRPC: northbound GoalStateProvisioner and the agents' RequestGoalStates",
  },
  {
    name: 'http',
    type: 'string',
    default: '127.0.0.1:9017',
    env: 'ALCOR_CONTROL_HTTP',
    metavar: 'HOST:PORT',
    help: 'operator HTTP/JSON API and /metrics',
  },
  {
    name: 'etcd',
    type: 'string',
    env: 'ALCOR_CONTROL_ETCD',
    metavar: 'URL[,URL]',
    help: 'etcd endpoints: sharded mode (absent: embedded single-process mode)',
  },
  {
    name: 'data-dir',
    type: 'string',
    default: './alcor-control-data',
    env: 'ALCOR_CONTROL_DATA_DIR',
    metavar: 'DIR',
    help: 'embedded mode: where the desired state is kept',
  },
  {
    name: 'config',
    type: 'string',
    env: 'ALCOR_CONTROL_CONFIG',
    metavar: 'FILE',
    help: 'JSON config file (same names as the flags, plus "agents": {hostIp: address})',
  },
  {
    name: 'replica-id',
    type: 'string',
    env: 'ALCOR_CONTROL_REPLICA_ID',
    metavar: 'ID',
    help: "this replica's name in etcd (default: hostname-pid)",
  },
  {
    name: 'prefix',
    type: 'string',
    default: '/alcor-control/',
    metavar: 'KEY',
    help: 'etcd key prefix (several clusters can share one etcd)',
  },
  {
    name: 'lease-ttl',
    type: 'number',
    default: 5,
    metavar: 'SECONDS',
    help: 'replica lease TTL: the hosts of a replica that vanished without crash evidence (host down, partition, hang) move within it',
  },
  {
    name: 'peer-listen',
    type: 'string',
    env: 'ALCOR_CONTROL_PEER_LISTEN',
    metavar: 'HOST:PORT|off',
    help: "sharded mode: TCP listener the other replicas keep a connection to, as crash evidence (a dead replica's hosts move at once instead of after its lease TTL); default: the --listen host, any free port",
  },
  {
    name: 'peer-advertise',
    type: 'string',
    env: 'ALCOR_CONTROL_PEER_ADVERTISE',
    metavar: 'HOST[:PORT]',
    help: 'address the other replicas dial for --peer-listen (default: its host and port; the hostname for 0.0.0.0 or ::)',
  },
  {
    name: 'ack',
    type: 'string',
    default: 'agents',
    metavar: 'agents|durable',
    help: 'reply northbound once the agents answered (agents) or once the goal state is durable (durable)',
  },
  {
    name: 'max-message-mb',
    type: 'number',
    default: 256,
    metavar: 'MB',
    help: "largest goal state accepted, and largest per-host message made (keep it at the agents' --max-message-mb)",
  },
  {
    name: 'result-timeout',
    type: 'number',
    default: 30000,
    metavar: 'MS',
    help: 'how long a northbound reply waits for agents before reporting PENDING',
  },
  {
    name: 'reply-timeout',
    type: 'number',
    default: 30000,
    metavar: 'MS',
    help: 'an agent that does not answer a message within this gets its stream reset',
  },
  {
    name: 'backoff-max',
    type: 'number',
    default: 5000,
    metavar: 'MS',
    help: 'longest wait between reconnections to an agent',
  },
  ...TLS_SERVER_OPTIONS,
  {
    name: 'agent-tls-cert',
    type: 'string',
    metavar: 'FILE',
    help: 'PEM client certificate presented to agents (their --tls-ca must trust it)',
  },
  { name: 'agent-tls-key', type: 'string', metavar: 'FILE', help: 'PEM private key of --agent-tls-cert' },
  {
    name: 'agent-tls-ca',
    type: 'string',
    metavar: 'FILE',
    help: "PEM CA bundle the agents' server certificates are verified against: connect to agents over TLS",
  },
  {
    name: 'http-token-file',
    type: 'string',
    metavar: 'FILE',
    help: 'file holding a bearer token that mutating HTTP calls (POST, PUT, PATCH, DELETE) must carry',
  },
  {
    name: 'log-level',
    type: 'string',
    default: 'info',
    env: 'ALCOR_CONTROL_LOG_LEVEL',
    metavar: 'LEVEL',
    help: 'debug, info, warn or error',
  },
  {
    name: 'neighbor-limit',
    type: 'number',
    default: 1000,
    env: 'ALCOR_CONTROL_NEIGHBOR_LIMIT',
    metavar: 'N',
    help:
      "resource API: a VPC's first N bound ports (in creation order) are pushed to its hosts as neighbors; " +
      'later ones are not (agents resolve them on demand), and one takes the place of a pushed port that goes',
  },
  {
    name: 'nats',
    type: 'string',
    env: 'ALCOR_CONTROL_NATS',
    metavar: 'nats://HOST:PORT[,...]',
    help:
      'NATS JetStream servers for hosts registered with transport "nats"; a neighbor change many of them ' +
      'need is published once to its VPC subject (docs/southbound.md)',
  },
  {
    name: 'nats-replicas',
    type: 'number',
    metavar: 'N',
    help: 'replicas of the goal-state stream (default: servers listed in --nats, at most 3)',
  },
  {
    name: 'nats-max-age',
    type: 'number',
    default: DEFAULT_NATS_MAX_AGE_S,
    metavar: 'S',
    help: 'goal-state messages older than this leave the stream (an agent offline longer gets its full state)',
  },
  {
    name: 'nats-max-mb',
    type: 'number',
    default: 1024,
    metavar: 'MB',
    help: 'size limit of the goal-state stream; the oldest messages go beyond it',
  },
  ...natsSecurityOptions('nats', 'ALCOR_CONTROL'),
] as const satisfies readonly OptionSpec[];

export interface ControlConfig {
  readonly listen: string;
  readonly http: string;
  readonly etcd: readonly string[] | null;
  readonly dataDir: string;
  readonly replicaId: string | null;
  readonly prefix: string;
  readonly leaseTtlSec: number;
  /** Peer-liveness listener HOST:PORT; null: off; absent: the --listen host, any free port. */
  readonly peerListen?: string | null;
  /** Host advertised for the peer-liveness listener (absent or null: derived from peerListen). */
  readonly peerAdvertise?: string | null;
  readonly ackMode: AckMode;
  readonly resultTimeoutMs: number;
  /** Absent: the agents' default (256 MiB). */
  readonly maxMessageBytes?: number;
  readonly replyTimeoutMs: number;
  readonly backoffMaxMs: number;
  readonly logLevel: LogLevel;
  readonly agents: ReadonlyMap<string, string>;
  /** Resource API: VPCs with more bound ports than this get their neighbors on demand (default 1000). */
  readonly neighborLimit?: number;
  /** TLS of the northbound gRPC server and the HTTP API (--tls-*); plaintext when absent. */
  readonly tls?: TlsFiles;
  /** TLS of the connections to agents (--agent-tls-*); plaintext when absent. */
  readonly agentTls?: TlsClientFiles;
  /** Bearer token file for mutating HTTP calls (--http-token-file). */
  readonly httpTokenFile?: string;
  /** The NATS broker (--nats); absent: every host is reached over gRPC. */
  readonly nats?: NatsLinkOptions;
}

/** TLS settings from the resolved flags; half a configuration is a usage error, not a silent plaintext. */
function tlsConfig(o: {
  readonly 'tls-cert'?: string | undefined;
  readonly 'tls-key'?: string | undefined;
  readonly 'tls-ca'?: string | undefined;
  readonly 'agent-tls-cert'?: string | undefined;
  readonly 'agent-tls-key'?: string | undefined;
  readonly 'agent-tls-ca'?: string | undefined;
}): { tls?: TlsFiles; agentTls?: TlsClientFiles } {
  try {
    const tls = tlsFilesFromFlags({ cert: o['tls-cert'], key: o['tls-key'], ca: o['tls-ca'] });
    const agentTls = tlsClientFilesFromFlags(
      { cert: o['agent-tls-cert'], key: o['agent-tls-key'], ca: o['agent-tls-ca'] },
      AGENT_CLIENT_TLS_FLAGS,
    );
    return { ...(tls === undefined ? {} : { tls }), ...(agentTls === undefined ? {} : { agentTls }) };
  } catch (e: unknown) {
    throw new CliError('E_CLI_BAD_VALUE', (e as Error).message);
  }
}

function agentsFrom(obj: unknown, origin: string): Map<string, string> {
  const out = new Map<string, string>();
  if (obj === undefined) return out;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new CliError('E_CLI_BAD_CONFIG', `${origin}: "agents" must map host IP to agent address`);
  for (const [host, v] of Object.entries(obj)) {
    // "HOST:PORT" (gRPC) or {"agent": "HOST:PORT"?, "transport": "grpc|nats"}.
    const o = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
    const r = registrationFrom(o === null ? v : o.agent, o?.transport, (a) => /^.+:\d+$/.test(a));
    if ('error' in r) throw new CliError('E_CLI_BAD_CONFIG', `${origin}: agent of ${host}: ${r.error}`);
    out.set(host, r.value);
  }
  return out;
}

/** Parses `run` arguments. Returns null when --help was asked. Throws CliError on bad input. */
export function loadRunConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ControlConfig | null {
  const parsed = parseArgs(RUN_OPTIONS, argv, env);
  if (parsed.help) return null;
  if (parsed.positionals.length > 0)
    throw new CliError('E_CLI_BAD_VALUE', `unexpected argument ${parsed.positionals[0]}`);
  const file = parsed.options.config;
  let fileValues;
  let agents = new Map<string, string>();
  if (file !== undefined) {
    let obj: unknown;
    try {
      obj = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err: unknown) {
      throw new CliError('E_CLI_BAD_CONFIG', `${file}: ${(err as Error).message}`);
    }
    if (typeof obj === 'object' && obj !== null && !Array.isArray(obj)) {
      const { agents: a, ...rest } = obj as Record<string, unknown>;
      agents = agentsFrom(a, file);
      obj = rest;
    }
    fileValues = configFromObject(RUN_OPTIONS, obj, file);
  }
  const o = resolveOptions(RUN_OPTIONS, parsed, fileValues).options;
  const ack = o.ack;
  if (ack !== 'agents' && ack !== 'durable')
    throw new CliError('E_CLI_BAD_VALUE', `--ack must be agents or durable, not ${ack}`);
  const level = o['log-level'];
  if (!['debug', 'info', 'warn', 'error'].includes(level))
    throw new CliError('E_CLI_BAD_VALUE', `--log-level must be debug, info, warn or error`);
  for (const [name, v] of [
    ['listen', o.listen],
    ['http', o.http],
  ] as const) {
    if (!/^.+:\d+$/.test(v)) throw new CliError('E_CLI_BAD_VALUE', `--${name} must be HOST:PORT, not ${v}`);
  }
  const peerListen = o['peer-listen'];
  if (peerListen !== undefined && peerListen !== 'off' && !/^.+:\d+$/.test(peerListen))
    throw new CliError('E_CLI_BAD_VALUE', `--peer-listen must be HOST:PORT or off, not ${peerListen}`);
  if (!(o['lease-ttl'] >= 1)) throw new CliError('E_CLI_BAD_VALUE', '--lease-ttl must be at least 1 second');
  const etcd =
    o.etcd === undefined || o.etcd === ''
      ? null
      : o.etcd
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
  return {
    listen: o.listen,
    http: o.http,
    etcd,
    dataDir: o['data-dir'],
    replicaId: o['replica-id'] ?? null,
    prefix: o.prefix.endsWith('/') ? o.prefix : `${o.prefix}/`,
    leaseTtlSec: Math.round(o['lease-ttl']),
    peerListen: peerListen === 'off' ? null : (peerListen ?? undefined),
    peerAdvertise: o['peer-advertise'] ?? null,
    ackMode: ack,
    resultTimeoutMs: o['result-timeout'],
    maxMessageBytes: Math.floor(o['max-message-mb'] * 1024 * 1024),
    replyTimeoutMs: o['reply-timeout'],
    backoffMaxMs: o['backoff-max'],
    logLevel: level as LogLevel,
    agents,
    neighborLimit: Math.max(0, Math.floor(o['neighbor-limit'])),
    ...tlsConfig(o),
    ...(o['http-token-file'] === undefined ? {} : { httpTokenFile: o['http-token-file'] }),
    ...natsConfig(o.nats, o['nats-replicas'], o['nats-max-age'], o['nats-max-mb'], natsSecurityFrom(o, 'nats')),
  };
}

function natsConfig(
  servers: string | undefined,
  replicas: number | undefined,
  maxAgeS: number,
  maxMb: number,
  security: NatsSecurity,
): { nats?: NatsLinkOptions } {
  if (servers === undefined) return {};
  try {
    const problem = natsSecurityProblem(security, 'nats');
    if (problem !== null) throw new Error(problem);
    if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1 || replicas > 5))
      throw new Error('--nats-replicas must be 1 to 5');
    if (!(maxAgeS > 0) || !(maxMb > 0)) throw new Error('--nats-max-age and --nats-max-mb must be positive');
    return {
      nats: {
        servers: parseNatsServers(servers),
        ...(replicas === undefined ? {} : { replicas }),
        maxAgeS,
        maxBytes: Math.floor(maxMb * 1024 * 1024),
        ...(Object.keys(security).length === 0 ? {} : { security }),
      },
    };
  } catch (e: unknown) {
    throw new CliError('E_CLI_BAD_VALUE', (e as Error).message);
  }
}
