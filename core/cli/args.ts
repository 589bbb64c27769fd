// A small typed command-line parser and help generator shared by the alcor-agent, alcor-control and
// alcor-bench binaries. Options are declared as data; the parse result's type follows from the declaration:
//
//   const OPTIONS = [
//     { name: 'listen', type: 'string', default: '0.0.0.0:50001', env: 'ALCOR_LISTEN', help: 'gRPC address', metavar: 'ADDR' },
//     { name: 'ofport', type: 'list', help: 'pin a port to an OpenFlow port number', metavar: 'NAME=N' },
//   ] as const satisfies readonly OptionSpec[];
//   const parsed = parseArgs(OPTIONS, argv, process.env);   // parsed.options.listen: string, .ofport: readonly string[]
//
// Precedence of one option's value: command-line flag > environment variable > config file > default.
// Pure: the caller passes argv and the environment in.

export type OptionType = 'string' | 'number' | 'boolean' | 'list';

type ValueOfType<T extends OptionType> = T extends 'string'
  ? string
  : T extends 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : readonly string[];

export type OptionValue = string | number | boolean | readonly string[];

export interface OptionSpec {
  /** Long flag name without the dashes: `listen` is `--listen`. */
  readonly name: string;
  readonly type: OptionType;
  /** Value when neither the flag, the environment nor a config file gives one. Booleans default to false, lists to []. */
  readonly default?: OptionValue;
  /** Environment variable read when the flag is absent (lists: comma-separated). */
  readonly env?: string;
  /** One-letter alias: `l` is `-l`. */
  readonly short?: string;
  readonly help: string;
  /** Placeholder for the value in the help text, e.g. `ADDR`. */
  readonly metavar?: string;
}

/** The parsed values: options with a default (and all booleans and lists) are always present. */
export type OptionValues<S extends readonly OptionSpec[]> = {
  readonly [O in S[number] as O['name']]: O extends { readonly default: OptionValue }
    ? ValueOfType<O['type']>
    : O['type'] extends 'boolean' | 'list'
      ? ValueOfType<O['type']>
      : ValueOfType<O['type']> | undefined;
};

export type ValueSource = 'flag' | 'env' | 'config' | 'default';

export interface ParsedArgs<S extends readonly OptionSpec[]> {
  readonly options: OptionValues<S>;
  /** Only the options given on the command line or in the environment: what overrides a config file. */
  readonly explicit: Partial<OptionValues<S>>;
  /** Where each option's value came from. */
  readonly sources: Readonly<Record<string, ValueSource>>;
  readonly positionals: readonly string[];
  /** `--help` or `-h` was given. */
  readonly help: boolean;
}

export type CliErrorCode =
  'E_CLI_UNKNOWN_OPTION' | 'E_CLI_MISSING_VALUE' | 'E_CLI_BAD_VALUE' | 'E_CLI_REPEATED_OPTION' | 'E_CLI_BAD_CONFIG';

/** A usage mistake; the message is one line meant for the user. */
export class CliError extends Error {
  readonly code: CliErrorCode;
  constructor(code: CliErrorCode, message: string) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}

export function isCliError(e: unknown): e is CliError {
  return e instanceof CliError;
}

const HELP_FLAGS = new Set(['--help', '-h']);

/**
 * Parses argv (without the node and script entries). Accepts `--flag value`, `--flag=value`, `--no-flag` and
 * `--flag=true|false` for booleans, `-x value` for short aliases, repeated flags for lists, and `--` to end
 * options. Throws CliError for unknown options (naming the closest known one), missing or malformed values,
 * and a repeated non-list option.
 */
