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
]);
