// alcor-bench neighbors at a tiny size, end to end: a real agent on sandboxed OVS holds the measured port and
// the VPC's other ports as neighbors; every update is acknowledged, and the report renders in Chromium.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import { parseSteps, runNeighbors } from './neighbors';
import { assertReport } from './report/browser-check';

test('--steps: ascending positive integers, anything else a message', () => {
  assert.equal(parseSteps('1,1000,10000'), [1, 1000, 10000]);
  for (const bad of ['', '1,,2', '10,5', '0,10', '1.5', 'x', '2000000']) assert.type(parseSteps(bad), 'string', bad);
});

if (requirePrereqs(['root', 'ovs', 'netns', 'chromium'])) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-neighbors-'));

  test.after(() => fs.rmSync(root, { recursive: true, force: true }));

  test('neighbors: each step timed, the real agent holds the neighbors; the report renders', async () => {
    const out = path.join(root, 'neighbors');
    const r = await runNeighbors({ steps: [1, 100], samples: 3, chunk: 40, out });
    assert.is(r.failed, 0, JSON.stringify(r.errors));
    assert.equal(
      r.steps.map((s) => [s.neighbors, s.n]),
      [
        [1, 3],
        [100, 3],
      ],
    );
    const [one, hundred] = r.steps;
    // A neighbor is at least one flow on the real host: 99 more neighbors, at least 99 more flows.
    assert.ok((hundred?.agentFlows ?? 0) - (one?.agentFlows ?? 0) >= 99, JSON.stringify(r.steps));
    await assertReport(out, 2);
  });
}

test.run();
