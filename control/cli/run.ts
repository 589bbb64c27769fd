// `alcor-control run`: starts one replica and serves until SIGINT/SIGTERM (graceful handover on either).
import { formatHelp } from '../../core/cli/args';
import { isCliError } from '../../core/cli/args';
import { loadRunConfig, RUN_OPTIONS } from '../config';
import { createLogger } from '../log';
import { startControl } from '../server';

const DESCRIPTION = [
  'Thin control plane for Alcor agents. Serves GoalStateProvisioner.PushGoalStatesStream like Alcor\'s NCM,',
  'splits goal states per host, stores each resource once, pushes to every agent over one long-lived stream',
  'and replies with the agents\' statuses. With --etcd, several replicas share the hosts (rendezvous hashing',
  'over etcd leases); without it one process keeps the desired state under --data-dir.',
].join('\n');

export async function runCommand(argv: string[]): Promise<number> {
  let cfg;
  try {
    cfg = loadRunConfig(argv, process.env);
  } catch (err: unknown) {
    if (isCliError(err)) {
      process.stderr.write(`alcor-control run: ${err.message}\n(see alcor-control run --help)\n`);
      return 2;
    }
    throw err;
  }
  if (cfg === null) {
    process.stdout.write(
      formatHelp({
        usage: 'alcor-control run [options]',
        description: DESCRIPTION,
        options: RUN_OPTIONS,
        footer: 'Logs one line containing "ready" once both servers listen.\nExample: alcor-control run --listen 127.0.0.1:9016 --http 127.0.0.1:9017 --etcd http://127.0.0.1:2379',
      }),
    );
    return 0;
  }
  const log = createLogger(cfg.logLevel, 'control');
  let handle;
  try {
    handle = await startControl(cfg, log);
  } catch (err: unknown) {
    log.error('cannot start', { error: (err as Error).message, code: (err as { code?: unknown }).code });
    return 1;
  }
  const h = handle;
  return new Promise<number>((resolve) => {
    const onSignal = (sig: string): void => {
      log.info('shutting down', { signal: sig });
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      h.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('shutdown failed', { error: (err as Error).message });
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
