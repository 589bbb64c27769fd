// The report's pieces without a browser: percentiles, escaping, chart data attributes, the mix and ramp helpers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stats } from './stats';
import { cdfChart, escapeHtml, xyChart } from './svg';
import { renderHtml, writeReport } from './report';
import { kindAt, parseMix } from '../mix';
import { stepRate } from '../ramp';

test('stats: nearest-rank percentiles and max', () => {
  const s = stats(Array.from({ length: 100 }, (_, i) => 100 - i));
  assert.equal(s, { n: 100, p50Ms: 50, p95Ms: 95, p99Ms: 99, maxMs: 100 });
  assert.equal(stats([]), { n: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0 });
});

test('charts say how much they plot, and text is escaped', () => {
  const cdf = cdfChart('a<b', [
    { name: 'x&y', samplesMs: [1, 2, 3] },
    { name: 'empty', samplesMs: [] },
  ]);
  assert.match(cdf, /data-series="1"/);
  assert.match(cdf, /data-points="4"/);
  assert.ok(cdf.includes('a&#60;b') && cdf.includes('x&#38;y') && !cdf.includes('a<b'));
  const xy = xyChart(
    't',
    'x',
    'y',
    [
      {
        name: 's',
        points: [
          { x: 1, y: 1 },
          { x: 2, y: 1.5 },
        ],
      },
    ],
    true,
  );
  assert.match(xy, /data-series="1" data-points="2"/);
  assert.is(escapeHtml(`"'`), '&#34;&#39;');
});

test('writeReport writes the HTML, the samples as JSON and CSV, and the result', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-report-'));
  try {
    const samples = [
      { series: 'a,"b"', ms: 1.5, atMs: 3, ok: true },
      { series: 'c', ms: 2 },
    ];
    const files = writeReport(dir, { title: 'T', description: 'D', result: { x: 1 }, charts: [], samples });
    assert.equal(JSON.parse(fs.readFileSync(files.json, 'utf8')), samples);
    assert.is(fs.readFileSync(files.csv, 'utf8'), 'series,ms,atMs,ok\n"a,""b""",1.5,3,true\nc,2,,\n');
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')), { x: 1 });
    assert.ok(!/https?:\/\//.test(renderHtml({ title: 'T', description: 'D', result: {}, charts: [], samples })));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('parseMix: weights per kind, clear errors', () => {
  assert.equal(parseMix('port=70, subnet=20,vpc=10'), [
    { kind: 'port', weight: 70 },
    { kind: 'subnet', weight: 20 },
    { kind: 'vpc', weight: 10 },
  ]);
  assert.throws(() => parseMix('port'), /not kind=weight/);
  assert.throws(() => parseMix('vm=1'), /unknown kind vm/);
  assert.throws(() => parseMix('port=1,port=2'), /given twice/);
  assert.throws(() => parseMix('port=0'), /no kind/);
});

test('kindAt follows the weights over any stretch of the run', () => {
  const mix = parseMix('port=70,subnet=20,vpc=10');
  const counts = new Map<string, number>();
  for (let i = 500; i < 1500; i++) counts.set(kindAt(mix, i), (counts.get(kindAt(mix, i)) ?? 0) + 1);
  assert.ok(Math.abs((counts.get('port') ?? 0) - 700) <= 10, JSON.stringify([...counts]));
  assert.ok(Math.abs((counts.get('vpc') ?? 0) - 100) <= 10, JSON.stringify([...counts]));
});

test('stepRate: additive or multiplicative', () => {
  assert.is(stepRate({ startRate: 10, rateStep: 5, rateFactor: 2 }, 3), 25);
  assert.is(stepRate({ startRate: 10, rateStep: 0, rateFactor: 1.5 }, 2), 22.5);
});

test.run();
