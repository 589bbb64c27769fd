// A control replica in its own node process (so a test can SIGKILL it), started from the compiled tree.
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { withHugePageMalloc } from '../malloc-env';

export class ReplicaProcess {
  private output = '';
  private constructor(
    readonly proc: ChildProcess,
    readonly grpcAddress: string,
    readonly httpBase: string,
  ) {}

  /** `nodeArgs`: options for node itself (e.g. --cpu-prof, which writes its profile on a graceful exit). */
  static async start(
    args: readonly string[],
    timeoutMs = 20000,
    nodeArgs: readonly string[] = [],
  ): Promise<ReplicaProcess> {
    const main = path.join(__dirname, 'replica-main.js');
    // Started as bin/alcor-control starts the product (its malloc setting), so benchmarks measure that.
    const proc = spawn(process.execPath, [...nodeArgs, main, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: withHugePageMalloc(process.env),
    });
    let out = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`replica not ready within ${timeoutMs} ms:\n${out}`));
      }, timeoutMs);
      const onData = (b: Buffer): void => {
        out += b.toString();
        const m = /ready .*grpc=(\S+) http=(\S+)/.exec(out);
        if (m === null) return;
        clearTimeout(timer);
        const r = new ReplicaProcess(proc, m[1] as string, `http://${m[2] as string}`);
        r.output = out;
        proc.stderr?.off('data', onData);
        proc.stderr?.on('data', (c: Buffer) => {
          r.output = (r.output + c.toString()).slice(-20000);
        });
        resolve(r);
      };
      proc.stderr?.on('data', onData);
      proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`replica exited with ${code}:\n${out}`));
      });
    });
  }

  logs(): string {
    return this.output;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve(this.proc.exitCode);
    return new Promise((resolve) => {
      this.proc.once('exit', (code) => resolve(code));
      this.proc.kill(signal);
    });
  }
}
