// A VM's continuous ping for the restart tests: how many replies came, and which sequence numbers got none.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Vm } from '../test/sandbox';
import { until } from './e2e-helpers';

/**
 * `ping -i <interval>` from a VM, counted by icmp_seq, so a reply still in flight when it is stopped is not a loss
 * (ping's own summary counts it as one).
 */
export class Pinger {
  readonly #child: ChildProcess;
  readonly #replied = new Set<number>();
  readonly #exited: Promise<void>;
  #out = '';

  constructor(vm: Vm, ip: string, intervalS: number) {
    this.#child = spawn('ip', ['netns', 'exec', vm.netns, 'ping', '-i', String(intervalS), '-W', '1', ip], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdout?.on('data', (c: Buffer) => {
      this.#out += c.toString();
      let nl: number;
      while ((nl = this.#out.indexOf('\n')) >= 0) {
        const m = /icmp_seq=(\d+)/.exec(this.#out.slice(0, nl));
        if (m !== null) this.#replied.add(Number(m[1]));
        this.#out = this.#out.slice(nl + 1);
      }
    });
  }

  get replies(): number {
    return this.#replied.size;
  }

  /** Waits for `n` more replies than now. */
  async more(n: number, what: string): Promise<void> {
    const target = this.#replied.size + n;
    await until(`${n} more ping replies (${what})`, async () => this.#replied.size >= target, 30_000);
  }

  /** Stops it; the sequence numbers up to the last reply that got none. */
  async stop(): Promise<{ sent: number; lost: number[] }> {
    this.#child.kill('SIGINT');
    await this.#exited;
    const last = Math.max(0, ...this.#replied);
    const lost: number[] = [];
    for (let seq = 1; seq <= last; seq++) if (!this.#replied.has(seq)) lost.push(seq);
    return { sent: last, lost };
  }
}
