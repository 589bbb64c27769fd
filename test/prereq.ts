// Prerequisite gate for test files that need the real machine (root, OVS, namespaces, etcd, eBPF...).
//
// Usage, at the top of a test file:
//   if (requirePrereqs(['root', 'ovs', 'netns'])) {
//     test('...', async () => { ... });
//     test.run();
//   }
//
// - Everything present: returns true.
// - Something missing, outside CI: prints `SKIP <file>: missing <x> (<why>)` and returns false; the file registers
//   no tests and exits 0, and scripts/run-tests.js counts it as skipped.
// - Something missing with CI=true: CI machines are supposed to have everything (.ci/run installs it), so a missing
//   prerequisite is a broken CI machine, not a reason to skip silently. Prints `FAIL <file>: missing <x> (<why>)`
//   and exits the process with code 1, which the runner counts as a failed file.
//
// Checks are real probes where cheap: `netns` creates and deletes a namespace (and wants `ethtool`, which the
// sandbox needs); `bpf` mounts bpffs at /sys/fs/bpf when it is missing, as .ci/run does.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Prereq =
  | 'root'
  | 'ovs'
  | 'ovn'
  | 'netns'
  | 'etcd'
  | 'nats'
  | 'busybox'
  | 'arping'
  | 'tcpdump'
  | 'bpf'
  | 'clang'
  | 'openssl'
  | 'chromium';

/** Missing piece of one prerequisite, or null when it is present. */
type Check = () => string | null;

// Debian keeps OVS and iproute2 tools in sbin, which a non-login shell's PATH may lack.
const EXTRA_BIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable found on PATH (plus the sbin dirs), or null. */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this dir
    }
  }
  return null;
}

/** The headless browser: Debian names it chromium, Ubuntu's older packages chromium-browser. */
export function chromiumPath(): string | null {
  return findExecutable('chromium') ?? findExecutable('chromium-browser');
}

function missingTools(names: readonly string[], pkg: string): string | null {
  const missing = names.filter((n) => findExecutable(n) === null);
  return missing.length === 0 ? null : `${missing.join(', ')} not found; apt-get install ${pkg}`;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function bpffsMounted(): boolean {
  try {
    return fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((line) => {
        const [, mountPoint, fsType] = line.split(' ');
        return mountPoint === '/sys/fs/bpf' && fsType === 'bpf';
      });
  } catch {
    return false;
  }
}

const CHECKS: Readonly<Record<Prereq, Check>> = {
  root: () => (isRoot() ? null : 'not running as root (uid 0 is needed for namespaces, OVS and bpf)'),
  ovs: () =>
    missingTools(
      ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl'],
      'openvswitch-switch',
    ) ??
    (fs.existsSync('/usr/share/openvswitch/vswitch.ovsschema')
      ? null
      : '/usr/share/openvswitch/vswitch.ovsschema not found; apt-get install openvswitch-switch'),
  // OVN baseline (test/ovn): ovn-central brings northd and the schemas, ovn-host ovn-controller.
  ovn: () =>
    missingTools(['ovn-northd'], 'ovn-central') ??
    missingTools(['ovn-controller'], 'ovn-host') ??
    (fs.existsSync('/usr/share/ovn/ovn-nb.ovsschema') && fs.existsSync('/usr/share/ovn/ovn-sb.ovsschema')
      ? null
      : '/usr/share/ovn/ovn-{nb,sb}.ovsschema not found; apt-get install ovn-central'),
  // The sandbox also needs ethtool: TCP/UDP through the OVS netdev datapath only works with tx offload off.
  netns: () => {
    const tools = missingTools(['ip'], 'iproute2') ?? missingTools(['ethtool'], 'ethtool');
    if (tools !== null) return tools;
    if (!isRoot()) return 'creating network namespaces needs root';
    // A real probe: containers without CAP_SYS_ADMIN have `ip` but cannot create namespaces.
    const probe = `alc-prereq-${process.pid}`;
    const add = spawnSync(findExecutable('ip') ?? 'ip', ['netns', 'add', probe], { encoding: 'utf8' });
    if (add.status !== 0) return `'ip netns add' failed: ${(add.stderr || add.error?.message || '').trim()}`;
    spawnSync(findExecutable('ip') ?? 'ip', ['netns', 'del', probe]);
    return null;
  },
  etcd: () => missingTools(['etcd'], 'etcd-server'),
  nats: () => missingTools(['nats-server'], 'nats-server'),
  busybox: () => missingTools(['busybox'], 'busybox'),
  // TLS tests make their certificates with the openssl CLI.
  openssl: () => missingTools(['openssl'], 'openssl'),
  arping: () => missingTools(['arping'], 'iputils-arping'),
  // Captures on the far side of a tunnel (the ZETA gateway node).
  tcpdump: () => missingTools(['tcpdump'], 'tcpdump'),
  // The benchmark report test opens report.html in a real (headless) browser.
  chromium: () => (chromiumPath() === null ? 'chromium not found; apt-get install chromium' : null),
  bpf: () => {
    const tools = missingTools(['bpftool'], 'bpftool');
    if (tools !== null) return tools;
    if (!isRoot()) return 'loading bpf programs needs root (unprivileged bpf is off)';
    if (bpffsMounted()) return null;
    // Pinned maps need bpffs; a fresh boot lacks it. Mounting it is harmless and is what .ci/run does too.
    const mount = spawnSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf'], { encoding: 'utf8' });
    if (mount.status === 0 && bpffsMounted()) return null;
    return `bpffs is not mounted at /sys/fs/bpf and mounting it failed: ${(mount.stderr || '').trim()}`;
  },
  clang: () =>
    missingTools(['clang'], 'clang') ??
    (fs.existsSync('/usr/include/bpf/bpf_helpers.h') ? null : 'libbpf headers not found; apt-get install libbpf-dev'),
};

/** The test file being run, relative to the cwd (for messages). */
function testFileName(): string {
  const main = require.main?.filename ?? process.argv[1] ?? '<unknown>';
  return path.relative(process.cwd(), main) || main;
}

/** Which prerequisites are missing, with the reason for each (empty when all are present). */
export function missingPrereqs(list: readonly Prereq[]): Array<{ readonly prereq: Prereq; readonly why: string }> {
  const out: Array<{ prereq: Prereq; why: string }> = [];
  for (const prereq of new Set(list)) {
    const why = CHECKS[prereq]();
    if (why !== null) out.push({ prereq, why });
  }
  return out;
}

/**
 * True when every listed prerequisite is present. Otherwise skips the file (returns false) or, under CI=true,
 * fails it (prints and exits with code 1). See the top of this file.
 */
export function requirePrereqs(list: Array<Prereq>): boolean {
  const missing = missingPrereqs(list);
  if (missing.length === 0) return true;
  const file = testFileName();
  const detail = missing.map((m) => `${m.prereq} (${m.why})`).join('; ');
  if (process.env.CI === 'true') {
    console.error(`FAIL ${file}: missing ${detail}`);
    console.error('CI=true: every prerequisite must be installed (see .ci/run), so this is a failure, not a skip.');
    process.exit(1);
  }
  console.log(`SKIP ${file}: missing ${detail}`);
  return false;
}
