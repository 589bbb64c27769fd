// Another process's CPU time as the kernel counts it (/proc/<pid>/stat: utime + stime, every thread), so a
// benchmark can say what the processes it does not measure itself (simulated agents, a broker) spent.
import * as fs from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

/** CPU milliseconds `pid` has used so far (10 ms resolution); NaN when it cannot be read. */
export function processCpuMs(pid: number | null | undefined): number {
  if (pid === null || pid === undefined) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_S;
  } catch {
    return NaN;
  }
}

/**
 * Minor page faults `pid` has taken so far (/proc/<pid>/stat field 10, every thread): first touches of fresh
 * memory, which cost ~30 us each on the VMs these benchmarks run on. NaN when it cannot be read.
 */
export function processMinorFaults(pid: number | null | undefined): number {
  if (pid === null || pid === undefined) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
  } catch {
    return NaN;
  }
}
