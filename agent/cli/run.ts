// alcor-agent run: start the agent daemon (agent/daemon.ts) and keep it running until SIGTERM/SIGINT.
// Flag names are a contract (scripts use them): --listen --ovs-rundir --bridge --tunnel-ip --control
// --metrics --config --datapath-type --workers --state-dir --tunnel-ofport --max-message-mb --max-receiving-mb
// --receive-timeout-s --dataplane
// --xdp-netns --bpf-pin-dir --tls-cert --tls-key --tls-ca.
// Precedence: flag > environment > --config JSON file > default.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { configFromObject, parseArgs, resolveOptions, type OptionSpec } from '../../core/cli/args';
import { CliError, EXIT_FAILURE, EXIT_OK, type CliIo, type SubcommandModule } from '../../core/cli/commands';
import { AgentDaemon, jsonLogger, splitHostPort, type DaemonOptions, type DataplaneKind } from '../daemon';
import { DEFAULT_PIN_DIR } from '../../native/arp-responder';
import { isLoopbackHost, loadTlsMaterial, tlsFilesFromFlags, TLS_SERVER_OPTIONS, type TlsFiles } from '../tls';
import { watchTlsFiles } from '../tls-watch';
import { parseSouthbound } from '../nats/consumer';
import {
  natsSecurityFrom,
  natsSecurityOptions,
  natsSecurityProblem,
  type NatsSecurity,
} from '../../core/southbound/nats-security';

const DATAPLANE_KINDS: readonly DataplaneKind[] = ['ovs', 'ebpf', 'both'];

function isDataplaneKind(s: string): s is DataplaneKind {
  return (DATAPLANE_KINDS as readonly string[]).includes(s);
}

const DEFAULT_WORKERS = Math.max(1, Math.min(os.availableParallelism(), 16));

const OPTIONS = [
  {
    name: 'listen',
    type: 'string',
    default: '127.0.0.1:50001',
    metavar: 'HOST:PORT',
    help: 'gRPC goal-state server address',
  },
  {
    name: 'ovs-rundir',
    type: 'string',
    env: 'OVS_RUNDIR',
    default: '/var/run/openvswitch',
    metavar: 'DIR',
    help: 'directory holding db.sock and <bridge>.mgmt',
  },
  { name: 'bridge', type: 'string', default: 'br-int', metavar: 'NAME', help: 'integration bridge' },
  { name: 'tunnel-ip', type: 'string', metavar: 'IP', help: "this host's underlay (VXLAN source) address" },
  { name: 'control', type: 'string', metavar: 'HOST:PORT', help: 'control service, for on-demand goal-state requests' },
  { name: 'metrics', type: 'string', metavar: 'HOST:PORT', help: 'HTTP server for /metrics, /status and /flows' },
  { name: 'config', type: 'string', metavar: 'FILE', help: 'JSON file of settings (keys are the flag names)' },
  { name: 'datapath-type', type: 'string', metavar: 'TYPE', help: "bridge datapath_type ('netdev' or 'system')" },
  {
    name: 'workers',
    type: 'number',
    // Compute belongs off the I/O thread: one partition per core by default.
    default: DEFAULT_WORKERS,
    metavar: 'N',
    help: 'engine worker threads, one partition each (0 = compute in the main thread)',
  },
  {
    name: 'state-dir',
    type: 'string',
    metavar: 'DIR',
    help:
      'goal-state log and snapshot, restored on restart (default: /var/lib/alcor-agent/<bridge> with the system OVS run dir, ' +
      'else <ovs-rundir>/alcor-agent/<bridge>; docs/agent.md, "State directory")',
  },
  { name: 'tunnel-ofport', type: 'number', default: 100, metavar: 'N', help: 'OpenFlow port number of the VXLAN port' },
  { name: 'max-message-mb', type: 'number', default: 256, metavar: 'MB', help: 'largest goal state accepted' },
  {
    name: 'max-receiving-mb',
    type: 'number',
    default: 512,
    metavar: 'MB',
    help: 'goal-state bytes being received at once, all connections together (declared sizes); a message beyond it gets RESOURCE_EXHAUSTED (one message is always admitted)',
  },
  {
    name: 'receive-timeout-s',
    type: 'number',
    default: 60,
    metavar: 'S',
    help: 'time for a goal state to arrive, from its length prefix to its last byte; later gets DEADLINE_EXCEEDED',
  },
  {
    name: 'dataplane',
    type: 'string',
    default: 'ovs',
    metavar: 'KIND',
    help: "'ovs' (OpenFlow answers ARP), 'ebpf' (the XDP ARP responder does, no OpenFlow ARP answers) or 'both' (see docs/ebpf.md)",
  },
  {
    name: 'xdp-netns',
    type: 'string',
    metavar: 'NAME',
    help: "network namespace holding the VM ports' OVS-side interfaces (default: the agent's own)",
  },
  {
    name: 'bpf-pin-dir',
    type: 'string',
    metavar: 'DIR',
    help: 'bpffs directory for the XDP maps (default /sys/fs/bpf/alcor/<bridge>)',
  },
  {
    name: 'southbound',
    type: 'string',
    metavar: 'nats://HOST:PORT[,...]',
    help:
      'also take goal states from NATS JetStream (durable consumer on alcor.gs.host.<--tunnel-ip>, and on ' +
      'alcor.gs.vpc.<vpc> for the VPCs the control service asks for); needs --tunnel-ip',
  },
  ...natsSecurityOptions('southbound', 'ALCOR_AGENT'),
  ...TLS_SERVER_OPTIONS,
] as const satisfies readonly OptionSpec[];

