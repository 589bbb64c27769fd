// One partition of the agent's desired state: the held resources, the desired flow table, and the
// transaction that turns one goal state into one flow-mod delta.
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

import { OperationStatus, OperationType, ResourceType } from '../../proto';
import type { Flow } from '../flow';
import { type ApplyPlan, type PlannedStatus, ResourceStore, type StoreSnapshot } from '../goalstate';
import type { Ipv4, Neighbor, ResourceOp } from '../model';
import { formatIpv4, formatMac } from '../goalstate/addr';
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
import { decodeNeighborEntry, scanGoalState, type ScannedGoalState } from './decode';
import { NEIGHBOR_COOKIE_HIGH, RecordEncoder, neighborCookieHalves } from './neighbor-encode';
import { LaneDelta } from './lane-delta';
import { BufferPool } from './buffer-pool';
import { IntList, NeighborLane } from './neighbor-lane';
import {
  type KeySets,
  type LaneHost,
  type LaneStepContext,
  keysFree,
  laneRowScratch,
  laneStep,
  remoteInSubnet,
} from './lane-step';
import { NEIGHBOR_STATUS_LISTED, type NeighborStatuses } from './statuses';
import { type Cursor, asciiIdHash } from './wire';
import { NeighborFastPath } from './neighbor-fastpath';
import { Placement } from './placement';
import { KeyFilter, KeyList } from './key-filter';
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
  /** Hold simple neighbors in the lane (default; neighbor-lane.ts). Off: every neighbor takes the ordinary path. */
  readonly neighborLane?: boolean;
  /** Neighbors pinned to partition 0 (placement.ts). */
  readonly pinned?: readonly string[];
  /** Every partition's key filter (key-filter.ts), by partition; none with one partition. */
  readonly filters?: readonly SharedArrayBuffer[];
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

export interface EncodeContext {
  readonly bundleId: number;
  /** xid of the first message; message i gets firstXid + i. */
  readonly firstXid: number;
}

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

