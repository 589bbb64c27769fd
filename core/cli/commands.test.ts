import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CliError } from './args';
import {
  binaryHelp,
  dispatch,
  notImplemented,
  oneLineError,
  type BinarySpec,
  type CliIo,
  type SubcommandModule,
} from './commands';

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env: {} },
    out: () => out,
    err: () => err,
  };
}

const calls: string[][] = [];
const echo: SubcommandModule = {
  help: {
    usage: 'demo echo [options] ARGS',
    description: 'Echoes.',
    options: [{ name: 'loud', type: 'boolean', help: 'shout' }],
  },
  run: (argv, io) => {
    calls.push([...argv]);
    if (argv.includes('--bad')) throw new CliError('E_CLI_UNKNOWN_OPTION', 'unknown option --bad');
    if (argv.includes('--crash')) throw new Error('boom');
    io.stdout(argv.join(' ') + '\n');
    return Promise.resolve(0);
  },
};

const DEMO: BinarySpec = {
  bin: 'demo',
  description: 'A demo binary.',
  version: '9.9.9',
  subcommands: [
    { name: 'echo', summary: 'echo the arguments', load: () => Promise.resolve({ command: echo }) },
    {
      name: 'later',
      summary: 'not written yet',
      load: () => Promise.resolve({ command: notImplemented('demo', 'later', 'not written yet') }),
    },
  ],
};

test('dispatch runs the named subcommand with the remaining arguments', async () => {
  const c = capture();
  assert.is(await dispatch(DEMO, ['echo', 'a', '--loud'], c.io), 0);
  assert.is(c.out(), 'a --loud\n');
  assert.equal(calls.at(-1), ['a', '--loud']);
});

test('--help lists subcommands with summaries; no arguments prints it to stderr with exit 2', async () => {
  const c = capture();
  assert.is(await dispatch(DEMO, ['--help'], c.io), 0);
  assert.is(c.out(), binaryHelp(DEMO));
  assert.match(c.out(), /Subcommands:\n {2}echo\s+echo the arguments\n {2}later\s+not written yet\n/);
  const none = capture();
  assert.is(await dispatch(DEMO, [], none.io), 2);
  assert.match(none.err(), /^Usage: demo <subcommand>/);
  const v = capture();
  assert.is(await dispatch(DEMO, ['--version'], v.io), 0);
  assert.is(v.out(), 'demo 9.9.9\n');
});

test('<sub> --help and help <sub> print the subcommand help without running it', async () => {
  const before = calls.length;
  for (const argv of [
    ['echo', 'x', '--help'],
    ['echo', '-h'],
    ['help', 'echo'],
  ]) {
    const c = capture();
    assert.is(await dispatch(DEMO, argv, c.io), 0);
    assert.match(c.out(), /^Usage: demo echo \[options\] ARGS\n\nEchoes\.\n\nOptions:\n\s+--loud\s+shout/);
  }
  assert.is(calls.length, before);
  const c = capture();
  await dispatch(DEMO, ['echo', '--', '--help'], c.io);
  assert.is(c.out(), '-- --help\n', 'after -- it is an argument (the subcommand parser sees the --)');
});

test('unknown subcommands suggest the closest; usage errors become one line and exit 2', async () => {
  const c = capture();
  assert.is(await dispatch(DEMO, ['ecoh'], c.io), 2);
  assert.is(c.err(), 'demo: unknown subcommand ecoh (did you mean echo?); see demo --help\n');
  const bad = capture();
  assert.is(await dispatch(DEMO, ['echo', '--bad'], bad.io), 2);
  assert.is(bad.err(), 'demo echo: unknown option --bad; see demo echo --help\n');
  let thrown: unknown;
  try {
    await dispatch(DEMO, ['echo', '--crash'], capture().io);
  } catch (e: unknown) {
    thrown = e;
  }
  assert.ok(thrown instanceof Error, 'unexpected errors propagate to the bin, which prints one line and exits 1');
});

test('placeholders print "not implemented yet" and exit 2', async () => {
  const c = capture();
  assert.is(await dispatch(DEMO, ['later'], c.io), 2);
  assert.is(c.err(), 'demo later: not implemented yet\n');
});

test('oneLineError flattens messages and keeps the error code', () => {
  const e = Object.assign(new Error('first\n  second'), { code: 'E_X' });
  assert.is(oneLineError(e), 'E_X: first second');
  assert.is(oneLineError('plain'), 'plain');
});

test.run();