/** The daemon's options from argv, the environment and --config (flag > env > file > default). */
export async function runOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readFile: (file: string) => Promise<string> = (f) => fs.readFile(f, 'utf8'),
): Promise<DaemonOptions> {
  const parsed = parseArgs(OPTIONS, argv, env);
  if (parsed.positionals.length > 0)
    throw new CliError('E_CLI_BAD_VALUE', `unexpected argument "${parsed.positionals[0]}"`);
  const configFile = parsed.options.config;
  let file;
  if (configFile !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(configFile));
    } catch (e: unknown) {
      throw new CliError('E_CLI_BAD_CONFIG', `${configFile}: ${e instanceof Error ? e.message : String(e)}`);
    }
    file = configFromObject(OPTIONS, raw, configFile);
  }
  const o = resolveOptions(OPTIONS, parsed, file).options;
  for (const hp of [o.listen, o.metrics, o.control]) {
    if (hp === undefined) continue;
    try {
      splitHostPort(hp);
    } catch (e: unknown) {
      throw new CliError('E_CLI_BAD_VALUE', e instanceof Error ? e.message : String(e));
    }
  }
  if (o.bridge === '' || o.bridge.includes('/') || o.bridge === '.' || o.bridge === '..')
    throw new CliError('E_CLI_BAD_VALUE', `--bridge must be a bridge name, got "${o.bridge}"`);
  const dataplane = o.dataplane;
  if (!isDataplaneKind(dataplane))
    throw new CliError(
      'E_CLI_BAD_VALUE',
      `--dataplane must be one of ${DATAPLANE_KINDS.join(', ')}, got "${dataplane}"`,
    );
  let southbound: string[] | undefined;
  if (o.southbound !== undefined) {
    try {
      southbound = parseSouthbound(o.southbound);
    } catch (e: unknown) {
      throw new CliError('E_CLI_BAD_VALUE', (e as Error).message);
    }
    if (o['tunnel-ip'] === undefined)
      throw new CliError('E_CLI_BAD_VALUE', '--southbound needs --tunnel-ip (the host IP its subject is named after)');
  }
  const southboundSecurity = securityOf(natsSecurityFrom(o, 'southbound'));
  return {
    listen: o.listen,
    ovsRundir: o['ovs-rundir'],
    bridge: o.bridge,
    tunnelIp: o['tunnel-ip'],
    control: o.control,
    metrics: o.metrics,
    datapathType: o['datapath-type'],
    workers: o.workers,
    stateDir: o['state-dir'] ?? defaultStateDir(o['ovs-rundir'], o.bridge),
    tunnelOfport: o['tunnel-ofport'],
    maxMessageMb: o['max-message-mb'],
    maxReceivingMb: o['max-receiving-mb'],
    receiveTimeoutS: o['receive-timeout-s'],
    dataplane,
    xdpNetns: o['xdp-netns'],
    bpfPinDir: o['bpf-pin-dir'] ?? path.posix.join(DEFAULT_PIN_DIR, o.bridge),
    ...tlsOption(o['tls-cert'], o['tls-key'], o['tls-ca']),
    ...(southbound === undefined ? {} : { southbound }),
    ...(southboundSecurity === null ? {} : { southboundSecurity }),
  };
}

/** The --southbound-* TLS and credentials given (null: none); a bad combination is a usage error. */
function securityOf(s: NatsSecurity): NatsSecurity | null {
  if (Object.keys(s).length === 0) return null;
  const problem = natsSecurityProblem(s, 'southbound');
  if (problem !== null) throw new CliError('E_CLI_BAD_VALUE', problem);
  return s;
}