export function parseArgs<const S extends readonly OptionSpec[]>(
  specs: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): ParsedArgs<S> {
  checkSpecs(specs);
  const byName = new Map<string, OptionSpec>(specs.map((s) => [s.name, s]));
  const byShort = new Map<string, OptionSpec>();
  for (const s of specs) if (s.short !== undefined) byShort.set(s.short, s);

  const fromFlags = new Map<string, OptionValue>();
  const positionals: string[] = [];
  let help = false;

  const setValue = (spec: OptionSpec, raw: string, shown: string): void => {
    const value = coerce(spec, raw, shown);
    const previous = fromFlags.get(spec.name);
    if (spec.type === 'list') {
      const list = Array.isArray(previous) ? (previous as readonly string[]) : [];
      fromFlags.set(spec.name, [...list, ...(value as readonly string[])]);
      return;
    }
    if (previous !== undefined) {
      throw new CliError('E_CLI_REPEATED_OPTION', `option ${shown} given more than once`);
    }
    fromFlags.set(spec.name, value);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (HELP_FLAGS.has(arg) && !byName.has('help')) {
      help = true;
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const inline = eq === -1 ? undefined : arg.slice(eq + 1);
      const spec = byName.get(name);
      if (spec === undefined && name.startsWith('no-') && inline === undefined) {
        const negated = byName.get(name.slice(3));
        if (negated !== undefined && negated.type === 'boolean') {
          setValue(negated, 'false', arg);
          continue;
        }
      }
      if (spec === undefined) throw unknownOption(`--${name}`, specs);
      if (inline !== undefined) {
        setValue(spec, inline, `--${name}`);
      } else if (spec.type === 'boolean') {
        setValue(spec, 'true', arg);
      } else {
        setValue(spec, takeValue(argv, i, spec, arg), arg);
        i++;
      }
      continue;
    }
    if (arg.length > 1 && arg.startsWith('-') && !isNumberLike(arg)) {
      const letter = arg.slice(1, 2);
      const spec = byShort.get(letter);
      if (spec === undefined || (arg.length > 2 && spec.type === 'boolean')) throw unknownOption(arg, specs);
      if (spec.type === 'boolean') {
        setValue(spec, 'true', arg);
      } else if (arg.length > 2) {
        setValue(spec, arg.slice(2), `-${letter}`);
      } else {
        setValue(spec, takeValue(argv, i, spec, arg), arg);
        i++;
      }
      continue;
    }
    positionals.push(arg);
  }

  const options: Record<string, OptionValue | undefined> = {};
  const explicit: Record<string, OptionValue> = {};
  const sources: Record<string, ValueSource> = {};
  for (const spec of specs) {
    const flagValue = fromFlags.get(spec.name);
    const envRaw = spec.env === undefined ? undefined : env[spec.env];
    if (flagValue !== undefined) {
      options[spec.name] = explicit[spec.name] = flagValue;
      sources[spec.name] = 'flag';
    } else if (envRaw !== undefined && envRaw !== '') {
      options[spec.name] = explicit[spec.name] = coerceEnv(spec, envRaw);
      sources[spec.name] = 'env';
    } else {
      options[spec.name] = defaultOf(spec);
      sources[spec.name] = 'default';
    }
  }
  return {
    options: options as OptionValues<S>,
    explicit: explicit as Partial<OptionValues<S>>,
    sources,
    positionals,
    help,
  };
}

/**
 * Merges a config file's settings with command-line settings: every key present (and not undefined) in `flags`
 * wins over the file. Lists from flags replace the file's list rather than extending it, so a flag means exactly
 * what it says. Shallow, like the flat option namespace.
 */
export function mergeConfig<T extends object>(fileObj: Partial<T> | undefined, flags: Partial<T>): Partial<T> {
  const merged: Record<string, unknown> = { ...(fileObj ?? {}) };
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined) merged[key] = value;
  }
  return merged as Partial<T>;
}

/**
 * Checks a parsed config file (e.g. JSON) against the option declarations: unknown keys (with a suggestion) and
 * values of the wrong type are CliErrors naming `origin`. Numbers may be given as JSON numbers or numeric strings;
 * lists as arrays of strings.
 */
