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
// One goal state at a time. A big one may come in chunks of neighbors (engine.ts): each later chunk
// is prepared with `continues` and stacks a transaction on the ones still open; they commit
// together and abort newest first. Any other prepare while a transaction is open is a programming
// error.

import { OperationStatus, OperationType, ResourceType } from '../../proto';
import type { Flow } from '../flow';
import { type ApplyPlan, type PlannedStatus, ResourceStore, type StoreSnapshot } from '../goalstate';
import type { Ipv4 } from '../model';
import { FlowTable, type FlowDelta, type OwnerChange, fastFlowKey, sameActions } from '../flowtable';
import {
  type FlowModCommand,
  OFP14_VERSION,
  ByteWriter,
  writeBundledFlowMod,
  BUNDLE_ATOMIC_ORDERED,
} from '../openflow';
import {
  type ArpAnswers,
  INFRA_OWNER,
  type OwnerRef,
  compileNeighbor,
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
import { RecordEncoder, neighborCookieHalves } from './neighbor-encode';
import { NeighborFastPath } from './neighbor-fastpath';
import { partitionOfCookieHash } from './split';
import { StoreView } from '../pipeline/storeview';
import { MutableOvsFacts } from './ovs-facts';
import {
  ARP_FAMILY,
  L2_FAMILY,
  type NeighborFamily,
  NeighborFlowSet,
  type NeighborRecord,
  familyKeyOf,
  recordFlow,
  recordFlows,
  recordKey,
  sameBody as sameRecordBody,
  sameKey as sameRecordKey,
  simpleRecord,
} from './neighbor-flows';

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
  /** The delta's messages, to name the owner of a flow-mod OVS rejected. */
  readonly messages: DeltaMessages;
  /** Neighbor records this transaction changed in the record set. */
  readonly recordChanges: readonly RecordChange[];
  /** Neighbors this transaction moved from the record set into the FlowTable (their records before). */
  readonly demoted: readonly NeighborRecord[];
}

/** One neighbor's record before and after a transaction (undefined: none). */
interface RecordChange {
  readonly before: NeighborRecord | undefined;
  readonly after: NeighborRecord | undefined;
}

/** Record flow-mods of a delta, in message order: parallel arrays. */
interface RecordMessages {
  readonly records: NeighborRecord[];
  readonly families: NeighborFamily[];
}

/** Who each message of an encoded delta is for: FlowTable flows first, then record flows. */
interface DeltaMessages {
  readonly flows: readonly Flow[];
  /** Written after `flows`: deletes, modifies, adds. */
  readonly records: RecordDelta | undefined;
}

interface RecordDelta {
  readonly delete: RecordMessages;
  readonly modify: RecordMessages;
  readonly add: RecordMessages;
}

function recordMessages(): RecordMessages {
  return { records: [], families: [] };
}

interface Routed {
  readonly delta: FlowDelta;
  readonly records: RecordDelta;
  readonly recordChanges: RecordChange[];
  readonly demoted: NeighborRecord[];
  readonly compileMs: number;
  readonly diffMs: number;
}

