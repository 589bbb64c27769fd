// One partition of the agent's desired state: the held resources (the store) and the transactions
// that turn one goal state into one flow-mod delta. Where each neighbor and its flows live, and
// when they move, is neighbor-homes.ts's; the key contests with other partitions, contest-keys.ts's.
//
// Partitioning (see engine.ts and placement.ts): every partition holds every resource except
// neighbors, which are spread by id hash. Partition 0 owns the flows of everything but neighbors
// (ports, routers, the per-VNI flood flows, the infrastructure flows); each partition owns the
// flows of its neighbors. A neighbor's flows read only the neighbor and small context (subnets,
// tunnel facts); the one thing partitions must agree on is who holds a flow key several owners
// want, and placement.ts keeps every claimant of such a key in partition 0.
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

import type { Flow } from '../flow';
import { type ApplyPlan, type PlannedStatus, ResourceStore, type StoreSnapshot } from '../goalstate';
import type { Ipv4, Neighbor } from '../model';
import {
  type OwnerRef,
  INFRA_OWNER,
  decodeCookie,
  dependents,
  dependentsOfOfport,
  dependentsOfTunnel,
} from '../pipeline';
import { scanGoalState, type ScannedGoalState } from './decode';
import { NEIGHBOR_COOKIE_HIGH } from './neighbor-encode';
import { LaneDelta } from './lane-delta';
import { threadOutputPool } from './buffer-pool';
import type { NeighborAddressVisitor, NeighborLane } from './neighbor-lane';
import { type KeySets, type LaneStepContext, laneRowScratch, laneRowsDeleted } from './lane-step';
import { type NeighborStatuses, withPending } from './statuses';
import { Placement } from './placement';
import { StoreView } from '../pipeline/storeview';
import { MutableOvsFacts } from './ovs-facts';
import { L2_FAMILY, type NeighborFlowSet, type NeighborRecord, type RecordChange } from './neighbor-flows';
import { type FamilyKey, NeighborHomes, RESTORE_TXN } from './neighbor-homes';
import { planOrdinaryNeighbors } from './ordinary-neighbors';
import { OwnerList } from './owner-list';
import { ContestKeys } from './contest-keys';
import { desiredFlows, desiredGroupIds, keysOf, ownerOfMessage, reconcile } from './homes-flows';
import {
  type DeltaMessages,
  type EncodeContext,
  type EncodedDelta,
  encodeDelta,
  recordEncoder,
  withLaneMessages,
} from './delta-encode';
export type { EncodeContext, EncodedDelta };
import {
  PartitionError,
  type ChunkOptions,
  type HostFacts,
  type PartitionOptions,
  type PrepareResult,
  type PrepareTimings,
  type ReleasedNeighbors,
} from './partition-types';
export * from './partition-types';

/** No claimed keys: a context for reading entries only (laneRowsDeleted). */
const NO_CLAIMS: KeySets = [new Map(), new Map()];
/** What a partition's held resources look like from outside: read-only. */
export type HeldResources = Pick<ResourceStore, 'values' | 'size' | 'has' | 'subnet' | 'port' | 'neighbor'>;

/** The lane from outside (tests): how many rows, and where an id is. */
export type LaneView = Readonly<Pick<NeighborLane, 'size' | 'l3Size' | 'findId'>>;

/** The record set from outside (tests): whether it is in use, and how many records. */
export type RecordsView = Readonly<Pick<NeighborFlowSet, 'enabled' | 'size'>>;

interface Undo {
  readonly txn: number;
  /** Store commits, oldest first. */
  readonly plans: readonly ApplyPlan[];
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
  /** Lane neighbors this transaction moved to the ordinary path, oldest first (abort moves them back). */
  readonly ejected: readonly Neighbor[];
}

/** What applying owners produced: the encoded delta and what an abort needs. */
interface Applied {
  readonly delta: EncodedDelta;
  readonly messages: DeltaMessages;
  readonly recordChanges: RecordChange[];
  readonly demoted: NeighborRecord[];
}

