// The api, ramp, mix and simulated-host vms scenarios at tiny sizes, end to end (a control replica process, simulated agents), and
// their reports opened in a real headless Chromium: every chart must be there and hold data.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import { assertReport } from './report/browser-check';
import { runApiBench } from './api';
import { runMix, parseMix } from './mix';
import { runRamp } from './ramp';
import { runSimulatedVms } from './vms-simulated';

if (requirePrereqs(['chromium'])) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-scenarios-'));

  test.after(() => fs.rmSync(root, { recursive: true, force: true }));

  test('api: every kind and operation timed both ways; the report renders', async () => {
    const out = path.join(root, 'api');
    const r = await runApiBench({ hosts: 3, ports: 6, samples: 2, neighborLimit: 1000, out });
    assert.is(r.errors, 0);
    assert.is(r.notActive, 0);
    for (const kind of ['vpc', 'subnet', 'port', 'router', 'securityGroup']) {
      for (const op of ['create', 'update', 'delete']) {
        const t = r.kinds[kind]?.[op];
        assert.ok((t?.answered?.n ?? 0) > 0 && (t?.acked?.n ?? 0) > 0, `${kind} ${op}: ${JSON.stringify(t)}`);
      }
    }
    assert.is(r.agentsPerPortCreate.max, 3);
    await assertReport(out, 5);
  });

  test('ramp: steps at rising rates, the highest that held; the report renders', async () => {
    const out = path.join(root, 'ramp');
    const o = { hosts: 3, stepS: 1, startRate: 4, rateStep: 4, rateFactor: 2, maxSteps: 2, sloMs: 1e6, wait: true };
    const r = await runRamp({ ...o, out });
    assert.equal(
      r.steps.map((s) => [s.offeredRate, s.sent, s.errors, s.held]),
      [
        [4, 4, 0, true],
        [8, 8, 0, true],
      ],
    );
    assert.is(r.maxRateHeld, 8);
    assert.is(r.stoppedBy, 'max-steps');
    await assertReport(out, 3);
  });

  test('mix: every kind of the mix sent, latency per kind; the report renders', async () => {
    const out = path.join(root, 'mix');
    const mix = parseMix('port=2,subnet=1,vpc=1,router=1,sg=1');
    const r = await runMix({ hosts: 3, rate: 12, durationS: 1, mix, wait: true, out });
    assert.is(r.errors, 0);
    assert.is(
      Object.values(r.kinds).reduce((n, k) => n + k.sent, 0),
      12,
    );
    for (const [kind, k] of Object.entries(r.kinds)) assert.ok(k.pair.n === k.sent && k.sent > 0, kind);
    await assertReport(out, 2);
  });

  test('vms on simulated hosts: every port ACTIVE and deleted, the engines computed flows; the report renders', async () => {
    const out = path.join(root, 'vms-simulated');
    const r = await runSimulatedVms({ vms: 50, hosts: 5, agentProcesses: 2, out });
    assert.is(r.failed, 0, JSON.stringify(r.errors));
    assert.is(r.active.n, 50);
    assert.is(r.delete.n, 50);
    assert.ok(r.allUpMs > 0 && r.simulated);
    // Every host held the others' ports as neighbors (below the neighbor limit): flows for each of them.
    assert.ok(r.flowMods > 50 * 5, `flow-mods: ${r.flowMods}`);
    await assertReport(out, 1);
  });

  test.run();
}
