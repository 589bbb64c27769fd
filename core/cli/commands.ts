// Subcommand dispatch shared by the three binaries. Each binary declares a table of subcommands; each entry names
// its module loader, so `alcor-agent --help` does not load (say) the gRPC stack of `run`, and adding a subcommand
// is one table entry plus its own module file.
//
// Pure: all I/O goes through the CliIo the binary passes in.
import { CliError, formatHelp, isCliError, closest, type HelpSpec } from './args';

/** What a subcommand may touch. Binaries pass the real process; tests pass captures. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The CliIo of a real process (passed in, so this module stays free of I/O). */
export function ioFromProcess(proc: {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
}): CliIo {
  return {
    stdout: (text) => void proc.stdout.write(text),
    stderr: (text) => void proc.stderr.write(text),
    env: proc.env,
  };
}

/** Exit codes: 0 success, 1 unexpected failure, 2 usage error or bad input. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A subcommand's module exports `command: SubcommandModule`. */
export interface SubcommandModule {
  /** Usage and option declarations; `formatHelp` turns them into `<bin> <sub> --help`. */
  readonly help: HelpSpec;
  /** Runs with the arguments after the subcommand name; resolves to the exit code. */
  run(argv: readonly string[], io: CliIo): Promise<number>;
}

export interface SubcommandEntry {
  readonly name: string;
  /** One line for the binary's --help. */
  readonly summary: string;
  readonly load: () => Promise<{ readonly command: SubcommandModule }>;
}

export interface BinarySpec {
  readonly bin: string;
  readonly description: string;
  readonly subcommands: readonly SubcommandEntry[];
  /** Version printed by --version. */
  readonly version: string;
}

/** `<bin> [--help|--version] <subcommand> [args...]` */
export async function dispatch(spec: BinarySpec, argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic !== undefined) return dispatch(spec, [topic, '--help'], io);
    const out = first === undefined ? io.stderr : io.stdout;
    out(binaryHelp(spec));
    return first === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (first === '--version' || first === '-V') {
    io.stdout(`${spec.bin} ${spec.version}\n`);
    return EXIT_OK;
  }
  const entry = spec.subcommands.find((s) => s.name === first);
  if (entry === undefined) {
    const what = first.startsWith('-') ? 'option' : 'subcommand';
    const near = closest(
      first,
      spec.subcommands.map((s) => s.name),
    );
    const hint = near === undefined || first.startsWith('-') ? '' : ` (did you mean ${near}?)`;
    io.stderr(`${spec.bin}: unknown ${what} ${first}${hint}; see ${spec.bin} --help\n`);
    return EXIT_USAGE;
  }
  const { command } = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    const dashDash = rest.indexOf('--');
    const helpAt = Math.max(rest.indexOf('--help'), rest.indexOf('-h'));
    if (dashDash === -1 || helpAt < dashDash) {
      io.stdout(formatHelp(command.help));
      return EXIT_OK;
    }
  }
  try {
    return await command.run(rest, io);
  } catch (e: unknown) {
    if (isCliError(e)) {
      io.stderr(`${spec.bin} ${entry.name}: ${e.message}; see ${spec.bin} ${entry.name} --help\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

export function binaryHelp(spec: BinarySpec): string {
  return formatHelp({
    usage: `${spec.bin} <subcommand> [options]`,
    description: spec.description,
    sections: [
      { title: 'Subcommands', rows: spec.subcommands.map((s) => [s.name, s.summary] as const) },
      {
        title: 'Options',
        rows: [
          ['-h, --help', 'show this help and exit'],
          ['-V, --version', 'print the version and exit'],
        ],
      },
    ],
    footer: `Run '${spec.bin} <subcommand> --help' for the options of one subcommand.`,
  });
}

/**
 * A subcommand that exists in the table but is not written yet: prints so and exits 2, so scripts notice.
 * Replace its module's `command` with a real one.
 */
export function notImplemented(bin: string, name: string, summary: string): SubcommandModule {
  return {
    help: { usage: `${bin} ${name} [options]`, description: `${summary}\n\nNot implemented yet.`, options: [] },
    run: (_argv, io) => {
      io.stderr(`${bin} ${name}: not implemented yet\n`);
      return Promise.resolve(EXIT_USAGE);
    },
  };
}

/** Turns an unexpected error into one line (the binaries print it and exit 1). */
export function oneLineError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const prefix = typeof code === 'string' ? `${code}: ` : '';
    return `${prefix}${e.message}`.replace(/\s*\n\s*/g, ' ');
  }
  return String(e).replace(/\s*\n\s*/g, ' ');
}

export { CliError };
