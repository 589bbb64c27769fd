// Key contests between neighbors of different partitions: two neighbors that want the same flow
// key (VNI and IP, or VNI and MAC) must get the flows one partition would give them.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationType } from '../../proto';
import { partitionOfNeighbor } from './placement';
import { Run, contextBytes, engineWith, neighborChangesBytes, type NeighborChange } from '../../test/engine-runs';

const change = (id: string, ip: number, mac: number, revision = 1): NeighborChange => ({
  id,
  op: OperationType.UPDATE,
  ip,
  mac,
  host: 1,
  revision,
});

test('a neighbor that takes another partition`s IP and gives it back leaves both answered (0, 2, 3 workers)', async () => {
  // The two neighbors are in different partitions with 2 workers.
  assert.is.not(partitionOfNeighbor('nbr-1', 2), partitionOfNeighbor('nbr-2', 2));
  for (const [a, b] of [
    ['nbr-1', 'nbr-2'],
    ['nbr-2', 'nbr-1'],
  ]) {
    const steps = [
      contextBytes(),
      neighborChangesBytes([change(a, 10, 1), change(b, 11, 2)]),
      neighborChangesBytes([change(a, 11, 1, 2)]), // A takes B's IP
      neighborChangesBytes([change(a, 10, 1, 3)]), // and gives it back
      neighborChangesBytes([change(b, 11, 2)]), // B sent again
    ];
    const results = [];
    for (const workers of [0, 2, 3]) {
      const run = new Run(await engineWith(workers));
      const out = [];
      for (const s of steps) out.push(await run.step(s));
      await run.engine.close();
      results.push(out);
    }
    for (let w = 1; w < results.length; w++) {
      for (let i = 0; i < steps.length; i++) {
        assert.equal(results[w][i], results[0][i], `${a} takes ${b}'s IP: step ${i}, ${[0, 2, 3][w]} workers`);
      }
    }
    // And B's answer is installed at the end.
    const last = results[0][steps.length - 1];
    assert.ok(last.desired.some((f) => f.includes('arp_tpa=10.0.0.11')));
  }
});

test('a neighbor that takes another partition`s MAC and gives it back leaves both forwarded', async () => {
  const steps = [
    contextBytes(),
    neighborChangesBytes([change('nbr-1', 10, 1), change('nbr-2', 11, 2)]),
    neighborChangesBytes([change('nbr-2', 11, 1, 2)]),
    neighborChangesBytes([change('nbr-2', 11, 2, 3)]),
  ];
  const results = [];
  for (const workers of [0, 2]) {
    const run = new Run(await engineWith(workers));
    const out = [];
    for (const s of steps) out.push(await run.step(s));
    await run.engine.close();
    results.push(out);
  }
  for (let i = 0; i < steps.length; i++) assert.equal(results[1][i], results[0][i], `step ${i}`);
});

test.run();