/** What planning a goal state collects for its transaction. */
interface Planning {
  readonly plans: ApplyPlan[];
  readonly owners: OwnerList;
  readonly statuses: PlannedStatus[];
  readonly neighbors: NeighborStatuses;
  slowNeighbors: number;
  compiled: ReadonlyMap<string, readonly Flow[]> | undefined;
}

export class PartitionEngine {
  readonly index: number;
  readonly count: number;
  readonly #store: ResourceStore;
  readonly #view: StoreView;
  readonly #facts: MutableOvsFacts;
  /** Where neighbors and flows live (neighbor-homes.ts). */
  readonly #homes: NeighborHomes;
  /** Where encoded deltas are written; the engine hands consumed ones back (buffer-pool.ts). */
  readonly #output = threadOutputPool;
  /**
   * Open transactions, oldest first. A goal state planned in chunks stacks one per chunk; anything
   * else needs the stack empty. Abort goes newest first, so each undo finds the state it left.
   */
  readonly #open: Undo[] = [];
  #nextTxn = 1;
  readonly #laneRow = laneRowScratch();
  /** Which partition owns which neighbor (for installed flows' cookies). */
  readonly #placement: Placement;
  /** Subnets a chunked goal state's first chunk changed, whose lane rows wait for its last (#plan). */
  #deferredSubnets: Set<string> | undefined;
  readonly #contest: ContestKeys;

