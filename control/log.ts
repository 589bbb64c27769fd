// One-line structured logs on stderr: `<iso time> <level> <msg> key=value ...`.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Readonly<Record<LogLevel | 'notice', number>> = { debug: 0, info: 1, warn: 2, error: 3, notice: 4 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Lifecycle lines (ready, stopped) that scripts wait for: printed at every level. */
  notice(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(
  level: LogLevel,
  name: string,
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const emit = (lvl: LogLevel | 'notice', msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[lvl] < ORDER[level]) return;
    const kv =
      fields === undefined
        ? ''
        : Object.entries(fields)
            .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join('');
    write(`${new Date().toISOString()} ${lvl} [${name}] ${msg}${kv}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    notice: (m, f) => emit('notice', m, f),
  };
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  notice: () => undefined,
};