export class PartitionError extends Error {
  readonly code: 'TXN_OPEN' | 'NO_TXN' | 'TXN_ORDER';
  constructor(code: 'TXN_OPEN' | 'NO_TXN' | 'TXN_ORDER', message: string) {
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
  /** Flows of simple neighbors, held as records instead of in `table` (see neighbor-flows.ts). */
  readonly neighborFlows: NeighborFlowSet;
  /** Neighbors with flows in `table` (while records are in use): they stay there. */
  readonly #tableNeighbors = new Set<string>();
  /**
   * Open transactions, oldest first. A goal state planned in chunks stacks one per chunk; anything
   * else needs the stack empty. Abort goes newest first, so each undo finds the state it left.
   */
  readonly #open: Undo[] = [];
  #nextTxn = 1;

  constructor(opts: PartitionOptions) {
    this.index = opts.index;
    this.count = opts.count;
    this.store = opts.snapshot === undefined ? new ResourceStore() : ResourceStore.fromSnapshot(opts.snapshot);
    this.facts = new MutableOvsFacts({ localTunnelIp: opts.localTunnelIp, tunnelOfport: opts.tunnelOfport });
    this.view = new StoreView(this.store, this.facts, { arpAnswers: opts.arpAnswers });
    this.neighborFlows = new NeighborFlowSet({ arpAnswerFlows: this.view.arpAnswers === 'flows' });
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
    this.#route(owners.list.filter((o) => this.owns(o)));
  }

  /** Flows desired by this partition. */
  get flowCount(): number {
    return this.table.size + this.neighborFlows.flowCount;
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
  prepareGoalState(bytes: Uint8Array, version: 1 | 2, enc: EncodeContext, continues = false): PrepareResult {
    if (!continues) this.#assertNoOpen();
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
    this.#open.push({
      txn,
      plan,
      owners,
      ofports: [],
      tunnelOfport: this.facts.tunnelOfport,
      localTunnelIp: this.facts.localTunnelIp,
      messages: result.messages,
      recordChanges: result.recordChanges,
      demoted: result.demoted,
    });
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
    this.#open.push({
      txn,
      plan: undefined,
      owners: list,
      ofports: undoOfports,
      tunnelOfport: tunnelBefore,
      localTunnelIp: ipBefore,
      messages: result.messages,
      recordChanges: result.recordChanges,
      demoted: result.demoted,
    });
    return { txn, delta: result.delta };
  }

  commit(txn: number): void {
    const undo = this.#take(txn, false);
    if (undo.plan !== undefined) this.store.settle(undo.plan);
  }

  /** OVS rejected the transaction's bundle: put the held state and the flow table back. */
  abort(txn: number): void {
    const undo = this.#take(txn, true);
    if (undo.plan !== undefined) this.store.revert(undo.plan);
    for (let i = undo.ofports.length - 1; i >= 0; i--) this.facts.setOfport(undo.ofports[i][0], undo.ofports[i][1]);
    this.facts.tunnelOfport = undo.tunnelOfport;
    this.facts.localTunnelIp = undo.localTunnelIp;
    // Records go back as they were; neighbors moved into the table in this transaction leave it.
    const set = this.neighborFlows;
    for (const c of undo.recordChanges) if (c.after !== undefined) set.delete(c.after.id);
    for (const c of undo.recordChanges) if (c.before !== undefined) set.set(c.before);
    const restored = new Set<string>();
    for (const r of undo.demoted) {
      set.set(r);
      restored.add(r.id);
    }
    const moved = new Set<string>();
    for (const c of undo.recordChanges) moved.add((c.before ?? c.after)?.id ?? '');
    const changes: OwnerChange[] = [];
    for (const o of undo.owners) {
      if (o.kind === 'neighbor' && moved.has(o.id)) continue;
      const flows = o.kind === 'neighbor' && restored.has(o.id) ? [] : compileOwner(o, this.view);
      if (o.kind === 'neighbor') {
        if (flows.length > 0) this.#tableNeighbors.add(o.id);
        else this.#tableNeighbors.delete(o.id);
      }
      changes.push({ owner: ownerKey(o), flows });
    }
    this.table.apply(changes);
  }

  /** The owner of message `i` of the open transaction's delta (to say which resource OVS rejected). */
  ownerOfMessage(txn: number, i: number): string | undefined {
    const open = this.#open.find((u) => u.txn === txn);
    if (open === undefined) return undefined;
    const { flows, records } = open.messages;
    const f = flows[i];
    if (f !== undefined) return this.table.ownersOf(fastFlowKey(f))[0];
    // A deleted flow has no owner any more (as for the table's flows).
    let j = i - flows.length - (records?.delete.records.length ?? 0);
    if (records === undefined || j < 0) return undefined;
    const r =
      j < records.modify.records.length
        ? records.modify.records[j]
        : records.add.records[(j -= records.modify.records.length)];
    return r === undefined ? undefined : ownerKey({ kind: 'neighbor', id: r.id });
  }

  /** The delta that converges a dump of installed flows (ours, this partition's) to the desired table. */
  reconcile(installed: Iterable<Flow>, enc: EncodeContext): EncodedDelta {
    const mine: Flow[] = [];
    const set = this.neighborFlows;
    const records: RecordDelta = { delete: recordMessages(), modify: recordMessages(), add: recordMessages() };
    const seen = new Set<string>();
    const arpRecords = set.arpAnswerFlows;
    for (const f of installed) {
      if (!this.ownsCookie(f.cookie)) continue;
      const k = set.size > 0 ? familyKeyOf(f) : undefined;
      // An ARP answer no record wants (ARP answered elsewhere) is the table's to delete.
      const holder =
        k === undefined || (!arpRecords && k.family === ARP_FAMILY) ? undefined : set.holder(k.family, k.vni, k.value);
      const r = holder === undefined ? undefined : set.get(holder);
      if (k === undefined || r === undefined) {
        mine.push(f);
        continue;
      }
      seen.add(r.id + '/' + k.family);
      const want = recordFlow(r, k.family);
      if (want.cookie !== f.cookie) pushRecord(records.add, r, k.family);
      else if (!sameActions(want, f)) pushRecord(records.modify, r, k.family);
    }
    const delta = this.table.reconcile(mine);
    for (const r of set.records()) {
      if (!seen.has(r.id + '/' + L2_FAMILY)) pushRecord(records.add, r, L2_FAMILY);
      if (arpRecords && !seen.has(r.id + '/' + ARP_FAMILY)) pushRecord(records.add, r, ARP_FAMILY);
    }
    return encodeDelta(delta, enc, records).delta;
  }

  desiredFlows(): Flow[] {
    const out = [...this.table.flows()];
    const arp = this.neighborFlows.arpAnswerFlows;
    for (const r of this.neighborFlows.records()) for (const f of recordFlows(r, arp)) out.push(f);
    return out;
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
      const r = c.after ?? c.before;
      // A neighbor change recompiles just that neighbor (dependents.ts); the common case at scale.
      if (r?.kind === 'neighbor') {
        owners.addNeighbor(r.id);
        continue;
      }
      for (const o of dependents({ before: c.before, after: c.after }, this.view)) if (this.owns(o)) owners.add(o);
    }
    return owners.list;
  }

  #applyOwners(
    owners: readonly OwnerRef[],
    enc: EncodeContext,
    timings: PrepareTimings | undefined,
  ): { delta: EncodedDelta; messages: DeltaMessages; recordChanges: RecordChange[]; demoted: NeighborRecord[] } {
    const routed = this.#route(owners);
    if (timings) {
      timings.compileMs = routed.compileMs;
      timings.diffMs = routed.diffMs;
    }
    const t = performance.now();
    const out = encodeDelta(routed.delta, enc, routed.records);
    if (timings) timings.encodeMs = performance.now() - t;
    return { ...out, recordChanges: routed.recordChanges, demoted: routed.demoted };
  }

  /**
   * Recompiles `owners` into the FlowTable and the neighbor record set, and returns the delta.
   * A neighbor goes to the record set when it is simple and not already in the table; the rest
   * go to the table. If any key would be wanted by a record and anything else, every record
   * moves into the table first (neighbor-flows.ts), so contested keys get the table's semantics.
   */
  #route(owners: readonly OwnerRef[]): Routed {
    const t0 = performance.now();
    const view = this.view;
    const set = this.neighborFlows;
    const changes: OwnerChange[] = [];
    const neighborIds: string[] = [];
    for (const o of owners) {
      if (o.kind === 'neighbor' && set.enabled) neighborIds.push(o.id);
      else changes.push({ owner: ownerKey(o), flows: compileOwner(o, view) });
    }
    const recordChanges: RecordChange[] = [];
    const demoted: NeighborRecord[] = [];
    const otherCount = changes.length;
    for (const id of neighborIds) {
      const before = set.get(id);
      const n = view.neighbor(id);
      const inTable = before === undefined && this.#tableNeighbors.has(id);
      const after = inTable || n === undefined ? undefined : simpleRecord(n, view);
      const flows = after !== undefined || n === undefined ? [] : compileNeighbor(n, view);
      if (inTable || flows.length > 0) {
        changes.push({ owner: ownerKey({ kind: 'neighbor', id }), flows });
        if (flows.length > 0) this.#tableNeighbors.add(id);
        else this.#tableNeighbors.delete(id);
        if (before !== undefined) demoted.push(before);
      } else if (before !== undefined || after !== undefined) {
        recordChanges.push({ before, after });
      }
    }
    // A key another neighbor holds now is contested, even if that neighbor lets go of it in this
    // change (the table would send ADD with the new cookie, not DELETE + ADD).
    let contested = false;
    for (const c of recordChanges) {
      const a = c.after;
      if (a === undefined) continue;
      const l2 = set.holder(L2_FAMILY, a.vni, a.mac);
      const arp = set.holder(ARP_FAMILY, a.vni, a.ip);
      if ((l2 !== undefined && l2 !== a.id) || (arp !== undefined && arp !== a.id)) {
        contested = true;
        break;
      }
    }
    // Records out, then in; a key already held by then (two new records) is contested too.
    if (!contested) {
      for (const r of demoted) set.delete(r.id);
      for (const c of recordChanges) if (c.before !== undefined) set.delete(c.before.id);
      for (const c of recordChanges) {
        const a = c.after;
        if (a === undefined) continue;
        if (set.holder(L2_FAMILY, a.vni, a.mac) !== undefined || set.holder(ARP_FAMILY, a.vni, a.ip) !== undefined) {
          contested = true;
          break;
        }
        set.set(a);
      }
    }
    // Table flows, old and new, that a record also wants.
    const adopted: OwnerChange[] = demoted.map((r) => ({
      owner: ownerKey({ kind: 'neighbor', id: r.id }),
      flows: recordFlows(r, set.arpAnswerFlows),
    }));
    if (!contested && set.size > 0) contested = this.#heldByRecord(changes) || this.#heldByRecord(adopted);
    if (!contested && set.size > 0) contested = this.#tableHoldsRecordKeys(recordChanges);
    if (contested) {
      // Put the records back as they were, move them all into the table, and route generically.
      for (const c of recordChanges) if (c.after !== undefined) set.delete(c.after.id);
      for (const c of recordChanges) if (c.before !== undefined) set.set(c.before);
      for (const r of demoted) set.set(r);
      const all = set.drain();
      this.table.apply(
        all.map((r) => ({
          owner: ownerKey({ kind: 'neighbor', id: r.id }),
          flows: recordFlows(r, set.arpAnswerFlows),
        })),
      );
      changes.length = otherCount;
      for (const id of neighborIds) {
        const o: OwnerRef = { kind: 'neighbor', id };
        changes.push({ owner: ownerKey(o), flows: compileOwner(o, view) });
      }
      recordChanges.length = 0;
      demoted.length = 0;
    } else if (adopted.length > 0) {
      // The table takes over their flows as they are (nothing to send), then applies the change.
      this.table.apply(adopted);
    }
    const t1 = performance.now();
    const delta = this.table.apply(changes);
    const records: RecordDelta = { delete: recordMessages(), modify: recordMessages(), add: recordMessages() };
    const arpRecords = set.arpAnswerFlows;
    for (const c of recordChanges) {
      const { before, after } = c;
      if (before === undefined) {
        if (after === undefined) continue;
        pushRecord(records.add, after, L2_FAMILY);
        if (arpRecords) pushRecord(records.add, after, ARP_FAMILY);
        continue;
      }
      if (after === undefined) {
        pushRecord(records.delete, before, L2_FAMILY);
        if (arpRecords) pushRecord(records.delete, before, ARP_FAMILY);
        continue;
      }
      for (const fam of set.families) {
        if (!sameRecordKey(before, after, fam)) {
          pushRecord(records.delete, before, fam);
          pushRecord(records.add, after, fam);
        } else if (!sameRecordBody(before, after, fam)) {
          pushRecord(records.modify, after, fam);
        }
      }
    }
    const t2 = performance.now();
    return { delta, records, recordChanges, demoted, compileMs: t1 - t0, diffMs: t2 - t1 };
  }

  /** Whether a flow of these changes has a key a record holds. */
  #heldByRecord(changes: readonly OwnerChange[]): boolean {
    const set = this.neighborFlows;
    for (const c of changes) {
      for (const f of c.flows) {
        const k = familyKeyOf(f);
        if (k !== undefined && set.holder(k.family, k.vni, k.value) !== undefined) return true;
      }
    }
    return false;
  }

  /** Whether the table holds a key of one of these new records. */
  #tableHoldsRecordKeys(changes: readonly RecordChange[]): boolean {
    const set = this.neighborFlows;
    let added = 0;
    for (const c of changes) if (c.after !== undefined) added++;
    if (added === 0) return false;
    if (this.table.size <= added * 4) {
      // Few table flows: look each one up in the record indexes.
      for (const f of this.table.flows()) {
        const k = familyKeyOf(f);
        if (k !== undefined && set.holder(k.family, k.vni, k.value) !== undefined) return true;
      }
      return false;
    }
    for (const c of changes) {
      const a = c.after;
      if (a === undefined) continue;
      if (
        this.table.get(recordKey(a, L2_FAMILY)) !== undefined ||
        this.table.get(recordKey(a, ARP_FAMILY)) !== undefined
      )
        return true;
    }
    return false;
  }

  /** Removes an open transaction; an abort must take the newest (later chunks planned on top of it). */
  #take(txn: number, newest: boolean): Undo {
    const at = this.#open.findIndex((u) => u.txn === txn);
    if (at < 0) throw new PartitionError('NO_TXN', `no open transaction ${txn}`);
    if (newest && at !== this.#open.length - 1) {
      throw new PartitionError('TXN_ORDER', `transaction ${txn} has later transactions open: abort those first`);
    }
    return this.#open.splice(at, 1)[0];
  }

  #assertNoOpen(): void {
    if (this.#open.length > 0) {
      throw new PartitionError('TXN_OPEN', `transaction ${this.#open[0].txn} is still open: commit or abort it first`);
    }
  }
}

