import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CliError,
  closest,
  configFromObject,
  editDistance,
  formatHelp,
  mergeConfig,
  parseArgs,
  resolveOptions,
  type OptionSpec,
} from './args';

const OPTIONS = [
  {
    name: 'listen',
    type: 'string',
    default: '0.0.0.0:50001',
    env: 'ALCOR_LISTEN',
    help: 'gRPC listen address',
    metavar: 'ADDR',
  },
  { name: 'workers', type: 'number', default: 2, help: 'worker threads', metavar: 'N', short: 'w' },
  { name: 'bridge', type: 'string', help: 'integration bridge', metavar: 'BR' },
  { name: 'verbose', type: 'boolean', short: 'v', help: 'log more' },
  { name: 'ofport', type: 'list', env: 'ALCOR_OFPORTS', help: 'pin an OpenFlow port number', metavar: 'NAME=N' },
] as const satisfies readonly OptionSpec[];

function cliError(fn: () => unknown): CliError {
  try {
    fn();
  } catch (e: unknown) {
    if (e instanceof CliError) return e;
    throw e;
  }
  throw new Error('expected a CliError');
}

test('defaults apply when nothing is given, and types follow the declaration', () => {
  const p = parseArgs(OPTIONS, []);
  const listen: string = p.options.listen;
  const workers: number = p.options.workers;
  const bridge: string | undefined = p.options.bridge;
  const verbose: boolean = p.options.verbose;
  const ofport: readonly string[] = p.options.ofport;
  assert.equal([listen, workers, bridge, verbose, ofport], ['0.0.0.0:50001', 2, undefined, false, []]);
  assert.equal(p.explicit, {});
  assert.equal(p.sources.listen, 'default');
  assert.is(p.help, false);
});

test('--flag value and --flag=value both work; positionals are kept in order', () => {
  const p = parseArgs(OPTIONS, ['a.bin', '--listen', '127.0.0.1:9', '--workers=8', 'b.bin', '--bridge=br-int']);
  assert.is(p.options.listen, '127.0.0.1:9');
  assert.is(p.options.workers, 8);
  assert.is(p.options.bridge, 'br-int');
  assert.equal(p.positionals, ['a.bin', 'b.bin']);
  assert.equal(p.explicit, { listen: '127.0.0.1:9', workers: 8, bridge: 'br-int' });
});

test('repeated list flags accumulate in order', () => {
  const p = parseArgs(OPTIONS, ['--ofport', 'tap1=5', '--ofport=tap2=6']);
  assert.equal(p.options.ofport, ['tap1=5', 'tap2=6']);
});

test('booleans: bare flag, --no-flag, =true/false, short alias', () => {
  assert.is(parseArgs(OPTIONS, ['--verbose']).options.verbose, true);
  assert.is(parseArgs(OPTIONS, ['--no-verbose']).options.verbose, false);
  assert.is(parseArgs(OPTIONS, ['--verbose=false']).options.verbose, false);
  assert.is(parseArgs(OPTIONS, ['--verbose=yes']).options.verbose, true);
  assert.is(parseArgs(OPTIONS, ['-v']).options.verbose, true);
  assert.is(parseArgs(OPTIONS, ['-w', '3']).options.workers, 3);
  assert.is(parseArgs(OPTIONS, ['-w4']).options.workers, 4);
});

test('-- ends options; negative numbers are values, not flags', () => {
  const p = parseArgs(OPTIONS, ['--workers', '-1', '--', '--listen', 'x']);
  assert.is(p.options.workers, -1);
  assert.equal(p.positionals, ['--listen', 'x']);
  assert.equal(parseArgs(OPTIONS, ['-']).positionals, ['-']);
});

test('unknown flags name the flag and suggest the closest known one', () => {
  const e = cliError(() => parseArgs(OPTIONS, ['--lisen', 'x']));
  assert.is(e.code, 'E_CLI_UNKNOWN_OPTION');
  assert.is(e.message, 'unknown option --lisen (did you mean --listen?)');
  assert.match(cliError(() => parseArgs(OPTIONS, ['--ofprot=a=1'])).message, 'did you mean --ofport?');
  assert.match(cliError(() => parseArgs(OPTIONS, ['--wrk'])).message, '--wrk');
  assert.is(cliError(() => parseArgs(OPTIONS, ['--zzzzzzzz'])).message, 'unknown option --zzzzzzzz');
  assert.is(cliError(() => parseArgs(OPTIONS, ['-q'])).code, 'E_CLI_UNKNOWN_OPTION');
  assert.is(cliError(() => parseArgs(OPTIONS, ['--no-listen'])).code, 'E_CLI_UNKNOWN_OPTION');
});

