#!/usr/bin/env node
// alcor-control: thin launcher for the compiled CLI in dist/control/cli/main.js (build with `npm run build`).
'use strict';
const path = require('node:path');

function oneLine(e) {
  const text = e instanceof Error ? (typeof e.code === 'string' ? e.code + ': ' : '') + e.message : String(e);
  return text.replace(/\s*\n\s*/g, ' ');
}

let cli;
try {
  cli = require(path.join(__dirname, '..', 'dist', 'control', 'cli', 'main.js'));
} catch (e) {
  process.stderr.write(
    'alcor-control: cannot load dist/control/cli/main.js (run `npm run build` first): ' + oneLine(e) + '\n',
  );
  process.exit(1);
}

cli.main(process.argv.slice(2)).then(
  (code) => {
    // Exit once stdout has drained, so piped output is never cut short by a lingering handle or an early exit.
    process.stdout.write('', () => process.exit(typeof code === 'number' ? code : 1));
  },
  (e) => {
    process.stderr.write('alcor-control: unexpected error: ' + oneLine(e) + '\n');
    if (process.env.ALCOR_DEBUG) process.stderr.write(String(e && e.stack) + '\n');
    process.exit(1);
  },
);
