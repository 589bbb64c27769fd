#!/usr/bin/env node
// alcor-control: thin launcher for the compiled CLI in dist/control/cli/main.js.
'use strict';
require('./launch')('alcor-control', 'control');
