#!/usr/bin/env node
// alcor-agent: thin launcher for the compiled CLI in dist/agent/cli/main.js.
'use strict';
require('./launch')('alcor-agent', 'agent');
