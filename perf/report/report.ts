// The report every alcor-bench scenario writes with `--out DIR`: report.html (self-contained: inline SVG and
// CSS, nothing fetched), samples.json and samples.csv (every raw sample, so anyone can re-plot), result.json
// (the scenario's JSON line).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { escapeHtml } from './svg';
import { stats } from './stats';

export interface Sample {
  /** What was measured, e.g. `port/create/acked` or `step 3 (200/s)`. */
  readonly series: string;
  readonly ms: number;
  /** Offset from the run's start (ms), when the scenario records it. */
  readonly atMs?: number;
  readonly ok?: boolean;
}

export interface ReportInput {
  readonly title: string;
  /** One paragraph: what ran, on what, with which options. */
  readonly description: string;
  /** The scenario's JSON result (printed last on stdout). */
  readonly result: unknown;
  /** Rendered charts (perf/report/svg.ts). */
  readonly charts: readonly string[];
  readonly samples: readonly Sample[];
}

export interface ReportFiles {
  readonly html: string;
  readonly json: string;
  readonly csv: string;
}

function summaryTable(samples: readonly Sample[]): string {
  const by = new Map<string, number[]>();
  for (const s of samples) {
    let l = by.get(s.series);
    if (l === undefined) by.set(s.series, (l = []));
    l.push(s.ms);
  }
  const rows = [...by].map(([name, ms]) => {
    const st = stats(ms);
    const cells = [st.n, st.p50Ms, st.p95Ms, st.p99Ms, st.maxMs].map((v) => `<td>${v}</td>`).join('');
    return `<tr><td>${escapeHtml(name)}</td>${cells}</tr>`;
  });
  return `<table><tr><th>series</th><th>n</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>${rows.join('')}</table>`;
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderHtml(r: ReportInput): string {
  const css =
    'body{font-family:sans-serif;margin:24px;max-width:1100px}table{border-collapse:collapse;margin:12px 0}' +
    'td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}' +
    'pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;word-break:break-all}svg{margin:8px 0;display:block}';
  return [
    '<!doctype html><html><head><meta charset="utf-8">',
    `<title>${escapeHtml(r.title)}</title><style>${css}</style></head><body>`,
    `<h1>${escapeHtml(r.title)}</h1><p>${escapeHtml(r.description)}</p>`,
    `<p>Generated ${escapeHtml(new Date().toISOString())}. Raw samples: samples.json, samples.csv.</p>`,
    ...r.charts,
    '<h2>Latency per series</h2>',
    summaryTable(r.samples),
    '<h2>Result</h2>',
    `<pre id="result">${escapeHtml(JSON.stringify(r.result, null, 2))}</pre>`,
    '</body></html>',
  ].join('\n');
}

/** Writes report.html, samples.json, samples.csv and result.json into `dir` (created if missing). */
export function writeReport(dir: string, r: ReportInput): ReportFiles {
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    html: path.join(dir, 'report.html'),
    json: path.join(dir, 'samples.json'),
    csv: path.join(dir, 'samples.csv'),
  };
  fs.writeFileSync(files.html, renderHtml(r));
  fs.writeFileSync(files.json, JSON.stringify(r.samples));
  const lines = ['series,ms,atMs,ok'];
  for (const s of r.samples) lines.push([csvField(s.series), s.ms, s.atMs ?? '', s.ok ?? ''].join(','));
  fs.writeFileSync(files.csv, `${lines.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'result.json'), `${JSON.stringify(r.result)}\n`);
  return files;
}
