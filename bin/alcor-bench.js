#!/usr/bin/env node
// alcor-bench: thin launcher for the compiled CLI in dist/perf/cli/main.js.
'use strict';
require('./launch')('alcor-bench', 'perf');
