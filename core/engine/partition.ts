// One partition of the agent's desired state: the held resources, the desired flow table, and the
// transaction that turns one goal state into one flow-mod delta.
//
// Partitioning (see pool.ts): every partition holds every resource except neighbors, which are
// spread by id hash. Partition 0 owns the flows of everything but neighbors (ports, routers, the
// per-VNI flood flows, the infrastructure flows); each partition owns the flows of its neighbors.
// Because a neighbor's flows read only the neighbor and small context (subnets, tunnel facts),
// partitions never need each other's state.
//
// Transactions are two-phase, so that nothing is recorded as programmed until OVS confirms it:
//   prepare()  plans the goal state, applies it to the held state and the flow table, and returns
//              the statuses and the encoded flow-mods (BUNDLE_ADD_MESSAGE(FLOW_MOD)s);
//   commit()   OVS committed the bundle: forget the undo information;
//   abort()    OVS rejected it (the bundle was atomic, so OVS is unchanged): undo both.
// One transaction at a time; a prepare while another is open is a programming error.

import { OperationStatus, OperationType, ResourceType } from '../../proto';
import type { Flow } from '../flow';
import { type ApplyPlan, type PlannedStatus, ResourceStore, type StoreSnapshot } from '../goalstate';
import type { Ipv4 } from '../model';
import { FlowTable, type FlowDelta, fastFlowKey } from '../flowtable';
import {
  type FlowModCommand,
  OFP14_VERSION,
  ByteWriter,
  writeBundledFlowMod,
  BUNDLE_ATOMIC_ORDERED,
} from '../openflow';
import {
  INFRA_OWNER,
  type OwnerRef,
  compileOwner,
  decodeCookie,
  dependents,
  dependentsOfOfport,
  dependentsOfTunnel,
  isOurCookie,
  ownerKey,
  preferOwner,
} from '../pipeline';
import { decodeGoalState } from './decode';
import { NeighborFastPath } from './neighbor-fastpath';
import { partitionOfCookieHash } from './split';
import { StoreView } from '../pipeline/storeview';
import { MutableOvsFacts } from './ovs-facts';

export interface PartitionOptions {
  readonly index: number;
  readonly count: number;
  readonly localTunnelIp?: Ipv4;
  readonly tunnelOfport?: number;
  /** Held state saved by an earlier run (snapshot()); the flow table is rebuilt from it. */
  readonly snapshot?: StoreSnapshot;
  /** Interfaces already known at start (port id -> ofport). */
  readonly ofports?: ReadonlyMap<string, number>;
}

/** The encoded flow-mods of one delta: BUNDLE_ADD_MESSAGE(FLOW_MOD) messages, back to back. */
export interface EncodedDelta {
  readonly bytes: Uint8Array;
  readonly add: number;
  readonly modify: number;
  readonly delete: number;
}

export interface PrepareTimings {
  decodeMs: number;
  planMs: number;
  compileMs: number;
  diffMs: number;
  encodeMs: number;
}

export interface PrepareResult {
  readonly txn: number;
  /** Partition 0: every op's status; other partitions: their neighbors' statuses only. Op order. */
  readonly statuses: PlannedStatus[];
  readonly delta: EncodedDelta;
  readonly timings: PrepareTimings;
  /** Neighbors the fast decoder declined (normally 0). */
  readonly slowNeighbors: number;
}

/** What the host contributes: where interfaces are, and the tunnel. `null` = unchanged. */
export interface HostFacts {
  readonly ofports?: readonly (readonly [portId: string, ofport: number | undefined])[];
  readonly tunnelOfport?: number | null;
  readonly localTunnelIp?: Ipv4 | null;
}

export interface EncodeContext {
  readonly bundleId: number;
  /** xid of the first message; message i gets firstXid + i. */
  readonly firstXid: number;
}

