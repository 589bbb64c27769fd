// OVS sandbox for integration tests, benchmarks and the demo: a private ovsdb-server + ovs-vswitchd (userspace
// `netdev` datapath, the only one this kernel has) running inside its own network namespace, plus "VMs" that are
// network namespaces wired to br-int with veth pairs. Nothing is created in the root network namespace, so
// sandboxes with different names never collide and never touch the host's network.
//
//   const sb = await OvsSandbox.start({ name: 'cf1' });
//   const vm = await sb.addVm({ name: 'vm1', mac: '02:00:00:00:00:01', ip: '10.200.0.1/24', ofport: 1 });
//   await vm.exec(['ping', '-c1', '-W1', '10.200.0.2']);
//   await sb.stop();
//
// Names: OVS runs in netns `alc-<name>-ovs` with OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR = /tmp/alcor-sandbox/<name>;
// VM `vm1` is netns `alc-<name>-vm1`. With ALCOR_SANDBOX_TAG=t set (e.g. by a CI run on a shared machine), <name>
// becomes `t.<name>` in all of these, so two test runs of the same files cannot collide.
//
// Ownership: the sandbox dir holds `owner` (pid of the process that started it, or `persistent` for the CLI).
// start() refuses a name whose owner is still alive (SANDBOX_IN_USE) instead of killing someone else's sandbox;
// cleanupStale() only removes sandboxes whose owner is gone.
//
// Multi-host: each sandbox plays one hypervisor. With `underlay: { ip: '192.0.2.1/24' }` it also gets a `br-phy`
// netdev bridge whose LOCAL port holds the underlay IP; `peer` joins it with a veth to another running sandbox's
// br-phy. br-phy never forwards from one link to another, so every pair of hosts that talk needs its own link: pass
// every earlier sandbox as `peer` (a full mesh). OVS userspace tunnelling (docs.openvswitch.org, howto/userspace-tunneling) routes tunnel packets by the
// routes of the namespace ovs-vswitchd runs in (`ovs-appctl ovs/route/show`) and resolves the next hop through its
// own neighbour cache (`tnl/neigh/show`), which we pre-seed so the first tunnelled packet is not lost to ARP.
// 192.0.2.0/24 is TEST-NET-1 and only ever exists inside our namespaces.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { check, run, SandboxError, type ExecOptions, type ExecResult } from './exec';

export { SandboxError, type ExecResult } from './exec';
import { daemonPid, isDaemonAlive, sleep, waitPidGone } from './pids';
export { tcpSend } from './traffic';

export const SANDBOX_ROOT = '/tmp/alcor-sandbox';
export const NETNS_PREFIX = 'alc-';
const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
const ALL_OF_VERSIONS = 'OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15';
const DAEMONS = ['ovs-vswitchd', 'ovsdb-server'] as const;
// The OVN harness (test/ovn) runs its daemons in a sandbox's namespace with pidfiles in <dir>/ovn: a teardown
// (also of a crashed run's leftovers) stops them with OVS's. Pidfile stem -> process name.
const OVN_DAEMONS: readonly (readonly [string, string])[] = [
  ['ovn/ovn-controller', 'ovn-controller'],
  ['ovn/ovn-northd', 'ovn-northd'],
  ['ovn/ovnsb_db', 'ovsdb-server'],
  ['ovn/ovnnb_db', 'ovsdb-server'],
];
// How long an ovs-vswitchd told to exit may take to be gone (it usually takes tens of ms; a loaded CI machine more).
const VSWITCHD_EXIT_TIMEOUT_MS = 15000;
// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
const IFNAME_MAX = 15;
// Sandbox names end up in `ul-<name>` underlay veth names, VM names in `v-<vm>` and netns names.
const NAME_RE = /^[a-z0-9][a-z0-9_]{0,11}$/;
const TAG_RE = /^[a-z0-9]{1,8}$/;
const OWNER_FILE = 'owner';
const PERSISTENT_OWNER = 'persistent';

