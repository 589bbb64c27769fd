// OVN sandbox for the OVN baseline (alcor-bench ovn) and its test: the NB and SB ovsdb-servers, ovn-northd and,
// for the one local hypervisor (chassis `hv1`), ovn-controller on a private OVS, all inside the OVS sandbox's
// network namespace and over unix sockets only. Remote hypervisors are fake: Chassis + Encap rows in the SB
// (test/ovn/db.ts), whose ports the harness binds itself.
//
//   const ovn = await OvnSandbox.start({ name: 'ovn1' });
//   await ovn.startController();
//   ... ovn.nb / ovn.sb (OvsdbClient), ovn.flowCount() ...
//   await ovn.stop();
//
// Names: everything lives in the OVS sandbox `<name>` (test/sandbox: netns `alc-<key>-ovs`, dir
// /tmp/alcor-sandbox/<key>, key = `<ALCOR_SANDBOX_TAG>.<name>`), OVN's files in its `ovn/` subdirectory. The
// start sequence is the one in shared/reference/ovn-baseline.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OvsSandbox, SANDBOX_ROOT, SandboxError, sandboxKey } from '../sandbox';
import { check } from '../sandbox/exec';
import { daemonPid, isDaemonAlive, sleep } from '../sandbox/pids';
import { NB_DB, SB_DB, connectDb, initGlobal, type OvsdbClient } from './db';

const NB_SCHEMA = '/usr/share/ovn/ovn-nb.ovsschema';
const SB_SCHEMA = '/usr/share/ovn/ovn-sb.ovsschema';
/** Daemons by pidfile stem, with the process name /proc shows for them (comm, cut to 15 chars). */
const OVN_DAEMONS = {
  ovnnb_db: 'ovsdb-server',
  ovnsb_db: 'ovsdb-server',
  'ovn-northd': 'ovn-northd',
  'ovn-controller': 'ovn-controller',
} as const;
type OvnDaemon = keyof typeof OVN_DAEMONS;
/** The local hypervisor's chassis name and tunnel endpoint (TEST-NET-1, never routed anywhere). */
export const LOCAL_CHASSIS = { name: 'hv1', ip: '192.0.2.1' } as const;
const EXIT_WAIT_MS = 5000;

export interface OvnSandboxOptions {
  /** Sandbox name as for OvsSandbox ([a-z0-9_], at most 12 chars). */
  readonly name: string;
}

export class OvnSandbox {
  private stopped = false;

  private constructor(
    readonly ovs: OvsSandbox,
    /** Connected to the NB / SB ovsdb-servers. */
    readonly nb: OvsdbClient,
    readonly sb: OvsdbClient,
  ) {}

  get dir(): string {
    return ovnDir(this.ovs.key);
  }

  get nbSocket(): string {
    return path.join(this.dir, 'ovnnb_db.sock');
  }

  get sbSocket(): string {
    return path.join(this.dir, 'ovnsb_db.sock');
  }

  static async start(opts: OvnSandboxOptions): Promise<OvnSandbox> {
    // A crashed earlier run of this name may have left OVN daemons; OvsSandbox.start removes the directory
    // that names them, so they go first (only if the owner is gone: a live owner makes OvsSandbox.start refuse).
    const key = sandboxKey(opts.name);
    if (!ownerAlive(key)) await killOvnDaemons(ovnDir(key));
    const ovs = await OvsSandbox.start({ name: opts.name });
    const dir = ovnDir(ovs.key);
    let nb: OvsdbClient | undefined;
    let sb: OvsdbClient | undefined;
    try {
      fs.mkdirSync(dir, { recursive: true });
      for (const [db, schema] of [
        ['ovnnb_db', NB_SCHEMA],
        ['ovnsb_db', SB_SCHEMA],
      ] as const) {
        const file = path.join(dir, `${db}.db`);
        await check('ovsdb-tool', ['create', file, schema]);
        await startDaemon(ovs, db, [
          'ovsdb-server',
          file,
          `--remote=punix:${path.join(dir, `${db}.sock`)}`,
          `--unixctl=${path.join(dir, `${db}.ctl`)}`,
        ]);
      }
      nb = await connectDb(path.join(dir, 'ovnnb_db.sock'));
      sb = await connectDb(path.join(dir, 'ovnsb_db.sock'));
      await initGlobal(nb, NB_DB);
      await initGlobal(sb, SB_DB);
      await startDaemon(ovs, 'ovn-northd', [
        'ovn-northd',
        `--ovnnb-db=unix:${path.join(dir, 'ovnnb_db.sock')}`,
        `--ovnsb-db=unix:${path.join(dir, 'ovnsb_db.sock')}`,
      ]);
      await ovs.vsctl([
        'set',
        'open_vswitch',
        '.',
        `external_ids:system-id=${LOCAL_CHASSIS.name}`,
        `external_ids:ovn-remote=unix:${path.join(dir, 'ovnsb_db.sock')}`,
        'external_ids:ovn-encap-type=geneve',
        `external_ids:ovn-encap-ip=${LOCAL_CHASSIS.ip}`,
        'external_ids:ovn-bridge-datapath-type=netdev',
      ]);
      return new OvnSandbox(ovs, nb, sb);
    } catch (err: unknown) {
      nb?.close();
      sb?.close();
      await killOvnDaemons(dir);
      await ovs.stop();
      throw err;
    }
  }