interface Undo {
  readonly txn: number;
  readonly plan: ApplyPlan | undefined;
  readonly owners: readonly OwnerRef[];
  readonly ofports: readonly (readonly [string, number | undefined])[];
  readonly tunnelOfport: number | undefined;
  readonly localTunnelIp: Ipv4 | undefined;
  /** The delta's flows in message order, to name the owner of a flow-mod OVS rejected. */
  readonly flows: readonly Flow[];
}

export class PartitionError extends Error {
  readonly code: 'TXN_OPEN' | 'NO_TXN';
  constructor(code: 'TXN_OPEN' | 'NO_TXN', message: string) {
    super(message);
    this.code = code;
  }
}

const PORT_UPSERTS: ReadonlySet<OperationType> = new Set([
  OperationType.CREATE,
  OperationType.UPDATE,
  OperationType.INFO,
]);

export class PartitionEngine {
  readonly index: number;
  readonly count: number;
  readonly store: ResourceStore;
  readonly view: StoreView;
  readonly facts: MutableOvsFacts;
  readonly table = new FlowTable({ preferOwner, isOurs: isOurCookie });
  readonly #fast = new NeighborFastPath();
  #open: Undo | undefined;
  #nextTxn = 1;

  constructor(opts: PartitionOptions) {
    this.index = opts.index;
    this.count = opts.count;
    this.store = opts.snapshot === undefined ? new ResourceStore() : ResourceStore.fromSnapshot(opts.snapshot);
    this.facts = new MutableOvsFacts({ localTunnelIp: opts.localTunnelIp, tunnelOfport: opts.tunnelOfport });
    this.view = new StoreView(this.store, this.facts);
    for (const [id, ofport] of opts.ofports ?? []) this.facts.setOfport(id, ofport);
    // Compile everything held. The infrastructure flows exist from the start, so the table is
    // never without them.
    const owners = new OwnerList();
    if (this.index === 0) {
      owners.add(INFRA_OWNER);
      for (const p of this.view.ports()) for (const o of dependentsOfOfport(p.id, this.view)) owners.add(o);
      for (const r of this.view.routers()) owners.add({ kind: 'router', id: r.id });
    }
    for (const n of this.view.neighbors()) owners.add({ kind: 'neighbor', id: n.id });
    this.table.apply(
      owners.list.filter((o) => this.owns(o)).map((o) => ({ owner: ownerKey(o), flows: compileOwner(o, this.view) })),
    );
  }

  /** Whether this partition compiles `owner`'s flows. */
  owns(owner: OwnerRef): boolean {
    return owner.kind === 'neighbor' || this.index === 0;
  }

  /** Whether an installed flow (from a dump) belongs to this partition. */
  ownsCookie(cookie: bigint): boolean {
    const d = decodeCookie(cookie);
    if (!d.ours) return false;
    if (d.kind === 'neighbor') return partitionOfCookieHash(d.hash, this.count) === this.index;
    return this.index === 0;
  }