  constructor(opts: PartitionOptions) {
    this.index = opts.index;
    this.count = opts.count;
    this.#store = opts.snapshot === undefined ? new ResourceStore() : ResourceStore.fromSnapshot(opts.snapshot);
    this.#facts = new MutableOvsFacts({ localTunnelIp: opts.localTunnelIp, tunnelOfport: opts.tunnelOfport });
    this.#view = new StoreView(this.#store, this.#facts, { arpAnswers: opts.arpAnswers });
    this.#homes = new NeighborHomes({
      store: this.#store,
      view: this.#view,
      facts: this.#facts,
      lane: (opts.neighborLane ?? true) && NEIGHBOR_COOKIE_HIGH !== undefined,
      records: opts.neighborRecords ?? true,
    });
    this.#placement = new Placement(this.count, opts.pinned);
    this.#contest = new ContestKeys(this.#homes, this.index, opts.filters ?? []);
    for (const [id, ofport] of opts.ofports ?? []) this.#facts.setOfport(id, ofport);
    // Compile everything held; the infrastructure flows exist from the start, never missing.
    const owners = new OwnerList();
    if (this.index === 0) {
      owners.add(INFRA_OWNER);
      for (const p of this.#view.ports()) for (const o of dependentsOfOfport(p.id, this.#view)) owners.add(o);
      for (const r of this.#view.routers()) owners.add({ kind: 'router', id: r.id });
      for (const g of this.#view.gateways()) owners.add({ kind: 'gateway', id: g.id });
    }
    this.#homes.route(owners.list.filter((o) => this.owns(o)));
    this.#homes.restore();
    this.#homes.gained.clear();
    this.#contest.rebuild();
  }

  /** The held resources, read-only (neighbors in the lane are not among them: see neighbors()). */
  get store(): HeldResources {
    return this.#store;
  }

  /** The lane, read-only. */
  get lane(): LaneView {
    return this.#homes.lane;
  }

  /** The neighbor record set, read-only. */
  get neighborFlows(): RecordsView {
    return this.#homes.records;
  }

  /** Makes room for this many more lane neighbors before a big goal state arrives. */
  reserveNeighbors(count: number): void {
    this.#homes.lane.reserve(count);
  }

  /** Takes back output buffers the engine consumed, for later deltas. */
  giveBuffers(buffers: Iterable<ArrayBuffer>): void {
    for (const b of buffers) this.#output.give(b);
  }

  /** Flows desired by this partition. */
  get flowCount(): number {
    return this.#homes.flowCount;
  }

  /** Whether this partition compiles `owner`'s flows. */
  owns(owner: OwnerRef): boolean {
    return owner.kind === 'neighbor' || this.index === 0;
  }

  /** Whether an installed flow (from a dump) belongs to this partition. */
  ownsCookie(cookie: bigint): boolean {
    const d = decodeCookie(cookie);
    if (!d.ours) return false;
    if (d.kind === 'neighbor') return this.#placement.ownsCookieHash(d.hash, this.index);
    return this.index === 0;
  }

  /**
   * Plans and applies an encoded goal state. See the file comment for the protocol.
   *
   * Order: the other resources are planned first (neighbors read their subnets) and their owners'
   * keys are claimed; then each neighbor either goes through the lane or is left to the ordinary
   * path, which plans the rest together; one route of every ordinary owner ends it. The lane's
   * flow-mods come first in the delta: a lane add never takes a key anything else held, and a key
   * the lane lets go of may be taken by the ordinary path in the same delta.
   */
  prepareGoalState(bytes: Uint8Array, version: 1 | 2, enc: EncodeContext, chunk: ChunkOptions = {}): PrepareResult {
    const { continues = false, candidates = false, restoring = false, more = false } = chunk;
    if (!continues) {
      this.#assertNoOpen();
      this.#startChanges();
      this.#deferredSubnets = undefined;
    }
    const timings: PrepareTimings = { decodeMs: 0, planMs: 0, compileMs: 0, diffMs: 0, encodeMs: 0, laneMs: 0 };
    const txn = this.#nextTxn++;
    const t = performance.now();
    const scanned = scanGoalState(bytes, version);
    timings.decodeMs = performance.now() - t;
    const count = scanned.neighborCount;
    const p: Planning = {
      plans: [],
      owners: new OwnerList(),
      statuses: [],
      neighbors: { codes: new Uint8Array(count), operations: new Uint8Array(count), listed: [], listedStatuses: [] },
      slowNeighbors: 0,
      compiled: undefined,
    };
    // Sized for every neighbor being new (the usual big goal state), so the buffer is written once.
    const laneDelta = new LaneDelta(
      recordEncoder,
      enc.bundleId,
      enc.firstXid,
      this.#facts.tunnelOfport ?? 0,
      restoring
        ? new Uint8Array(0)
        : this.#output.take(count * recordEncoder.bytesFor(this.#homes.records.families, 'add')),
      restoring,
    );
    // A neighbor entry the ordinary decoder refuses throws after the plan and the lane have moved:
    // both go back before the error goes up, so a refused goal state leaves nothing planned.
    try {
      this.#plan(bytes, version, scanned, txn, laneDelta, timings, p, more);
    } catch (e: unknown) {
      this.#deferredSubnets = undefined;
      this.#homes.lane.abort(txn);
      for (let i = p.plans.length - 1; i >= 0; i--) this.#store.revert(p.plans[i]);
      this.#homes.unejectAll(this.#homes.takeEjected());
      throw e;
    }
    const result = this.#applyOwners(p.owners.list, enc, timings, laneDelta, p.compiled);
    this.#pushUndo(txn, p.plans, p.owners.list, [], this.#facts.tunnelOfport, this.#facts.localTunnelIp, result);
    const found = candidates ? { candidates: this.contestCandidates(false) } : {};
    const { statuses, neighbors, slowNeighbors } = p;
    return { txn, statuses, neighbors, delta: result.delta, timings, slowNeighbors, ...found };
  }

  /** Plans a goal state into `p`: the other resources, then its neighbors through the lane or not. */
  #plan(
    bytes: Uint8Array,
    version: 1 | 2,
    scanned: ScannedGoalState,
    txn: number,
    delta: LaneDelta,
    timings: PrepareTimings,
    p: Planning,
    more: boolean,
  ): void {
    let t = performance.now();
    if (scanned.model.ops.length > 0) {
      const plan = this.#store.plan(scanned.model);
      this.#store.commit(plan);
      p.plans.push(plan);
      if (this.index === 0) for (const s of plan.statuses) p.statuses.push(withPending(s, this.#view, this.#facts));
      const subnets = new Set(plan.changes.filter((c) => c.kind === 'subnet').map((c) => c.id));
      // With more chunks to come, their deletes are not known yet: the rows wait for the last chunk.
      if (subnets.size > 0 && this.#homes.lane.size > 0 && more) this.#deferredSubnets = subnets;
      else if (subnets.size > 0 && this.#homes.lane.size > 0) {
        const ctx = this.#laneContext(txn, NO_CLAIMS, delta);
        this.#homes.ejectInSubnets(subnets, laneRowsDeleted(this.#homes.laneHost, bytes, version, scanned, ctx));
      }
      for (const o of this.#ownersOf(plan)) p.owners.add(o);
    }
    const claim = this.#homes.claimKeys(p.owners.list);
    p.compiled = claim.compiled;
    timings.planMs = performance.now() - t;

    t = performance.now();
    const ctx = this.#laneContext(txn, claim.claimed, delta);
    const ordinary = this.#homes.laneNeighbors(bytes, version, scanned, ctx, p.neighbors);
    timings.laneMs = performance.now() - t;

    if (ordinary.length > 0) {
      t = performance.now();
      const refuse = (k: FamilyKey, id: string): void => this.#contest.refuse(k, id);
      const r = planOrdinaryNeighbors(this.#store, this.#homes, refuse, bytes, version, scanned, ordinary, p.neighbors);
      p.slowNeighbors = r.slow;
      if (r.plan !== undefined) {
        p.plans.push(r.plan);
        for (const o of this.#ownersOf(r.plan)) p.owners.add(o);
      }
      timings.planMs += performance.now() - t;
    }
    if (!more && this.#deferredSubnets !== undefined) {
      for (const id of this.#homes.ejectInSubnets(this.#deferredSubnets)) p.owners.addNeighbor(id);
      this.#deferredSubnets = undefined;
    }
  }

  #laneContext(txn: number, claimed: KeySets, delta: LaneDelta): LaneStepContext {
    return { txn, claimed, delta, subnetId: '', subnet: undefined, cursor: { pos: 0, value: 0 }, row: this.#laneRow };
  }

  /** Applies host facts (interfaces appearing, the tunnel port) as a transaction of its own. */
  prepareHostFacts(facts: HostFacts, enc: EncodeContext): { txn: number; delta: EncodedDelta } {
    this.#assertNoOpen();
    this.#startChanges();
    const undoOfports: (readonly [string, number | undefined])[] = [];
    const owners = new OwnerList();
    const tunnelBefore = this.#facts.tunnelOfport;
    const ipBefore = this.#facts.localTunnelIp;
    const newOfport = changed(facts.tunnelOfport, tunnelBefore);
    const newIp = changed(facts.localTunnelIp, ipBefore);
    // A lane neighbor on the host that becomes ours is not remote any more: the ordinary path
    // takes it (as installed) and recompiles it with the tunnel's dependents below.
    if (newIp !== undefined) this.#homes.ejectOnHost(newIp);
    if (newOfport !== undefined) this.#facts.tunnelOfport = newOfport;
    if (newIp !== undefined) this.#facts.localTunnelIp = newIp;
    if (newOfport !== undefined || newIp !== undefined) for (const o of dependentsOfTunnel(this.#view)) owners.add(o);
    for (const [portId, ofport] of facts.ofports ?? []) {
      const before = this.#facts.ofportOf(portId);
      if (!this.#facts.setOfport(portId, ofport)) continue;
      undoOfports.push([portId, before]);
      for (const o of dependentsOfOfport(portId, this.#view)) owners.add(o);
    }
    // Lane rows in the way of these owners move out with the flows OVS has (the old tunnel
    // ofport), and are recompiled with the rest.
    const { ejected, compiled } = this.#homes.claimKeys(
      owners.list.filter((o) => this.owns(o)),
      tunnelBefore,
    );
    for (const id of ejected) owners.addNeighbor(id);
    const list = owners.list.filter((o) => this.owns(o));
    let laneDelta: LaneDelta | undefined;
    const lane = this.#homes.lane;
    if (newOfport !== undefined && lane.size > 0) {
      laneDelta = new LaneDelta(
        recordEncoder,
        enc.bundleId,
        enc.firstXid,
        newOfport,
        this.#output.take(lane.size * recordEncoder.bytesFor([L2_FAMILY], 'modify_strict')),
      );
      this.#homes.writeTunnelChange(laneDelta);
    }
    const result = this.#applyOwners(list, enc, undefined, laneDelta, compiled);
    const txn = this.#nextTxn++;
    this.#pushUndo(txn, [], list, undoOfports, tunnelBefore, ipBefore, result);
    return { txn, delta: result.delta };
  }

  /** Opens transaction `txn` with what undoes it, and files the keys it took for other partitions. */
  #pushUndo(
    txn: number,
    plans: readonly ApplyPlan[],
    owners: readonly OwnerRef[],
    ofports: readonly (readonly [string, number | undefined])[],
    tunnelOfport: number | undefined,
    localTunnelIp: Ipv4 | undefined,
    applied: Applied,
  ): void {
    const { messages, recordChanges, demoted } = applied;
    const ejected = this.#homes.takeEjected();
    this.#open.push({
      txn,
      plans,
      owners,
      ofports,
      tunnelOfport,
      localTunnelIp,
      messages,
      recordChanges,
      demoted,
      ejected,
    });
    this.#contest.fileGained(txn);
  }

  commit(txn: number): void {
    const undo = this.#take(txn, false);
    for (const plan of undo.plans) this.#store.settle(plan);
    this.#homes.lane.commit(txn);
    if (this.#open.length === 0) this.#contest.settled();
  }

  /** OVS rejected the transaction's bundle: put the held state and the flow table back. */
  abort(txn: number): void {
    const undo = this.#take(txn, true);
    for (let i = undo.plans.length - 1; i >= 0; i--) this.#store.revert(undo.plans[i]);
    this.#homes.lane.abort(txn);
    for (let i = undo.ofports.length - 1; i >= 0; i--) this.#facts.setOfport(undo.ofports[i][0], undo.ofports[i][1]);
    this.#facts.tunnelOfport = undo.tunnelOfport;
    this.#facts.localTunnelIp = undo.localTunnelIp;
    this.#homes.rollBack(undo.recordChanges, undo.demoted, undo.owners);
    this.#homes.unejectAll(undo.ejected);
    if (this.#open.length === 0) this.#contest.settled();
  }

  /** The owner of message `i` of the open transaction's delta (to say which resource OVS rejected). */
  ownerOfMessage(txn: number, i: number): string | undefined {
    const open = this.#open.find((u) => u.txn === txn);
    return open === undefined ? undefined : ownerOfMessage(this.#homes, open.messages, i);
  }

  /** The delta that converges a dump of installed flows (ours, this partition's) to the desired table. */
  reconcile(installed: Iterable<Flow>, enc: EncodeContext): EncodedDelta {
    return reconcile(this.#homes, installed, (f) => this.ownsCookie(f.cookie), enc);
  }

  desiredFlows(): Flow[] {
    return desiredFlows(this.#homes);
  }

  /** Ids of the groups this partition's gateways want (few: one per ZETA gateway). */
  desiredGroupIds(): number[] {
    return desiredGroupIds(
      this.#homes,
      [...this.#store.values('gateway')].map((g) => g.id),
    );
  }

  /** Every held neighbor, the store's and the lane's. */
  neighbors(): IterableIterator<Neighbor> {
    return this.#homes.neighbors();
  }

  /** Every held neighbor's fixed IPs (NeighborHomes.forEachNeighborAddress). */
  forEachNeighborAddress(visit: NeighborAddressVisitor): void {
    this.#homes.forEachNeighborAddress(visit);
  }

  snapshot(): StoreSnapshot {
    const s = this.#store.snapshot();
    if (this.#homes.lane.size === 0) return s;
    return { format: s.format, resources: { ...s.resources, neighbor: [...this.neighbors()] } };
  }

  // ---------------------------------------------------------------- contests across partitions
  // (contest-keys.ts; the engine's side is in engine.ts; why, in placement.ts)

  /** A goal state or host facts begin: nothing gained or ejected yet. */
  #startChanges(): void {
    this.#contest.start();
    this.#homes.takeEjected();
  }

  /** See ContestKeys.candidates. */
  contestCandidates(all: boolean): Float64Array {
    return this.#contest.candidates(all, this.#openTxns());
  }

  /** See ContestKeys.holds. */
  holds(keys: Float64Array): Uint8Array {
    return this.#contest.holds(keys, this.#openTxns());
  }

  #openTxns(): number[] {
    return this.#open.map((u) => u.txn);
  }

  /** The owners here ("kind:id") that want these keys. */
  claimants(keys: Float64Array): string[] {
    return this.#contest.claimants(keys);
  }

  /** Pins neighbors to partition 0 (placement.ts): only whose installed flows are whose changes. */
  pin(ids: readonly string[]): void {
    this.#placement.pin(ids);
  }

  /**
   * Lets go of these neighbors and of every neighbor sharing a key with one of them here, as they
   * are (nothing is sent: partition 0 adopts them with their flows as installed); returns them.
   * Only between transactions.
   */
  release(ids: readonly string[]): ReleasedNeighbors {
    this.#assertNoOpen();
    const homes = this.#homes;
    const queue = [...ids];
    const leaving = new Map<string, Neighbor>();
    const laned = new Set<string>();
    while (queue.length > 0) {
      const id = queue.pop() as string;
      if (leaving.has(id)) continue;
      const n = homes.neighbor(id);
      if (n === undefined) continue;
      leaving.set(id, n);
      if (homes.laneRow(id) >= 0) laned.add(id);
      for (const k of keysOf(homes, id)) {
        for (const o of homes.ownersOfKey(k.family, k.vni, k.value)) {
          if (o.startsWith('neighbor:')) queue.push(o.slice('neighbor:'.length));
        }
      }
    }
    for (const id of leaving.keys()) homes.forget(id);
    this.#contest.settled();
    const out: ReleasedNeighbors = { lane: [], ordinary: [] };
    for (const [id, n] of leaving) (laned.has(id) ? out.lane : out.ordinary).push(n);
    return out;
  }

  /**
   * Takes over neighbors another partition released, with their flows as installed, each in the
   * tier it had there (the lane and the ordinary path differ on contests within one goal state).
   * Only between transactions.
   */
  adopt(released: ReleasedNeighbors): void {
    this.#assertNoOpen();
    const ordinary = [...released.ordinary];
    for (const n of released.lane) if (!this.#homes.restoreIntoLane(n)) ordinary.push(n);
    this.#contest.fileGained(RESTORE_TXN);
    this.#homes.lane.commit(RESTORE_TXN);
    for (const n of ordinary) this.#homes.adoptOrdinary(n);
    this.#contest.fileGained(-1);
    this.#contest.settled();
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
      for (const o of dependents({ before: c.before, after: c.after }, this.#view)) if (this.owns(o)) owners.add(o);
    }
    return owners.list;
  }

  /** Routes the owners and encodes the delta: the lane's messages (if any) first, then the route's. */
  #applyOwners(
    owners: readonly OwnerRef[],
    enc: EncodeContext,
    timings: PrepareTimings | undefined,
    lane: LaneDelta | undefined,
    compiled?: ReadonlyMap<string, readonly Flow[]>,
  ): Applied {
    const routed = this.#homes.route(owners, compiled);
    if (timings) {
      timings.compileMs = routed.compileMs;
      timings.diffMs = routed.diffMs;
    }
    const t = performance.now();
    const laneCount = lane?.count ?? 0;
    const encoded = encodeDelta(
      routed.delta,
      { bundleId: enc.bundleId, firstXid: (enc.firstXid + laneCount) >>> 0 },
      routed.records,
    );
    const { delta, messages } = withLaneMessages(lane, encoded, this.#output);
    if (timings) timings.encodeMs = performance.now() - t;
    return { delta, messages, recordChanges: routed.recordChanges, demoted: routed.demoted };
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

/** A host fact's new value: undefined when it is not given, null (unchanged) or the same. */
function changed<T>(given: T | null | undefined, before: T | undefined): T | undefined {
  return given !== undefined && given !== null && given !== before ? given : undefined;
}
