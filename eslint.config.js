// ESLint flat config: typescript-eslint's recommended rules for TS, ESLint's recommended rules for the plain-JS
// scripts. Type-aware rules are left out on purpose: they need a full program build and make `npm run lint` slow.
'use strict';
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const { defineConfig } = require('eslint/config');

// Plain-JS files (scripts/, bin/, this file) are CommonJS run by Node.
const nodeGlobals = Object.fromEntries(
  [
    'require',
    'module',
    'exports',
    '__dirname',
    '__filename',
    'process',
    'console',
    'Buffer',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'clearImmediate',
    'queueMicrotask',
    'structuredClone',
    'URL',
    'TextEncoder',
    'TextDecoder',
    'AbortController',
    'performance',
    'globalThis',
  ].map((name) => [name, 'readonly']),
);

const unusedVars = [
  'error',
  {
    argsIgnorePattern: '^_',
    varsIgnorePattern: '^_',
    caughtErrorsIgnorePattern: '^_',
    destructuredArrayIgnorePattern: '^_',
  },
];

// Layering: perf -> control -> agent -> core, with no arrow back up; core/ is pure computation and I/O
// lives at the edges (agent/, control/). These rules make the boundary checked, not remembered.
// What core/ library code uses from Node today, and why it is allowed: node:path (core/engine/engine.ts
// resolves its worker script; no I/O) and piscina (core/engine only, see below). Tests may do more.
const up = (dir) => ({
  regex: `(^|/)${dir}(/|$)`,
  message: `core/ is pure computation: it must not depend on ${dir}/ (the layers above it and the addon).`,
});
const nodeIo = ['fs', 'fs/promises', 'net', 'tls', 'child_process', 'dgram', 'http', 'https', 'http2', 'worker_threads']
  .flatMap((m) => [m, `node:${m}`])
  .map((name) => ({
    name,
    message: 'core/ does no I/O: sockets, files, processes and threads belong in agent/ or control/.',
  }));
// Worker threads come into core/ only through piscina, and only in core/engine: the engine's partitioned
// pool is part of the library API (Engine), the same code the daemon runs. Nothing else in core/ may.
const piscina = {
  name: 'piscina',
  message: 'only core/engine runs a worker pool (piscina); the rest of core/ stays single-threaded.',
};
const coreUp = ['agent', 'control', 'perf', 'native'].map(up);
const coreTestFiles = ['core/**/*.test.ts', 'core/**/*.bench.ts'];

module.exports = defineConfig([
  { ignores: ['dist/', 'build/', 'node_modules/', 'proto/gen/'] },
  js.configs.recommended,
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', ecmaVersion: 2022, globals: nodeGlobals },
    rules: { 'no-unused-vars': unusedVars },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': unusedVars,
    },
  },
  {
    // core/ library code: no upward imports, no I/O modules, no test helpers.
    files: ['core/**/*.ts'],
    ignores: coreTestFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeIo, piscina],
          patterns: [
            ...coreUp,
            { regex: '(^|/)test/', message: 'test helpers are for tests; library code must not import them.' },
          ],
        },
      ],
    },
  },
  {
    // core/engine owns the worker pool: the same rules minus piscina.
    files: ['core/engine/**/*.ts'],
    ignores: coreTestFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeIo,
          patterns: [
            ...coreUp,
            { regex: '(^|/)test/', message: 'test helpers are for tests; library code must not import them.' },
          ],
        },
      ],
    },
  },
  {
    // core/ tests may use files, sockets and real OVS (test/), but still not the layers above core/.
    files: coreTestFiles,
    rules: { 'no-restricted-imports': ['error', { patterns: coreUp }] },
  },
  {
    files: ['agent/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: ['control', 'perf'].map((dir) => ({
            regex: `(^|/)${dir}(/|$)`,
            message: `agent/ sits below ${dir}/: it must not import it.`,
          })),
        },
      ],
    },
  },
  {
    files: ['control/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)perf(/|$)', message: 'control/ sits below perf/: it must not import it.' }] },
      ],
    },
  },
]);
