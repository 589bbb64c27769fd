// Checks a scenario report the way a person would see it: opened from disk in a real headless Chromium (no
// network), every chart there and plotting data. Used by the scenario tests (perf/*.test.ts).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';
import { chromiumPath } from '../../test/prereq';

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

export async function assertReport(dir: string, charts: number): Promise<void> {
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
