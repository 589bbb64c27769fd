// Putting the partitions' answers to one goal state back together: statuses in op order, timings,
// counts.

import type { PlannedStatus } from '../goalstate';
import type { PrepareResult, PrepareTimings } from './partition';
import { GoalStateStatuses } from './statuses';

export function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

/**
 * Partition 0's first chunk has the statuses of every op but the neighbors; each chunk has its
 * neighbors', in chunk order, which `order` maps to message order.
 */
export function mergeStatuses(
  message: Uint8Array,
  idRanges: Uint32Array,
  pieces: readonly { readonly result: PrepareResult; readonly order: Uint32Array }[],
): GoalStateStatuses {
  const count = idRanges.length / 2;
  const codes = new Uint8Array(count);
  const operations = new Uint8Array(count);
  const listed = new Map<number, PlannedStatus>();
  for (const { result, order } of pieces) {
    const n = result.neighbors;
    for (let i = 0; i < n.codes.length; i++) {
      codes[order[i]] = n.codes[i];
      operations[order[i]] = n.operations[i];
    }
    for (let k = 0; k < n.listed.length; k++) listed.set(order[n.listed[k]], n.listedStatuses[k]);
  }
  return new GoalStateStatuses({ others: pieces[0].result.statuses, message, idRanges, codes, operations, listed });
}

/** Per phase, the slowest partition's time (summed over its chunks): partitions run side by side. */
export function slowestTimings(perPartition: readonly (readonly PrepareResult[])[]): PrepareTimings {
  const timings: PrepareTimings = { decodeMs: 0, planMs: 0, compileMs: 0, diffMs: 0, encodeMs: 0, laneMs: 0 };
  for (const rs of perPartition) {
    for (const k of Object.keys(timings) as (keyof PrepareTimings)[]) {
      timings[k] = Math.max(timings[k], sum(rs.map((r) => r.timings[k])));
    }
  }
  return timings;
}