export interface UnderlayOptions {
  /** This host's underlay address with prefix, e.g. '192.0.2.1/24' (TEST-NET-1). */
  readonly ip: string;
  /** Already-running sandbox(es) with an underlay to connect to with a veth. */
  readonly peer?: string | readonly string[];
}

export interface SandboxOptions {
  /** [a-z0-9_], at most 12 chars; unique per test file so parallel runs don't collide. */
  readonly name: string;
  readonly underlay?: UnderlayOptions;
  /** Explicit datapath id for br-int (16 hex digits); OVS derives one from a MAC otherwise. */
  readonly datapathId?: string;
  /** Keep it when the starting process exits (the CLI's `up`): cleanupStale() then leaves it alone. */
  readonly persistent?: boolean;
}

export interface VmOptions {
  readonly name: string;
  readonly mac: string;
  /** Address with prefix length, e.g. '10.200.0.1/24'. */
  readonly ip: string;
  /** ofport_request for the OVS side; OVS picks one when omitted. */
  readonly ofport?: number;
  readonly gateway?: string;
  /** OVS-side interface name (e.g. 'tap' + 11 chars of a port id); default `v-<name>` cut to 15 chars. */
  readonly iface?: string;
  /** Written to external_ids:iface-id, as Nova/Alcor do for a port. */
  readonly portId?: string;
  readonly mtu?: number;
  readonly bridge?: string;
}

export interface TunnelPortOptions {
  readonly name?: string;
  readonly ofport?: number;
  readonly bridge?: string;
  readonly type?: 'vxlan' | 'geneve' | 'gre';
}

/** A VM: a network namespace whose eth0 is a veth into br-int. */
export class Vm {
  constructor(
    readonly name: string,
    readonly netns: string,
    /** OVS-side interface (and port) name. */
    readonly iface: string,
    readonly mac: string,
    /** Address with prefix, as given. */
    readonly cidr: string,
    /** The ofport OVS assigned. */
    readonly ofport: number,
  ) {}

  /** Address without the prefix length. */
  get ip(): string {
    return this.cidr.split('/')[0] ?? this.cidr;
  }

  /** Runs a command inside the VM's namespace; never throws for a non-zero exit. */
  exec(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.netns, ...args], opts);
  }
}

export class OvsSandbox {
  private readonly vms = new Map<string, Vm>();
  private stopped = false;
  private underlayIp: string | null = null;

  /** The name plus the ALCOR_SANDBOX_TAG prefix, as used in netns and directory names. */
  readonly key: string;

  private constructor(readonly name: string) {
    this.key = sandboxKey(name);
  }

  /** Directory holding db.sock, <bridge>.mgmt, pidfiles, conf.db and logs. */
  get rundir(): string {
    return sandboxDir(this.key);
  }

  /** Network namespace the OVS daemons (and br-phy, underlay and VM-facing veth ends) live in. */
  get netns(): string {
    return ovsNetns(this.key);
  }

  /** Underlay address without prefix (tunnel endpoint), or null when started without an underlay. */
  get tunnelIp(): string | null {
    return this.underlayIp === null ? null : (this.underlayIp.split('/')[0] ?? null);
  }

  /** Environment that points the OVS tools at this instance. */
  get env(): Readonly<Record<string, string>> {
    return ovsEnv(this.key);
  }

  mgmtSocket(bridge = 'br-int'): string {
    return path.join(this.rundir, `${bridge}.mgmt`);
  }

