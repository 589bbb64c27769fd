// Daemons of a sandbox found by their pidfiles, and waited for: shared by the OVS sandbox and the OVN one.
// A pid counts only while /proc says it runs the expected command (a recycled pid never does).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from './exec';

/** True while pid is a live (non-zombie) process whose command is the expected daemon. */
export function isDaemonAlive(pid: number, daemon: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // stat is "pid (comm) state ..."; comm is cut to 15 chars.
    const m = /^\d+ \((.*)\) (\S)/.exec(stat);
    return m !== null && m[2] !== 'Z' && daemon.startsWith(m[1] ?? '\0');
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The live pid named by `<stem>.pid` in dir, running `daemon` (default: the stem), or null (no pidfile, or a stale
 * one: a recycled pid never counts).
 */
export function daemonPid(dir: string, stem: string, daemon: string = stem): number | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, `${stem}.pid`), 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 1 && isDaemonAlive(pid, daemon) ? pid : null;
}

/** Resolves once pid no longer runs `daemon`; throws after timeoutMs so a hung daemon fails loudly. */
export async function waitPidGone(pid: number, daemon: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isDaemonAlive(pid, daemon)) {
    if (Date.now() > deadline) {
      throw new SandboxError('SANDBOX_DAEMON_STUCK', `${daemon} pid ${pid} still runs ${timeoutMs} ms after exit`);
    }
    await sleep(20);
  }
}