function tlsOption(cert?: string, key?: string, ca?: string): { tls?: TlsFiles } {
  try {
    const tls = tlsFilesFromFlags({ cert, key, ca });
    return tls === undefined ? {} : { tls };
  } catch (e: unknown) {
    throw new CliError('E_CLI_BAD_VALUE', e instanceof Error ? e.message : String(e));
  }
}

/** The OVS run directories of a system-wide Open vSwitch (/var/run is a link to /run on Debian). */
const SYSTEM_OVS_RUNDIRS: ReadonlySet<string> = new Set(['/var/run/openvswitch', '/run/openvswitch']);

/**
 * Where the snapshot lives when no --state-dir is given. A restart must find it without any flag, so
 * there is always one. With the system's OVS it is under /var/lib (survives reboots and the tmpfs
 * /run). With any other OVS run dir (a private instance, a test sandbox) it sits inside that run dir:
 * two instances with the same bridge name never share a snapshot, and it goes away with the instance.
 */
export function defaultStateDir(ovsRundir: string, bridge: string): string {
  const rundir = path.posix.resolve(ovsRundir);
  if (SYSTEM_OVS_RUNDIRS.has(rundir)) return path.posix.join('/var/lib/alcor-agent', bridge);
  return path.posix.join(rundir, 'alcor-agent', bridge);
}

export async function runAgent(argv: readonly string[], io: CliIo): Promise<number> {
  const opts = await runOptions(argv, io.env);
  const log = jsonLogger(io.stdout);
  if (opts.tls !== undefined) {
    // Bad TLS files fail now, before the agent touches OVS, with what to fix.
    try {
      loadTlsMaterial(opts.tls);
    } catch (e: unknown) {
      log('error', 'agent failed to start', { error: e instanceof Error ? e.message : String(e), code: codeOf(e) });
      return EXIT_FAILURE;
    }
  } else if (!isLoopbackHost(splitHostPort(opts.listen).host)) {
    log('warn', 'gRPC server listens beyond loopback without TLS', {
      listen: opts.listen,
      hint: 'anyone who can reach this address can program this host; set --tls-cert, --tls-key and --tls-ca',
    });
  }
  let daemon: AgentDaemon;
  try {
    daemon = await AgentDaemon.start(opts, log);
  } catch (e: unknown) {
    log('error', 'agent failed to start', { error: e instanceof Error ? e.message : String(e), code: codeOf(e) });
    return EXIT_FAILURE;
  }
  const onHangup = (): void => reloadTls(daemon, log, 'SIGHUP');
  process.on('SIGHUP', onHangup);
  const tls = opts.tls;
  const watch =
    tls === undefined
      ? undefined
      : watchTlsFiles(
          [tls.certFile, tls.keyFile, tls.caFile],
          () => reloadTls(daemon, log, 'file change'),
          (dir, err) => log('warn', 'cannot watch a TLS directory; SIGHUP still reloads', { dir, error: err.message }),
        );
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  process.off('SIGHUP', onHangup);
  watch?.close();
  log('info', 'shutting down', { signal });
  await daemon.stop();
  return EXIT_OK;
}

/**
 * SIGHUP or a change in the TLS files' directories: re-read the TLS files. A bad new file is logged and the
 * previous certificate stays in use. A file change that left the material as it was says nothing.
 */
function reloadTls(daemon: AgentDaemon, log: ReturnType<typeof jsonLogger>, trigger: 'SIGHUP' | 'file change'): void {
  try {
    const r = daemon.reloadTls();
    if (r === null) log('info', 'SIGHUP: no TLS configured, nothing to reload');
    else if (r.changed || trigger === 'SIGHUP')
      log('info', 'TLS certificates reloaded', { fingerprint: r.fingerprint, changed: r.changed, trigger });
  } catch (e: unknown) {
    log('error', 'TLS reload failed; still serving the previous certificate', {
      error: e instanceof Error ? e.message : String(e),
      code: codeOf(e),
      trigger,
    });
  }
}

function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

export const command: SubcommandModule = {
  help: {
    usage: 'alcor-agent run [options]',
    description:
      'Runs the host agent: ensures the bridge and the VXLAN port, converges the installed flows without' +
      'flushing them, then serves goal states over gRPC and programs OVS with one atomic bundle each.' +
      'Logs are JSON lines on standard output; one says "agent ready". SIGTERM/SIGINT stop it and leave' +
      'the flows installed. With --tls-cert/--tls-key the gRPC server speaks only TLS; --tls-ca also' +
      'requires client certificates signed by that CA. SIGHUP, or any change to the TLS files, re-reads' +
      'them (new connections get the new certificate; flows and open connections stay).',
    options: OPTIONS,
  },
  run: runAgent,
};