  static async start(opts: SandboxOptions): Promise<OvsSandbox> {
    assertName(opts.name, 'sandbox');
    if (opts.datapathId !== undefined && !/^[0-9a-f]{16}$/i.test(opts.datapathId)) {
      throw new SandboxError('SANDBOX_BAD_OPTION', `datapathId must be 16 hex digits, got '${opts.datapathId}'`);
    }
    const sb = new OvsSandbox(opts.name);
    const owner = ownerOf(sb.key);
    if (owner !== null && owner !== String(process.pid) && ownerAlive(owner)) {
      throw new SandboxError(
        'SANDBOX_IN_USE',
        `sandbox ${sb.key} belongs to live owner ${owner}; stop it (sandbox-cli down ${opts.name}) or use another name or ALCOR_SANDBOX_TAG`,
      );
    }
    live.add(sb);
    installSignalTeardown();
    // Leftovers of this very name (a crashed earlier run) would make every step below fail.
    await teardown(sb.key);
    fs.mkdirSync(sb.rundir, { recursive: true });
    fs.writeFileSync(
      path.join(sb.rundir, OWNER_FILE),
      opts.persistent === true ? PERSISTENT_OWNER : String(process.pid),
    );
    try {
      await sb.boot(opts);
    } catch (err: unknown) {
      await sb.stop();
      throw err;
    }
    return sb;
  }

  /**
   * Starts ovs-vswitchd in the sandbox's namespace (at boot, and again after a test stopped it). An earlier
   * ovs-vswitchd that was told to exit may still be shutting down and holding its pidfile ("already running as
   * pid N"), so this first waits for it to be gone.
   */
  async startVswitchd(): Promise<void> {
    const dir = this.rundir;
    await waitDaemonGone(dir, 'ovs-vswitchd', VSWITCHD_EXIT_TIMEOUT_MS);
    await check(
      'ip',
      [
        'netns',
        'exec',
        this.netns,
        'ovs-vswitchd',
        `unix:${path.join(dir, 'db.sock')}`,
        `--pidfile=${path.join(dir, 'ovs-vswitchd.pid')}`,
        '--detach',
        `--log-file=${path.join(dir, 'ovs-vswitchd.log')}`,
        '-vconsole:off',
      ],
      { env: this.env },
    );
  }

  /**
   * Stops ovs-vswitchd (`ovs-appctl exit`, as an operator would) and returns once the process is gone: the
   * appctl reply comes before the daemon has finished exiting.
   */
  async stopVswitchd(): Promise<void> {
    const pid = daemonPid(this.rundir, 'ovs-vswitchd');
    await this.appctl(['-t', 'ovs-vswitchd', 'exit']);
    if (pid !== null) await waitPidGone(pid, 'ovs-vswitchd', VSWITCHD_EXIT_TIMEOUT_MS);
  }

