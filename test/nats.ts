// Starts real NATS servers (Debian nats-server, /usr/bin/nats-server) with JetStream for a test: loopback
// only, free ports, a private store dir. One node (`NatsServer.start()`) or a cluster of three joined by
// routes (`NatsCluster.start(3)`). `kill()` (SIGKILL) / `restart()` simulate outages; `stop()` cleans up.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, killHard } from './local-process';
import { findExecutable } from './prereq';

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface NatsNodeOptions {
  /** Cluster route port of this node and of its peers; absent: a single node. */
  readonly cluster?: { readonly name: string; readonly routePort: number; readonly peers: readonly number[] };
  /** Largest message the server accepts (its max_payload); nats-server's default is 1 MiB. */
  readonly maxPayload?: number;
  /** TLS only: the server's certificate and key; with `ca`, clients must present a certificate it signed. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string };
  /** Clients must log in with this user and password. */
  readonly auth?: { readonly user: string; readonly password: string };
}

export class NatsServer {
  private proc: ChildProcess | null = null;
  private log = '';

  private constructor(
    readonly name: string,
    readonly storeDir: string,
    readonly port: number,
    private readonly opts: NatsNodeOptions,
    private readonly ownsDir: boolean,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(opts: NatsNodeOptions = {}, name = 'n1', dir?: string): Promise<NatsServer> {
    // tmpfs when there is one: JetStream's fsyncs are then free and a SIGKILL still keeps what was written.
    const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const storeDir = dir ?? fs.mkdtempSync(path.join(base, `alcor-nats-${process.env.ALCOR_SANDBOX_TAG ?? ''}-`));
    const n = new NatsServer(name, storeDir, await freePort(), opts, dir === undefined);
    try {
      await n.launch();
    } catch (err: unknown) {
      await n.stop();
      throw err;
    }
    return n;
  }

  private configText(): string {
    const lines = [
      `server_name: ${this.name}`,
      `listen: 127.0.0.1:${this.port}`,
      `jetstream { store_dir: "${path.join(this.storeDir, this.name)}" }`,
    ];
    if (this.opts.maxPayload !== undefined) lines.push(`max_payload: ${this.opts.maxPayload}`);
    const t = this.opts.tls;
    if (t !== undefined) {
      const verify = t.ca === undefined ? '' : `, ca_file: ${JSON.stringify(t.ca)}, verify: true`;
      lines.push(`tls { cert_file: ${JSON.stringify(t.cert)}, key_file: ${JSON.stringify(t.key)}${verify} }`);
    }
    const a = this.opts.auth;
    if (a !== undefined)
      lines.push(`authorization { user: ${JSON.stringify(a.user)}, password: ${JSON.stringify(a.password)} }`);
    const c = this.opts.cluster;
    if (c !== undefined) {
      const routes = c.peers.map((p) => `nats-route://127.0.0.1:${p}`).join(', ');
      lines.push(`cluster { name: ${c.name}, listen: 127.0.0.1:${c.routePort}, routes: [${routes}] }`);
    }
    return lines.join('\n') + '\n';
  }

  private async launch(): Promise<void> {
    const bin = findExecutable('nats-server') ?? '/usr/bin/nats-server';
    const conf = path.join(this.storeDir, `${this.name}.conf`);
    fs.writeFileSync(conf, this.configText());
    const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (b: Buffer): void => {
      this.log = (this.log + b.toString()).slice(-8000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`nats-server exited with ${proc.exitCode}: ${this.log}`);
      if (this.log.includes('Server is ready') && (await canConnect(this.port))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nats-server did not become ready: ${this.log}`);
  }

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  logText(): string {
    return this.log;
  }

  /** Hard stop (SIGKILL): an outage. The store stays for restart(). */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    await killHard(p);
  }

  async restart(): Promise<void> {
    await this.kill();
    this.log = '';
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill();
    if (this.ownsDir) fs.rmSync(this.storeDir, { recursive: true, force: true });
  }
}

/** Three (or n) JetStream nodes joined by routes, so streams can have replicas: 3 and survive a node loss. */
export class NatsCluster {
  private constructor(
    readonly nodes: NatsServer[],
    private readonly dir: string,
  ) {}

  /** Every node's client URL, comma-separated, as `--nats` and `--southbound` take them. */
  get urls(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  static async start(n = 3, opts: Omit<NatsNodeOptions, 'cluster'> = {}): Promise<NatsCluster> {
    const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const dir = fs.mkdtempSync(path.join(base, `alcor-natsc-${process.env.ALCOR_SANDBOX_TAG ?? ''}-`));
    const routes: number[] = [];
    for (let i = 0; i < n; i++) routes.push(await freePort());
    const cluster = new NatsCluster([], dir);
    try {
      // JetStream in a cluster waits for a meta leader, so all nodes start before any is awaited ready.
      const starting = routes.map((routePort, i) =>
        NatsServer.start(
          { ...opts, cluster: { name: 'alcor', routePort, peers: routes.filter((p) => p !== routePort) } },
          `n${i + 1}`,
          dir,
        ),
      );
      const settled = await Promise.allSettled(starting);
      for (const s of settled) if (s.status === 'fulfilled') cluster.nodes.push(s.value);
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
      await cluster.waitForMetaLeader();
    } catch (err: unknown) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** JetStream answers nothing in a cluster until its nodes elected a metadata leader. */
  async waitForMetaLeader(timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.nodes.some((n) => /new JetStream cluster metadata leader|new metadata leader/i.test(n.logText())))
        return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no JetStream metadata leader: ${this.nodes.map((n) => n.logText()).join('\n')}`);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