test('missing and malformed values are clear errors', () => {
  const missing = cliError(() => parseArgs(OPTIONS, ['--listen']));
  assert.is(missing.code, 'E_CLI_MISSING_VALUE');
  assert.is(missing.message, 'option --listen needs a value (ADDR)');
  assert.is(cliError(() => parseArgs(OPTIONS, ['--listen', '--verbose'])).code, 'E_CLI_MISSING_VALUE');
  const bad = cliError(() => parseArgs(OPTIONS, ['--workers', 'many']));
  assert.is(bad.code, 'E_CLI_BAD_VALUE');
  assert.is(bad.message, 'option --workers expects a number, got "many"');
  assert.is(cliError(() => parseArgs(OPTIONS, ['--workers='])).code, 'E_CLI_BAD_VALUE');
  assert.is(cliError(() => parseArgs(OPTIONS, ['--verbose=maybe'])).code, 'E_CLI_BAD_VALUE');
  assert.is(cliError(() => parseArgs(OPTIONS, ['--bridge', 'a', '--bridge', 'b'])).code, 'E_CLI_REPEATED_OPTION');
});

test('environment variables apply when the flag is absent; flags win', () => {
  const env = { ALCOR_LISTEN: '10.0.0.1:1', ALCOR_OFPORTS: 'a=1, b=2' };
  const p = parseArgs(OPTIONS, [], env);
  assert.is(p.options.listen, '10.0.0.1:1');
  assert.equal(p.options.ofport, ['a=1', 'b=2']);
  assert.is(p.sources.listen, 'env');
  assert.is(parseArgs(OPTIONS, ['--listen', 'x:1'], env).options.listen, 'x:1');
});

test('--help and -h set help instead of failing', () => {
  assert.is(parseArgs(OPTIONS, ['--help']).help, true);
  assert.is(parseArgs(OPTIONS, ['x', '-h']).help, true);
});

test('mergeConfig: flags override the file, undefined flags do not, lists replace', () => {
  const file = { listen: 'file:1', workers: 4, ofport: ['f=1'] };
  const merged = mergeConfig<Record<string, unknown>>(file, { listen: 'flag:2', workers: undefined, ofport: ['g=2'] });
  assert.equal(merged, { listen: 'flag:2', workers: 4, ofport: ['g=2'] });
  assert.equal(mergeConfig(undefined, { a: 1 }), { a: 1 });
  assert.equal(file.listen, 'file:1', 'inputs are not mutated');
});

test('resolveOptions: flag > env > config file > default', () => {
  const file = configFromObject(
    OPTIONS,
    { listen: 'file:1', workers: '6', bridge: 'br-file', ofport: ['f=1'] },
    'agent.json',
  );
  const parsed = parseArgs(OPTIONS, ['--bridge', 'br-flag'], { ALCOR_OFPORTS: 'e=1' });
  const { options, sources } = resolveOptions(OPTIONS, parsed, file);
  assert.equal(options, { listen: 'file:1', workers: 6, bridge: 'br-flag', verbose: false, ofport: ['e=1'] });
  assert.equal(sources, { listen: 'config', workers: 'config', bridge: 'flag', verbose: 'default', ofport: 'env' });
});

test('configFromObject rejects unknown keys (with a suggestion) and wrong types', () => {
  const unknown = cliError(() => configFromObject(OPTIONS, { listn: 'x' }, 'agent.json'));
  assert.is(unknown.code, 'E_CLI_BAD_CONFIG');
  assert.is(unknown.message, 'agent.json: unknown setting "listn" (did you mean "listen"?)');
  assert.match(
    cliError(() => configFromObject(OPTIONS, { workers: true }, 'c')).message,
    'setting "workers" must be a number',
  );
  assert.match(cliError(() => configFromObject(OPTIONS, { ofport: [1] }, 'c')).message, 'a list of strings');
  assert.match(cliError(() => configFromObject(OPTIONS, [], 'c')).message, 'expected an object');
});

test('help text explains each option with metavar, default, env and repeatability', () => {
  const text = formatHelp({
    usage: 'alcor-agent run [options]',
    description: 'Runs the agent.',
    options: OPTIONS,
    sections: [{ title: 'Subcommands', rows: [['run', 'run the agent']] }],
  });
  assert.match(text, /^Usage: alcor-agent run \[options\]\n\nRuns the agent\.\n/);
  assert.match(text, /--listen ADDR\s+gRPC listen address \(default: 0\.0\.0\.0:50001; env ALCOR_LISTEN\)/);
  assert.match(text, /-w, --workers N\s+worker threads \(default: 2\)/);
  assert.match(text, /--ofport NAME=N\s+pin an OpenFlow port number \(repeatable; env ALCOR_OFPORTS\)/);
  assert.match(text, /-v, --verbose\s+log more\n/);
  assert.match(text, /-h, --help\s+show this help and exit/);
  assert.match(text, /Subcommands:\n {2}run\s+run the agent/);
});

test('declaration mistakes fail loudly', () => {
  assert.throws(() => parseArgs([{ name: 'Bad_Name', type: 'string', help: '' }], []), /kebab-case/);
  assert.throws(
    () =>
      parseArgs(
        [
          { name: 'a', type: 'string', help: '' },
          { name: 'a', type: 'number', help: '' },
        ],
        [],
      ),
    /declared twice/,
  );
});

test('edit distance counts transpositions as one edit', () => {
  assert.is(editDistance('listen', 'listen'), 0);
  assert.is(editDistance('lsiten', 'listen'), 1);
  assert.is(editDistance('', 'abc'), 3);
  assert.is(closest('--verbos', ['verbose', 'listen']), 'verbose');
  assert.is(closest('xyz', ['verbose']), undefined);
});

test.run();
