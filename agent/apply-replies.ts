// What the apply path answers (agent/apply-path.ts): the reply's statuses, built from the engine's
// columns in one pass; the answer to a goal state the engine refused; the "goal state applied" log
// line. Apart from the apply path because none of it touches the engine or OVS.

import type { Prepared } from '../core/engine/engine';
import { GOALSTATE_INPUT_CODES, errorKind, errorText } from '../core/errors';
import type { PlannedStatus } from '../core/goalstate';
import { GoalState, GoalStateOperationReply, GoalStateV2, OperationStatus, ResourceType } from '../proto';
import {
  GoalStateValidationError,
  resourcesOfV1,
  resourcesOfV2,
  type RequestContext,
  type ResourceRef,
} from './grpc/server';
import type { BundleTimings } from './openflow/session';
import { GoalStateStatuses } from '../core/engine/statuses';
import { ENCODE_REPLY, encodeColumnarReply, replyStatusOf } from '../core/wire/operation-reply';

const LOGGED_INVALID_MAX = 20;

export const us = (fromNs: bigint): number => Number((process.hrtime.bigint() - fromNs) / 1000n);

/** How the agent answers a goal state the engine refused. */
export type Refusal =
  | { readonly kind: 'input'; readonly error: GoalStateValidationError }
  | { readonly kind: 'failure'; readonly statuses: readonly PlannedStatus[] }
  | { readonly kind: 'fault' };

/**
 * Bad input only when core says so by code (an allowlist, core/errors.ts): answered INVALID_ARG.
 * Anything else is our fault: every resource of the message is answered FAILURE, or, when the
 * bytes do not even decode here so there is no resource to name, the error goes up as a gRPC
 * INTERNAL (`fault`). Never "bad input" for our own bug.
 */
export function refusalOf(e: unknown, bytes: Uint8Array, version: 1 | 2): Refusal {
  if (errorKind(e, GOALSTATE_INPUT_CODES) === 'input') {
    return { kind: 'input', error: new GoalStateValidationError(errorText(e)) };
  }
  const resources = resourcesOfBytes(bytes, version);
  if (resources === undefined) return { kind: 'fault' };
  const reason = `agent fault: ${errorText(e)}`;
  return { kind: 'failure', statuses: resources.map((r) => ({ ...r, status: OperationStatus.FAILURE, reason })) };
}

export const NONE_BOUND: ReadonlySet<string> = new Set();

/** Each status through `f`, lazily (a million neighbors are not copied into an array first). */
export function* mapStatuses(
  statuses: Iterable<PlannedStatus>,
  f: (s: PlannedStatus) => PlannedStatus,
): IterableIterator<PlannedStatus> {
  for (const s of statuses) yield f(s);
}

/** The statuses with the PENDING ports in `bound` answered SUCCESS (bound to their interface). */
export function withBoundPorts(statuses: Iterable<PlannedStatus>, bound: ReadonlySet<string>): Iterable<PlannedStatus> {
  const f = (s: PlannedStatus): PlannedStatus =>
    s.resourceType === ResourceType.PORT && s.status === OperationStatus.PENDING && bound.has(s.resourceId)
      ? { ...s, status: OperationStatus.SUCCESS, reason: '' }
      : s;
  // Ports are never among the coded neighbors: the columns stay as they are.
  return statuses instanceof GoalStateStatuses ? statuses.mapOthers(f) : mapStatuses(statuses, f);
}

/** The first `max` INVALID_ARG statuses, with their reason (the reply has no field for it). */
function firstInvalid(statuses: Iterable<PlannedStatus>, max: number): string[] {
  const out: string[] = [];
  for (const s of statuses) {
    if (out.length >= max) break;
    if (s.status === OperationStatus.INVALID_ARG) out.push(`${s.resourceId}: ${s.reason}`);
  }
  return out;
}

/** The "goal state applied" log line's fields. */
export function appliedLogFields(
  prepared: Prepared,
  boundPorts: number,
  ctx: RequestContext,
  version: 1 | 2,
  t: { readonly prepareUs: number; readonly bundleUs: number; readonly ovs: BundleTimings; readonly totalUs: number },
): Record<string, unknown> {
  const statuses = prepared.statuses;
  const invalidCount = statuses.countStatus(OperationStatus.INVALID_ARG);
  return {
    seq: ctx.seq,
    version,
    bundleId: prepared.bundleId,
    add: prepared.add,
    modify: prepared.modify,
    delete: prepared.delete,
    resources: statuses.length,
    pending: statuses.countStatus(OperationStatus.PENDING) - boundPorts,
    invalidCount,
    // The first few; a million would drown the log.
    invalid: invalidCount === 0 ? [] : firstInvalid(statuses, LOGGED_INVALID_MAX),
    prepareUs: t.prepareUs,
    bundleUs: t.bundleUs,
    bundleAddUs: t.ovs.addUs,
    bundleCommitUs: t.ovs.commitUs,
    prepareMs: prepared.timings,
    totalUs: t.totalUs,
  };
}

export function replyOf(statuses: Iterable<PlannedStatus>, bundleUs: number, t0: bigint): GoalStateOperationReply {
  const totalUs = us(t0);
  if (statuses instanceof GoalStateStatuses) return columnarReply(statuses, bundleUs, totalUs);
  return objectReply(statuses, bundleUs, totalUs);
}

/**
 * A reply that encodes itself from the engine's columns (core/wire/operation-reply.ts): neighbor ids
 * go from the request bytes to the reply bytes. Its `operationStatuses` are built only for a reader
 * that asks (the NATS path checks them), once.
 */
function columnarReply(statuses: GoalStateStatuses, bundleUs: number, totalUs: number): GoalStateOperationReply {
  let built: GoalStateOperationReply['operationStatuses'] | undefined;
  return {
    formatVersion: 1,
    messageTotalOperationTime: totalUs,
    get operationStatuses() {
      built ??= objectReply(statuses, bundleUs, totalUs).operationStatuses;
      return built;
    },
    [ENCODE_REPLY]: () => encodeColumnarReply(statuses.columns(), { dataplaneUs: bundleUs, totalUs }),
  } as GoalStateOperationReply;
}

function objectReply(statuses: Iterable<PlannedStatus>, bundleUs: number, totalUs: number): GoalStateOperationReply {
  const times = { dataplaneUs: bundleUs, totalUs };
  // Every field set: a plain object is a complete message, without fromPartial's copy of each status.
  return {
    formatVersion: 1,
    messageTotalOperationTime: totalUs,
    operationStatuses: Array.from(statuses, (s) => replyStatusOf(s, times)),
  };
}

/** Every resource of an encoded goal state (neighbors included, as in a normal reply), or undefined if it does not decode. */
function resourcesOfBytes(bytes: Uint8Array, version: 1 | 2): ResourceRef[] | undefined {
  try {
    if (version === 1) return resourcesOfV1(GoalState.decode(bytes));
    const gs = GoalStateV2.decode(bytes);
    const neighbors = Object.entries(gs.neighborStates).map(([id, s]) => ({
      resourceId: id,
      resourceType: ResourceType.NEIGHBOR,
      operationType: s.operationType,
    }));
    return [...resourcesOfV2(gs), ...neighbors];
  } catch {
    return undefined;
  }
}
