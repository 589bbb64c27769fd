#!/usr/bin/env node
// Times one partition holding N fixture neighbors in each home (docs/engine.md, "Neighbor
// placement"): records (the lane off), the FlowTable alone, and the lane. Not a benchmark of the
// agent (alcor-bench core is); it shows what each home costs when it is the one used.
// Usage: npm run build && node --expose-gc scripts/neighbor-tiers.js [N] [modes, e.g. records,table,lane]
'use strict';
const { neighborPartition, neighborStatesBytes, fixtureNeighbors } = require('../dist/test/fixtures/neighbor-edits.js');
const n = Number(process.argv[2] || 100000);
const bytes = neighborStatesBytes(fixtureNeighbors(1, n), true);
for (const mode of (process.argv[3] || 'records,table,lane').split(',')) {
  global.gc && global.gc();
  const rss0 = process.memoryUsage().rss;
  const e = neighborPartition(mode);
  const t = performance.now();
  const r = e.prepareGoalState(bytes, 2, { bundleId: 1, firstXid: 1 });
  e.commit(r.txn);
  const ms = performance.now() - t;
  const t2 = performance.now();
  const r2 = e.prepareGoalState(neighborStatesBytes(fixtureNeighbors(n + 1, 1)), 2, { bundleId: 2, firstXid: 1 });
  e.commit(r2.txn);
  console.log(
    JSON.stringify({
      mode,
      n,
      prepareMs: Math.round(ms),
      oneMoreMs: +(performance.now() - t2).toFixed(2),
      flows: e.flowCount,
      heapMB: Math.round(process.memoryUsage().heapUsed / 1e6),
      rssDeltaMB: Math.round((process.memoryUsage().rss - rss0) / 1e6),
    }),
  );
}
