// Shared by the three bins: loads the compiled CLI from dist/ (build with `npm run build`) and runs it,
// so a missing build or an unexpected error is one clear line, never a stack trace.
'use strict';
const path = require('node:path');

function oneLine(e) {
  const text = e instanceof Error ? (typeof e.code === 'string' ? e.code + ': ' : '') + e.message : String(e);
  return text.replace(/\s*\n\s*/g, ' ');
}

/** Runs dist/<dir>/cli/main.js's main() with the process arguments, as program `bin`. */
module.exports = function launch(bin, dir) {
  const rel = `dist/${dir}/cli/main.js`;
  let cli;
  try {
    cli = require(path.join(__dirname, '..', rel));
  } catch (e) {
    process.stderr.write(`${bin}: cannot load ${rel} (run \`npm run build\` first): ${oneLine(e)}\n`);
    process.exit(1);
  }
  cli.main(process.argv.slice(2)).then(
    (code) => {
      // Exit once stdout has drained, so piped output is never cut short by a lingering handle or an early exit.
      process.stdout.write('', () => process.exit(typeof code === 'number' ? code : 1));
    },
    (e) => {
      process.stderr.write(`${bin}: unexpected error: ${oneLine(e)}\n`);
      if (process.env.ALCOR_DEBUG) process.stderr.write(String(e && e.stack) + '\n');
      process.exit(1);
    },
  );
};
