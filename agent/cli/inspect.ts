// alcor-agent inspect FILE [--v1] [--json-compact]
// Decodes a binary GoalStateV2 (or v1 GoalState) and prints it as proto3 JSON. The bytes are validated by the
// wire scanner first, so a truncated or corrupt file gets one line naming the byte offset and what is wrong
// (exit 2) instead of a decoder stack trace.
import * as fs from 'node:fs/promises';
import { parseArgs, type OptionSpec } from '../../core/cli/args';
import { CliError, EXIT_OK, EXIT_USAGE, type CliIo, type SubcommandModule } from '../../core/cli/commands';
import { describeWireProblem, scanMessage } from '../../core/wire/scan';
import { GoalState, GoalStateV2 } from '../../proto';

const OPTIONS = [
  { name: 'v1', type: 'boolean', help: 'the file holds a v1 GoalState (message version 101) instead of a GoalStateV2' },
  { name: 'json-compact', type: 'boolean', help: 'print the JSON on one line instead of indented' },
] as const satisfies readonly OptionSpec[];

export interface InspectOptions {
  readonly v1: boolean;
  readonly compact: boolean;
}

/**
 * Validates and decodes `bytes`, writing JSON to io.stdout or one error line to io.stderr. Returns the exit code.
 * Never throws for bad input.
 */
export function inspectBytes(bytes: Uint8Array, opts: InspectOptions, io: CliIo): number {
  const messageName = opts.v1 ? 'GoalState' : 'GoalStateV2';
  const scan = scanMessage(bytes, messageName);
  if (scan.kind === 'corrupt') {
    // A v1 file read as v2 (or the reverse) fails at the first state; say so rather than only "corrupt".
    const other = opts.v1 ? 'GoalStateV2' : 'GoalState';
    const hint =
      scanMessage(bytes, other).kind === 'ok' && bytes.length > 0
        ? `; the bytes parse as a ${other}: ${opts.v1 ? 'drop' : 'try'} --v1`
        : '';
    io.stderr(`inspect: ${describeWireProblem(messageName, scan.problem)}${hint}\n`);
    return EXIT_USAGE;
  }
  let json: unknown;
  try {
    json = opts.v1 ? GoalState.toJSON(GoalState.decode(bytes)) : GoalStateV2.toJSON(GoalStateV2.decode(bytes));
  } catch (e: unknown) {
    // The scanner accepted the bytes, so this is a decoder disagreement worth reporting, still in one line.
    io.stderr(`inspect: cannot decode ${messageName}: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_USAGE;
  }
  writeJson(json, !opts.compact, io.stdout);
  return EXIT_OK;
}

/** Reads FILE ('-' = stdin) and inspects it. */
export async function inspect(
  argv: readonly string[],
  io: CliIo,
  stdin: () => Promise<Uint8Array> = readStdin,
): Promise<number> {
  const args = parseArgs(OPTIONS, argv, io.env);
  if (args.positionals.length !== 1) {
    throw new CliError(
      'E_CLI_BAD_VALUE',
      args.positionals.length === 0 ? 'missing FILE' : `expected one FILE, got ${args.positionals.length}`,
    );
  }
  const file = args.positionals[0] ?? '-';
  let bytes: Uint8Array;
  try {
    bytes = file === '-' ? await stdin() : await fs.readFile(file);
  } catch (e: unknown) {
    io.stderr(`inspect: cannot read ${file === '-' ? 'standard input' : file}: ${describeFsError(e)}\n`);
    return EXIT_USAGE;
  }
  return inspectBytes(bytes, { v1: args.options.v1, compact: args.options['json-compact'] }, io);
}

export const command: SubcommandModule = {
  help: {
    usage: 'alcor-agent inspect FILE [--v1] [--json-compact]',
    description:
      'Decodes a binary GoalStateV2 (or a v1 GoalState with --v1) and prints it as proto3 JSON.\n' +
      "FILE '-' reads standard input. A truncated or corrupt file gets one line naming the byte offset\n" +
      'and the field that is wrong, and exit code 2.',
    options: OPTIONS,
    footer:
      'Example:\n  alcor-agent inspect goalstate.bin | less\n  cat goalstate.bin | alcor-agent inspect - --json-compact',
  },
  run: (argv, io) => inspect(argv, io),
};

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

function describeFsError(e: unknown): string {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  switch (code) {
    case 'ENOENT':
      return 'no such file (ENOENT)';
    case 'EACCES':
      return 'permission denied (EACCES)';
    case 'EISDIR':
      return 'is a directory (EISDIR)';
    default:
      return e instanceof Error ? e.message.replace(/\s*\n\s*/g, ' ') : String(e);
  }
}

/**
 * Writes JSON like JSON.stringify(value, null, 2) (or compact), but streams the top two levels so a goal state
 * with a million neighbors never has to become one string (V8 caps strings at about 512 MiB).
 */
export function writeJson(value: unknown, pretty: boolean, write: (text: string) => void): void {
  const FLUSH_AT = 1 << 20;
  let pending = '';
  const emit = (text: string): void => {
    pending += text;
    if (pending.length >= FLUSH_AT) {
      write(pending);
      pending = '';
    }
  };
  const nl = pretty ? '\n' : '';
  const indent = (depth: number): string => (pretty ? '  '.repeat(depth) : '');
  const leaf = (v: unknown, depth: number): string => {
    const text = JSON.stringify(v, null, pretty ? 2 : undefined) ?? 'null';
    return pretty && depth > 0 ? text.replace(/\n/g, `\n${indent(depth)}`) : text;
  };
  const visit = (v: unknown, depth: number): void => {
    if (depth >= 2 || typeof v !== 'object' || v === null) {
      emit(leaf(v, depth));
      return;
    }
    const entries: [string | undefined, unknown][] = Array.isArray(v)
      ? v.map((x) => [undefined, x])
      : Object.entries(v);
    const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
    if (entries.length === 0) {
      emit(open + close);
      return;
    }
    emit(open + nl);
    entries.forEach(([key, item], i) => {
      emit(indent(depth + 1));
      if (key !== undefined) emit(JSON.stringify(key) + (pretty ? ': ' : ':'));
      visit(item, depth + 1);
      emit((i < entries.length - 1 ? ',' : '') + nl);
    });
    emit(indent(depth) + close);
  };
  visit(value, 0);
  emit('\n');
  if (pending !== '') write(pending);
}
