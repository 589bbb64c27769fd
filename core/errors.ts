// Error codes: one scheme, and what a code means to whoever sent the request.
//
// Why this module exists: the agent and the control service answer every failure either as "your
// input is wrong" (INVALID_ARG statuses, gRPC INVALID_ARGUMENT, HTTP 400), "try again later"
// (UNAVAILABLE, 503) or "our fault" (FAILURE / INTERNAL, logged). That choice used to be made from a
// hand-kept list of internal codes in one place and a `startsWith('BAD_')` in another, so an
// uncoded bug reached the sender as bad input. Here the choice is an allowlist: a code is input or
// unavailable only when the module that throws it says so; everything else is internal.
//
// The scheme: a code is an UPPER_SNAKE string that starts with its module's area
// (`OF_SESSION_DOWN`, `OVSDB_TIMEOUT`, `GOALSTATE_DECODE`, `DAEMON_OVS_DOWN`), and each module exports
// the union type of the codes it throws. A few older codes that tests pin keep their spelling
// (`E_CLI_*`, `E_WIRE_*`, the address codes `BAD_IPV4`..., the store's `STALE_PLAN`/`BAD_SNAPSHOT`,
// control's `BAD_GOAL_STATE`...); docs/agent.md lists them.
//
// Codes across threads: structured cloning (a piscina worker's error reaching the main thread)
// keeps an Error's message, stack and `cause` but drops every other own property, so `code` would
// be lost and the engine's bad-input codes would turn into internal faults. The worker packs the
// code into `cause` (packForThread) and the engine unpacks it (unpackFromThread).

/** Codes the engine throws when a goal state's bytes are wrong (core/engine/decode.ts, split.ts). */
export type GoalStateInputCode = 'GOALSTATE_DECODE' | 'GOALSTATE_WIRE';
/** The goal-state input codes: the only engine failures the agent answers as bad input. */
export const GOALSTATE_INPUT_CODES: ReadonlySet<string> = new Set<GoalStateInputCode>([
  'GOALSTATE_DECODE',
  'GOALSTATE_WIRE',
]);

/**
 * What a failure means to the sender. `exhausted`: the input is too large for a limit the receiver
 * documents (a size, a budget shared with other senders); `deadline`: it did not arrive in time.
 */
export type ErrorKind = 'input' | 'exhausted' | 'deadline' | 'unavailable' | 'internal';

/** The error's code, when it has a string one. */
export function codeOf(e: unknown): string | undefined {
  if (e === null || typeof e !== 'object') return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The kind of a failure, by allowlist: `input` only for a code in `input`, `unavailable` only for a
 * code in `unavailable`, anything else (an uncoded bug, a code nobody listed) is `internal`.
 */
export function errorKind(
  e: unknown,
  input: ReadonlySet<string>,
  unavailable: ReadonlySet<string> = new Set(),
): ErrorKind {
  const code = codeOf(e);
  if (code === undefined) return 'internal';
  if (input.has(code)) return 'input';
  if (unavailable.has(code)) return 'unavailable';
  return 'internal';
}

/** `code: message` for logs and status details. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = codeOf(e);
    return code === undefined ? e.message : `${code}: ${e.message}`;
  }
  return String(e);
}

/** An error whose code was carried across a thread boundary. */
export class ThreadError extends Error {
  constructor(
    readonly code: string,
    message: string,
    stack: string | undefined,
  ) {
    super(message);
    this.name = 'ThreadError';
    if (stack !== undefined) this.stack = stack;
  }
}

interface PackedCode {
  readonly alcorCode: string;
}

/** In the worker: an error whose code survives structured cloning (the code rides in `cause`). */
export function packForThread(e: unknown): unknown {
  const code = codeOf(e);
  if (code === undefined || !(e instanceof Error)) return e;
  const packed = new Error(e.message, { cause: { alcorCode: code } satisfies PackedCode });
  if (e.stack !== undefined) packed.stack = e.stack;
  return packed;
}

/** On the receiving thread: the packed code put back as `code` (other errors pass unchanged). */
export function unpackFromThread(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const cause = e.cause as Partial<PackedCode> | undefined;
  if (cause === null || typeof cause !== 'object' || typeof cause.alcorCode !== 'string') return e;
  return new ThreadError(cause.alcorCode, e.message, e.stack);
}
