// The guest side of `alcor-bench vms`: one long-lived shell per VM namespace, started before anything is timed,
// that does what a booted guest does once Nova has plugged it: DHCP (busybox udhcpc, configuring the lease as a
// guest's client would), then ping its gateway and a VM on another host. It waits on stdin for "go" (the port
// is ACTIVE) and then for the peer's address, and stamps each step with /proc/uptime itself.
//
// Why a shell of its own and not one spawn per step: a spawn blocks Node's event loop until the child has
// exec'd (tens of ms on a busy 2-core machine), so 150 VMs × (udhcpc + pings) would stall the bench for seconds
// and time its own spawning. Here nothing is spawned while the clock runs, and the times come from the guest.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface GuestTimes {
  /** Seconds of /proc/uptime at each step (10 ms resolution). */
  readonly leaseAt?: number;
  readonly upAt?: number;
  readonly error?: string;
}

// $1: udhcpc script, $2: gateway. Lines out: "lease <uptime>", "up <uptime>" or "fail <why>".
const GUEST_SCRIPT = [
  'stamp() { read -r u _ < /proc/uptime; echo "$1 $u"; }',
  'read -r go || exit 0',
  'busybox udhcpc -f -q -n -t 10 -T 1 -i eth0 -s "$1" >/dev/null 2>&1 || { echo "fail no DHCP lease"; exit 0; }',
  'stamp lease',
  'ping -c1 -w10 -i0.1 "$2" >/dev/null 2>&1 || { echo "fail no answer from the gateway $2"; exit 0; }',
  'read -r peer || exit 0',
  'ping -c1 -w20 -i0.1 "$peer" >/dev/null 2>&1 || { echo "fail no answer from $peer"; exit 0; }',
  'stamp up',
].join('\n');

// udhcpc's hook on "bound": one `ip -batch` instead of three ip processes.
const LEASE_HOOK = [
  '#!/bin/sh',
  '[ "$1" = bound ] || exit 0',
  'ip -b - <<EOF',
  'addr flush dev eth0',
  'addr add $ip/$mask dev eth0',
  'route replace default via $router',
  'EOF',
  '',
].join('\n');

/** Seconds since boot, the guests' clock. */
export function uptimeSeconds(): number {
  return Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

export function writeLeaseHook(dir: string): string {
  const file = path.join(dir, 'lease-hook.sh');
  fs.writeFileSync(file, LEASE_HOOK, { mode: 0o755 });
  return file;
}

export class Guest {
  readonly done: Promise<GuestTimes>;
  readonly #child: ChildProcess;

  constructor(netns: string, leaseHook: string, gateway: string) {
    this.#child = spawn(
      'nsenter',
      [`--net=/run/netns/${netns}`, 'sh', '-c', GUEST_SCRIPT, 'guest', leaseHook, gateway],
      {
        stdio: ['pipe', 'pipe', 'ignore'],
      },
    );
    let out = '';
    this.#child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    this.done = new Promise((resolve) => {
      this.#child.once('error', (err) => resolve({ error: `cannot start the guest shell: ${err.message}` }));
      this.#child.once('close', () => {
        const at = (step: string): number | undefined => {
          const m = new RegExp(`^${step} (\\S+)$`, 'm').exec(out);
          return m === null ? undefined : Number(m[1]);
        };
        const fail = /^fail (.*)$/m.exec(out);
        const times = { leaseAt: at('lease'), upAt: at('up') };
        resolve(fail === null ? times : { ...times, error: fail[1] });
      });
    });
  }

  /** The port is ACTIVE: boot (DHCP, then ping the gateway). */
  go(): void {
    this.#child.stdin?.write('go\n');
  }

  /** The VM on another host to ping once the gateway answered. */
  peer(ip: string): void {
    this.#child.stdin?.end(`${ip}\n`);
  }

  /** Ends the guest early (its port failed, or the run is being torn down). */
  stop(): void {
    this.#child.stdin?.end();
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
  }
}
