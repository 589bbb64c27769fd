// Starts a real etcd (Debian etcd-server, /usr/bin/etcd) for a test: loopback only, random free ports,
// a temp data dir. `kill()` / `restart()` simulate outages; `stop()` always cleans up.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, killHard } from './local-process';
import { findExecutable } from './prereq';

export class EtcdServer {
  private proc: ChildProcess | null = null;
  private log = '';

  private constructor(
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  static async start(): Promise<EtcdServer> {
    // tmpfs when there is one: fsync is then free, and an etcd kill still keeps every acknowledged write.
    const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const dataDir = fs.mkdtempSync(path.join(base, 'alcor-etcd-'));
    const e = new EtcdServer(dataDir, await freePort(), await freePort());
    try {
      await e.launch();
    } catch (err: unknown) {
      await e.stop();
      throw err;
    }
    return e;
  }

  private async launch(): Promise<void> {
    const bin = findExecutable('etcd') ?? '/usr/bin/etcd';
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const proc = spawn(
      bin,
      [
        '--name',
        'alcor-test',
        '--data-dir',
        path.join(this.dataDir, 'data'),
        '--listen-client-urls',
        this.url,
        '--advertise-client-urls',
        this.url,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `alcor-test=${peer}`,
        '--initial-cluster-state',
        'new',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    const keep = (b: Buffer): void => {
      this.log = (this.log + b.toString()).slice(-8000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}: ${this.log}`);
      try {
        const res = await fetch(`${this.url}/health`);
        if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd did not become healthy: ${this.log}`);
  }

  /** Hard stop (SIGKILL): an outage. Data stays for restart(). */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    await killHard(p);
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
