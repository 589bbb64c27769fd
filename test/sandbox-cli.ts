// Command line for humans and scripts:
//   node dist/test/sandbox-cli.js up NAME [--underlay 192.0.2.1/24] [--peer OTHER]   start a sandbox (keeps running)
//   node dist/test/sandbox-cli.js down NAME                                        stop one
//   node dist/test/sandbox-cli.js down-all                                         remove every sandbox and alc-* netns
//   node dist/test/sandbox-cli.js cleanup-stale                                    remove only those whose owner died
// After `up`, point the OVS tools at it with the printed `export OVS_RUNDIR=...` line.
import { cleanupStale, OvsSandbox, SandboxError, stopSandbox, type UnderlayOptions } from './sandbox';

const USAGE = `usage: sandbox-cli up NAME [--underlay CIDR] [--peer NAME] | down NAME | down-all | cleanup-stale`;

function option(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(argv: readonly string[]): Promise<number> {
  const [cmd, name, ...rest] = argv;
  switch (cmd) {
    case 'up': {
      if (name === undefined) break;
      const ip = option(rest, '--underlay');
      const peer = option(rest, '--peer');
      const underlay: UnderlayOptions | undefined =
        ip === undefined ? undefined : peer === undefined ? { ip } : { ip, peer };
      const sb = await OvsSandbox.start(
        underlay === undefined ? { name, persistent: true } : { name, underlay, persistent: true },
      );
      console.log(`sandbox ${sb.name} up: OVS in netns ${sb.netns}`);
      console.log(`export OVS_RUNDIR=${sb.rundir} OVS_DBDIR=${sb.rundir} OVS_LOGDIR=${sb.rundir}`);
      return 0;
    }
    case 'down':
      if (name === undefined) break;
      await stopSandbox(name);
      console.log(`sandbox ${name} down`);
      return 0;
    case 'down-all':
    case 'cleanup-stale': {
      const removed = await cleanupStale(undefined, { all: cmd === 'down-all' });
      console.log(removed.length ? `removed: ${removed.join(' ')}` : 'nothing to remove');
      return 0;
    }
    default:
      break;
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const msg =
      err instanceof SandboxError ? `${err.code}: ${err.message}` : err instanceof Error ? err.stack : String(err);
    console.error(`sandbox-cli: ${msg}`);
    process.exit(1);
  },
);