  private async boot(opts: SandboxOptions): Promise<void> {
    const dir = this.rundir;
    await check('ip', ['netns', 'add', this.netns]);
    await check('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    const env = this.env;
    const db = path.join(dir, 'conf.db');
    await check('ovsdb-tool', ['create', db, OVS_SCHEMA], { env });
    // The daemons are started exactly as platform.md measured: --pidfile --detach --log-file, inside the netns.
    await check(
      'ip',
      [
        'netns',
        'exec',
        this.netns,
        'ovsdb-server',
        db,
        `--remote=punix:${path.join(dir, 'db.sock')}`,
        '--remote=db:Open_vSwitch,Open_vSwitch,manager_options',
        `--pidfile=${path.join(dir, 'ovsdb-server.pid')}`,
        '--detach',
        `--log-file=${path.join(dir, 'ovsdb-server.log')}`,
        '-vconsole:off',
      ],
      { env },
    );
    await check('ovs-vsctl', ['--no-wait', 'init'], { env });
    await this.startVswitchd();
    const brInt = [
      'add-br',
      'br-int',
      '--',
      'set',
      'bridge',
      'br-int',
      'datapath_type=netdev',
      'fail-mode=secure',
      `protocols=${ALL_OF_VERSIONS}`,
    ];
    if (opts.datapathId !== undefined) brInt.push(`other-config:datapath-id=${opts.datapathId.toLowerCase()}`);
    await this.vsctl(brInt);
    if (opts.underlay !== undefined) {
      await this.addUnderlay(opts.underlay.ip);
      const peers = opts.underlay.peer === undefined ? [] : [opts.underlay.peer].flat();
      for (const peer of peers) await this.connectUnderlay(peer);
    }
  }

  /**
   * Creates br-phy (netdev) and puts the underlay IP on its LOCAL port. Its flows are split horizon: a frame from
   * an underlay link goes only to LOCAL (and teaches table 1 where its source lives), a frame from LOCAL goes to
   * the learned link or floods the links. Hosts are joined as a full mesh, each pair by its own link, as hosts on
   * one ToR switch see each other; with NORMAL, three such bridges form a loop that storms on the first broadcast.
   */
  private async addUnderlay(cidr: string): Promise<void> {
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr)) {
      throw new SandboxError('SANDBOX_BAD_OPTION', `underlay ip must look like 192.0.2.1/24, got '${cidr}'`);
    }
    await this.vsctl(['add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev']);
    await check('ovs-ofctl', ['del-flows', 'br-phy'], { env: this.env });
    await check('ovs-ofctl', ['add-flows', 'br-phy', '-'], {
      env: this.env,
      input: [
        'table=0,priority=10,in_port=LOCAL,actions=resubmit(,1)',
        'table=0,priority=5,actions=learn(table=1,priority=10,idle_timeout=600,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],' +
          'output:NXM_OF_IN_PORT[]),LOCAL',
        'table=1,priority=0,actions=FLOOD',
        '',
      ].join('\n'),
    });
    await check('ip', ['-n', this.netns, 'addr', 'add', cidr, 'dev', 'br-phy']);
    await check('ip', ['-n', this.netns, 'link', 'set', 'br-phy', 'up']);
    this.underlayIp = cidr;
  }

  /**
   * Joins this sandbox's br-phy to a running peer sandbox's br-phy with a veth `ul-<peer>` <-> `ul-<this>`
   * (created directly inside the two OVS namespaces) and pre-seeds both tunnel neighbour caches.
   */
  async connectUnderlay(peer: string): Promise<void> {
    assertName(peer, 'peer sandbox');
    if (this.underlayIp === null) {
      throw new SandboxError('SANDBOX_NO_UNDERLAY', `sandbox ${this.name} was started without an underlay`);
    }
    const peerKey = sandboxKey(peer);
    const peerNs = ovsNetns(peerKey);
    const peerIp = await underlayAddress(peerNs);
    if (peerIp === null) {
      throw new SandboxError('SANDBOX_PEER_NO_UNDERLAY', `peer sandbox ${peer} is not running with an underlay`);
    }
    const mine = `ul-${peer}`;
    const theirs = `ul-${this.name}`;
    await check('ip', ['-n', this.netns, 'link', 'add', mine, 'type', 'veth', 'peer', 'name', theirs, 'netns', peerNs]);
    for (const [ns, dev, env] of [
      [this.netns, mine, this.env],
      [peerNs, theirs, ovsEnv(peerKey)],
    ] as const) {
      await check('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      await check('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off']);
      await check('ovs-vsctl', ['add-port', 'br-phy', dev], { env });
    }
    const myMac = await linkMac(this.netns, 'br-phy');
    const peerMac = await linkMac(peerNs, 'br-phy');
    const myIp = this.tunnelIp ?? '';
    await check('ovs-appctl', ['tnl/neigh/set', 'br-phy', peerIp, peerMac], { env: this.env });
    await check('ovs-appctl', ['tnl/neigh/set', 'br-phy', myIp, myMac], { env: ovsEnv(peerKey) });
  }

  /** Runs ovs-vsctl against this instance (throws SandboxError on failure). */
  vsctl(args: readonly string[]): Promise<ExecResult> {
    return check('ovs-vsctl', ['--timeout=20', ...args], { env: this.env });
  }

  /** Runs ovs-ofctl against this instance, with `-O OpenFlow14` unless args choose a version. */
  ofctl(
    args: readonly string[],
    opts: { readonly input?: string; readonly timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    const versioned = args.some((a) => a === '-O' || a.startsWith('--protocols') || a.startsWith('-O'));
    return check('ovs-ofctl', versioned ? args : ['-O', 'OpenFlow14', ...args], {
      env: this.env,
      input: opts.input,
      timeoutMs: opts.timeoutMs,
    });
  }

  /** Runs ovs-appctl against this instance's ovs-vswitchd (e.g. ['ofproto/trace', ...]). */
  appctl(args: readonly string[]): Promise<ExecResult> {
    return check('ovs-appctl', args, { env: this.env });
  }

  /** Runs a command inside the OVS namespace; never throws for a non-zero exit. */
  exec(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.netns, ...args], opts);
  }

  async addVm(opts: VmOptions): Promise<Vm> {
    assertName(opts.name, 'VM');
    if (opts.name === 'ovs') throw new SandboxError('SANDBOX_BAD_OPTION', "a VM may not be named 'ovs'");
    if (this.vms.has(opts.name)) throw new SandboxError('SANDBOX_DUPLICATE', `VM ${opts.name} already exists`);
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(opts.mac)) {
      throw new SandboxError('SANDBOX_BAD_OPTION', `bad MAC '${opts.mac}'`);
    }
    const iface = opts.iface ?? `v-${opts.name}`.slice(0, IFNAME_MAX);
    if (iface.length > IFNAME_MAX || !/^[A-Za-z0-9_.-]+$/.test(iface)) {
      throw new SandboxError('SANDBOX_BAD_OPTION', `bad interface name '${iface}' (at most ${IFNAME_MAX} chars)`);
    }
    const vmNs = `${NETNS_PREFIX}${this.key}-${opts.name}`;
    const bridge = opts.bridge ?? 'br-int';
    await check('ip', ['netns', 'add', vmNs]);
    // Both ends are created directly in their namespaces: no name can clash with the root namespace or other sandboxes.
    await check('ip', ['-n', this.netns, 'link', 'add', iface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vmNs]);
    const inVm = (args: readonly string[]): Promise<ExecResult> => check('ip', ['-n', vmNs, ...args]);
    await inVm(['link', 'set', 'lo', 'up']);
    await inVm(['link', 'set', 'eth0', 'address', opts.mac]);
    if (opts.mtu !== undefined) {
      await inVm(['link', 'set', 'eth0', 'mtu', String(opts.mtu)]);
    }
    await inVm(['addr', 'add', opts.ip, 'dev', 'eth0']);
    await inVm(['link', 'set', 'eth0', 'up']);
    if (opts.gateway !== undefined) await inVm(['route', 'add', 'default', 'via', opts.gateway]);
    // REQUIRED: OVS netdev forwards frames with partial checksums, so TCP/UDP breaks with tx offload on.
    await check('ip', ['netns', 'exec', vmNs, 'ethtool', '-K', 'eth0', 'tx', 'off']);
    await check('ip', ['-n', this.netns, 'link', 'set', iface, 'up']);
    const settings = [];
    if (opts.ofport !== undefined) settings.push(`ofport_request=${opts.ofport}`);
    if (opts.portId !== undefined) settings.push(`external_ids:iface-id=${opts.portId}`);
    const extra = settings.length ? ['--', 'set', 'interface', iface, ...settings] : [];
    await this.vsctl(['add-port', bridge, iface, ...extra]);
    const ofport = Number((await this.vsctl(['get', 'interface', iface, 'ofport'])).stdout.trim());
    if (!Number.isInteger(ofport) || ofport <= 0) {
      throw new SandboxError('SANDBOX_NO_OFPORT', `OVS gave ${iface} no ofport (got ${ofport})`);
    }
    const vm = new Vm(opts.name, vmNs, iface, opts.mac.toLowerCase(), opts.ip, ofport);
    this.vms.set(opts.name, vm);
    return vm;
  }

  vm(name: string): Vm {
    const vm = this.vms.get(name);
    if (vm === undefined) throw new SandboxError('SANDBOX_NO_VM', `no VM ${name} in sandbox ${this.name}`);
    return vm;
  }

  /**
   * Adds ONE flow-based tunnel port (`options:remote_ip=flow options:key=flow`): flows choose the remote endpoint
   * and VNI with set_field:...->tun_dst / tun_id, and match them on receive. Returns the ofport.
   */
  async addTunnelPort(opts: TunnelPortOptions = {}): Promise<number> {
    const name = opts.name ?? 'vxlan0';
    const ofport = opts.ofport ?? 100;
    await this.vsctl([
      'add-port',
      opts.bridge ?? 'br-int',
      name,
      '--',
      'set',
      'interface',
      name,
      `type=${opts.type ?? 'vxlan'}`,
      'options:remote_ip=flow',
      'options:key=flow',
      `ofport_request=${ofport}`,
    ]);
    const got = Number((await this.vsctl(['get', 'interface', name, 'ofport'])).stdout.trim());
    if (got !== ofport)
      throw new SandboxError('SANDBOX_NO_OFPORT', `tunnel port ${name} got ofport ${got}, not ${ofport}`);
    return got;
  }

  /** Tears down everything this sandbox name owns; safe to call twice and after a failed start. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    this.vms.clear();
    await teardown(this.key);
  }
}

// Sandboxes of this process that are not stopped yet: a test run interrupted by SIGINT/SIGTERM (Ctrl-C, the
// runner's own interrupt) still tears them down instead of leaving namespaces and daemons behind.
const live = new Set<OvsSandbox>();
let signalTeardownInstalled = false;

function installSignalTeardown(): void {
  if (signalTeardownInstalled) return;
  signalTeardownInstalled = true;
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(sig, () => {
      void Promise.allSettled([...live].map((sb) => sb.stop())).then(() => process.exit(code));
    });
  }
}

function assertName(name: string, what: string): void {
  if (!NAME_RE.test(name)) {
    throw new SandboxError(
      'SANDBOX_BAD_NAME',
      `${what} name '${name}' must match ${NAME_RE} (it becomes part of netns and interface names)`,
    );
  }
}

/** `name`, or `<tag>.<name>` under ALCOR_SANDBOX_TAG. Keys never contain '-', so `alc-<key>-` prefixes are unique. */
export function sandboxKey(name: string): string {
  const tag = process.env.ALCOR_SANDBOX_TAG ?? '';
  if (tag === '') return name;
  if (!TAG_RE.test(tag)) throw new SandboxError('SANDBOX_BAD_NAME', `ALCOR_SANDBOX_TAG must match ${TAG_RE}`);
  return `${tag}.${name}`;
}

