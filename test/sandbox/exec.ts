// Running the OVS / iproute2 command-line tools for the sandbox.
import { spawn } from 'node:child_process';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  /** Written to the child's stdin (e.g. flows for `ovs-ofctl add-flows br -`). */
  readonly input?: string;
}

export class SandboxError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}

// Debian keeps the OVS and iproute2 tools in sbin; a non-login PATH may not have it.
const SBIN_PATH = '/usr/local/sbin:/usr/sbin:/sbin';

/** Runs a command and collects its output; never throws for a non-zero exit (code -1 = could not run / killed). */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...opts.env, PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:${SBIN_PATH}` };
    const child = spawn(cmd, [...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (code: number, extraErr = ''): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr: stderr + extraErr });
    };
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(-1, `\n${cmd}: killed after ${timeoutMs} ms`);
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: Error) => finish(-1, `\n${cmd}: ${err.message}`));
    child.on('close', (code: number | null) => finish(code ?? -1));
    child.stdin.on('error', () => undefined); // the child may exit without reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** Like run(), but a non-zero exit becomes a SandboxError (code SANDBOX_CMD_FAILED) carrying the command and stderr. */
export async function check(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const res = await run(cmd, args, opts);
  if (res.code !== 0) {
    const shown = [cmd, ...args].join(' ');
    const detail = (res.stderr.trim() || res.stdout.trim()).slice(0, 2000);
    throw new SandboxError('SANDBOX_CMD_FAILED', `\`${shown}\` exited with ${res.code}: ${detail}`);
  }
  return res;
}
