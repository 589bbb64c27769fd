import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CliIo } from '../../core/cli/commands';
import { GoalStateV2 } from '../../proto';
import { fullGoalStateBytes, fullGoalStateV2Bytes, neighborsGoalStateV2Bytes } from '../../test/fixtures/goalstates';
import { repoRoot } from '../../test/protos';
import { inspect, inspectBytes, writeJson } from './inspect';
import { main } from './main';

interface Captured {
  readonly io: CliIo;
  out(): string;
  err(): string;
}

function capture(): Captured {
  let out = '';
  let err = '';
  return {
    io: { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env: {} },
    out: () => out,
    err: () => err,
  };
}

const full = fullGoalStateV2Bytes();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-inspect-'));
const fullFile = path.join(tmp, 'full.bin');
fs.writeFileSync(fullFile, full);

test('inspect prints pretty proto3 JSON with every resource kind', async () => {
  const c = capture();
  assert.is(await inspect([fullFile], c.io), 0);
  assert.is(c.err(), '');
  const json = JSON.parse(c.out()) as Record<string, Record<string, unknown>>;
  for (const kind of [
    'hostResources',
    'vpcStates',
    'subnetStates',
    'portStates',
    'dhcpStates',
    'neighborStates',
    'securityGroupStates',
    'routerStates',
    'gatewayStates',
  ]) {
    assert.ok(json[kind] !== undefined && Object.keys(json[kind] ?? {}).length > 0, `${kind} is printed`);
  }
  assert.equal(json, GoalStateV2.toJSON(GoalStateV2.decode(full)), 'same as the generated toJSON');
  assert.match(
    c.out(),
    /^\{\n {2}"formatVersion": 102,\n {2}"hostResources": \{\n {4}"172\.16\.62\.247": \{\n {6}"resources": \[/,
  );
  assert.match(c.out(), /"zetaInfo": \{\n\s+"portInbandOperation": 8300/);
  assert.match(c.out(), /"neighborType": "L3"/);
});

test('--json-compact prints one line; --v1 reads a v1 GoalState', async () => {
  const c = capture();
  assert.is(await inspect([fullFile, '--json-compact'], c.io), 0);
  assert.is(c.out().split('\n').length, 2, 'one line plus the final newline');
  const v1File = path.join(tmp, 'full-v1.bin');
  fs.writeFileSync(v1File, fullGoalStateBytes());
  const v1 = capture();
  assert.is(await inspect([v1File, '--v1'], v1.io), 0);
  const json = JSON.parse(v1.out()) as { formatVersion: number; neighborStates: unknown[] };
  assert.is(json.formatVersion, 101);
  assert.is(json.neighborStates.length, 3);
});

test('a v1 file read as v2 (and the reverse) is pointed at --v1', () => {
  const c = capture();
  assert.is(inspectBytes(fullGoalStateBytes(), { v1: false, compact: true }, c.io), 2);
  assert.match(c.err(), /^inspect: corrupt GoalStateV2 at byte \d+.*; the bytes parse as a GoalState: try --v1\n$/);
  const d = capture();
  assert.is(inspectBytes(full, { v1: true, compact: true }, d.io), 2);
  assert.match(d.err(), /; the bytes parse as a GoalStateV2: drop --v1\n$/);
});

test("FILE '-' reads standard input", async () => {
  const c = capture();
  assert.is(await inspect(['-', '--json-compact'], c.io, () => Promise.resolve(full)), 0);
  assert.equal(JSON.parse(c.out()), GoalStateV2.toJSON(GoalStateV2.decode(full)));
});

test('a truncated file exits 2 with one line naming the byte offset', () => {
  // Cut points inside the first map entry, a neighbor, the security group and the last byte.
  for (const cut of [3, 40, Math.floor(full.length / 2), full.length - 200, full.length - 1]) {
    const c = capture();
    assert.is(inspectBytes(full.subarray(0, cut), { v1: false, compact: false }, c.io), 2, `cut at ${cut}`);
    assert.is(c.out(), '');
    const lines = c.err().split('\n');
    assert.is(lines.length, 2, `one line: ${c.err()}`);
    assert.match(
      lines[0] ?? '',
      /^inspect: corrupt GoalStateV2 at byte \d+(?: in [\w.[\]]+)?: (?:.+ needs \d+ bytes, \d+ left|.+ varint is cut off after \d+ bytes?)$/,
    );
  }
});

test('a missing file or wrong arguments are one clear line, exit 2', async () => {
  const c = capture();
  assert.is(await inspect([path.join(tmp, 'nope.bin')], c.io), 2);
  assert.match(c.err(), /^inspect: cannot read .*nope\.bin: no such file \(ENOENT\)\n$/);
  const d = capture();
  assert.is(await main(['inspect'], d.io), 2);
  assert.match(d.err(), /^alcor-agent inspect: missing FILE; see alcor-agent inspect --help\n$/);
  const e = capture();
  assert.is(await main(['inspect', fullFile, '--compact'], e.io), 2);
  assert.match(e.err(), /unknown option --compact \(did you mean --json-compact\?\)/);
});

test('random corruption never throws and always ends in JSON or one error line', () => {
  let seed = 99;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 500; round++) {
    const buf = Uint8Array.from(full);
    for (let k = 0; k < 1 + rand(6); k++) buf[rand(buf.length)] = rand(256);
    const cut = rand(3) === 0 ? rand(buf.length) : buf.length;
    const c = capture();
    const code = inspectBytes(buf.subarray(0, cut), { v1: rand(2) === 0, compact: true }, c.io);
    if (code === 0) {
      JSON.parse(c.out());
    } else {
      assert.is(code, 2);
      assert.is(c.err().split('\n').length, 2, c.err());
    }
  }
});

test('streamed JSON equals JSON.stringify for nested values', () => {
  const value = { a: 1, b: { c: [1, { d: 'x' }], e: {} }, f: [], g: 'q"uote', h: [{ i: { j: [2, 3] } }] };
  for (const pretty of [true, false]) {
    let text = '';
    writeJson(value, pretty, (t) => (text += t));
    assert.is(text, JSON.stringify(value, null, pretty ? 2 : undefined) + '\n');
  }
});

test('the binary works end to end: help, inspect from stdin, errors and exit codes', () => {
  const bin = path.join(repoRoot(), 'bin', 'alcor-agent.js');
  const run = (args: string[], input?: Uint8Array): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const help = run(['--help']);
  assert.is(help.status, 0);
  for (const sub of ['run', 'compile', 'status', 'flows', 'inspect'])
    assert.match(help.stdout, new RegExp(`\\n  ${sub}\\s+\\S`));
  const subHelp = run(['inspect', '--help']);
  assert.is(subHelp.status, 0);
  assert.match(subHelp.stdout, /--json-compact/);
  const piped = run(['inspect', '-'], neighborsGoalStateV2Bytes(50));
  assert.is(piped.status, 0, piped.stderr);
  assert.is(Object.keys((JSON.parse(piped.stdout) as { neighborStates: object }).neighborStates).length, 50);
  const bad = run(['inspect', '-'], full.subarray(0, 1000));
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /^inspect: corrupt GoalStateV2 at byte \d+/);
  assert.is(run(['bogus']).status, 2);
});

test('the other two binaries list their subcommands, each with its own --help', () => {
  // Only help is exercised: subcommands such as `alcor-control run` start servers once implemented.
  for (const [name, subs] of [
    ['alcor-control', ['run']],
    ['alcor-bench', ['core', 'ovs', 'control', 'ebpf']],
  ] as const) {
    const bin = path.join(repoRoot(), 'bin', `${name}.js`);
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8', timeout: 20_000 });
    assert.is(help.status, 0);
    for (const sub of subs) {
      assert.match(help.stdout, new RegExp(`\\n  ${sub}\\s+\\S`));
      const r = spawnSync(process.execPath, [bin, sub, '--help'], { encoding: 'utf8', timeout: 20_000 });
      assert.is(r.status, 0, `${name} ${sub} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: ${name} ${sub}`));
    }
  }
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();