/** Neighbors a partition let go of (release()), by the tier that held them. */
export interface ReleasedNeighbors {
  readonly lane: Neighbor[];
  readonly ordinary: Neighbor[];
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

/** Who each message of an encoded delta is for: lane rows, then FlowTable flows, then record flows. */
interface DeltaMessages {
  /** Lane rows (neighbor-lane.ts), one per message (-1: a delete); they come first. */
  readonly laneRows?: IntList;
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
  /** Keys of table flows a neighbor record could also want, per family: VNI -> MACs or IPs. */
  readonly #tableKeys: [Map<number, Set<number>>, Map<number, Set<number>>] = [new Map(), new Map()];
  readonly table = new FlowTable({
    preferOwner,
    isOurs: isOurCookie,
    onKey: (f, present) => {
      const k = familyKeyOf(f);
      if (k === undefined) return;
      setKey(this.#tableKeys[k.family], k.vni, k.value, present);
      (present ? this.#gained : this.#lost).push(k.family, k.vni, k.value);
    },
  });
  readonly #fast = new NeighborFastPath();
  /** Flows of simple neighbors, held as records instead of in `table` (see neighbor-flows.ts). */
  readonly neighborFlows: NeighborFlowSet;
  /**
   * Lane neighbors (neighbor-lane.ts): held in columns, outside the store and the table. Every
   * other neighbor is in the store, with its flows in `neighborFlows` or `table`.
   */
  readonly lane = new NeighborLane();
  /** Where encoded deltas are written; the engine hands consumed ones back (buffer-pool.ts). */
  readonly output = new BufferPool();
  readonly #laneEnabled: boolean;
  /** Neighbors with flows in `table` (while records are in use): they stay there. */
  readonly #tableNeighbors = new Set<string>();
  /**
   * Open transactions, oldest first. A goal state planned in chunks stacks one per chunk; anything
   * else needs the stack empty. Abort goes newest first, so each undo finds the state it left.
   */
  readonly #open: Undo[] = [];
  #nextTxn = 1;
  /** What the lane step (lane-step.ts) needs from this partition. */
  readonly #laneHost: LaneHost;
  readonly #laneRow = laneRowScratch();
  /** Which partition owns which neighbor (for installed flows' cookies). */
  readonly #placement: Placement;
  /** This partition's key filter and the others' (contests.ts); none with one partition. */
  readonly #filter: KeyFilter | undefined;
  readonly #otherFilters: readonly KeyFilter[];
  /**
   * Keys the ordinary path (table, records) took since no transaction was open: with the lane's
   * rows of the open transactions, what may contest another partition's keys. `#filtered`: how
   * many of them are in the filter already.
   */
  readonly #gained = new KeyList();
  #filtered = 0;
  /** Keys the ordinary path let go of meanwhile (with the lane's, what a contest can be about too). */
  readonly #lost = new KeyList();
  /**
   * Keys that neighbors of the open goal state wanted but were refused because another one took
   * them first ("family/vni/value" -> ids): which neighbor is refused, and why, depends on every
   * claimant, so these count as claims in a contest.
   */
  readonly #refused = new Map<string, string[]>();
  /** Lane neighbors moved to the ordinary path since the last transaction was pushed (see Undo.ejected). */
  readonly #ejected: Neighbor[] = [];

  constructor(opts: PartitionOptions) {
    this.index = opts.index;
    this.count = opts.count;
    this.store = opts.snapshot === undefined ? new ResourceStore() : ResourceStore.fromSnapshot(opts.snapshot);
    this.facts = new MutableOvsFacts({ localTunnelIp: opts.localTunnelIp, tunnelOfport: opts.tunnelOfport });
    this.view = new StoreView(this.store, this.facts, { arpAnswers: opts.arpAnswers });
    this.neighborFlows = new NeighborFlowSet({ arpAnswerFlows: this.view.arpAnswers === 'flows' });
    this.#laneEnabled = (opts.neighborLane ?? true) && NEIGHBOR_COOKIE_HIGH !== undefined;
    const store = this.store;
    this.#laneHost = {
      lane: this.lane,
      fast: this.#fast,
      facts: this.facts,
      families: this.neighborFlows.families,
      subnet: (id) => this.view.subnet(id),
      ordinaryHolds: (fast, bytes) => store.size('neighbor') > 0 && store.has('neighbor', fast.idString(bytes)),
      heldOutsideLane: (family, vni, value, claimed) => this.#heldOutsideLane(family, vni, value, claimed),
    };
    this.#placement = new Placement(this.count, opts.pinned);
    const filters = opts.filters ?? [];
    this.#filter = filters.length > 1 ? new KeyFilter(filters[this.index]) : undefined;
    this.#otherFilters =
      filters.length > 1 ? filters.filter((_, p) => p !== this.index).map((b) => new KeyFilter(b)) : [];
    for (const [id, ofport] of opts.ofports ?? []) this.facts.setOfport(id, ofport);
    // Compile everything held. The infrastructure flows exist from the start, so the table is
    // never without them.
    const owners = new OwnerList();
    if (this.index === 0) {
      owners.add(INFRA_OWNER);
      for (const p of this.view.ports()) for (const o of dependentsOfOfport(p.id, this.view)) owners.add(o);
      for (const r of this.view.routers()) owners.add({ kind: 'router', id: r.id });
    }
    this.#route(owners.list.filter((o) => this.owns(o)));
    // Neighbors after the other owners' flows, so the lane sees their keys: those that qualify go
    // into the lane (as if a goal state had just sent them), the rest the ordinary way.
    const ordinary: OwnerRef[] = [];
    const laned: string[] = [];
    for (const n of this.store.values('neighbor')) {
      if (this.#restoreIntoLane(n)) laned.push(n.id);
      else ordinary.push({ kind: 'neighbor', id: n.id });
    }
    for (const id of laned) this.store.disown(id);
    this.lane.commit(RESTORE_TXN);
    this.#route(ordinary);
    this.#gained.clear();
    this.#rebuildFilter();
  }

  /** Puts a neighbor of a restored snapshot into the lane if it qualifies (see lane-step.ts); false if not. */
  #restoreIntoLane(n: Neighbor): boolean {
    const f = n.fixedIps[0];
    if (!this.#laneEnabled || this.facts.tunnelOfport === undefined || n.fixedIps.length !== 1) return false;
    if (f.type !== 'l2' || n.allowedAddressPairs.length > 0) return false;
    const subnet = this.view.subnet(f.subnetId);
    if (!remoteInSubnet(this.#laneHost, subnet, f.ip, n.hostIp)) return false;
    const id = Buffer.from(n.id, 'utf8');
    const hash = asciiIdHash(id, 0, id.length);
    const vni = f.tunnelId !== 0 ? f.tunnelId : subnet.tunnelId;
    if (hash < 0 || !keysFree(this.#laneHost, vni, n.mac, f.ip, -1)) return false;
    this.lane.put(RESTORE_TXN, -1, id, 0, id.length, hash, {
      revision: n.revision,
      requestId: n.requestId,
      vpcId: n.vpcId,
      name: n.name === n.id ? undefined : n.name,
      mac: n.mac,
      hostMac: n.hostMac ?? -1,
      hostIp: n.hostIp,
      subnetId: f.subnetId,
      ip: f.ip,
      tunnelId: f.tunnelId,
      vni,
    });
    return true;
  }

  /** Flows desired by this partition. */
  get flowCount(): number {
    return this.table.size + this.neighborFlows.flowCount + this.lane.size * this.neighborFlows.families.length;
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
  prepareGoalState(
    bytes: Uint8Array,
    version: 1 | 2,
    enc: EncodeContext,
    continues = false,
    candidates = false,
  ): PrepareResult {
    if (!continues) {
      this.#assertNoOpen();
      this.#startChanges();
    }
    const timings: PrepareTimings = { decodeMs: 0, planMs: 0, compileMs: 0, diffMs: 0, encodeMs: 0, laneMs: 0 };
    const txn = this.#nextTxn++;
    let t = performance.now();
    const scanned = scanGoalState(bytes, version);
    timings.decodeMs = performance.now() - t;
    t = performance.now();
    const plans: ApplyPlan[] = [];
    const owners = new OwnerList();
    const statuses: PlannedStatus[] = [];
    const count = scanned.neighborCount;
    const neighbors: NeighborStatuses = {
      codes: new Uint8Array(count),
      operations: new Uint8Array(count),
      listed: [],
      listedStatuses: [],
    };
    // Sized for every neighbor being new (the usual big goal state), so the buffer is written once.
    const laneDelta = new LaneDelta(
      recordEncoder,
      enc.bundleId,
      enc.firstXid,
      this.facts.tunnelOfport ?? 0,
      this.output.take(count * recordEncoder.bytesFor(this.neighborFlows.families, 'add')),
    );
    let slowNeighbors = 0;
    let compiled: ReadonlyMap<string, readonly Flow[]> | undefined;
    // A neighbor entry the ordinary decoder refuses throws after the plan and the lane have moved:
    // both go back before the error goes up, so a refused goal state leaves nothing planned.
    try {
      if (scanned.model.ops.length > 0) {
        const plan = this.store.plan(scanned.model);
        this.store.commit(plan);
        plans.push(plan);
        if (this.index === 0) for (const s of plan.statuses) statuses.push(this.#withPending(s));
        this.#ejectForSubnets(plan);
        for (const o of this.#ownersOf(plan)) owners.add(o);
      }
      const claim = this.#claimKeys(owners.list);
      compiled = claim.compiled;
      timings.planMs = performance.now() - t;

      t = performance.now();
      const ordinary: number[] = [];
      if (this.#laneEnabled) this.lane.reserve(count);
      const ctx: LaneStepContext = {
        txn,
        claimed: claim.claimed,
        delta: laneDelta,
        subnetId: '',
        subnet: undefined,
        cursor: { pos: 0, value: 0 },
        row: this.#laneRow,
      };
      for (let i = 0; i < count; i++) {
        const code = this.#laneEnabled ? laneStep(this.#laneHost, bytes, version, scanned, i, ctx, neighbors) : -1;
        if (code < 0) ordinary.push(i);
      }
      timings.laneMs = performance.now() - t;

      if (ordinary.length > 0) {
        t = performance.now();
        const r = this.#planOrdinaryNeighbors(bytes, version, scanned, ordinary, neighbors);
        slowNeighbors = r.slow;
        if (r.plan !== undefined) {
          plans.push(r.plan);
          for (const o of this.#ownersOf(r.plan)) owners.add(o);
        }
        timings.planMs += performance.now() - t;
      }
    } catch (e: unknown) {
      this.lane.abort(txn);
      for (let i = plans.length - 1; i >= 0; i--) this.store.revert(plans[i]);
      this.#unejectAll(this.#ejected.splice(0));
      throw e;
    }
    const result = this.#applyOwners(owners.list, enc, timings, laneDelta, compiled);
    this.#open.push({
      txn,
      plans,
      owners: owners.list,
      ofports: [],
      tunnelOfport: this.facts.tunnelOfport,
      localTunnelIp: this.facts.localTunnelIp,
      messages: result.messages,
      recordChanges: result.recordChanges,
      demoted: result.demoted,
      ejected: this.#ejected.splice(0),
    });
    this.#fileGained(txn);
    const found = candidates ? { candidates: this.contestCandidates(false) } : {};
    return { txn, statuses, neighbors, delta: result.delta, timings, slowNeighbors, ...found };
  }

  /** Applies host facts (interfaces appearing, the tunnel port) as a transaction of its own. */
  prepareHostFacts(facts: HostFacts, enc: EncodeContext): { txn: number; delta: EncodedDelta } {
    this.#assertNoOpen();
    this.#startChanges();
    const undoOfports: (readonly [string, number | undefined])[] = [];
    const owners = new OwnerList();
    const tunnelBefore = this.facts.tunnelOfport;
    const ipBefore = this.facts.localTunnelIp;
    const newOfport =
      facts.tunnelOfport !== undefined && facts.tunnelOfport !== null && facts.tunnelOfport !== tunnelBefore
        ? facts.tunnelOfport
        : undefined;
    const newIp =
      facts.localTunnelIp !== undefined && facts.localTunnelIp !== null && facts.localTunnelIp !== ipBefore
        ? facts.localTunnelIp
        : undefined;
    // A lane neighbor on the host that becomes ours is not remote any more: the ordinary path
    // takes it (as installed) and recompiles it with the tunnel's dependents below.
    if (newIp !== undefined)
      for (const row of [...this.lane.rows()]) if (this.lane.hostIp(row) === newIp) this.#eject(row);
    if (newOfport !== undefined) this.facts.tunnelOfport = newOfport;
    if (newIp !== undefined) this.facts.localTunnelIp = newIp;
    if (newOfport !== undefined || newIp !== undefined) for (const o of dependentsOfTunnel(this.view)) owners.add(o);
    for (const [portId, ofport] of facts.ofports ?? []) {
      const before = this.facts.ofportOf(portId);
      if (!this.facts.setOfport(portId, ofport)) continue;
      undoOfports.push([portId, before]);
      for (const o of dependentsOfOfport(portId, this.view)) owners.add(o);
    }
    // Lane rows in the way of these owners move out with the flows OVS has (the old tunnel
    // ofport), and are recompiled with the rest.
    const { ejected, compiled } = this.#claimKeys(owners.list, tunnelBefore);
    for (const id of ejected) owners.addNeighbor(id);
    const list = owners.list.filter((o) => this.owns(o));
    // The lane's L2 flows output to the tunnel port: a new ofport modifies each of them.
    let laneDelta: LaneDelta | undefined;
    if (newOfport !== undefined && this.lane.size > 0) {
      laneDelta = new LaneDelta(
        recordEncoder,
        enc.bundleId,
        enc.firstXid,
        newOfport,
        this.output.take(this.lane.size * recordEncoder.bytesFor([L2_FAMILY], 'modify_strict')),
      );
      for (const row of this.lane.rows()) laneDelta.write(this.lane, row, L2_FAMILY, 'modify_strict');
    }
    const result = this.#applyOwners(list, enc, undefined, laneDelta, compiled);
    const txn = this.#nextTxn++;
    this.#open.push({
      txn,
      plans: [],
      owners: list,
      ofports: undoOfports,
      tunnelOfport: tunnelBefore,
      localTunnelIp: ipBefore,
      messages: result.messages,
      recordChanges: result.recordChanges,
      demoted: result.demoted,
      ejected: this.#ejected.splice(0),
    });
    this.#fileGained(txn);
    return { txn, delta: result.delta };
  }

  commit(txn: number): void {
    const undo = this.#take(txn, false);
    for (const plan of undo.plans) this.store.settle(plan);
    this.lane.commit(txn);
    if (this.#open.length === 0) this.#settled();
  }

  /** No transaction is open: nothing was taken or let go of since (the filter keeps what it was told). */
  #settled(): void {
    this.#gained.clear();
    this.#lost.clear();
    this.#refused.clear();
    this.#filtered = 0;
  }

  /** OVS rejected the transaction's bundle: put the held state and the flow table back. */
  abort(txn: number): void {
    const undo = this.#take(txn, true);
    for (let i = undo.plans.length - 1; i >= 0; i--) this.store.revert(undo.plans[i]);
    this.lane.abort(txn);
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
    this.#unejectAll(undo.ejected);
    if (this.#open.length === 0) this.#settled();
  }

  /**
   * Moves neighbors an aborted transaction took out of the lane back into it, as they were (the
   * abort put the keys they held back), so an aborted goal state leaves no trace: not even in
   * which tier a neighbor is, which decides some statuses of later contests.
   */
  #unejectAll(ejected: readonly Neighbor[]): void {
    for (let i = ejected.length - 1; i >= 0; i--) {
      const n = ejected[i];
      const owner = ownerKey({ kind: 'neighbor', id: n.id });
      const flows = this.table.keysOf(owner).length > 0 ? compileNeighbor(n, this.view) : [];
      this.table.apply([{ owner, flows: [] }]);
      this.store.disown(n.id);
      this.#tableNeighbors.delete(n.id);
      if (this.#restoreIntoLane(n)) continue;
      // Not laneable any more (should not happen): it stays ordinary, flows as they were.
      this.store.adopt(n);
      this.table.apply([{ owner, flows }]);
      if (flows.length > 0) this.#tableNeighbors.add(n.id);
    }
    this.lane.commit(RESTORE_TXN);
  }

  /** The owner of message `i` of the open transaction's delta (to say which resource OVS rejected). */
  ownerOfMessage(txn: number, i: number): string | undefined {
    const open = this.#open.find((u) => u.txn === txn);
    if (open === undefined) return undefined;
    const { laneRows, flows, records } = open.messages;
    if (laneRows !== undefined) {
      if (i < laneRows.length) {
        const row = laneRows.at(i);
        return row < 0 ? undefined : ownerKey({ kind: 'neighbor', id: this.lane.id(row) });
      }
      i -= laneRows.length;
    }
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
    const lane = this.lane;
    const records: RecordDelta = { delete: recordMessages(), modify: recordMessages(), add: recordMessages() };
    const seen = new Set<string>();
    const arpRecords = set.arpAnswerFlows;
    const tunnelOfport = this.facts.tunnelOfport ?? 0;
    const holding = (family: NeighborFamily, vni: number, value: number): NeighborRecord | undefined => {
      const id = set.holder(family, vni, value);
      if (id !== undefined) return set.get(id);
      const row = lane.holder(family, vni, value);
      return row < 0 ? undefined : lane.record(row, tunnelOfport);
    };
    for (const f of installed) {
      if (!this.ownsCookie(f.cookie)) continue;
      const k = set.size + lane.size > 0 ? familyKeyOf(f) : undefined;
      // An ARP answer no record wants (ARP answered elsewhere) is the table's to delete.
      const r =
        k === undefined || (!arpRecords && k.family === ARP_FAMILY) ? undefined : holding(k.family, k.vni, k.value);
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
    const unseen = (r: NeighborRecord): void => {
      if (!seen.has(r.id + '/' + L2_FAMILY)) pushRecord(records.add, r, L2_FAMILY);
      if (arpRecords && !seen.has(r.id + '/' + ARP_FAMILY)) pushRecord(records.add, r, ARP_FAMILY);
    };
    for (const r of set.records()) unseen(r);
    for (const row of lane.rows()) unseen(lane.record(row, tunnelOfport));
    return encodeDelta(delta, enc, records).delta;
  }

  desiredFlows(): Flow[] {
    const out = [...this.table.flows()];
    const arp = this.neighborFlows.arpAnswerFlows;
    for (const r of this.neighborFlows.records()) for (const f of recordFlows(r, arp)) out.push(f);
    const tunnelOfport = this.facts.tunnelOfport ?? 0;
    for (const row of this.lane.rows())
      for (const f of recordFlows(this.lane.record(row, tunnelOfport), arp)) out.push(f);
    return out;
  }

  /** Every held neighbor, the store's and the lane's. */
  *neighbors(): IterableIterator<Neighbor> {
    yield* this.store.values('neighbor');
    for (const row of this.lane.rows()) yield this.lane.neighbor(row);
  }

  snapshot(): StoreSnapshot {
    const s = this.store.snapshot();
    if (this.lane.size === 0) return s;
    return { format: s.format, resources: { ...s.resources, neighbor: [...this.neighbors()] } };
  }

  // ---------------------------------------------------------------- contests across partitions
  // (the engine's side is in engine.ts; why, in placement.ts)

  /** A goal state or host facts begin: nothing gained yet; a filter gone stale is rebuilt first. */
  #startChanges(): void {
    this.#settled();
    this.#ejected.length = 0;
    const f = this.#filter;
    if (f !== undefined && f.added > 4 * this.#heldKeyCount() + 65536) this.#rebuildFilter();
  }

  #heldKeyCount(): number {
    return 2 * (this.lane.size + this.neighborFlows.size) + this.table.size;
  }

  /** Empties the filter and adds every key held now. */
  #rebuildFilter(): void {
    const f = this.#filter;
    if (f === undefined) return;
    f.clear();
    this.#forEachHeldKey((family, vni, value) => f.add(family, vni, value));
  }

  #forEachHeldKey(fn: (family: number, vni: number, value: number) => void): void {
    const lane = this.lane;
    for (const row of lane.rows()) {
      fn(L2_FAMILY, lane.vni(row), lane.mac(row));
      fn(ARP_FAMILY, lane.vni(row), lane.ip(row));
    }
    for (const r of this.neighborFlows.records()) {
      fn(L2_FAMILY, r.vni, r.mac);
      fn(ARP_FAMILY, r.vni, r.ip);
    }
    for (let family = 0; family < 2; family++) {
      for (const [vni, values] of this.#tableKeys[family]) for (const v of values) fn(family, vni, v);
    }
  }

  /** Calls `fn` for each key the open transactions took: lane rows they wrote, then `#gained`. */
  #forEachGainedKey(fn: (family: number, vni: number, value: number) => void): void {
    const lane = this.lane;
    for (const u of this.#open) {
      const log = lane.written(u.txn);
      if (log === undefined) continue;
      for (let i = 1; i < log.length; i += 2) {
        const row = log.values[i];
        if (row < 0) continue;
        fn(L2_FAMILY, lane.vni(row), lane.mac(row));
        fn(ARP_FAMILY, lane.vni(row), lane.ip(row));
      }
    }
    const g = this.#gained;
    for (let i = 0; i < g.size; i++) fn(g.family(i), g.vni(i), g.value(i));
    for (const k of this.#refused.keys()) {
      const [family, vni, value] = k.split('/').map(Number);
      fn(family, vni, value);
    }
  }

  #refuse(family: number, vni: number, value: number, id: string): void {
    const k = `${family}/${vni}/${value}`;
    const ids = this.#refused.get(k);
    if (ids === undefined) this.#refused.set(k, [id]);
    else ids.push(id);
  }

  /** Puts the keys transaction `txn` took into the filter, so other partitions see them. */
  #fileGained(txn: number): void {
    const f = this.#filter;
    if (f === undefined) return;
    const lane = this.lane;
    const log = lane.written(txn);
    if (log !== undefined) {
      for (let i = 1; i < log.length; i += 2) {
        const row = log.values[i];
        if (row < 0) continue;
        f.add(L2_FAMILY, lane.vni(row), lane.mac(row));
        f.add(ARP_FAMILY, lane.vni(row), lane.ip(row));
      }
    }
    const g = this.#gained;
    for (let i = this.#filtered; i < g.size; i++) f.add(g.family(i), g.vni(i), g.value(i));
    this.#filtered = g.size;
  }

  /**
   * Keys this partition took in its open transactions (`all`: every key it holds) that another
   * partition's filter may hold: (family, VNI, value) triples. Exact only together with the
   * others' answers to holds().
   */
  contestCandidates(all: boolean): Float64Array {
    const out = new KeyList();
    const others = this.#otherFilters;
    if (others.length === 0) return out.toArray();
    // Repeats are rare (the lane holds each key once) and the engine drops them.
    const visit = (family: number, vni: number, value: number): void => {
      for (const o of others) {
        if (!o.mayHold(family, vni, value)) continue;
        out.push(family, vni, value);
        return;
      }
    };
    if (all) this.#forEachHeldKey(visit);
    else this.#forEachGainedKey(visit);
    return out.toArray();
  }

  /**
   * For each (family, VNI, value) triple: 1 if something here holds the key (open transactions
   * included) or the open transactions let go of it. A key one partition lets go of while another
   * takes it is a contest too: the first one's DELETE and the other's ADD would meet in one bundle,
   * in no set order.
   */
  holds(keys: Float64Array): Uint8Array {
    const out = new Uint8Array(keys.length / 3);
    const lost = this.#lostKeys();
    const touched = lost.size > 0 || this.#refused.size > 0;
    for (let i = 0; i < out.length; i++) {
      const family = keys[3 * i] as NeighborFamily;
      const vni = keys[3 * i + 1];
      const value = keys[3 * i + 2];
      if (this.lane.holder(family, vni, value) >= 0 || this.#heldOutsideLane(family, vni, value)) out[i] = 1;
      else if (touched) {
        const k = `${family}/${vni}/${value}`;
        if (lost.has(k) || this.#refused.has(k)) out[i] = 1;
      }
    }
    return out;
  }

  /** Keys the open transactions let go of, as "family/vni/value". */
  #lostKeys(): Set<string> {
    const out = new Set<string>();
    if (this.#open.length === 0) return out;
    const lane = this.lane;
    for (const u of this.#open) {
      const log = lane.written(u.txn);
      if (log === undefined) continue;
      for (let i = 0; i < log.length; i += 2) {
        const old = log.values[i];
        const row = log.values[i + 1];
        if (old < 0) continue;
        const vni = lane.vni(old);
        if (row < 0 || lane.vni(row) !== vni || lane.mac(row) !== lane.mac(old))
          out.add(`${L2_FAMILY}/${vni}/${lane.mac(old)}`);
        if (row < 0 || lane.vni(row) !== vni || lane.ip(row) !== lane.ip(old))
          out.add(`${ARP_FAMILY}/${vni}/${lane.ip(old)}`);
      }
    }
    const l = this.#lost;
    for (let i = 0; i < l.size; i++) out.add(`${l.family(i)}/${l.vni(i)}/${l.value(i)}`);
    return out;
  }

  /** The owners here ("kind:id") that want these keys. */
  claimants(keys: Float64Array): string[] {
    const out = new Set<string>();
    for (let i = 0; i < keys.length; i += 3) {
      for (const o of this.#ownersOfKey(keys[i] as NeighborFamily, keys[i + 1], keys[i + 2])) out.add(o);
      for (const id of this.#refused.get(`${keys[i]}/${keys[i + 1]}/${keys[i + 2]}`) ?? []) {
        out.add(ownerKey({ kind: 'neighbor', id }));
      }
    }
    return [...out];
  }

  #ownersOfKey(family: NeighborFamily, vni: number, value: number): string[] {
    const owners: string[] = [];
    const row = this.lane.holder(family, vni, value);
    if (row >= 0) owners.push(ownerKey({ kind: 'neighbor', id: this.lane.id(row) }));
    const rec = this.neighborFlows.holder(family, vni, value);
    if (rec !== undefined) owners.push(ownerKey({ kind: 'neighbor', id: rec }));
    if (this.#tableKeys[family].get(vni)?.has(value) === true) {
      const probe = { id: '', vni, mac: family === L2_FAMILY ? value : 0, ip: value, hostIp: 0, tunnelOfport: 0 };
      owners.push(...this.table.ownersOf(recordKey(probe, family)));
    }
    return owners;
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
    const queue = [...ids];
    const leaving = new Map<string, Neighbor>();
    const laned = new Set<string>();
    while (queue.length > 0) {
      const id = queue.pop() as string;
      if (leaving.has(id)) continue;
      const n = this.#heldNeighbor(id);
      if (n === undefined) continue;
      leaving.set(id, n);
      if (this.lane.size > 0 && this.lane.findId(id) >= 0) laned.add(id);
      for (const k of this.#neighborKeys(id)) {
        for (const o of this.#ownersOfKey(k.family, k.vni, k.value)) {
          if (o.startsWith('neighbor:')) queue.push(o.slice('neighbor:'.length));
        }
      }
    }
    for (const id of leaving.keys()) this.#forget(id);
    this.#settled();
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
    for (const n of released.lane) if (!this.#restoreIntoLane(n)) ordinary.push(n);
    this.#fileGained(RESTORE_TXN);
    this.lane.commit(RESTORE_TXN);
    for (const n of ordinary) {
      this.store.adopt(n);
      const flows = compileNeighbor(n, this.view);
      this.table.apply([{ owner: ownerKey({ kind: 'neighbor', id: n.id }), flows }]);
      if (flows.length > 0) this.#tableNeighbors.add(n.id);
    }
    this.#fileGained(-1);
    this.#settled();
  }

  #heldNeighbor(id: string): Neighbor | undefined {
    const row = this.lane.size > 0 ? this.lane.findId(id) : -1;
    return row >= 0 ? this.lane.neighbor(row) : this.view.neighbor(id);
  }

  #neighborKeys(id: string): { family: NeighborFamily; vni: number; value: number }[] {
    const row = this.lane.size > 0 ? this.lane.findId(id) : -1;
    if (row >= 0) {
      const vni = this.lane.vni(row);
      return [
        { family: L2_FAMILY, vni, value: this.lane.mac(row) },
        { family: ARP_FAMILY, vni, value: this.lane.ip(row) },
      ];
    }
    const r = this.neighborFlows.get(id);
    if (r !== undefined) {
      return [
        { family: L2_FAMILY, vni: r.vni, value: r.mac },
        { family: ARP_FAMILY, vni: r.vni, value: r.ip },
      ];
    }
    const out = [];
    for (const key of this.table.keysOf(ownerKey({ kind: 'neighbor', id }))) {
      const f = this.table.get(key);
      const k = f === undefined ? undefined : familyKeyOf(f);
      if (k !== undefined) out.push(k);
    }
    return out;
  }

  /** Drops a held neighbor and its flows from every tier, sending nothing. */
  #forget(id: string): void {
    const row = this.lane.size > 0 ? this.lane.findId(id) : -1;
    if (row >= 0) {
      this.lane.eject(row);
      return;
    }
    this.store.disown(id);
    this.neighborFlows.delete(id);
    this.table.apply([{ owner: ownerKey({ kind: 'neighbor', id }), flows: [] }]);
    this.#tableNeighbors.delete(id);
  }

  /** Whether the ordinary path holds or is about to take a key (table flows, records, this change's owners). */
  #heldOutsideLane(family: NeighborFamily, vni: number, value: number, claimed?: KeySets): boolean {
    if (this.neighborFlows.holder(family, vni, value) !== undefined) return true;
    if (this.#tableKeys[family].get(vni)?.has(value) === true) return true;
    return claimed?.[family].get(vni)?.has(value) === true;
  }

  /**
   * The ordinary path's neighbors of a message: decoded one by one, moved out of the lane where it
   * holds them or their keys, and planned together. Their statuses go into `out.listed`.
   */
  #planOrdinaryNeighbors(
    bytes: Uint8Array,
    version: 1 | 2,
    scanned: ScannedGoalState,
    entries: readonly number[],
    out: NeighborStatuses,
  ): { plan: ApplyPlan | undefined; slow: number } {
    const cursor: Cursor = { pos: 0, value: 0 };
    const ops: ResourceOp[] = [];
    const opEntries: number[] = [];
    const refused = new Map<number, PlannedStatus>();
    let slow = 0;
    for (const i of entries) {
      const d = decodeNeighborEntry(bytes, version, scanned, i, this.#fast, cursor);
      if (d.slow) slow++;
      const problem = this.lane.size > 0 ? this.#leaveLaneFor(d.op) : undefined;
      if (problem !== undefined) {
        refused.set(i, {
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
    const planned = new Map<number, PlannedStatus>(refused);
    if (ops.length > 0) {
      plan = this.store.plan({ formatVersion: scanned.model.formatVersion, ops, hostResources: new Map() });
      this.store.commit(plan);
      for (let k = 0; k < opEntries.length; k++) planned.set(opEntries[k], plan.statuses[k]);
    }
    // `listed` stays in entry order (the lane listed its own along the way).
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
    return { plan, slow };
  }

  /**
   * Clears the lane out of an ordinary neighbor op's way: the neighbor itself and the holders of
   * the keys it will want move to the ordinary path. A row this goal state wrote cannot move (its
   * undo is the lane's): that op fails instead, with the reason returned.
   */
  #leaveLaneFor(op: ResourceOp): string | undefined {
    const lane = this.lane;
    const own = lane.findId(op.id);
    if (own >= 0) {
      if (lane.isOpen(own)) return `neighbor '${op.id}' appears twice in this goal state; send each neighbor once`;
      this.#eject(own);
    }
    const n = op.resource;
    if (n === undefined || n.kind !== 'neighbor' || op.operation === OperationType.DELETE) return undefined;
    if (op.operation === OperationType.GET) return undefined;
    // An op older than what is held changes nothing (the store answers OUT_OF_ORDER), so it takes
    // no key from anyone: checked first, as the lane does, so the answer never depends on which
    // other neighbors of the goal state want the same keys (or which partition they are in).
    const held = this.view.neighbor(op.id);
    if (held !== undefined && held.revision !== 0 && n.revision !== 0 && held.revision > n.revision) return undefined;
    const flows = compileNeighbor(n, this.view);
    for (const f of flows) {
      const k = familyKeyOf(f);
      if (k === undefined) continue;
      const holder = lane.holder(k.family, k.vni, k.value);
      if (holder < 0) continue;
      if (lane.isOpen(holder)) {
        // It wanted these keys: a claimant of them in another partition is in the contest too.
        for (const g of flows) {
          const w = familyKeyOf(g);
          if (w !== undefined) this.#refuse(w.family, w.vni, w.value, op.id);
        }
        const what = k.family === L2_FAMILY ? `MAC ${formatMac(k.value)}` : `IP ${formatIpv4(k.value)}`;
        return `neighbor '${op.id}': ${what} in VNI ${k.vni} is already taken by neighbor '${lane.id(holder)}' in this goal state`;
      }
      this.#eject(holder);
    }
    return undefined;
  }

  /**
   * Moves a lane row to the ordinary path as it is: the store adopts the neighbor and the table its
   * flows as installed (output to `installedOfport`), so nothing is sent.
   */
  #eject(row: number, installedOfport = this.facts.tunnelOfport): void {
    const lane = this.lane;
    const n = lane.neighbor(row);
    const record = lane.record(row, installedOfport ?? 0);
    lane.eject(row);
    this.#ejected.push(n);
    this.store.adopt(n);
    this.table.apply([
      {
        owner: ownerKey({ kind: 'neighbor', id: n.id }),
        flows: recordFlows(record, this.neighborFlows.arpAnswerFlows),
      },
    ]);
    this.#tableNeighbors.add(n.id);
  }

  /** A plan that changes a subnet: the lane's neighbors in it move to the ordinary path, which recompiles them. */
  #ejectForSubnets(plan: ApplyPlan): void {
    if (this.lane.size === 0) return;
    const subnets = new Set<string>();
    for (const c of plan.changes) if (c.kind === 'subnet') subnets.add(c.id);
    if (subnets.size === 0) return;
    for (const row of [...this.lane.rows()]) if (subnets.has(this.lane.subnetId(row))) this.#eject(row);
  }

  /**
   * The keys the ordinary owners of this change will want, so the lane does not take them; lane
   * rows already holding one move to the ordinary path (no transaction is open when there are
   * such owners: they come with a goal state's first chunk or with host facts).
   */
  #claimKeys(
    owners: readonly OwnerRef[],
    installedOfport = this.facts.tunnelOfport,
  ): { claimed: KeySets; ejected: string[]; compiled: Map<string, readonly Flow[]> } {
    const claimed: [Map<number, Set<number>>, Map<number, Set<number>>] = [new Map(), new Map()];
    const ejected: string[] = [];
    // What non-neighbor owners compile to: the route reuses it (nothing they read changes before
    // it; neighbors may still be planned, and are compiled again there).
    const compiled = new Map<string, readonly Flow[]>();
    for (const o of owners) {
      if (!this.owns(o)) continue;
      const flows = compileOwner(o, this.view);
      if (o.kind !== 'neighbor') compiled.set(ownerKey(o), flows);
      for (const f of flows) {
        const k = familyKeyOf(f);
        if (k === undefined) continue;
        setKey(claimed[k.family], k.vni, k.value, true);
        const holder = this.lane.size > 0 ? this.lane.holder(k.family, k.vni, k.value) : -1;
        if (holder >= 0 && !this.lane.isOpen(holder) && this.lane.id(holder) !== (o.kind === 'neighbor' ? o.id : '')) {
          ejected.push(this.lane.id(holder));
          this.#eject(holder, installedOfport);
        }
      }
    }
    return { claimed, ejected, compiled };
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

  /** Routes the owners and encodes the delta: the lane's messages (if any) first, then the route's. */
  #applyOwners(
    owners: readonly OwnerRef[],
    enc: EncodeContext,
    timings: PrepareTimings | undefined,
    lane: LaneDelta | undefined,
    compiled?: ReadonlyMap<string, readonly Flow[]>,
  ): { delta: EncodedDelta; messages: DeltaMessages; recordChanges: RecordChange[]; demoted: NeighborRecord[] } {
    const routed = this.#route(owners, compiled);
    if (timings) {
      timings.compileMs = routed.compileMs;
      timings.diffMs = routed.diffMs;
    }
    const t = performance.now();
    const laneCount = lane?.count ?? 0;
    const out = encodeDelta(
      routed.delta,
      { bundleId: enc.bundleId, firstXid: (enc.firstXid + laneCount) >>> 0 },
      routed.records,
    );
    let { delta, messages } = out;
    if (lane !== undefined && laneCount > 0 && delta.bytes.length === 0) {
      delta = { bytes: lane.bytes(), add: lane.add, modify: lane.modify, delete: lane.delete };
      messages = { ...messages, laneRows: lane.rows };
    } else if (lane !== undefined && laneCount > 0) {
      const head = lane.bytes();
      const bytes = this.output.take(head.length + delta.bytes.length).subarray(0, head.length + delta.bytes.length);
      bytes.set(head);
      bytes.set(delta.bytes, head.length);
      this.output.give(head.buffer as ArrayBuffer);
      delta = {
        bytes,
        add: delta.add + lane.add,
        modify: delta.modify + lane.modify,
        delete: delta.delete + lane.delete,
      };
      messages = { ...messages, laneRows: lane.rows };
    }
    if (timings) timings.encodeMs = performance.now() - t;
    return { delta, messages, recordChanges: routed.recordChanges, demoted: routed.demoted };
  }

  /**
   * Recompiles `owners` into the FlowTable and the neighbor record set, and returns the delta.
   * A neighbor goes to the record set when it is simple and not already in the table; the rest
   * go to the table. If any key would be wanted by a record and anything else, every record
   * moves into the table first (neighbor-flows.ts), so contested keys get the table's semantics.
   */
  #route(owners: readonly OwnerRef[], compiled?: ReadonlyMap<string, readonly Flow[]>): Routed {
    const t0 = performance.now();
    const view = this.view;
    const set = this.neighborFlows;
    const changes: OwnerChange[] = [];
    const neighborIds: string[] = [];
    for (const o of owners) {
      if (o.kind === 'neighbor' && set.enabled) neighborIds.push(o.id);
      else {
        const owner = ownerKey(o);
        changes.push({ owner, flows: compiled?.get(owner) ?? compileOwner(o, view) });
      }
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
    for (const { before, after } of recordChanges) {
      if (before === undefined) continue;
      for (const fam of [L2_FAMILY, ARP_FAMILY]) {
        if (after === undefined || !sameRecordKey(before, after, fam)) {
          this.#lost.push(fam, before.vni, fam === L2_FAMILY ? before.mac : before.ip);
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

/** The lane transaction that loads a restored snapshot (committed at once; goal states start at 1). */
const RESTORE_TXN = 0;

/** Adds (present) or removes a (VNI, value) key in a per-VNI index. */
function setKey(index: Map<number, Set<number>>, vni: number, value: number, present: boolean): void {
  let values = index.get(vni);
  if (present) {
    if (values === undefined) index.set(vni, (values = new Set()));
    values.add(value);
  } else if (values !== undefined) {
    values.delete(value);
    if (values.size === 0) index.delete(vni);
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
