// The types of a partition's interface (partition.ts): its options, what prepare returns, host
// facts, released neighbors. The engine (engine.ts) and the worker protocol (protocol.ts) use them.

import type { PlannedStatus, StoreSnapshot } from '../goalstate';
import type { Ipv4, Neighbor } from '../model';
import type { ArpAnswers } from '../pipeline';
import type { EncodedDelta } from './delta-encode';
import type { NeighborStatuses } from './statuses';

export interface PartitionOptions {
  readonly index: number;
  readonly count: number;
  readonly localTunnelIp?: Ipv4;
  readonly tunnelOfport?: number;
  /** Held state saved by an earlier run (snapshot()); the flow table is rebuilt from it. */
  readonly snapshot?: StoreSnapshot;
  /** Interfaces already known at start (port id -> ofport). */
  readonly ofports?: ReadonlyMap<string, number>;
  /** Whether ARP answers are flows (default) or left to another data plane (pipeline/view.ts). */
  readonly arpAnswers?: ArpAnswers;
  /** Hold simple neighbors in the lane (default; neighbor-lane.ts). Off: every neighbor takes the ordinary path. */
  readonly neighborLane?: boolean;
  /** Hold simple neighbors as records (default; neighbor-flows.ts). Off: the FlowTable alone, as after a contest. */
  readonly neighborRecords?: boolean;
  /** Neighbors pinned to partition 0 (placement.ts). */
  readonly pinned?: readonly string[];
  /** Every partition's key filter (key-filter.ts), by partition; none with one partition. */
  readonly filters?: readonly SharedArrayBuffer[];
}

export interface PrepareTimings {
  decodeMs: number;
  planMs: number;
  compileMs: number;
  diffMs: number;
  encodeMs: number;
  /** Lane neighbors: decode, plan, compile, diff and encode in one pass (neighbor-lane.ts). */
  laneMs: number;
}

export interface PrepareResult {
  readonly txn: number;
  /** Partition 0: the statuses of every op but neighbors, in op order; other partitions: none. */
  readonly statuses: PlannedStatus[];
  /** This chunk's neighbors, in chunk order. */
  readonly neighbors: NeighborStatuses;
  readonly delta: EncodedDelta;
  readonly timings: PrepareTimings;
  /** Neighbors the fast decoder declined (normally 0). */
  readonly slowNeighbors: number;
  /** With `PrepareFlags.candidates`: the keys of contestCandidates(), found at once. */
  readonly candidates?: Float64Array;
}

/** What the host contributes: where interfaces are, and the tunnel. `null` = unchanged. */
export interface HostFacts {
  readonly ofports?: readonly (readonly [portId: string, ofport: number | undefined])[];
  readonly tunnelOfport?: number | null;
  readonly localTunnelIp?: Ipv4 | null;
}

/** Neighbors a partition let go of (release()), by the tier that held them. */
export interface ReleasedNeighbors {
  readonly lane: Neighbor[];
  readonly ordinary: Neighbor[];
}

/** How a chunk of a goal state is planned (PartitionEngine.prepareGoalState). */
export interface ChunkOptions {
  /** A later chunk of the same goal state: plans on top of the chunks still open. */
  readonly continues?: boolean;
  /** Look for contest candidates at the end. */
  readonly candidates?: boolean;
  /** The flows are installed already: lane flow-mods are counted, not written. */
  readonly restoring?: boolean;
  /** More chunks of this goal state follow. */
  readonly more?: boolean;
}

export class PartitionError extends Error {
  readonly code: 'TXN_OPEN' | 'NO_TXN' | 'TXN_ORDER';
  constructor(code: 'TXN_OPEN' | 'NO_TXN' | 'TXN_ORDER', message: string) {
    super(message);
    this.code = code;
  }
}