/** Owners, each once, in first-seen order. */
class OwnerList {
  readonly #seen = new Set<string>();
  /** Neighbors by id (no key string per neighbor). */
  readonly #neighbors = new Set<string>();
  readonly list: OwnerRef[] = [];
  add(o: OwnerRef): void {
    if (o.kind === 'neighbor') {
      this.addNeighbor(o.id);
      return;
    }
    const k = ownerKey(o);
    if (this.#seen.has(k)) return;
    this.#seen.add(k);
    this.list.push(o);
  }
  addNeighbor(id: string): void {
    if (this.#neighbors.has(id)) return;
    this.#neighbors.add(id);
    this.list.push({ kind: 'neighbor', id });
  }
}

/** Record flow-mod templates (built on first use; the same for every partition). */
const recordEncoder = new RecordEncoder();

function pushRecord(m: RecordMessages, r: NeighborRecord, family: NeighborFamily): void {
  m.records.push(r);
  m.families.push(family);
}

/**
 * Encodes a delta as BUNDLE_ADD_MESSAGE(FLOW_MOD)s: the table's deletes, modifies and adds, then
 * the records' deletes, modifies and adds (keys are distinct within a delta, so the order only
 * makes the bundle read naturally).
 */
export function encodeDelta(
  delta: FlowDelta,
  enc: EncodeContext,
  records?: RecordDelta,
): { delta: EncodedDelta; messages: DeltaMessages } {
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
  let counts = { add: delta.add.length, modify: delta.modify.length, delete: delta.delete.length };
  if (records === undefined) {
    // A copy sized to the content: the writer's buffer is oversized, and the copy can be transferred.
    const bytes = new Uint8Array(w.pos);
    bytes.set(w.view());
    return { delta: { bytes, ...counts }, messages: { flows, records } };
  }
  const lists: readonly (readonly [RecordMessages, FlowModCommand])[] = [
    [records.delete, 'delete_strict'],
    [records.modify, 'modify_strict'],
    [records.add, 'add'],
  ];
  // Record messages have fixed sizes, so the result is allocated once at its exact size (no
  // doubling, no final copy of hundreds of MB at a million neighbors).
  let size = w.pos;
  for (const [m, command] of lists) size += recordEncoder.bytesFor(m.families, command);
  const bytes = new Uint8Array(size);
  bytes.set(w.view());
  let pos = w.pos;
  let lastId: string | undefined;
  const cookie = new Float64Array(2);
  for (const [m, command] of lists) {
    for (let i = 0; i < m.records.length; i++) {
      const r = m.records[i];
      if (r.id !== lastId) {
        lastId = r.id;
        neighborCookieHalves(r.id, cookie);
      }
      pos = recordEncoder.writeAt(bytes, pos, xid, enc.bundleId, r, m.families[i], command, cookie[0], cookie[1]);
      xid = (xid + 1) >>> 0;
    }
  }
  counts = {
    add: counts.add + records.add.records.length,
    modify: counts.modify + records.modify.records.length,
    delete: counts.delete + records.delete.records.length,
  };
  return { delta: { bytes, ...counts }, messages: { flows, records } };
}