export function configFromObject<const S extends readonly OptionSpec[]>(
  specs: S,
  obj: unknown,
  origin: string,
): Partial<OptionValues<S>> {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new CliError('E_CLI_BAD_CONFIG', `${origin}: expected an object of settings`);
  }
  const byName = new Map<string, OptionSpec>(specs.map((s) => [s.name, s]));
  const out: Record<string, OptionValue> = {};
  for (const [key, value] of Object.entries(obj)) {
    const spec = byName.get(key);
    if (spec === undefined) {
      const near = closest(
        key,
        specs.map((s) => s.name),
      );
      throw new CliError(
        'E_CLI_BAD_CONFIG',
        `${origin}: unknown setting "${key}"${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
      );
    }
    out[key] = configValue(spec, value, `${origin}: setting "${key}"`);
  }
  return out as Partial<OptionValues<S>>;
}

/**
 * Resolves the final values with the full precedence: flag > environment > config file > default.
 * `file` is the result of configFromObject (or undefined without a config file).
 */
export function resolveOptions<const S extends readonly OptionSpec[]>(
  specs: S,
  parsed: ParsedArgs<S>,
  file: Partial<OptionValues<S>> | undefined,
): { readonly options: OptionValues<S>; readonly sources: Readonly<Record<string, ValueSource>> } {
  const fileValues = (file ?? {}) as Readonly<Record<string, OptionValue | undefined>>;
  const merged = mergeConfig(
    fileValues,
    parsed.explicit as Readonly<Record<string, OptionValue | undefined>>,
  ) as Record<string, OptionValue | undefined>;
  const options: Record<string, OptionValue | undefined> = {};
  const sources: Record<string, ValueSource> = {};
  for (const spec of specs) {
    const value = merged[spec.name];
    if (value !== undefined) {
      options[spec.name] = value;
      sources[spec.name] = parsed.sources[spec.name] === 'default' ? 'config' : (parsed.sources[spec.name] ?? 'config');
    } else {
      options[spec.name] = defaultOf(spec);
      sources[spec.name] = 'default';
    }
  }
  return { options: options as OptionValues<S>, sources };
}

// ---------------------------------------------------------------------------------------------------------------
// Help text

export interface HelpSection {
  readonly title: string;
  readonly rows: readonly (readonly [string, string])[];
}

export interface HelpSpec {
  /** e.g. `alcor-agent inspect FILE [options]` */
  readonly usage: string;
  /** A paragraph or two; printed under the usage line. */
  readonly description?: string;
  readonly options?: readonly OptionSpec[];
  /** Extra sections such as the subcommand list. */
  readonly sections?: readonly HelpSection[];
  /** Printed last, e.g. examples. */
  readonly footer?: string;
}

const HELP_ROW: OptionSpec = { name: 'help', type: 'boolean', short: 'h', help: 'show this help and exit' };

/** Help text: usage, description, each option with its value placeholder, default and environment variable. */
export function formatHelp(spec: HelpSpec): string {
  const lines: string[] = [`Usage: ${spec.usage}`];
  if (spec.description !== undefined && spec.description !== '') lines.push('', spec.description);
  const sections: HelpSection[] = [...(spec.sections ?? [])];
  if (spec.options !== undefined) {
    const opts = spec.options.some((o) => o.name === 'help') ? spec.options : [...spec.options, HELP_ROW];
    sections.push({ title: 'Options', rows: opts.map((o) => [optionLabel(o), optionHelp(o)] as const) });
  }
  for (const section of sections) {
    if (section.rows.length === 0) continue;
    lines.push('', `${section.title}:`);
    const width = Math.min(32, Math.max(...section.rows.map(([label]) => label.length)));
    for (const [label, text] of section.rows) {
      if (label.length > width) {
        lines.push(`  ${label}`, `  ${' '.repeat(width)}  ${text}`);
      } else {
        lines.push(`  ${label.padEnd(width)}  ${text}`);
      }
    }
  }
  if (spec.footer !== undefined && spec.footer !== '') lines.push('', spec.footer);
  return lines.join('\n') + '\n';
}

function optionLabel(o: OptionSpec): string {
  const short = o.short === undefined ? '    ' : `-${o.short}, `;
  const meta = o.type === 'boolean' ? '' : ` ${o.metavar ?? (o.type === 'number' ? 'N' : 'VALUE')}`;
  return `${short}--${o.name}${meta}`;
}

function optionHelp(o: OptionSpec): string {
  const notes: string[] = [];
  if (o.type === 'list') notes.push('repeatable');
  if (o.default !== undefined && !(Array.isArray(o.default) && o.default.length === 0) && o.default !== false) {
    notes.push(`default: ${Array.isArray(o.default) ? o.default.join(',') : String(o.default)}`);
  }
  if (o.env !== undefined) notes.push(`env ${o.env}`);
  return notes.length === 0 ? o.help : `${o.help} (${notes.join('; ')})`;
}

// ---------------------------------------------------------------------------------------------------------------
// Suggestions

/** The known name nearest to `input` by edit distance, if near enough to be a plausible typo. */
export function closest(input: string, known: readonly string[]): string | undefined {
  const bare = input.replace(/^-+/, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = editDistance(bare, name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  // `--compact` for `--json-compact`: a distinctive part of a longer name is a better hint than edit distance.
  if (bare.length >= 4 && bestDistance > 1) {
    const containing = known.filter((name) => name.includes(bare));
    if (containing.length === 1) return containing[0];
  }
  const limit = Math.max(2, Math.floor(best.length / 3));
  const isPrefix = best.startsWith(bare) && bare.length >= 3;
  return bestDistance <= limit || isPrefix ? best : undefined;
}

/** Damerau-Levenshtein distance (with adjacent transpositions, the most common typo). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}

// ---------------------------------------------------------------------------------------------------------------
// Internals

function unknownOption(shown: string, specs: readonly OptionSpec[]): CliError {
  const near = closest(shown, [...specs.map((s) => s.name), 'help']);
  const hint = near === undefined ? '' : ` (did you mean --${near}?)`;
  return new CliError('E_CLI_UNKNOWN_OPTION', `unknown option ${shown}${hint}`);
}

function takeValue(argv: readonly string[], i: number, spec: OptionSpec, shown: string): string {
  const next = argv[i + 1];
  // `--listen --verbose` is a forgotten value, not a listen address called "--verbose".
  if (next === undefined || (next.startsWith('--') && next.length > 2)) {
    throw new CliError('E_CLI_MISSING_VALUE', `option ${shown} needs a value (${spec.metavar ?? spec.type})`);
  }
  return next;
}

function isNumberLike(arg: string): boolean {
  return /^-\d/.test(arg);
}

function coerce(spec: OptionSpec, raw: string, shown: string): OptionValue {
  switch (spec.type) {
    case 'string':
      return raw;
    case 'number': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(n)) throw new CliError('E_CLI_BAD_VALUE', `option ${shown} expects a number, got "${raw}"`);
      return n;
    }
    case 'boolean': {
      const b = parseBoolean(raw);
      if (b === undefined) throw new CliError('E_CLI_BAD_VALUE', `option ${shown} expects true or false, got "${raw}"`);
      return b;
    }
    case 'list':
      return [raw];
    default:
      return assertNever(spec.type);
  }
}

function coerceEnv(spec: OptionSpec, raw: string): OptionValue {
  const shown = `environment variable ${spec.env ?? ''}`;
  if (spec.type === 'list') {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  try {
    return coerce(spec, raw, shown);
  } catch (e: unknown) {
    if (isCliError(e)) throw new CliError('E_CLI_BAD_VALUE', e.message.replace(/^option /, ''));
    throw e;
  }
}

function configValue(spec: OptionSpec, value: unknown, where: string): OptionValue {
  switch (spec.type) {
    case 'string':
      if (typeof value === 'string') return value;
      break;
    case 'number':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
      break;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'list':
      if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return value;
      if (typeof value === 'string') return [value];
      break;
    default:
      return assertNever(spec.type);
  }
  const expected = spec.type === 'list' ? 'a list of strings' : `a ${spec.type}`;
  throw new CliError('E_CLI_BAD_CONFIG', `${where} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
}

function parseBoolean(raw: string): boolean | undefined {
  const v = raw.toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes' || v === 'on') return true;
  if (v === 'false' || v === '0' || v === 'no' || v === 'off') return false;
  return undefined;
}

function defaultOf(spec: OptionSpec): OptionValue | undefined {
  if (spec.default !== undefined) return spec.default;
  if (spec.type === 'boolean') return false;
  if (spec.type === 'list') return [];
  return undefined;
}

/** Declaration mistakes are programming errors: fail loudly at the first parse. */
function checkSpecs(specs: readonly OptionSpec[]): void {
  const seen = new Set<string>();
  for (const s of specs) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(s.name)) throw new Error(`option name "${s.name}" must be lower-case kebab-case`);
    if (seen.has(s.name)) throw new Error(`option --${s.name} declared twice`);
    seen.add(s.name);
    if (s.short !== undefined) {
      if (!/^[a-zA-Z]$/.test(s.short)) throw new Error(`short alias of --${s.name} must be one letter`);
      if (seen.has(`-${s.short}`)) throw new Error(`short alias -${s.short} declared twice`);
      seen.add(`-${s.short}`);
    }
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected option type ${String(x)}`);
}
