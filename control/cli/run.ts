// `alcor-control run`: starts one replica and serves until SIGINT/SIGTERM (graceful handover on either).
// Exports `command` (the dispatcher's SubcommandModule, see control/cli/main.ts) and `runCommand(argv)`.
import { isCliError } from '../../core/cli/args';
import {
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  ioFromProcess,
  type CliIo,
  type SubcommandModule,
} from '../../core/cli/commands';
import { loadRunConfig, RUN_OPTIONS } from '../config';
import { createLogger } from '../log';
import { startControl } from '../server';
import { watchTlsFiles } from '../../agent/tls-watch';

const HELP = {
  usage: 'alcor-control run [options]',
  description: [
    "Thin control plane for Alcor agents. Serves GoalStateProvisioner.PushGoalStatesStream like Alcor's NCM,",
    'splits goal states per host, stores each resource once, pushes to every agent over one long-lived stream',
    "and replies with the agents' statuses. With --etcd, several replicas share the hosts (rendezvous hashing",
    'over etcd leases); without it one process keeps the desired state under --data-dir.',
  ].join('\n'),
  options: RUN_OPTIONS,
  footer: [
    'Logs one line containing "ready" once both servers listen. SIGINT/SIGTERM release the lease (hosts move at once).',
    'TLS: --tls-cert/--tls-key make the northbound gRPC and the HTTP API TLS-only; --tls-ca requires client',
    'certificates from that CA on both. --agent-tls-ca (with --agent-tls-cert/--agent-tls-key for mutual TLS)',
    'makes the connections to agents TLS. --http-token-file: POST/PUT/PATCH/DELETE need "Authorization: Bearer',
    '<token>" (401 without, 403 wrong); GET stays open. SIGHUP, or a change to those files, re-reads them.',
    'Register agents with PUT /v1/hosts/<ip> {"agent":"HOST:PORT"} on --http, or "agents" in the config file.',
    'With --nats nats://HOST:PORT[,...], hosts registered with {"transport":"nats"} get their goal states through',
    'NATS JetStream (subject alcor.gs.host.<ip>); with an "agent" too, over gRPC while the broker is unreachable.',
    'Example: alcor-control run --listen 127.0.0.1:9016 --http 127.0.0.1:9017 --etcd http://127.0.0.1:2379',
  ].join('\n'),
};

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let cfg;
  try {
    cfg = loadRunConfig(argv, io.env);
  } catch (err: unknown) {
    if (isCliError(err)) {
      io.stderr(`alcor-control run: ${err.message}; see alcor-control run --help\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  if (cfg === null) {
    const { formatHelp } = await import('../../core/cli/args');
    io.stdout(formatHelp(HELP));
    return EXIT_OK;
  }
  const log = createLogger(cfg.logLevel, 'control', io.stderr);
  let handle;
  try {
    handle = await startControl(cfg, log);
  } catch (err: unknown) {
    log.error('cannot start', { error: (err as Error).message, code: (err as { code?: unknown }).code });
    return EXIT_FAILURE;
  }
  const h = handle;
  const onHangup = (): void => {
    try {
      h.reloadTls();
      log.notice('reloaded', { what: 'TLS certificates and HTTP token (those configured)' });
    } catch (err: unknown) {
      log.error('reload failed; the previous certificates and token stay in use', { error: (err as Error).message });
    }
  };
  process.on('SIGHUP', onHangup);
  // A certificate or token rotated on disk is picked up without a signal, as SIGHUP would.
  const watched = [cfg.tls, cfg.agentTls].flatMap((t) => [t?.certFile, t?.keyFile, t?.caFile]);
  const watch = watchTlsFiles([...watched, cfg.httpTokenFile], onHangup, (dir, err) =>
    log.warn('cannot watch a TLS directory; SIGHUP still reloads', { dir, error: err.message }),
  );
  return new Promise<number>((resolve) => {
    const onSignal = (sig: string): void => {
      log.info('shutting down', { signal: sig });
      watch.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onHangup);
      h.stop().then(
        () => resolve(EXIT_OK),
        (err: unknown) => {
          log.error('shutdown failed', { error: (err as Error).message });
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export const command: SubcommandModule = { help: HELP, run };

export function runCommand(argv: string[]): Promise<number> {
  return run(argv, ioFromProcess(process));
}
