// CPU time a process has used so far (user + system, /proc/<pid>/stat), so a bench can say how much of a
// run's wall time one of its processes actually spent working.
import * as fs from 'node:fs';

/** Linux reports utime/stime in clock ticks; USER_HZ is 100 on every architecture Node runs on here. */
const TICK_MS = 10;

export function processCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 on: utime is 14th, stime 15th.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * TICK_MS;
}
