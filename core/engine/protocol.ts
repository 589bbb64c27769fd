// Messages between the main thread (engine.ts) and a partition's worker (worker.ts).
// Plain data only: they cross threads by structured clone, byte arrays by transfer.

import type { Flow } from '../flow';
import type { ArpChange, ArpTriple } from './arp-entries';
import type { StoreSnapshot } from '../goalstate';
import type { Dhcp, Ipv4, Subnet } from '../model';
import type { ArpAnswers } from '../pipeline/view';
import type { EncodeContext, EncodedDelta, HostFacts, PrepareResult, ReleasedNeighbors } from './partition';

export type WorkerTask =
  | {
      readonly type: 'init';
      readonly index: number;
      readonly count: number;
      readonly localTunnelIp?: Ipv4;
      readonly tunnelOfport?: number;
      readonly snapshot?: StoreSnapshot;
      readonly ofports?: readonly (readonly [string, number])[];
      readonly arpAnswers?: ArpAnswers;
      readonly pinned?: readonly string[];
      readonly filters?: readonly SharedArrayBuffer[];
    }
  | {
      readonly type: 'prepare';
      readonly version: 1 | 2;
      readonly bytes: Uint8Array;
      readonly enc: EncodeContext;
      /** A later chunk of the same goal state: plans on top of the chunks still open. */
      readonly continues?: boolean;
      /** The partition's neighbors in the whole goal state (all chunks): room is made once. */
      readonly expectedNeighbors?: number;
      /** The input was copied for this task: send its buffer back with the reply, for reuse. */
      readonly returnInput?: boolean;
      /** Output buffers of earlier chunks, consumed and handed back for reuse (buffer-pool.ts). */
      readonly spare?: readonly ArrayBuffer[];
      /** The last chunk of the only partition at work: look for contest candidates at once. */
      readonly candidates?: boolean;
      /** The flows are installed already (engine.ts PrepareOptions.restoring): lane flow-mods are counted, not written. */
      readonly restoring?: boolean;
      /** Not the partition's last chunk of this goal state: more follow (see PartitionEngine). */
      readonly more?: boolean;
    }
  | { readonly type: 'hostFacts'; readonly facts: HostFacts; readonly enc: EncodeContext }
  | { readonly type: 'commit'; readonly txn: number }
  /** Commits first, then `task` (commits deferred by the engine ride with the next task). */
  | { readonly type: 'after'; readonly commits: readonly number[]; readonly task: WorkerTask }
  | { readonly type: 'abort'; readonly txn: number }
  | { readonly type: 'ownerOf'; readonly txn: number; readonly index: number }
  /** Installed flows as FLOW_STATS multipart reply bodies, shared by every partition. */
  | { readonly type: 'reconcile'; readonly bodies: readonly Uint8Array[]; readonly enc: EncodeContext }
  | { readonly type: 'desired' }
  | { readonly type: 'snapshot' }
  /** Cheap counters and the small held resources the agent's DHCP server needs (no neighbors, no flows). */
  | { readonly type: 'stats' }
  /** A full collection of the worker's heap (full-gc.ts): after a large goal state, once idle. */
  | { readonly type: 'collect' }
  /** (VNI, IPv4) -> MAC answers for the XDP ARP responder (arp-entries.ts). */
  | { readonly type: 'arpEntries' }
  /** How those answers moved since the last arpChanges (arp-entries.ts ArpReport); reset: report all of them. */
  | { readonly type: 'arpChanges'; readonly reset: boolean }
  /** Key contests across partitions (placement.ts): see PartitionEngine.contestCandidates and after. */
  | { readonly type: 'contestCandidates'; readonly all: boolean }
  | { readonly type: 'holds'; readonly keys: Float64Array }
  | { readonly type: 'claimants'; readonly keys: Float64Array }
  | { readonly type: 'pin'; readonly ids: readonly string[] }
  | { readonly type: 'release'; readonly ids: readonly string[] }
  | { readonly type: 'adopt'; readonly neighbors: ReleasedNeighbors };

export type WorkerReply =
  | { readonly type: 'init'; readonly flows: number }
  | {
      readonly type: 'prepare';
      readonly result: PrepareResult;
      /** The task's input buffer, handed back for the next chunk's copy (moved, not cloned). */
      readonly input?: ArrayBuffer;
    }
  | { readonly type: 'hostFacts'; readonly txn: number; readonly delta: EncodedDelta }
  | { readonly type: 'done' }
  | { readonly type: 'ownerOf'; readonly owner: string | undefined }
  | { readonly type: 'reconcile'; readonly delta: EncodedDelta }
  | { readonly type: 'desired'; readonly flows: Flow[] }
  | { readonly type: 'snapshot'; readonly snapshot: StoreSnapshot }
  | {
      readonly type: 'stats';
      readonly flows: number;
      readonly dhcp: readonly Dhcp[];
      readonly subnets: readonly Subnet[];
      /** VNI -> OAM port of its ZETA gateway (core/zeta/oam.ts oamPortsByVni). */
      readonly zetaOam: readonly (readonly [number, number])[];
      /** Ids of the desired groups (ZETA gateways' select groups). */
      readonly groups: readonly number[];
    }
  | {
      readonly type: 'arpEntries';
      readonly entries: readonly ArpTriple[];
      readonly portVnis: readonly (readonly [string, number])[];
    }
  | {
      readonly type: 'arpChanges';
      readonly full: boolean;
      readonly changes: readonly ArpChange[];
      readonly portVnis: readonly (readonly [string, number])[];
    }
  | { readonly type: 'keys'; readonly keys: Float64Array }
  | { readonly type: 'holds'; readonly holds: Uint8Array }
  | { readonly type: 'claimants'; readonly owners: readonly string[] }
  | { readonly type: 'released'; readonly neighbors: ReleasedNeighbors };
