// Where a partition's neighbors and their flows live, and the rules that move them: the one owner
// of neighbor placement (PartitionEngine keeps the store and the transactions, and asks this).
//
// Three homes, cheapest first:
//   lane     neighbor-lane.ts: a simple remote neighbor a goal state sent, in columns, outside the
//            store and the FlowTable (lane-step.ts plans it straight from the goal state's bytes);
//   records  neighbor-flows.ts: a store neighbor whose flows are exactly a record (VNI, MAC, IP, ...);
//   table    the FlowTable: every other neighbor's flows, and every owner that is not a neighbor.
// A flow key (family, VNI, MAC or IP) has one home, so `holder(key)` is the one question "who has
// this key here": the lane, the records, then the table. (Until a contest across partitions is
// settled, an adopted or restored neighbor may want a key in a second home: ownersOfKey and
// recordHolding look in every home, in the order the code before this split did.)
//
// The moves, all in this file:
//   eject    lane -> store + table, flows as installed (nothing sent): when an ordinary owner wants
//            a key a lane row holds (claimKeys, leaveLaneFor), when its subnet changes
//            (ejectForSubnets), when its host becomes this one (ejectOnHost). An aborted
//            transaction moves its ejected rows back (unejectAll), so an abort leaves no trace.
//   demote   records -> table, one neighbor: it is not simple any more, or is in the table already.
//   contest  records -> table, all of them, for good: a key a record holds is wanted by anything
//            else, so the FlowTable's contest rule (preferred owner wins) decides it (route).
// Nothing moves into the lane but a goal state's own rows, a restored snapshot's, or rows adopted
// from another partition (restoreIntoLane).

import { OperationType } from '../../proto';
import type { Flow } from '../flow';
import type { ResourceStore } from '../goalstate';
import type { StoreView } from '../pipeline/storeview';
import type { Neighbor, ResourceOp } from '../model';
import { formatIpv4, formatMac } from '../goalstate/addr';
import { FlowTable, type FlowDelta, type OwnerChange } from '../flowtable';
import { type OwnerRef, compileNeighbor, compileOwner, isOurCookie, ownerKey, preferOwner } from '../pipeline';
import type { ScannedGoalState } from './decode';
import type { LaneDelta } from './lane-delta';
import { NeighborLane, type NeighborAddressVisitor, visitNeighborAddresses } from './neighbor-lane';
import { type KeySets, type LaneHost, type LaneStepContext, keysFree, laneStep, remoteInSubnet } from './lane-step';
import type { NeighborStatuses } from './statuses';
import { asciiIdHash } from './wire';
import { NeighborFastPath } from './neighbor-fastpath';
import { KeyList } from './key-filter';
import type { MutableOvsFacts } from './ovs-facts';
import { type RecordDelta, recordDeltaOf } from './delta-encode';
import {
  ARP_FAMILY,
  L2_FAMILY,
  type NeighborFamily,
  NeighborFlowSet,
  type NeighborRecord,
  type RecordChange,
  familyKeyOf,
  recordFlows,
  setKey,
  recordKey,
  sameKey as sameRecordKey,
  simpleRecord,
} from './neighbor-flows';

/** The lane transaction that loads a restored snapshot (committed at once; goal states start at 1). */
export const RESTORE_TXN = 0;

/** Who holds a flow key here (the table: one or more owners, see FlowTable.ownersOf). */
export type Holder =
  | { readonly home: 'lane'; readonly row: number }
  | { readonly home: 'records'; readonly id: string }
  | { readonly home: 'table' };

/** A flow key of the neighbor families. */
export interface FamilyKey {
  readonly family: NeighborFamily;
  readonly vni: number;
  readonly value: number;
}

/** What route() did: the table's delta, the records', and what abort needs to undo it. */
export interface Routed {
  readonly delta: FlowDelta;
  readonly records: RecordDelta;
  readonly recordChanges: RecordChange[];
  /** Neighbors moved from the record set into the table (their records before). */
  readonly demoted: NeighborRecord[];
  readonly compileMs: number;
  readonly diffMs: number;
}

export interface HomesOptions {
  readonly store: ResourceStore;
  readonly view: StoreView;
  readonly facts: MutableOvsFacts;
  /** Hold simple neighbors in the lane. */
  readonly lane: boolean;
  /** Hold simple neighbors as records (false: the FlowTable alone, as after a contest). */
  readonly records: boolean;
}