  /** Starts ovn-controller for hv1 against this sandbox's OVS; it connects to the SB and programs br-int. */
  async startController(): Promise<number> {
    await startDaemon(this.ovs, 'ovn-controller', ['ovn-controller', `unix:${path.join(this.ovs.rundir, 'db.sock')}`]);
    const pid = ovnDaemonPid(this.dir, 'ovn-controller');
    if (pid === null) throw new SandboxError('OVN_NO_CONTROLLER', 'ovn-controller did not stay up');
    return pid;
  }

  /**
   * Stops ovn-controller and waits until it is gone. It can be stuck for minutes inside one change handler,
   * where it does not look at signals, so it is SIGKILLed after a short grace (or at once with `kill`): the flows
   * it installed stay on br-int, as after a crash.
   */
  async stopController(opts: { readonly kill?: boolean } = {}): Promise<void> {
    await stopDaemon(this.dir, 'ovn-controller', opts.kill === true ? 0 : EXIT_WAIT_MS);
  }

  /**
   * Points hv1 at the SB, or away from it (a socket that does not exist): ovn-controller then stays up with its
   * flows but sees no SB changes, and on reconnecting it recomputes everything from the full contents.
   */
  async setSbConnected(connected: boolean): Promise<void> {
    const remote = connected ? this.sbSocket : path.join(this.dir, 'no-sb.sock');
    await this.ovs.vsctl(['set', 'open_vswitch', '.', `external_ids:ovn-remote=unix:${remote}`]);
  }

  /** ovn-controller's own view of its SB connection (`connection-status`): true when connected. */
  async controllerConnected(): Promise<boolean> {
    const r = await check('ovn-appctl', ['-t', 'ovn-controller', 'connection-status'], { env: ovnEnv(this.dir) });
    return r.stdout.trim() === 'connected';
  }

  /** The live pid of an OVN daemon of this sandbox, or null. */
  pid(daemon: OvnDaemon): number | null {
    return ovnDaemonPid(this.dir, daemon);
  }

  /** Every live daemon of this sandbox, OVS's included (to check that stop() leaves none). */
  pids(): number[] {
    const ovn = (Object.keys(OVN_DAEMONS) as OvnDaemon[]).map((d) => ovnDaemonPid(this.dir, d));
    const ovs = (['ovsdb-server', 'ovs-vswitchd'] as const).map((d) => daemonPid(this.ovs.rundir, d, d));
    return [...ovn, ...ovs].filter((p): p is number => p !== null);
  }

  /** All flows on br-int (OVN tags them with logical-flow cookies; the count is what matters). */
  async flowCount(): Promise<number> {
    const r = await this.ovs.ofctl(['-O', 'OpenFlow15', 'dump-aggregate', 'br-int']);
    const m = /flow_count=(\d+)/.exec(r.stdout);
    if (m === null) throw new SandboxError('OVN_NO_FLOW_COUNT', `dump-aggregate said: ${r.stdout.trim()}`);
    return Number(m[1]);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.nb.close();
    this.sb.close();
    await killOvnDaemons(this.dir);
    await this.ovs.stop();
  }
}

/** Tunnel types a real chassis can use here (both have userspace push/pop in the netdev datapath). */
export type EncapType = 'geneve' | 'vxlan';

/**
 * Makes an underlay OVS sandbox (one host of a multi-host run) a real OVN hypervisor: chassis `chassis`, tunnel
 * endpoint = the sandbox's underlay IP, its own ovn-controller against a central SB reached over its unix socket
 * (unix sockets cross network namespaces). The pidfile goes in the sandbox's `ovn/` dir, where the OVS sandbox's
 * teardown (also of a crashed run's leftovers) finds and stops it. Returns the controller's pid.
 */
