// Inline SVG charts for the benchmark report: no scripts, no fonts or styles from the network, so the report
// opens anywhere (and in a test's headless browser). Each <svg> carries data-series and data-points, which say
// how much data it plots (the report test checks them).
import { percentile } from './stats';

export interface Series {
  readonly name: string;
  readonly samplesMs: readonly number[];
}

export interface XyPoint {
  readonly x: number;
  readonly y: number;
}

export interface XySeries {
  readonly name: string;
  readonly points: readonly XyPoint[];
}

const W = 640;
const H = 320;
const M = { left: 60, right: 170, top: 24, bottom: 44 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];
/** A CDF drawn with at most this many points per series keeps a 100k-sample report small. */
const CDF_POINTS = 400;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Round axis maximum: 1, 2 or 5 times a power of ten, at least `v`. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : String(Math.round(v * 100) / 100));

/** Grid lines per axis and how a tick's value (0..max) is written; linear quarters unless given. */
interface Ticks {
  readonly x: number;
  readonly y: number;
  readonly xText: (v: number) => string;
  readonly yText: (v: number) => string;
}

const QUARTERS: Ticks = { x: 4, y: 4, xText: fmt, yText: fmt };

function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  xMax: number,
  yMax: number,
  ticks: Ticks = QUARTERS,
): string[] {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const out = [
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
    `<text x="${M.left}" y="16" font-size="13" font-weight="bold">${escapeHtml(title)}</text>`,
    `<text x="${M.left + pw / 2}" y="${H - 6}" font-size="11" text-anchor="middle">${escapeHtml(xLabel)}</text>`,
    `<text x="14" y="${M.top + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 14 ${M.top + ph / 2})">${escapeHtml(yLabel)}</text>`,
  ];
  for (let i = 0; i <= ticks.x; i++) {
    const x = M.left + (pw * i) / ticks.x;
    out.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#eee"/>`);
    const text = escapeHtml(ticks.xText((xMax * i) / ticks.x));
    out.push(`<text x="${x}" y="${M.top + ph + 14}" font-size="10" text-anchor="middle">${text}</text>`);
  }
  for (let i = 0; i <= ticks.y; i++) {
    const y = M.top + ph - (ph * i) / ticks.y;
    out.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#eee"/>`);
    const text = escapeHtml(ticks.yText((yMax * i) / ticks.y));
    out.push(`<text x="${M.left - 4}" y="${y + 3}" font-size="10" text-anchor="end">${text}</text>`);
  }
  return out;
}

function plot(series: readonly XySeries[], xMax: number, yMax: number, markers: boolean): string[] {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const out: string[] = [];
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const pts = s.points.map(
      (p) => `${(M.left + (pw * p.x) / xMax).toFixed(1)},${(M.top + ph - (ph * p.y) / yMax).toFixed(1)}`,
    );
    out.push(
      `<polyline class="series" data-name="${escapeHtml(s.name)}" data-n="${s.points.length}" fill="none" stroke="${color}" stroke-width="1.6" points="${pts.join(' ')}"/>`,
    );
    if (markers)
      for (const p of pts)
        out.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2.5" fill="${color}"/>`);
    const ly = M.top + 12 + i * 15;
    out.push(
      `<line x1="${W - M.right + 10}" y1="${ly - 4}" x2="${W - M.right + 28}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`,
    );
    out.push(`<text x="${W - M.right + 32}" y="${ly}" font-size="10">${escapeHtml(s.name)}</text>`);
  });
  return out;
}

function svg(body: string[], series: number, points: number): string {
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" data-series="${series}" data-points="${points}">${body.join('')}</svg>`;
}

/** Cumulative distribution of latency per series (x: ms, y: fraction of samples at or below). */
export function cdfChart(title: string, series: readonly Series[]): string {
  const nonEmpty = series.filter((s) => s.samplesMs.length > 0);
  const xy: XySeries[] = nonEmpty.map((s) => {
    const sorted = [...s.samplesMs].sort((a, b) => a - b);
    const k = Math.min(CDF_POINTS, sorted.length);
    const points: XyPoint[] = [{ x: sorted[0] as number, y: 0 }];
    for (let i = 1; i <= k; i++) points.push({ x: percentile(sorted, (100 * i) / k), y: i / k });
    return { name: `${s.name} (n=${sorted.length})`, points };
  });
  const xMax = niceMax(Math.max(0, ...nonEmpty.flatMap((s) => [Math.max(...s.samplesMs)])));
  const body = [...frame(title, 'latency (ms)', 'fraction of operations', xMax, 1), ...plot(xy, xMax, 1, false)];
  return svg(
    body,
    xy.length,
    xy.reduce((n, s) => n + s.points.length, 0),
  );
}

/** Lines through (x, y) points, e.g. achieved against offered rate. `diagonal` draws y = x for reference. */
export function xyChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: readonly XySeries[],
  diagonal = false,
): string {
  const all = series.flatMap((s) => s.points);
  const xMax = niceMax(Math.max(0, ...all.map((p) => p.x)));
  const yMax = niceMax(Math.max(0, ...all.map((p) => p.y), diagonal ? xMax : 0));
  const shown = diagonal
    ? [
        ...series,
        {
          name: 'offered = achieved',
          points: [
            { x: 0, y: 0 },
            { x: xMax, y: xMax },
          ],
        },
      ]
    : series;
  const body = [...frame(title, xLabel, yLabel, xMax, yMax), ...plot(shown, xMax, yMax, true)];
  return svg(body, series.length, all.length);
}

/** Decades [lo, hi] (powers of ten) holding every value, at least one decade wide. */
function decades(values: readonly number[]): [number, number] {
  const logs = values.map((v) => Math.log10(v));
  const lo = Math.floor(Math.min(...logs));
  return [lo, Math.max(lo + 1, Math.ceil(Math.max(...logs)))];
}

const powerText = (exp: number): string => {
  const v = 10 ** exp;
  return v >= 1000 ? `${v / 1000 >= 1000 ? `${v / 1e6}M` : `${v / 1000}k`}` : fmt(v);
};

/**
 * Lines through (x, y) points on log-log axes (a grid line per power of ten), e.g. latency against a count
 * that grows by decades. Points with x or y <= 0 cannot be drawn and are left out.
 */
export function logXyChart(title: string, xLabel: string, yLabel: string, series: readonly XySeries[]): string {
  const drawn = series.map((s) => ({ name: s.name, points: s.points.filter((p) => p.x > 0 && p.y > 0) }));
  const all = drawn.flatMap((s) => s.points);
  if (all.length === 0) return svg(frame(title, xLabel, yLabel, 1, 1), 0, 0);
  const [x0, x1] = decades(all.map((p) => p.x));
  const [y0, y1] = decades(all.map((p) => p.y));
  const mapped = drawn.map((s) => ({
    name: s.name,
    points: s.points.map((p) => ({ x: Math.log10(p.x) - x0, y: Math.log10(p.y) - y0 })),
  }));
  const ticks: Ticks = {
    x: x1 - x0,
    y: y1 - y0,
    xText: (v) => powerText(Math.round(v) + x0),
    yText: (v) => powerText(Math.round(v) + y0),
  };
  const body = [...frame(title, xLabel, yLabel, x1 - x0, y1 - y0, ticks), ...plot(mapped, x1 - x0, y1 - y0, true)];
  return svg(body, drawn.length, all.length);
}