export class NeighborHomes {
  readonly table: FlowTable;
  readonly records: NeighborFlowSet;
  readonly lane = new NeighborLane();
  readonly laneEnabled: boolean;
  readonly fast = new NeighborFastPath();
  /** Keys the table and the records took and let go of since the last clear: contests read them. */
  readonly gained = new KeyList();
  readonly lost = new KeyList();
  /** Keys of table flows a neighbor record could also want, per family: VNI -> MACs or IPs. */
  readonly #tableKeys: [Map<number, Set<number>>, Map<number, Set<number>>] = [new Map(), new Map()];
  /** Neighbors with flows in the table (while records are in use): they stay there. */
  readonly #tableNeighbors = new Set<string>();
  /** Lane neighbors ejected since takeEjected() (an abort moves them back). */
  readonly #ejected: Neighbor[] = [];
  readonly #store: ResourceStore;
  readonly #view: StoreView;
  readonly facts: MutableOvsFacts;
  /** What the lane step (lane-step.ts) needs. */
  /** What the lane step reads of this partition (lane-step.ts). */
  readonly laneHost: LaneHost;

  constructor(opts: HomesOptions) {
    this.#store = opts.store;
    this.#view = opts.view;
    this.facts = opts.facts;
    this.laneEnabled = opts.lane;
    this.table = new FlowTable({
      preferOwner,
      isOurs: isOurCookie,
      onKey: (f, present) => {
        const k = familyKeyOf(f);
        if (k === undefined) return;
        setKey(this.#tableKeys[k.family], k.vni, k.value, present);
        (present ? this.gained : this.lost).push(k.family, k.vni, k.value);
      },
    });
    this.records = new NeighborFlowSet({ arpAnswerFlows: this.#view.arpAnswers === 'flows' });
    if (!opts.records) this.records.drain();
    const store = this.#store;
    this.laneHost = {
      lane: this.lane,
      fast: this.fast,
      facts: this.facts,
      families: this.records.families,
      l3: this.records.arpAnswerFlows,
      subnet: (id) => this.#view.subnet(id),
      ordinaryHolds: (fast, bytes) => store.size('neighbor') > 0 && store.has('neighbor', fast.idString(bytes)),
      heldOutsideLane: (family, vni, value, claimed) => this.heldOutsideLane(family, vni, value, claimed),
    };
  }

  /** The table's keys of one family: VNI -> MACs or IPs. */
  tableKeys(family: NeighborFamily): ReadonlyMap<number, ReadonlySet<number>> {
    return this.#tableKeys[family];
  }

  /** Flows desired here. */
  get flowCount(): number {
    return this.table.size + this.records.flowCount + this.lane.size * this.records.families.length + this.lane.l3Size;
  }

  /** Keys held (an upper bound: table flows count whether or not they have a neighbor key). */
  get keyCount(): number {
    return 2 * (this.lane.size + this.records.size) + this.table.size;
  }

  // ---------------------------------------------------------------- where things are

  /** Who holds this key here, if anything. */
  holder(family: NeighborFamily, vni: number, value: number): Holder | undefined {
    const row = this.lane.size > 0 ? this.lane.holder(family, vni, value) : -1;
    if (row >= 0) return { home: 'lane', row };
    const id = this.records.holder(family, vni, value);
    if (id !== undefined) return { home: 'records', id };
    return this.#tableKeys[family].get(vni)?.has(value) === true ? { home: 'table' } : undefined;
  }

  /**
   * Whether the records or the table hold a key, or `claimed` (the keys this change's ordinary
   * owners will want) has it: holder() without the lane and without allocating, for the lane step.
   */
  heldOutsideLane(family: NeighborFamily, vni: number, value: number, claimed?: KeySets): boolean {
    if (this.records.holder(family, vni, value) !== undefined) return true;
    if (this.#tableKeys[family].get(vni)?.has(value) === true) return true;
    return claimed?.[family].get(vni)?.has(value) === true;
  }

  /**
   * The owners here ("kind:id") that want a key, from every home: after an adopt (or a restore
   * with contested keys) a key can be wanted in two homes until the contest is settled.
   */
  ownersOfKey(family: NeighborFamily, vni: number, value: number): string[] {
    const owners: string[] = [];
    const row = this.lane.holder(family, vni, value);
    if (row >= 0) owners.push(ownerKey({ kind: 'neighbor', id: this.lane.id(row) }));
    const rec = this.records.holder(family, vni, value);
    if (rec !== undefined) owners.push(ownerKey({ kind: 'neighbor', id: rec }));
    if (this.#tableKeys[family].get(vni)?.has(value) === true) {
      const probe = { id: '', vni, mac: family === L2_FAMILY ? value : 0, ip: value, hostIp: 0, tunnelOfport: 0 };
      owners.push(...this.table.ownersOf(recordKey(probe, family)));
    }
    return owners;
  }

  /** The record whose flow a key's installed flow should be: a record's first, then a lane row's. */
  recordHolding(family: NeighborFamily, vni: number, value: number): NeighborRecord | undefined {
    const id = this.records.holder(family, vni, value);
    if (id !== undefined) return this.records.get(id);
    const row = this.lane.holder(family, vni, value);
    return row < 0 ? undefined : this.lane.record(row, this.facts.tunnelOfport ?? 0);
  }

  /** The lane row of a neighbor, or -1. */
  laneRow(id: string): number {
    return this.lane.size > 0 ? this.lane.findId(id) : -1;
  }

  /** A held neighbor, wherever it is. */
  neighbor(id: string): Neighbor | undefined {
    const row = this.laneRow(id);
    return row >= 0 ? this.lane.neighbor(row) : this.#view.neighbor(id);
  }

  /** Every held neighbor, the store's and the lane's. */
  *neighbors(): IterableIterator<Neighbor> {
    yield* this.#store.values('neighbor');
    for (const row of this.lane.rows()) yield this.lane.neighbor(row);
  }

  /** Every held neighbor's fixed IPs, the lane's read from its columns (neighbors() without the objects). */
  forEachNeighborAddress(visit: NeighborAddressVisitor): void {
    visitNeighborAddresses(this.#store.values('neighbor'), visit);
    this.lane.forEachAddress(visit);
  }

  // ---------------------------------------------------------------- the lane and its moves

  /**
   * Plans a goal state's neighbors through the lane, in entry order; returns the entries it left
   * to the ordinary path.
   */
  laneNeighbors(
    bytes: Uint8Array,
    version: 1 | 2,
    scanned: ScannedGoalState,
    ctx: LaneStepContext,
    statuses: NeighborStatuses,
  ): number[] {
    const ordinary: number[] = [];
    const count = scanned.neighborCount;
    if (!this.laneEnabled) {
      for (let i = 0; i < count; i++) ordinary.push(i);
      return ordinary;
    }
    this.lane.reserve(count);
    for (let i = 0; i < count; i++) {
      if (laneStep(this.laneHost, bytes, version, scanned, i, ctx, statuses) < 0) ordinary.push(i);
    }
    return ordinary;
  }

  /**
   * Puts the store's neighbors of a restored snapshot where they go: those that qualify into the
   * lane (as if a goal state had just sent them), the rest the ordinary way. After every other
   * owner is routed, so the lane sees their keys.
   */
  restore(): void {
    const ordinary: OwnerRef[] = [];
    const laned: string[] = [];
    for (const n of this.#store.values('neighbor')) {
      if (this.restoreIntoLane(n)) laned.push(n.id);
      else ordinary.push({ kind: 'neighbor', id: n.id });
    }
    for (const id of laned) this.#store.disown(id);
    this.lane.commit(RESTORE_TXN);
    // A row laned before an ordinary neighbor wanting one of its keys was seen: the table settles
    // that contest (preferred owner), as it would have live, so the row joins it.
    for (const o of ordinary) {
      const n = this.#view.neighbor(o.id);
      for (const f of n === undefined ? [] : compileNeighbor(n, this.#view)) {
        const k = familyKeyOf(f);
        const row = k === undefined || this.lane.size === 0 ? -1 : this.lane.holder(k.family, k.vni, k.value);
        if (row >= 0) this.eject(row);
      }
    }
    this.route(ordinary);
  }

  /** Puts a neighbor into the lane (RESTORE_TXN) if it qualifies (see lane-step.ts); false if not. */
  restoreIntoLane(n: Neighbor): boolean {
    const f = n.fixedIps[0];
    if (!this.laneEnabled || this.facts.tunnelOfport === undefined || n.fixedIps.length !== 1) return false;
    if ((f.type !== 'l2' && !(f.type === 'l3' && this.laneHost.l3)) || n.allowedAddressPairs.length > 0) return false;
    const subnet = this.#view.subnet(f.subnetId);
    if (!remoteInSubnet(this.laneHost, subnet, f.ip, n.hostIp)) return false;
    const id = Buffer.from(n.id, 'utf8');
    const hash = asciiIdHash(id, 0, id.length);
    const vni = f.tunnelId !== 0 ? f.tunnelId : subnet.tunnelId;
    if (hash < 0 || !keysFree(this.laneHost, vni, n.mac, f.ip, -1)) return false;
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
      l3: f.type === 'l3',
    });
    return true;
  }

  /** Takes over a neighbor another partition held the ordinary way, with its flows as installed. */
  adoptOrdinary(n: Neighbor): void {
    this.#store.adopt(n);
    const flows = compileNeighbor(n, this.#view);
    this.table.apply([{ owner: ownerKey({ kind: 'neighbor', id: n.id }), flows }]);
    if (flows.length > 0) this.#tableNeighbors.add(n.id);
  }

  /** The rows ejected since the last call, oldest first (the transaction's undo keeps them). */
  takeEjected(): Neighbor[] {
    return this.#ejected.splice(0);
  }

  /**
   * Eject: moves a lane row to the ordinary path as it is: the store adopts the neighbor and the
   * table its flows as installed (output to `installedOfport`), so nothing is sent.
   */
  eject(row: number, installedOfport = this.facts.tunnelOfport): void {
    const lane = this.lane;
    const n = lane.neighbor(row);
    const record = lane.record(row, installedOfport ?? 0);
    lane.eject(row);
    this.#ejected.push(n);
    this.#store.adopt(n);
    this.table.apply([
      { owner: ownerKey({ kind: 'neighbor', id: n.id }), flows: recordFlows(record, this.records.arpAnswerFlows) },
    ]);
    this.#tableNeighbors.add(n.id);
  }

  /**
   * A subnet changed: its lane rows are ejected, to be recompiled, except those `keep` names (the
   * goal state deletes them: the lane does, lane-step.ts laneRowsDeleted) and those an open
   * transaction wrote (planned against the new subnet already). Returns the ejected ids.
   */
  ejectInSubnets(subnets: ReadonlySet<string>, keep: ReadonlySet<number> = new Set()): string[] {
    const lane = this.lane;
    const rows = [...lane.rows()].filter((r) => subnets.has(lane.subnetId(r)) && !lane.isOpen(r) && !keep.has(r));
    const ids = rows.map((row) => lane.id(row));
    for (const row of rows) this.eject(row);
    return ids;
  }

  /** This host's tunnel IP becomes `ip`: a lane neighbor on that host is not remote any more. */
  ejectOnHost(ip: number): void {
    for (const row of [...this.lane.rows()]) if (this.lane.hostIp(row) === ip) this.eject(row);
  }

  /**
   * Un-eject: moves neighbors an aborted transaction ejected back into the lane, as they were
   * (the abort put the keys they held back), so an aborted goal state leaves no trace: not even in
   * which home a neighbor is, which decides some statuses of later contests.
   */
  unejectAll(ejected: readonly Neighbor[]): void {
    for (let i = ejected.length - 1; i >= 0; i--) {
      const n = ejected[i];
      const owner = ownerKey({ kind: 'neighbor', id: n.id });
      const flows = this.table.keysOf(owner).length > 0 ? compileNeighbor(n, this.#view) : [];
      this.table.apply([{ owner, flows: [] }]);
      this.#store.disown(n.id);
      this.#tableNeighbors.delete(n.id);
      if (this.restoreIntoLane(n)) continue;
      // Not laneable any more (should not happen): it stays ordinary, flows as they were.
      this.#store.adopt(n);
      this.table.apply([{ owner, flows }]);
      if (flows.length > 0) this.#tableNeighbors.add(n.id);
    }
    this.lane.commit(RESTORE_TXN);
  }

  /** Drops a held neighbor and its flows from every home, sending nothing. */
  forget(id: string): void {
    const row = this.laneRow(id);
    if (row >= 0) {
      this.lane.eject(row);
      return;
    }
    this.#store.disown(id);
    this.records.delete(id);
    this.table.apply([{ owner: ownerKey({ kind: 'neighbor', id }), flows: [] }]);
    this.#tableNeighbors.delete(id);
  }

  /**
   * Clears the lane out of an ordinary neighbor op's way: the neighbor itself and the holders of
   * the keys it will want are ejected. A row this goal state wrote cannot move (its undo is the
   * lane's): that op fails instead, with the reason returned, after `refuse` hears the keys it wanted.
   */
  leaveLaneFor(op: ResourceOp, refuse: (key: FamilyKey, id: string) => void): string | undefined {
    const lane = this.lane;
    if (lane.size === 0) return undefined;
    const own = lane.findId(op.id);
    if (own >= 0) {
      if (lane.isOpen(own)) return `neighbor '${op.id}' appears twice in this goal state; send each neighbor once`;
      this.eject(own);
    }
    const n = op.resource;
    if (n === undefined || n.kind !== 'neighbor' || op.operation === OperationType.DELETE) return undefined;
    if (op.operation === OperationType.GET) return undefined;
    // An op older than what is held changes nothing (the store answers OUT_OF_ORDER), so it takes
    // no key from anyone: checked first, as the lane does, so the answer never depends on which
    // other neighbors of the goal state want the same keys (or which partition they are in).
    const held = this.#view.neighbor(op.id);
    if (held !== undefined && held.revision !== 0 && n.revision !== 0 && held.revision > n.revision) return undefined;
    const flows = compileNeighbor(n, this.#view);
    for (const f of flows) {
      const k = familyKeyOf(f);
      const h = k === undefined ? undefined : this.holder(k.family, k.vni, k.value);
      if (k === undefined || h?.home !== 'lane') continue;
      if (lane.isOpen(h.row)) {
        // It wanted these keys: a claimant of them in another partition is in the contest too.
        for (const g of flows) {
          const w = familyKeyOf(g);
          if (w !== undefined) refuse(w, op.id);
        }
        const what = k.family === L2_FAMILY ? `MAC ${formatMac(k.value)}` : `IP ${formatIpv4(k.value)}`;
        return `neighbor '${op.id}': ${what} in VNI ${k.vni} is already taken by neighbor '${lane.id(h.row)}' in this goal state`;
      }
      this.eject(h.row);
    }
    return undefined;
  }

  /**
   * The keys these ordinary owners will want, so the lane does not take them; lane rows already
   * holding one are ejected (no transaction is open when there are such owners: they come with a
   * goal state's first chunk or with host facts).
   */
  claimKeys(
    owners: readonly OwnerRef[],
    installedOfport = this.facts.tunnelOfport,
  ): { claimed: KeySets; ejected: string[]; compiled: Map<string, readonly Flow[]> } {
    const claimed: [Map<number, Set<number>>, Map<number, Set<number>>] = [new Map(), new Map()];
    const ejected: string[] = [];
    // What non-neighbor owners compile to: the route reuses it (nothing they read changes before
    // it; neighbors may still be planned, and are compiled again there).
    const compiled = new Map<string, readonly Flow[]>();
    for (const o of owners) {
      const flows = compileOwner(o, this.#view);
      if (o.kind !== 'neighbor') compiled.set(ownerKey(o), flows);
      for (const f of flows) {
        const k = familyKeyOf(f);
        if (k === undefined) continue;
        setKey(claimed[k.family], k.vni, k.value, true);
        const h = this.lane.size > 0 ? this.holder(k.family, k.vni, k.value) : undefined;
        if (h?.home !== 'lane' || this.lane.isOpen(h.row)) continue;
        if (this.lane.id(h.row) === (o.kind === 'neighbor' ? o.id : '')) continue;
        ejected.push(this.lane.id(h.row));
        this.eject(h.row, installedOfport);
      }
    }
    return { claimed, ejected, compiled };
  }

  /** The lane's L2 flows output to the tunnel port: a new ofport modifies each of them. */
  writeTunnelChange(delta: LaneDelta): void {
    for (const row of this.lane.rows()) delta.write(this.lane, row, L2_FAMILY, 'modify_strict');
  }

  // ---------------------------------------------------------------- the records and the table

  /**
   * Recompiles `owners` into the table and the record set. A neighbor becomes a record when it is
   * simple and not in the table already; otherwise it is demoted. If any key would be wanted by a
   * record and anything else, the contest rule moves every record into the table first, so
   * contested keys get the table's semantics.
   */
  route(owners: readonly OwnerRef[], compiled?: ReadonlyMap<string, readonly Flow[]>): Routed {
    const t0 = performance.now();
    const set = this.records;
    const changes: OwnerChange[] = [];
    const neighborIds: string[] = [];
    for (const o of owners) {
      if (o.kind === 'neighbor' && set.enabled) neighborIds.push(o.id);
      else {
        const owner = ownerKey(o);
        changes.push({ owner, flows: compiled?.get(owner) ?? compileOwner(o, this.#view) });
      }
    }
    const otherCount = changes.length;
    const { recordChanges, demoted } = this.#placeNeighbors(neighborIds, changes);
    // Table flows, old and new, that a record also wants.
    const adopted: OwnerChange[] = demoted.map((r) => ({
      owner: ownerKey({ kind: 'neighbor', id: r.id }),
      flows: recordFlows(r, set.arpAnswerFlows),
    }));
    let contested = set.swap(recordChanges, demoted);
    if (!contested && set.size > 0) contested = set.holdsKeyOf(changes) || set.holdsKeyOf(adopted);
    if (!contested && set.size > 0) contested = set.keysInTable(this.table, recordChanges);
    if (contested) {
      this.#contest(recordChanges, demoted);
      changes.length = otherCount;
      for (const id of neighborIds) {
        const o: OwnerRef = { kind: 'neighbor', id };
        changes.push({ owner: ownerKey(o), flows: compileOwner(o, this.#view) });
      }
      recordChanges.length = 0;
      demoted.length = 0;
    } else if (adopted.length > 0) {
      // The table takes over their flows as they are (nothing to send), then applies the change.
      this.table.apply(adopted);
    }
    const t1 = performance.now();
    const delta = this.table.apply(changes);
    const records = recordDeltaOf(recordChanges, set.families, set.arpAnswerFlows);
    this.#noteRecordKeys(recordChanges);
    const t2 = performance.now();
    return { delta, records, recordChanges, demoted, compileMs: t1 - t0, diffMs: t2 - t1 };
  }

  /**
   * Where each neighbor's flows go: a record change, or (demote) table flows pushed onto `changes`.
   * Nothing is moved yet.
   */
  #placeNeighbors(
    ids: readonly string[],
    changes: OwnerChange[],
  ): { recordChanges: RecordChange[]; demoted: NeighborRecord[] } {
    const view = this.#view;
    const recordChanges: RecordChange[] = [];
    const demoted: NeighborRecord[] = [];
    for (const id of ids) {
      const before = this.records.get(id);
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
    return { recordChanges, demoted };
  }

  /** Contest: puts the records back as they were and moves them all into the table, for good. */
  #contest(recordChanges: readonly RecordChange[], demoted: readonly NeighborRecord[]): void {
    const set = this.records;
    set.restore(recordChanges, demoted);
    const all = set.drain();
    this.table.apply(
      all.map((r) => ({ owner: ownerKey({ kind: 'neighbor', id: r.id }), flows: recordFlows(r, set.arpAnswerFlows) })),
    );
  }

  /**
   * Keys records took and let go of in this route, as the table's onKey notes its own: other
   * partitions see a key only once it is noted (contest-keys.ts files it into the key filter).
   */
  #noteRecordKeys(recordChanges: readonly RecordChange[]): void {
    for (const { before, after } of recordChanges) {
      for (const fam of [L2_FAMILY, ARP_FAMILY]) {
        if (before !== undefined && after !== undefined && sameRecordKey(before, after, fam)) continue;
        if (before !== undefined) this.lost.push(fam, before.vni, fam === L2_FAMILY ? before.mac : before.ip);
        if (after !== undefined) this.gained.push(fam, after.vni, fam === L2_FAMILY ? after.mac : after.ip);
      }
    }
  }

  /**
   * Undoes a transaction's routes: records go back as they were, neighbors demoted in it leave the
   * table, and `owners` are recompiled from the (already reverted) store.
   */
  rollBack(
    recordChanges: readonly RecordChange[],
    demoted: readonly NeighborRecord[],
    owners: readonly OwnerRef[],
  ): void {
    this.records.restore(recordChanges, demoted);
    const restored = new Set<string>(demoted.map((r) => r.id));
    const moved = new Set<string>();
    for (const c of recordChanges) moved.add((c.before ?? c.after)?.id ?? '');
    const changes: OwnerChange[] = [];
    for (const o of owners) {
      if (o.kind === 'neighbor' && moved.has(o.id)) continue;
      const flows = o.kind === 'neighbor' && restored.has(o.id) ? [] : compileOwner(o, this.#view);
      if (o.kind === 'neighbor') {
        if (flows.length > 0) this.#tableNeighbors.add(o.id);
        else this.#tableNeighbors.delete(o.id);
      }
      changes.push({ owner: ownerKey(o), flows });
    }
    this.table.apply(changes);
  }
}
