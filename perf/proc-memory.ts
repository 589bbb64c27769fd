// A process's memory as the kernel counts it (/proc/<pid>/status): resident now (VmRSS) and the
// peak since it started (VmHWM, exact, where sampling would miss a short spike).
import * as fs from 'node:fs';

export function processMemoryMB(pid: number): { rssMB: number; peakMB: number } {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMB: Math.round(kb('VmRSS') / 1024), peakMB: Math.round(kb('VmHWM') / 1024) };
}