  /** Plans and applies an encoded goal state. See the file comment for the protocol. */
  prepareGoalState(bytes: Uint8Array, version: 1 | 2, enc: EncodeContext): PrepareResult {
    this.#assertNoOpen();
    const timings: PrepareTimings = { decodeMs: 0, planMs: 0, compileMs: 0, diffMs: 0, encodeMs: 0 };
    let t = performance.now();
    const { model, slowNeighbors } = decodeGoalState(bytes, version, this.#fast);
    timings.decodeMs = performance.now() - t;
    t = performance.now();
    const plan = this.store.plan(model);
    this.store.commit(plan);
    timings.planMs = performance.now() - t;

    const statuses: PlannedStatus[] = [];
    for (let i = 0; i < plan.statuses.length; i++) {
      const s = plan.statuses[i];
      if (this.index !== 0 && s.resourceType !== ResourceType.NEIGHBOR) continue;
      statuses.push(this.#withPending(s));
    }
    const owners = this.#ownersOf(plan);
    const txn = this.#nextTxn++;
    const result = this.#applyOwners(owners, enc, timings);
    this.#open = {
      txn,
      plan,
      owners,
      ofports: [],
      tunnelOfport: this.facts.tunnelOfport,
      localTunnelIp: this.facts.localTunnelIp,
      flows: result.flows,
    };
    return { txn, statuses, delta: result.delta, timings, slowNeighbors };
  }

  /** Applies host facts (interfaces appearing, the tunnel port) as a transaction of its own. */
  prepareHostFacts(facts: HostFacts, enc: EncodeContext): { txn: number; delta: EncodedDelta } {
    this.#assertNoOpen();
    const undoOfports: (readonly [string, number | undefined])[] = [];
    const owners = new OwnerList();
    const tunnelBefore = this.facts.tunnelOfport;
    const ipBefore = this.facts.localTunnelIp;
    let tunnelChanged = false;
    if (facts.tunnelOfport !== undefined && facts.tunnelOfport !== null && facts.tunnelOfport !== tunnelBefore) {
      this.facts.tunnelOfport = facts.tunnelOfport;
      tunnelChanged = true;
    }
    if (facts.localTunnelIp !== undefined && facts.localTunnelIp !== null && facts.localTunnelIp !== ipBefore) {
      this.facts.localTunnelIp = facts.localTunnelIp;
      tunnelChanged = true;
    }
    if (tunnelChanged) for (const o of dependentsOfTunnel(this.view)) owners.add(o);
    for (const [portId, ofport] of facts.ofports ?? []) {
      const before = this.facts.ofportOf(portId);
      if (!this.facts.setOfport(portId, ofport)) continue;
      undoOfports.push([portId, before]);
      for (const o of dependentsOfOfport(portId, this.view)) owners.add(o);
    }
    const list = owners.list.filter((o) => this.owns(o));
    const result = this.#applyOwners(list, enc, undefined);
    const txn = this.#nextTxn++;
    this.#open = {
      txn,
      plan: undefined,
      owners: list,
      ofports: undoOfports,
      tunnelOfport: tunnelBefore,
      localTunnelIp: ipBefore,
      flows: result.flows,
    };
    return { txn, delta: result.delta };
  }

  commit(txn: number): void {
    this.#take(txn);
  }

  /** OVS rejected the transaction's bundle: put the held state and the flow table back. */
  abort(txn: number): void {
    const undo = this.#take(txn);
    if (undo.plan !== undefined) this.store.revert(undo.plan);
    for (let i = undo.ofports.length - 1; i >= 0; i--) this.facts.setOfport(undo.ofports[i][0], undo.ofports[i][1]);
    this.facts.tunnelOfport = undo.tunnelOfport;
    this.facts.localTunnelIp = undo.localTunnelIp;
    this.table.apply(undo.owners.map((o) => ({ owner: ownerKey(o), flows: compileOwner(o, this.view) })));
  }

  /** The owner of message `i` of the open transaction's delta (to say which resource OVS rejected). */
  ownerOfMessage(txn: number, i: number): string | undefined {
    if (this.#open === undefined || this.#open.txn !== txn) return undefined;
    const f = this.#open.flows[i];
    if (f === undefined) return undefined;
    const owners = this.table.ownersOf(fastFlowKey(f));
    return owners[0];
  }

  /** The delta that converges a dump of installed flows (ours, this partition's) to the desired table. */
  reconcile(installed: Iterable<Flow>, enc: EncodeContext): EncodedDelta {
    const mine: Flow[] = [];
    for (const f of installed) if (this.ownsCookie(f.cookie)) mine.push(f);
    const delta = this.table.reconcile(mine);
    return encodeDelta(delta, enc).delta;
  }

  desiredFlows(): Flow[] {
    return [...this.table.flows()];
  }

  snapshot(): StoreSnapshot {
    return this.store.snapshot();
  }

  #withPending(s: PlannedStatus): PlannedStatus {
    if (
      s.resourceType === ResourceType.PORT &&
      s.status === OperationStatus.SUCCESS &&
      PORT_UPSERTS.has(s.operationType) &&
      this.view.port(s.resourceId) !== undefined &&
      this.facts.ofportOf(s.resourceId) === undefined
    ) {
      return {
        ...s,
        status: OperationStatus.PENDING,
        reason: `port ${s.resourceId} has no interface on the bridge yet (external_ids:iface-id or tap${s.resourceId.slice(0, 11)}); it is programmed when one appears`,
      };
    }
    return s;
  }

