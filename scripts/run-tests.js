#!/usr/bin/env node
// Test runner: every compiled dist/**/*.test.js runs in its own node process (uvu files call test.run()).
//
//   node scripts/run-tests.js [--jobs N] [filter ...]
//     filter          run only files whose path contains one of these substrings (e.g. `npm test -- openflow`)
//     --jobs N        files run in parallel (default 1, or TEST_JOBS)
//     TEST_TIMEOUT_MS per-file timeout (default 180000); a timed-out file is killed and counts as failed
// Compiled files whose source .ts no longer exists (dist/ is never cleaned) are listed as stale and not run.
//
// Per file it parses uvu's summary (Total/Passed/Skipped). A non-zero exit, crash, timeout or a missing summary
// counts as at least one failure. A file that printed `SKIP <file>: ...` (test/prereq.ts) and exited 0 without a
// summary counts as one skipped test. The last line is always `N passed, N failed[, N skipped]`; exit code 1
// when anything failed or when no test ran at all.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const distDir = path.join(root, 'dist');

function usage(msg) {
  console.error(`run-tests: ${msg}`);
  console.error('usage: node scripts/run-tests.js [--jobs N] [filter ...]');
  process.exit(2);
}

function parseArgs(argv) {
  let jobs = Number(process.env.TEST_JOBS || 1);
  const filters = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--jobs' || arg === '-j') {
      jobs = Number(argv[++i]);
    } else if (arg.startsWith('--jobs=')) {
      jobs = Number(arg.slice('--jobs='.length));
    } else if (arg.startsWith('-')) {
      usage(`unknown option ${arg}`);
    } else {
      filters.push(arg);
    }
  }
  if (!Number.isInteger(jobs) || jobs < 1) usage('--jobs / TEST_JOBS must be a positive integer');
  const timeoutMs = Number(process.env.TEST_TIMEOUT_MS || 180000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) usage('TEST_TIMEOUT_MS must be a positive number');
  return { jobs, filters, timeoutMs };
}

function findTestFiles(dir, out = []) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name === 'node_modules') continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) findTestFiles(full, out);
    else if (e.isFile() && e.name.endsWith('.test.js')) out.push(path.relative(root, full));
  }
  return out.sort();
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** uvu's per-file summary, or null when the file printed none. */
function parseSummary(output) {
  const text = output.replace(ANSI, '');
  const num = (label) => {
    const all = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, 'gm'))];
    return all.length ? all.reduce((sum, m) => sum + Number(m[1]), 0) : null;
  };
  const total = num('Total');
  const passed = num('Passed');
  if (total === null || passed === null) return null;
  const skipped = num('Skipped') ?? 0;
  return { total, passed, skipped };
}

// Children run in their own process groups (so a timeout can kill what they spawned); on Ctrl-C / SIGTERM the
// runner must take them down itself.
const running = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    console.log(`run-tests: interrupted by ${sig}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  });
}

function runFile(file, timeoutMs) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', NODE_DISABLE_COLORS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout can kill whatever the test spawned too
    });
    if (child.pid !== undefined) running.add(child.pid);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    let spawnError = null;
    child.on('error', (err) => (spawnError = err));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child.pid);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ file, code, signal, timedOut, spawnError, output, seconds });
    });
  });
}

/** Turns one file's run into counts plus a reason when it failed. */
function judge(run) {
  const summary = parseSummary(run.output);
  const clean = run.output.replace(ANSI, '');
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  if (summary) {
    passed = summary.passed;
    skipped = summary.skipped;
    // uvu's Total counts the tests that were meant to run; skipped ones (test.skip) are not in it.
    failed = Math.max(0, summary.total - summary.passed);
  } else if (run.code === 0 && /^SKIP /m.test(clean)) {
    skipped = 1;
  }
  let reason = null;
  if (run.spawnError) reason = `could not start: ${run.spawnError.message}`;
  else if (run.timedOut) reason = 'timed out';
  else if (run.signal) reason = `killed by ${run.signal}`;
  else if (failed > 0) reason = `${failed} failed`;
  else if (run.code !== 0) reason = `exit code ${run.code}`;
  else if (!summary && skipped === 0) reason = 'no uvu summary (did the file call test.run()?)';
  if (reason !== null && failed === 0) failed = 1;
  return { passed, failed, skipped, reason };
}

function report(run, verdict, timeoutMs) {
  const secs = `${run.seconds.toFixed(1)}s`;
  if (verdict.reason === null) {
    const skipNote = /^SKIP [^:]*: (.*)$/m.exec(run.output.replace(ANSI, ''));
    const what =
      verdict.passed === 0 && verdict.skipped > 0
        ? `skipped${skipNote ? ` (${skipNote[1]})` : ''}`
        : `${verdict.passed} passed${verdict.skipped ? `, ${verdict.skipped} skipped` : ''}`;
    console.log(`ok    ${run.file}  ${what}  ${secs}`);
    return;
  }
  const extra = run.timedOut ? ` after ${timeoutMs} ms` : '';
  console.log(`FAIL  ${run.file}  ${verdict.reason}${extra}  ${secs}`);
  const body = run.output.replace(ANSI, '').trimEnd();
  if (body) console.log(body.replace(/^/gm, '    | '));
}

async function main() {
  const { jobs, filters, timeoutMs } = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(distDir)) {
    console.error('run-tests: dist/ does not exist; build first (npm run build)');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  // dist/ is never cleaned by tsc: a test whose source was deleted or renamed would keep running from its old
  // compiled copy. Only files with a source next to them (x.test.ts -> dist/x.test.js) count.
  const found = findTestFiles(distDir);
  const hasSource = (f) => {
    const rel = path.relative('dist', f).replace(/\.js$/, '');
    return ['.ts', '.js'].some((ext) => fs.existsSync(path.join(root, rel + ext)));
  };
  const all = found.filter(hasSource);
  for (const f of found) if (!hasSource(f)) console.log(`stale ${f}: its source is gone, not run`);
  const files = filters.length ? all.filter((f) => filters.some((s) => f.includes(s))) : all;
  console.log(`run-tests: ${files.length} file(s), jobs=${jobs}, timeout=${timeoutMs} ms`);

  const totals = { passed: 0, failed: 0, skipped: 0 };
  let next = 0;
  async function worker() {
    while (next < files.length) {
      const file = files[next++];
      const run = await runFile(file, timeoutMs);
      const verdict = judge(run);
      totals.passed += verdict.passed;
      totals.failed += verdict.failed;
      totals.skipped += verdict.skipped;
      report(run, verdict, timeoutMs);
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, Math.max(files.length, 1)) }, worker));

  if (totals.passed + totals.failed === 0) {
    console.log(
      files.length === 0
        ? `run-tests: no test files matched${filters.length ? ` (filters: ${filters.join(' ')})` : ''}`
        : 'run-tests: no test ran at all',
    );
  }
  const skippedPart = totals.skipped ? `, ${totals.skipped} skipped` : '';
  console.log(`${totals.passed} passed, ${totals.failed} failed${skippedPart}`);
  process.exit(totals.failed > 0 || totals.passed + totals.failed === 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
