// The statuses of one goal state, one per op in op order, as the engine hands them to its caller.
//
// A million-neighbor goal state has a million statuses, nearly all "neighbor <id>: SUCCESS". The
// partitions send those as one code byte each (NeighborStatuses, below) and the ids stay in
// the message the caller already holds (split.ts idRanges), so nothing is built per neighbor
// until someone reads that status; whole statuses travel only where there is a reason to give.

import { OperationStatus, OperationType, ResourceType } from '../../proto';
import type { PlannedStatus } from '../goalstate';

/**
 * The statuses of a chunk's neighbors, in chunk order, without an object per neighbor: a code per
 * entry, and whole statuses only where there is more to say (a reason, or the ordinary path's).
 * The main thread knows each neighbor's id from the message (split.ts).
 */
export interface NeighborStatuses {
  /** OperationStatus per entry, or NEIGHBOR_STATUS_LISTED: see `listed`. */
  readonly codes: Uint8Array;
  /** OperationType per entry (for the coded ones). */
  readonly operations: Uint8Array;
  /** Entry indexes of `listedStatuses`, ascending. */
  readonly listed: number[];
  readonly listedStatuses: PlannedStatus[];
}

/** A NeighborStatuses code: the entry's status is in `listedStatuses`. */
export const NEIGHBOR_STATUS_LISTED = 255;

/** A leading U+FEFF is part of an id, as the generated decoder reads it. */
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** What a GoalStateStatuses is made of, for an encoder that writes the neighbors' statuses from it. */
export interface StatusColumns {
  /** Statuses before the neighbors, and after them (DHCP entries), in op order. */
  readonly head: readonly PlannedStatus[];
  readonly tail: readonly PlannedStatus[];
  /** The request: neighbor n's id is `message[idRanges[2n], idRanges[2n + 1])`. */
  readonly message: Uint8Array;
  readonly idRanges: Uint32Array;
  readonly codes: Uint8Array;
  readonly operations: Uint8Array;
  readonly listed: ReadonlyMap<number, PlannedStatus>;
}

export class GoalStateStatuses implements Iterable<PlannedStatus> {
  readonly #c: StatusColumns;

  constructor(
    parts: Omit<StatusColumns, 'head' | 'tail'> & {
      /** Every status but the neighbors', in op order. */
      readonly others: readonly PlannedStatus[];
    },
  ) {
    // Neighbors come before DHCP entries in op order (decode.ts withNeighborOps).
    let at = parts.others.findIndex((s) => s.resourceType === ResourceType.DHCP);
    if (at < 0) at = parts.others.length;
    this.#c = {
      head: parts.others.slice(0, at),
      tail: parts.others.slice(at),
      message: parts.message,
      idRanges: parts.idRanges,
      codes: parts.codes,
      operations: parts.operations,
      listed: parts.listed,
    };
  }

  get length(): number {
    return this.#c.head.length + this.#c.codes.length + this.#c.tail.length;
  }

  /** The status of op i (op order). */
  at(i: number): PlannedStatus | undefined {
    if (i < 0) return undefined;
    if (i < this.#c.head.length) return this.#c.head[i];
    const n = i - this.#c.head.length;
    if (n >= this.#c.codes.length) return this.#c.tail[n - this.#c.codes.length];
    return this.#neighbor(n);
  }

  /** How many statuses have the given OperationStatus. */
  countStatus(status: number): number {
    let count = 0;
    for (const s of this.#c.head) if (s.status === status) count++;
    for (const s of this.#c.tail) if (s.status === status) count++;
    for (let n = 0; n < this.#c.codes.length; n++) {
      const listed = this.#c.listed.get(n);
      if ((listed === undefined ? this.#c.codes[n] : listed.status) === status) count++;
    }
    return count;
  }

  columns(): StatusColumns {
    return this.#c;
  }

  /** The same statuses with `f` applied to every one but the coded neighbors' (ports, DHCP, listed ones). */
  mapOthers(f: (s: PlannedStatus) => PlannedStatus): GoalStateStatuses {
    const listed = new Map<number, PlannedStatus>();
    for (const [n, s] of this.#c.listed) listed.set(n, f(s));
    return new GoalStateStatuses({ ...this.#c, others: [...this.#c.head.map(f), ...this.#c.tail.map(f)], listed });
  }

  /** Every status but the neighbors': what a caller that looks for ports or subnets needs, without a million objects. */
  *others(): IterableIterator<PlannedStatus> {
    yield* this.#c.head;
    yield* this.#c.tail;
  }

  *[Symbol.iterator](): IterableIterator<PlannedStatus> {
    yield* this.#c.head;
    for (let n = 0; n < this.#c.codes.length; n++) yield this.#neighbor(n);
    yield* this.#c.tail;
  }

  #neighbor(n: number): PlannedStatus {
    const listed = this.#c.listed.get(n);
    if (listed !== undefined) return listed;
    return {
      resourceId: decoder.decode(this.#c.message.subarray(this.#c.idRanges[2 * n], this.#c.idRanges[2 * n + 1])),
      resourceType: ResourceType.NEIGHBOR,
      operationType: this.#c.operations[n],
      status: this.#c.codes[n],
      reason: '',
    };
  }
}

const PORT_UPSERTS: ReadonlySet<OperationType> = new Set([
  OperationType.CREATE,
  OperationType.UPDATE,
  OperationType.INFO,
]);

/** A port created or updated without an interface on the bridge yet is PENDING: programmed when one appears. */
export function withPending(
  s: PlannedStatus,
  view: { port(id: string): unknown },
  facts: { ofportOf(id: string): number | undefined },
): PlannedStatus {
  if (
    s.resourceType === ResourceType.PORT &&
    s.status === OperationStatus.SUCCESS &&
    PORT_UPSERTS.has(s.operationType) &&
    view.port(s.resourceId) !== undefined &&
    facts.ofportOf(s.resourceId) === undefined
  ) {
    return {
      ...s,
      status: OperationStatus.PENDING,
      reason: `port ${s.resourceId} has no interface on the bridge yet (external_ids:iface-id or tap${s.resourceId.slice(0, 11)}); it is programmed when one appears`,
    };
  }
  return s;
}
