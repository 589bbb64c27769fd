// The daemon's own error codes. A module of its own so that every part of the daemon (apply path,
// host bookkeeping, HTTP) throws the same typed codes without importing the daemon that wires them.
// The naming scheme and what a code means to a sender: core/errors.ts.

/** Codes of the agent's own failures (the daemon and its parts). */
export type DaemonErrorCode = 'DAEMON_BAD_OPTIONS' | 'DAEMON_START' | 'DAEMON_SNAPSHOT' | 'DAEMON_OVS_DOWN';

export class DaemonError extends Error {
  readonly code: DaemonErrorCode;
  constructor(code: DaemonErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
