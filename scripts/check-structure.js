#!/usr/bin/env node
// Structure check (issue 16): no hand-written module over 600 lines, no function over 80 lines in agent/ or
// core/engine/. Sizes are a proxy for "one concept per module, one job per function"; a file that grows past
// them is where unrelated work starts landing, so CI fails then rather than after the next feature.
//
// Exempt from the module limit, and why:
// - the protocol codecs (core/openflow, core/wire, core/packet, the OVSDB framing): one file per wire format
//   reads best next to its spec;
// - the two protocol engines (agent/openflow/session.ts, agent/ovsdb/client.ts): one state machine each, as
//   undici keeps one file per protocol engine;
// - generated code (proto/gen) and tests (*.test.ts, test/): not hand-written modules.
//
// Usage: node scripts/check-structure.js [--json]   (exit 1 and one line per finding when something is over)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const ROOT = path.resolve(__dirname, '..');
const MAX_MODULE_LINES = 600;
const MAX_FUNCTION_LINES = 80;
const SOURCE_DIRS = ['core', 'agent', 'control', 'perf', 'native', 'proto', 'scripts', 'bin', 'test'];
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build', 'gen']);
const MODULE_EXEMPT = [
  'core/openflow/',
  'core/wire/',
  'core/packet/',
  'agent/ovsdb/framing.ts',
  'agent/openflow/session.ts',
  'agent/ovsdb/client.ts',
  'test/',
];
const FUNCTION_DIRS = ['agent/', 'core/engine/'];

const isTest = (rel) => rel.endsWith('.test.ts') || rel.startsWith('test/');

function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true });
  } catch {
    return out; // a source dir this checkout does not have
  }
  for (const e of entries) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) walk(rel, out);
    } else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Functions (declarations, methods, arrows, accessors) longer than the limit, counted first line to last. */
function longFunctions(rel, text) {
  const src = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (n) => {
    if (ts.isFunctionLike(n) && n.body !== undefined) {
      const first = src.getLineAndCharacterOfPosition(n.getStart(src)).line;
      const last = src.getLineAndCharacterOfPosition(n.end).line;
      const lines = last - first + 1;
      if (lines > MAX_FUNCTION_LINES) {
        const name = n.name !== undefined ? n.name.getText(src) : '<anonymous>';
        found.push({ file: rel, line: first + 1, kind: 'function', name, lines, limit: MAX_FUNCTION_LINES });
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return found;
}

function check() {
  const findings = [];
  for (const rel of SOURCE_DIRS.flatMap((d) => walk(d, []))) {
    const text = fs.readFileSync(path.join(ROOT, rel), 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    const exempt = isTest(rel) || MODULE_EXEMPT.some((p) => (p.endsWith('/') ? rel.startsWith(p) : rel === p));
    if (!exempt && lines > MAX_MODULE_LINES) {
      findings.push({ file: rel, line: 1, kind: 'module', name: path.basename(rel), lines, limit: MAX_MODULE_LINES });
    }
    if (rel.endsWith('.ts') && !isTest(rel) && FUNCTION_DIRS.some((d) => rel.startsWith(d))) {
      findings.push(...longFunctions(rel, text));
    }
  }
  return findings;
}

const findings = check();
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ ok: findings.length === 0, findings }));
} else {
  for (const f of findings) {
    console.log(`${f.file}:${f.line}: ${f.kind} ${f.name} is ${f.lines} lines (limit ${f.limit})`);
  }
  if (findings.length === 0) console.log('structure: no module or function over its limit');
}
process.exitCode = findings.length === 0 ? 0 : 1;