export async function startHypervisor(
  ovs: OvsSandbox,
  sbSocket: string,
  chassis: string,
  encap: EncapType,
): Promise<number> {
  const ip = ovs.tunnelIp;
  if (ip === null) throw new SandboxError('OVN_NO_UNDERLAY', `sandbox ${ovs.name} has no underlay for tunnels`);
  fs.mkdirSync(ovnDir(ovs.key), { recursive: true });
  await ovs.vsctl([
    'set',
    'open_vswitch',
    '.',
    `external_ids:system-id=${chassis}`,
    `external_ids:ovn-remote=unix:${sbSocket}`,
    `external_ids:ovn-encap-type=${encap}`,
    `external_ids:ovn-encap-ip=${ip}`,
    'external_ids:ovn-bridge-datapath-type=netdev',
  ]);
  await startDaemon(ovs, 'ovn-controller', ['ovn-controller', `unix:${path.join(ovs.rundir, 'db.sock')}`]);
  const pid = ovnDaemonPid(ovnDir(ovs.key), 'ovn-controller');
  if (pid === null) throw new SandboxError('OVN_NO_CONTROLLER', `ovn-controller of ${chassis} did not stay up`);
  return pid;
}

/** Stops a hypervisor's ovn-controller (startHypervisor) and waits until it is gone. */
export async function stopHypervisor(ovs: OvsSandbox): Promise<void> {
  await stopDaemon(ovnDir(ovs.key), 'ovn-controller', EXIT_WAIT_MS);
}

/** Peak resident set (VmHWM) of a live process in MiB, or null when it is gone. */
export function peakRssMB(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Math.round((Number(m[1]) / 1024) * 10) / 10;
  } catch {
    return null;
  }
}

function ovnDir(key: string): string {
  return path.join(SANDBOX_ROOT, key, 'ovn');
}

function ovnEnv(dir: string): Record<string, string> {
  return { OVN_RUNDIR: dir, OVN_DBDIR: dir, OVN_LOGDIR: dir, OVN_SYSCONFDIR: dir };
}

/** Runs a daemon detached inside the sandbox namespace, with its pidfile and log in the OVN dir. */
async function startDaemon(ovs: OvsSandbox, stem: OvnDaemon, argv: readonly string[]): Promise<void> {
  const dir = ovnDir(ovs.key);
  await check(
    'ip',
    [
      'netns',
      'exec',
      ovs.netns,
      ...argv,
      `--pidfile=${path.join(dir, `${stem}.pid`)}`,
      '--detach',
      `--log-file=${path.join(dir, `${stem}.log`)}`,
      '-vconsole:off',
    ],
    { env: { ...ovs.env, ...ovnEnv(dir) } },
  );
}

/** True if the sandbox dir's owner (test/sandbox's `owner` file) is a live process other than a stale pid. */
function ownerAlive(key: string): boolean {
  let owner: string;
  try {
    owner = fs.readFileSync(path.join(SANDBOX_ROOT, key, 'owner'), 'utf8').trim();
  } catch {
    return false;
  }
  if (owner === 'persistent') return true;
  const pid = Number(owner);
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

function ovnDaemonPid(dir: string, daemon: OvnDaemon): number | null {
  return daemonPid(dir, daemon, OVN_DAEMONS[daemon]);
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
async function stopDaemon(dir: string, daemon: OvnDaemon, graceMs: number): Promise<void> {
  const pid = ovnDaemonPid(dir, daemon);
  if (pid === null) return;
  const comm = OVN_DAEMONS[daemon];
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  signal(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
  const deadline = Date.now() + graceMs;
  let killed = graceMs === 0;
  for (;;) {
    if (!isDaemonAlive(pid, comm)) return;
    if (!killed && Date.now() > deadline) {
      signal('SIGKILL');
      killed = true;
    }
    if (Date.now() > deadline + EXIT_WAIT_MS) {
      throw new SandboxError('SANDBOX_DAEMON_STUCK', `${daemon} pid ${pid} survived SIGKILL`);
    }
    await sleep(20);
  }
}

/** Stops every OVN daemon named by a pidfile in dir (controller first: it would otherwise log the others going). */
async function killOvnDaemons(dir: string): Promise<void> {
  const order: OvnDaemon[] = ['ovn-controller', 'ovn-northd', 'ovnsb_db', 'ovnnb_db'];
  await Promise.all(order.map((d) => stopDaemon(dir, d, 2000)));
}
