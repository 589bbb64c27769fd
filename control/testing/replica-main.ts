// Entry point for a replica run as a child process by tests and benchmarks:
//   node dist/control/testing/replica-main.js --listen 127.0.0.1:0 --http 127.0.0.1:0 [--etcd URL] ...
// (the same arguments as `alcor-control run`).
import { runCommand } from '../cli/run';

runCommand(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
    process.exit(1);
  },
);
