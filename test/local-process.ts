// Shared by the harnesses that run real servers for tests (etcd, nats-server) and the tests that need a
// port of their own: a free loopback port, and a SIGKILL that resolves once the process is gone.
import type { ChildProcess } from 'node:child_process';
import * as net from 'node:net';

/** A loopback TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** SIGKILLs `proc` and resolves when it has exited (at once if it already has, or is null). */
export function killHard(proc: ChildProcess | null): Promise<void> {
  if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}
