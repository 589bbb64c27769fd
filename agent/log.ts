// The agent's log: JSON lines, one object per event. A module of its own because every part of the
// daemon (apply path, host bookkeeping, packet-ins, HTTP) logs the same way and none of them owns it.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** JSON lines on `write`, one object per event: {ts, level, msg, ...fields}. */
export function jsonLogger(write: (line: string) => void): Logger {
  return (level, msg, fields) => {
    write(
      JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }, (_k, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v,
      ) + '\n',
    );
  };
}
