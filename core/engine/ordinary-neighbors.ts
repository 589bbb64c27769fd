// The ordinary path's share of a goal state's neighbors: those the lane step (lane-step.ts) left,
// decoded one at a time, moved out of the lane's way (neighbor-homes.ts leaveLaneFor), and planned
// in the store together.

import { OperationStatus, ResourceType } from '../../proto';
import type { ApplyPlan, PlannedStatus, ResourceStore } from '../goalstate';
import type { ResourceOp } from '../model';
import { decodeNeighborEntry, type ScannedGoalState } from './decode';
import type { FamilyKey, NeighborHomes } from './neighbor-homes';
import { NEIGHBOR_STATUS_LISTED, type NeighborStatuses } from './statuses';
import type { Cursor } from './wire';

/**
 * The ordinary path's neighbors of a message: decoded one by one, moved out of the lane where it
 * holds them or their keys, and planned together. Their statuses go into `out.listed`.
 */
export function planOrdinaryNeighbors(
  store: ResourceStore,
  homes: NeighborHomes,
  refuse: (key: FamilyKey, id: string) => void,
  bytes: Uint8Array,
  version: 1 | 2,
  scanned: ScannedGoalState,
  entries: readonly number[],
  out: NeighborStatuses,
): { plan: ApplyPlan | undefined; slow: number } {
  const cursor: Cursor = { pos: 0, value: 0 };
  const ops: ResourceOp[] = [];
  const opEntries: number[] = [];
  const planned = new Map<number, PlannedStatus>();
  let slow = 0;
  for (const i of entries) {
    const d = decodeNeighborEntry(bytes, version, scanned, i, homes.fast, cursor);
    if (d.slow) slow++;
    const problem = homes.leaveLaneFor(d.op, refuse);
    if (problem !== undefined) {
      planned.set(i, {
        resourceId: d.op.id,
        resourceType: ResourceType.NEIGHBOR,
        operationType: d.op.operation,
        status: OperationStatus.FAILURE,
        reason: problem,
      });
      continue;
    }
    ops.push(d.op);
    opEntries.push(i);
  }
  let plan: ApplyPlan | undefined;
  if (ops.length > 0) {
    plan = store.plan({ formatVersion: scanned.model.formatVersion, ops, hostResources: new Map() });
    store.commit(plan);
    for (let k = 0; k < opEntries.length; k++) planned.set(opEntries[k], plan.statuses[k]);
  }
  listInEntryOrder(out, planned);
  return { plan, slow };
}

/** Adds `planned` statuses to `out.listed`, which stays in entry order (the lane listed its own along the way). */
function listInEntryOrder(out: NeighborStatuses, planned: ReadonlyMap<number, PlannedStatus>): void {
  const merged: [number, PlannedStatus][] = out.listed.map((i, k) => [i, out.listedStatuses[k]]);
  for (const [i, s] of planned) {
    out.codes[i] = NEIGHBOR_STATUS_LISTED;
    merged.push([i, s]);
  }
  merged.sort((a, b) => a[0] - b[0]);
  out.listed.length = 0;
  out.listedStatuses.length = 0;
  for (const [i, s] of merged) {
    out.listed.push(i);
    out.listedStatuses.push(s);
  }
}
