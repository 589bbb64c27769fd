// test/prereq.ts: skip outside CI, fail under CI=true, true when everything is there.
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findExecutable, missingPrereqs } from './prereq';

const prereqModule = require.resolve('./prereq');

/** Runs a tiny script that requires a tool no machine has, with the given CI value. */
function gate(ci: string) {
  const script = `
    const { requirePrereqs } = require(${JSON.stringify(prereqModule)});
    process.env.PATH = '/nonexistent';
    if (requirePrereqs(['busybox'])) console.log('RAN');
  `;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, CI: ci } });
}

test('missing tool outside CI: SKIP line, no tests, exit 0', () => {
  const res = gate('');
  assert.is(res.status, 0);
  assert.match(res.stdout, /^SKIP .*: missing busybox \(busybox not found; apt-get install busybox\)$/m);
  assert.not.match(res.stdout, /RAN/);
});

test('missing tool with CI=true: FAIL line and exit 1', () => {
  const res = gate('true');
  assert.is(res.status, 1);
  assert.match(res.stderr, /^FAIL .*: missing busybox/m);
  assert.not.match(res.stdout, /RAN/);
});

test('findExecutable searches PATH and the sbin dirs', () => {
  assert.ok(findExecutable('sh') !== null);
  assert.is(findExecutable('surely-no-such-tool-xyz'), null);
});

test('the root check matches the uid', () => {
  const isRoot = process.getuid?.() === 0;
  assert.is(missingPrereqs(['root']).length === 0, isRoot);
});

test.run();
