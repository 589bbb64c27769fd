// The api, ramp and mix scenarios at tiny sizes, end to end (a control replica process, simulated agents), and
// their reports opened in a real headless Chromium: every chart must be there and hold data.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chromiumPath, requirePrereqs } from '../test/prereq';
import { runApiBench } from './api';
import { runMix, parseMix } from './mix';
import { runRamp } from './ramp';

/** The DOM after Chromium loaded the file: proves the page parses and renders from disk, with no network. */
function dumpDom(file: string): Promise<string> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
    '--dump-dom',
    `file://${file}`,
  ];
  return new Promise((resolve, reject) => {
    // The timeout only keeps a wedged browser from hanging CI; nothing here is timed.
    execFile(chromiumPath() as string, args, { timeout: 45000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      fs.rmSync(profile, { recursive: true, force: true });
      if (err !== null) reject(new Error(`chromium failed: ${err.message}`));
      else resolve(stdout);
    });
  });
}

/** Charts in the rendered DOM, with the data counts each declares and the plotted polylines' point counts. */
function chartsIn(dom: string): Array<{ series: number; points: number; plotted: number[] }> {
  const out: Array<{ series: number; points: number; plotted: number[] }> = [];
  for (const m of dom.matchAll(
    /<svg class="chart"[^>]*data-series="(\d+)" data-points="(\d+)"[^>]*>([\s\S]*?)<\/svg>/g,
  )) {
    const plotted = [...(m[3] as string).matchAll(/<polyline class="series"[^>]*points="([^"]*)"/g)].map(
      (p) =>
        (p[1] as string)
          .trim()
          .split(/\s+/)
          .filter((x) => x !== '').length,
    );
    out.push({ series: Number(m[1]), points: Number(m[2]), plotted });
  }
  return out;
}

async function assertReport(dir: string, charts: number): Promise<void> {
  const dom = await dumpDom(path.join(dir, 'report.html'));
  assert.match(dom, /<pre id="result">/);
  const found = chartsIn(dom);
  assert.is(found.length, charts, `charts in ${dir}/report.html`);
  for (const c of found) {
    assert.ok(c.series > 0 && c.points > 0, `a chart without data: ${JSON.stringify(c)}`);
    assert.ok(c.plotted.length >= c.series && c.plotted.every((n) => n > 0), JSON.stringify(c));
  }
  assert.ok(fs.statSync(path.join(dir, 'samples.csv')).size > 20);
  assert.ok((JSON.parse(fs.readFileSync(path.join(dir, 'samples.json'), 'utf8')) as unknown[]).length > 0);
}

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

  test.run();
}
