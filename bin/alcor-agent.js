#!/usr/bin/env -S node --max-semi-space-size=4
// alcor-agent: thin launcher for the compiled CLI in dist/agent/cli/main.js.
// The flag caps the main thread's young generation (V8's default grows it to 32 MB): the main
// thread only does I/O, and at 10k neighbors this keeps ~25 MB of a ~180 MB peak off the host
// with no measurable CPU cost (docs/benchmarks.md). `node bin/alcor-agent.js` runs without it.
'use strict';
require('./launch')('alcor-agent', 'agent');
