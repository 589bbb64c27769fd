// Start-up: the goal states logged since the snapshot (agent/goalstate-log.ts), applied to the
// restored engine in the order they were committed, without OVS; then the held ports bound. The engine then holds what it
// held when the previous run stopped; the start-up converge checks OVS against it.
//
// Why through engine.prepare: it is the path the goal states took the first time (the neighbor
// lane takes a million neighbors in seconds), and it is deterministic, so the same goal states on
// the same held state give the same resources and flows.
import type { Engine } from '../core/engine/engine';
import { errorText } from '../core/errors';
import { OperationStatus, OperationType, ResourceType } from '../proto';
import { CHANGING } from './apply-path';
import type { LoggedGoalState } from './goalstate-log';
import type { InterfaceMonitor } from './ovsdb';

export interface ReplayResult {
  /** Goal states applied. */
  readonly applied: number;
  /** Why the replay stopped before the end: the engine then holds a partial state. */
  readonly problem?: string;
  /** Ports bound to the ofports the bridge has for them, after the replay. */
  readonly boundPorts: number;
}

/**
 * Applies `goalStates` in order. The ports held before them (`heldPorts`, the snapshot's) and those
 * they create are tracked by the monitor, and the ones on the bridge are bound at the end (one
 * host-facts transaction), as the apply path binds them after each commit.
 */
export async function replayGoalStates(
  engine: Engine,
  monitor: InterfaceMonitor,
  goalStates: readonly LoggedGoalState[],
  heldPorts: Iterable<string>,
): Promise<ReplayResult> {
  // Port id → true: held (bind it if the bridge has it); false: deleted (unbind it).
  const ports = new Map<string, boolean>();
  for (const id of heldPorts) ports.set(id, true);
  let applied = 0;
  let problem: string | undefined;
  for (const g of goalStates) {
    let prepared;
    try {
      // The flows are in OVS already: no lane flow-mod is written, and each chunk's buffer goes
      // straight back to its partition.
      prepared = await engine.prepare(g.bytes, g.version, {
        restoring: true,
        onDelta: (_delta, _bundle, release) => release(),
      });
    } catch (e: unknown) {
      // It was committed once, so the engine planned it then: the held state is not what it was.
      problem = `goal state ${applied + 1} of ${goalStates.length} no longer plans: ${errorText(e)}`;
      break;
    }
    await engine.commit(prepared.txns);
    applied++;
    for (const s of prepared.statuses.others()) {
      if (s.resourceType !== ResourceType.PORT) continue;
      if (s.operationType === OperationType.DELETE && s.status === OperationStatus.SUCCESS) {
        ports.set(s.resourceId, false);
        monitor.untrack(s.resourceId);
      } else if (CHANGING.has(s.status)) {
        ports.set(s.resourceId, true);
      }
    }
  }
  const ofports: [string, number | undefined][] = [];
  let bound = 0;
  for (const [id, live] of ports) {
    const ofport = live ? monitor.track(id) : null;
    if (ofport !== null) bound++;
    if (ofport !== null || !live) ofports.push([id, ofport ?? undefined]);
  }
  if (ofports.length > 0) {
    const facts = await engine.prepareHostFacts({ ofports });
    await engine.commit(facts.txns);
  }
  return { applied, boundPorts: bound, ...(problem === undefined ? {} : { problem }) };
}