function sandboxDir(key: string): string {
  return path.join(SANDBOX_ROOT, key);
}

function ovsNetns(key: string): string {
  return `${NETNS_PREFIX}${key}-ovs`;
}

function ownerOf(key: string): string | null {
  try {
    return fs.readFileSync(path.join(sandboxDir(key), OWNER_FILE), 'utf8').trim();
  } catch {
    return null;
  }
}

/** True for the CLI's persistent sandboxes and for a pid that still runs. */
function ownerAlive(owner: string): boolean {
  if (owner === PERSISTENT_OWNER) return true;
  const pid = Number(owner);
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    // EPERM: it exists but belongs to someone else.
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

function ovsEnv(key: string): Record<string, string> {
  const dir = sandboxDir(key);
  return { OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir };
}

async function underlayAddress(netns: string): Promise<string | null> {
  const res = await run('ip', ['-n', netns, '-4', '-o', 'addr', 'show', 'dev', 'br-phy']);
  if (res.code !== 0) return null;
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(res.stdout);
  return m?.[1] ?? null;
}

async function linkMac(netns: string, dev: string): Promise<string> {
  const res = await check('ip', ['-n', netns, '-o', 'link', 'show', 'dev', dev]);
  const m = /link\/ether ([0-9a-f:]{17})/.exec(res.stdout);
  if (m?.[1] === undefined) throw new SandboxError('SANDBOX_NO_MAC', `no MAC on ${dev} in ${netns}`);
  return m[1];
}

/** All network namespaces whose name starts with prefix. */
async function listNetns(prefix: string): Promise<string[]> {
  const res = await run('ip', ['netns', 'list']);
  if (res.code !== 0) return [];
  return res.stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((ns) => ns.startsWith(prefix));
}

/** Waits until no live process holds `<daemon>.pid` in dir. */
async function waitDaemonGone(dir: string, daemon: string, timeoutMs: number): Promise<void> {
  const pid = daemonPid(dir, daemon);
  if (pid !== null) await waitPidGone(pid, daemon, timeoutMs);
}

/** Stops the daemons named by the pidfiles in dir: SIGTERM, then SIGKILL after 2 s. Stale pidfiles are ignored. */
async function killDaemons(dir: string): Promise<void> {
  const pids: Array<{ pid: number; daemon: string }> = [];
  for (const [stem, daemon] of [...OVN_DAEMONS, ...DAEMONS.map((d) => [d, d] as const)]) {
    const pid = daemonPid(dir, stem, daemon);
    if (pid !== null) pids.push({ pid, daemon });
  }
  const signal = (sig: NodeJS.Signals): void => {
    for (const { pid } of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal('SIGTERM');
  for (let waitedMs = 0; waitedMs < 2000; waitedMs += 20) {
    if (pids.every(({ pid, daemon }) => !isDaemonAlive(pid, daemon))) return;
    await sleep(20);
  }
  signal('SIGKILL');
}

/** Removes every trace of sandbox `key`: daemons, its OVS and VM namespaces (with their veths), its directory. */
async function teardown(key: string): Promise<void> {
  const dir = sandboxDir(key);
  await killDaemons(dir);
  // VM namespaces are `alc-<key>-<vm>`; another sandbox's are `alc-<other>-...`, and keys cannot contain '-'.
  for (const ns of await listNetns(`${NETNS_PREFIX}${key}-`)) {
    await run('ip', ['netns', 'del', ns]);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes leftovers of crashed earlier runs: sandboxes under /tmp/alcor-sandbox whose owner process is gone
 * (daemons killed through their stale pidfiles, their `alc-<key>-*` namespaces deleted, dir removed). Sandboxes of
 * running processes and the CLI's persistent ones are kept. With `all` (the CLI's `down-all`) every sandbox and
 * every `alc-*` namespace goes. Only names starting with `prefix` (default `alc-`, i.e. all of ours) are considered.
 * Returns the sandbox keys and namespaces it removed.
 */
export async function cleanupStale(
  prefix: string = NETNS_PREFIX,
  opts: { readonly all?: boolean } = {},
): Promise<string[]> {
  if (!prefix.startsWith(NETNS_PREFIX)) {
    throw new SandboxError('SANDBOX_BAD_OPTION', `cleanup prefix must start with '${NETNS_PREFIX}'`);
  }
  const removed: string[] = [];
  let keys: string[] = [];
  try {
    keys = fs.readdirSync(SANDBOX_ROOT);
  } catch {
    // nothing there
  }
  for (const key of keys) {
    if (!`${NETNS_PREFIX}${key}-`.startsWith(prefix)) continue;
    const owner = ownerOf(key);
    if (opts.all !== true && owner !== null && ownerAlive(owner)) {
      continue;
    }
    await teardown(key);
    removed.push(key);
  }
  // A namespace without a sandbox dir was not made by a sandbox (the dir is created first and removed last), so
  // only an explicit `all` (the CLI's down-all) deletes such strays: they may be someone's hand-made experiment.
  if (opts.all === true) {
    for (const ns of await listNetns(prefix)) {
      await run('ip', ['netns', 'del', ns]);
      removed.push(ns);
    }
  }
  return removed;
}

/** Stops sandbox `name` (started by this or another process) by its well-known names. */
export async function stopSandbox(name: string): Promise<void> {
  assertName(name, 'sandbox');
  await teardown(sandboxKey(name));
}