  #ownersOf(plan: ApplyPlan): OwnerRef[] {
    const owners = new OwnerList();
    for (const c of plan.changes) {
      for (const o of dependents({ before: c.before, after: c.after }, this.view)) if (this.owns(o)) owners.add(o);
    }
    return owners.list;
  }

  #applyOwners(
    owners: readonly OwnerRef[],
    enc: EncodeContext,
    timings: PrepareTimings | undefined,
  ): { delta: EncodedDelta; flows: Flow[] } {
    let t = performance.now();
    const changes = new Array<{ owner: string; flows: readonly Flow[] }>(owners.length);
    for (let i = 0; i < owners.length; i++)
      changes[i] = { owner: ownerKey(owners[i]), flows: compileOwner(owners[i], this.view) };
    if (timings) timings.compileMs = performance.now() - t;
    t = performance.now();
    const delta = this.table.apply(changes);
    if (timings) timings.diffMs = performance.now() - t;
    t = performance.now();
    const out = encodeDelta(delta, enc);
    if (timings) timings.encodeMs = performance.now() - t;
    return out;
  }

  #take(txn: number): Undo {
    const undo = this.#open;
    if (undo === undefined || undo.txn !== txn) throw new PartitionError('NO_TXN', `no open transaction ${txn}`);
    this.#open = undefined;
    return undo;
  }

  #assertNoOpen(): void {
    if (this.#open !== undefined) {
      throw new PartitionError('TXN_OPEN', `transaction ${this.#open.txn} is still open: commit or abort it first`);
    }
  }
}

/** Owners, each once, in first-seen order. */
class OwnerList {
  readonly #seen = new Set<string>();
  readonly list: OwnerRef[] = [];
  add(o: OwnerRef): void {
    const k = ownerKey(o);
    if (this.#seen.has(k)) return;
    this.#seen.add(k);
    this.list.push(o);
  }
}

/**
 * Encodes a delta as BUNDLE_ADD_MESSAGE(FLOW_MOD)s: deletes, then modifies, then adds (keys are
 * distinct within a delta, so the order only makes the bundle read naturally).
 */
export function encodeDelta(delta: FlowDelta, enc: EncodeContext): { delta: EncodedDelta; flows: Flow[] } {
  const count = delta.delete.length + delta.modify.length + delta.add.length;
  const w = new ByteWriter(Math.max(1024, count * 160));
  let xid = enc.firstXid >>> 0;
  const flows: Flow[] = [];
  const write = (list: readonly Flow[], command: FlowModCommand): void => {
    for (let i = 0; i < list.length; i++) {
      writeBundledFlowMod(w, xid, OFP14_VERSION, enc.bundleId, list[i], command, BUNDLE_ATOMIC_ORDERED);
      xid = (xid + 1) >>> 0;
      flows.push(list[i]);
    }
  };
  write(delta.delete, 'delete_strict');
  write(delta.modify, 'modify_strict');
  write(delta.add, 'add');
  // A copy sized to the content: the writer's buffer is oversized, and the copy can be transferred.
  const bytes = new Uint8Array(w.pos);
  bytes.set(w.view());
  return { delta: { bytes, add: delta.add.length, modify: delta.modify.length, delete: delta.delete.length }, flows };
}
