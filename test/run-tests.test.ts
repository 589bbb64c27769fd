// scripts/run-tests.js against a throw-away tree of fixture test files: counting, failure kinds, final line, exit code.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repo = path.resolve(__dirname, '..', '..');

const FIXTURES: Readonly<Record<string, string>> = {
  'pass.test.js': `const { test } = require('uvu');
test('a', () => {}); test('b', () => {}); test.skip('c', () => {}); test.run();`,
  'fail.test.js': `const { test } = require('uvu'); const assert = require('uvu/assert');
test('a', () => {}); test('b', () => assert.is(1, 2)); test.run();`,
  'crash.test.js': `throw new Error('boom');`,
  'hang.test.js': `setTimeout(() => {}, 60000);`,
  'skip.test.js': `console.log('SKIP dist/skip.test.js: missing etcd (not found)');`,
};

/** A scratch repo root holding the runner, a dist/ with the given fixtures and a link to our node_modules. */
function scratchRepo(files: readonly string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alc-runner-'));
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.mkdirSync(path.join(dir, 'dist', 'nested'), { recursive: true });
  fs.copyFileSync(path.join(repo, 'scripts', 'run-tests.js'), path.join(dir, 'scripts', 'run-tests.js'));
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'));
  fs.mkdirSync(path.join(dir, 'nested'));
  for (const f of files) {
    fs.writeFileSync(path.join(dir, 'dist', 'nested', f), FIXTURES[f] ?? '');
    fs.writeFileSync(path.join(dir, 'nested', f.replace(/\.js$/, '.ts')), '// source stand-in\n');
  }
  return dir;
}

function runner(dir: string, args: readonly string[] = [], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [path.join(dir, 'scripts', 'run-tests.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  const lines = res.stdout.trimEnd().split('\n');
  return { code: res.status, stdout: res.stdout, last: lines[lines.length - 1] ?? '' };
}

test('passing files: counts passed and uvu skips, exit 0', () => {
  const dir = scratchRepo(['pass.test.js']);
  try {
    const r = runner(dir);
    assert.is(r.last, '2 passed, 0 failed, 1 skipped');
    assert.is(r.code, 0);
    assert.match(r.stdout, /^ok {4}dist\/nested\/pass\.test\.js {2}2 passed, 1 skipped {2}[\d.]+s$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('assertion failure, crash and timeout each fail their file; output is shown', () => {
  const dir = scratchRepo(['pass.test.js', 'fail.test.js', 'crash.test.js', 'hang.test.js']);
  try {
    const r = runner(dir, ['--jobs', '4'], { TEST_TIMEOUT_MS: '5000' });
    assert.is(r.last, '3 passed, 3 failed, 1 skipped', r.stdout);
    assert.is(r.code, 1);
    assert.match(r.stdout, /^FAIL {2}dist\/nested\/fail\.test\.js {2}1 failed/m);
    assert.match(r.stdout, /^FAIL {2}dist\/nested\/crash\.test\.js {2}exit code 1/m);
    assert.match(r.stdout, /^ {4}\| Error: boom$/m);
    assert.match(r.stdout, /^FAIL {2}dist\/nested\/hang\.test\.js {2}timed out after 5000 ms/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('filters select files; a SKIP-only run has no test and exits 1', () => {
  const dir = scratchRepo(['pass.test.js', 'skip.test.js']);
  try {
    const onlyPass = runner(dir, ['pass']);
    assert.is(onlyPass.last, '2 passed, 0 failed, 1 skipped');
    const onlySkip = runner(dir, ['skip']);
    assert.is(onlySkip.last, '0 passed, 0 failed, 1 skipped');
    assert.is(onlySkip.code, 1);
    const none = runner(dir, ['no-such-file']);
    assert.is(none.last, '0 passed, 0 failed');
    assert.is(none.code, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('compiled tests without a source are stale and not run', () => {
  const dir = scratchRepo(['pass.test.js']);
  try {
    fs.writeFileSync(path.join(dir, 'dist', 'nested', 'gone.test.js'), FIXTURES['crash.test.js'] ?? '');
    const r = runner(dir);
    assert.match(r.stdout, /^stale dist\/nested\/gone\.test\.js: its source is gone, not run$/m);
    assert.is(r.last, '2 passed, 0 failed, 1 skipped');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad options are usage errors', () => {
  const dir = scratchRepo([]);
  try {
    assert.is(runner(dir, ['--jobs', '0']).code, 2);
    assert.is(runner(dir, ['--frobnicate']).code, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
