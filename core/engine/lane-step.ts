// The lane's half of planning a goal state: one neighbor entry at a time, straight from the wire,
// into the lane's rows and flow-mods (neighbor-lane.ts, lane-delta.ts), or handed back (-1) to the
// ordinary path. The partition (partition.ts) decides what the lane may not take — keys the
// ordinary path holds or is about to take, neighbors it holds — and passes that in as a LaneHost.
//
// The checks mirror the ordinary planner (core/goalstate/store.ts) for the cases the lane takes,
// so statuses and reasons are the same either way (the equivalence tests hold them to it):
// GET of a held neighbor, OUT_OF_ORDER against the held revision, DELETE of a held neighbor, and an
// upsert into a held subnet whose CIDR holds the IP. Everything else goes the ordinary way, which
// produces the exact status and reason.

import { NeighborType, OperationStatus, OperationType, ResourceType } from '../../proto';
import { cidrContains } from '../goalstate/addr';
import type { Subnet } from '../model';
import { mapEntryRanges, type ScannedGoalState } from './decode';
import type { LaneDelta } from './lane-delta';
import type { NeighborFastPath } from './neighbor-fastpath';
import { ARP_FAMILY, L2_FAMILY, L3_FLOW, type NeighborFamily } from './neighbor-flows';
import type { LaneRow, NeighborLane } from './neighbor-lane';
import { MAP_KEY_TAG, MAP_VALUE_TAG, asciiIdHash } from './wire';
import { NEIGHBOR_STATUS_LISTED, type NeighborStatuses } from './statuses';
import type { Cursor } from './wire';

/** Per-family (VNI -> values) key sets. */
export type KeySets = readonly [Map<number, Set<number>>, Map<number, Set<number>>];

/** What the lane step needs from its partition. */
export interface LaneHost {
  readonly lane: NeighborLane;
  readonly fast: NeighborFastPath;
  readonly facts: { readonly tunnelOfport: number | undefined; readonly localTunnelIp: number | undefined };
  /** The flow families a neighbor compiles to (no ARP answer when ARP is answered elsewhere). */
  readonly families: readonly NeighborFamily[];
  /** Whether L3 neighbors may be rows: only with ARP answer flows, whose key covers theirs (neighbor-flows.ts FlowFamily). */
  readonly l3: boolean;
  subnet(id: string): Subnet | undefined;
  /** Whether the ordinary path holds the neighbor the fast path's entry names. */
  ordinaryHolds(fast: NeighborFastPath, bytes: Uint8Array): boolean;
  /** Whether the ordinary path holds, or this change's ordinary owners want (`claimed`), a key. */
  heldOutsideLane(family: NeighborFamily, vni: number, value: number, claimed?: KeySets): boolean;
}

/** Per-message state of the lane pass. */
export interface LaneStepContext {
  readonly txn: number;
  /** Keys the ordinary owners of this change want. */
  readonly claimed: KeySets;
  readonly delta: LaneDelta;
  /** The subnet looked up last, by id. */
  subnetId: string;
  subnet: Subnet | undefined;
  readonly cursor: Cursor;
  /** Scratch for the row being planned. */
  readonly row: LaneRow;
}

/** A fresh row scratch. */
export function laneRowScratch(): LaneRow {
  return {
    revision: 0,
    requestId: '',
    vpcId: '',
    name: undefined,
    mac: 0,
    hostMac: -1,
    hostIp: 0,
    subnetId: '',
    ip: 0,
    tunnelId: 0,
    vni: 0,
    l3: false,
  };
}

/**
 * One neighbor entry through the lane, if it can take it: returns the OperationStatus (recorded in
 * `out`), or -1 when the ordinary path must (anything the lane does not hold, or a key contest).
 */
export function laneStep(
  host: LaneHost,
  bytes: Uint8Array,
  version: 1 | 2,
  scanned: ScannedGoalState,
  i: number,
  ctx: LaneStepContext,
  out: NeighborStatuses,
): number {
  if (host.facts.tunnelOfport === undefined) return -1;
  const fast = host.fast;
  const s = scanned.neighbors[3 * i + 1];
  const e = scanned.neighbors[3 * i + 2];
  if (version === 2) {
    if (!scanMapEntry(fast, bytes, s, e, ctx)) return -1;
  } else if (!fast.scan(bytes, s, e, -1, -1)) return -1;
  const n = fast.entry;
  if (n.fixedIpCount !== 1 || (n.ipType[0] !== NeighborType.L2 && !(n.ipType[0] === NeighborType.L3 && host.l3)))
    return -1;
  const hash = asciiIdHash(bytes, n.idStart, n.idEnd);
  if (hash < 0) return -1;
  const lane = host.lane;
  const row = lane.size > 0 ? lane.find(bytes, n.idStart, n.idEnd, hash) : -1;
  // Held by the ordinary path: it stays there. (A v1 list that names a neighbor twice, first for
  // the ordinary path, gets the lane's change first and "appears twice" for the other.)
  if (row < 0 && host.ordinaryHolds(fast, bytes)) return -1;
  const op = n.operation;
  if (op === OperationType.GET) {
    if (row < 0) return -1;
    return laneStatus(out, i, op, OperationStatus.SUCCESS);
  }
  if (row >= 0) {
    const held = lane.revision(row);
    if (held !== 0 && n.revision !== 0 && held > n.revision)
      return outOfOrder(out, i, op, lane.id(row), n.revision, held);
  }
  if (op === OperationType.DELETE) {
    if (row < 0) return -1;
    lane.remove(ctx.txn, row);
    for (const fam of host.families) ctx.delta.write(lane, row, fam, 'delete_strict');
    if (lane.isL3(row)) ctx.delta.write(lane, row, L3_FLOW, 'delete_strict');
    return laneStatus(out, i, op, OperationStatus.SUCCESS);
  }
  const subnet = laneSubnet(host, bytes, n.subnetStart[0], n.subnetEnd[0], ctx);
  const ip = n.ip[0];
  if (!remoteInSubnet(host, subnet, ip, n.hostIp)) return -1;
  const r = ctx.row;
  r.revision = n.revision;
  r.requestId = fast.requestId(bytes, n.requestStart, n.requestEnd);
  r.vpcId = fast.vpcId(bytes, n.vpcStart, n.vpcEnd);
  r.name = fast.nameUnlessId(bytes);
  r.mac = n.mac;
  r.hostMac = n.hostMac;
  r.hostIp = n.hostIp;
  r.subnetId = ctx.subnetId;
  r.ip = ip;
  r.tunnelId = n.tunnelId[0];
  r.vni = r.tunnelId !== 0 ? r.tunnelId : subnet.tunnelId;
  r.l3 = n.ipType[0] === NeighborType.L3;
  if (row >= 0 && lane.sameContent(row, r)) {
    // Nothing to program; keep the newest revision, as the store does.
    if (!lane.sameMeta(row, r)) lane.put(ctx.txn, row, bytes, n.idStart, n.idEnd, hash, r);
    return laneStatus(out, i, op, OperationStatus.SUCCESS);
  }
  if (!keysFree(host, r.vni, r.mac, ip, row, ctx.claimed)) return -1;
  const next = lane.put(ctx.txn, row, bytes, n.idStart, n.idEnd, hash, r);
  writeUpsert(host, ctx, row, next, r);
  return laneStatus(out, i, op, OperationStatus.SUCCESS);
}

/** Records an OUT_OF_ORDER status with the ordinary planner's reason, for a revision older than the held one. */
function outOfOrder(out: NeighborStatuses, i: number, op: number, id: string, rev: number, held: number): number {
  out.codes[i] = NEIGHBOR_STATUS_LISTED;
  out.listed.push(i);
  out.listedStatuses.push({
    resourceId: id,
    resourceType: ResourceType.NEIGHBOR,
    operationType: op,
    status: OperationStatus.OUT_OF_ORDER,
    reason: `neighbor '${id}' revision ${rev} is older than the held revision ${held}; ignored`,
  });
  return OperationStatus.OUT_OF_ORDER;
}

/**
 * The flow-mods for an upsert of `r` into lane row `next`, replacing row `row` (-1: new): a changed
 * key is a delete of the old flow and an add; a changed value on the same key is a modify.
 */
function writeUpsert(host: LaneHost, ctx: LaneStepContext, row: number, next: number, r: LaneRow): void {
  const lane = host.lane;
  const d = ctx.delta;
  for (const fam of host.families) {
    if (row < 0) d.write(lane, next, fam, 'add');
    else if (
      fam === L2_FAMILY
        ? lane.mac(row) !== r.mac || lane.vni(row) !== r.vni
        : lane.ip(row) !== r.ip || lane.vni(row) !== r.vni
    ) {
      d.write(lane, row, fam, 'delete_strict');
      d.write(lane, next, fam, 'add');
    } else if (fam === L2_FAMILY ? lane.hostIp(row) !== r.hostIp : lane.mac(row) !== r.mac) {
      d.write(lane, next, fam, 'modify_strict');
    }
  }
  // The L3 resolve flow: (VNI, IP) -> MAC, there while the fixed IP is L3 (a router came or went).
  const had = row >= 0 && lane.isL3(row);
  if (!had && !r.l3) return;
  if (!had) d.write(lane, next, L3_FLOW, 'add');
  else if (!r.l3) d.write(lane, row, L3_FLOW, 'delete_strict');
  else if (lane.ip(row) !== r.ip || lane.vni(row) !== r.vni) {
    d.write(lane, row, L3_FLOW, 'delete_strict');
    d.write(lane, next, L3_FLOW, 'add');
  } else if (lane.mac(row) !== r.mac) d.write(lane, next, L3_FLOW, 'modify_strict');
}

/** An upsert the lane may hold: its subnet is held and holds the IP, and its host is not ours. */
export function remoteInSubnet(
  host: LaneHost,
  subnet: Subnet | undefined,
  ip: number,
  hostIp: number,
): subnet is Subnet {
  return subnet !== undefined && cidrContains(subnet.cidr, ip) && hostIp !== host.facts.localTunnelIp;
}

/**
 * Whether row `row` (-1: a neighbor not held yet) may hold these keys: no other lane row holds
 * them, and the ordinary path neither holds nor is about to take them (it settles contests).
 */
export function keysFree(
  host: LaneHost,
  vni: number,
  mac: number,
  ip: number,
  row: number,
  claimed?: KeySets,
): boolean {
  const l2 = host.lane.holder(L2_FAMILY, vni, mac);
  const arp = host.lane.holder(ARP_FAMILY, vni, ip);
  if ((l2 >= 0 && l2 !== row) || (arp >= 0 && arp !== row)) return false;
  return !host.heldOutsideLane(L2_FAMILY, vni, mac, claimed) && !host.heldOutsideLane(ARP_FAMILY, vni, ip, claimed);
}

/** Scans a v2 neighbor map entry's value (with its key) into the fast path's entry. */
/**
 * The held lane rows a goal state deletes (DELETE entries the fast path reads). A subnet changed
 * or deleted in the same goal state need not eject these rows to the ordinary path first: the lane
 * deletes them itself (laneStep), and tearing down a subnet with its million neighbors stays in the
 * lane instead of building a million neighbor objects only to delete them.
 */
export function laneRowsDeleted(
  host: LaneHost,
  bytes: Uint8Array,
  version: 1 | 2,
  scanned: ScannedGoalState,
  ctx: LaneStepContext,
): Set<number> {
  const rows = new Set<number>();
  const fast = host.fast;
  for (let i = 0; i < scanned.neighborCount; i++) {
    const s = scanned.neighbors[3 * i + 1];
    const e = scanned.neighbors[3 * i + 2];
    const read = version === 2 ? scanMapEntry(fast, bytes, s, e, ctx) : fast.scan(bytes, s, e, -1, -1);
    if (!read || fast.entry.operation !== OperationType.DELETE) continue;
    const n = fast.entry;
    const hash = asciiIdHash(bytes, n.idStart, n.idEnd);
    const row = hash < 0 ? -1 : host.lane.find(bytes, n.idStart, n.idEnd, hash);
    if (row < 0) continue;
    // An out-of-order DELETE deletes nothing (laneStep): its row must move with its subnet.
    const held = host.lane.revision(row);
    if (held !== 0 && n.revision !== 0 && held > n.revision) continue;
    rows.add(row);
  }
  return rows;
}

function scanMapEntry(fast: NeighborFastPath, bytes: Uint8Array, s: number, e: number, ctx: LaneStepContext): boolean {
  // The usual layout, without a general field loop: key (one length byte), then value (a length
  // of one or two bytes) up to the end.
  const keyLen = bytes[s + 1];
  const v = s + 2 + keyLen;
  if (bytes[s] === MAP_KEY_TAG && keyLen > 0 && keyLen < 0x80 && v + 2 < e && bytes[v] === MAP_VALUE_TAG) {
    let len = bytes[v + 1];
    let at = v + 2;
    if (len >= 0x80) {
      len = bytes[v + 2] < 0x80 ? (len & 0x7f) + bytes[v + 2] * 128 : -1;
      at = v + 3;
    }
    if (len >= 0 && at + len === e) return fast.scan(bytes, at, e, s + 2, v);
  }
  const key = mapEntryRanges(bytes, s, e, ctx.cursor);
  if (key === undefined || key.keyEnd === key.keyStart) return false;
  return fast.scan(bytes, key.valueStart, key.valueEnd, key.keyStart, key.keyEnd);
}

function laneStatus(out: NeighborStatuses, i: number, op: number, code: OperationStatus): number {
  out.codes[i] = code;
  out.operations[i] = op;
  return code;
}

/** The subnet of an id range, cached across a run of neighbors in one subnet. */
function laneSubnet(
  host: LaneHost,
  bytes: Uint8Array,
  start: number,
  end: number,
  ctx: LaneStepContext,
): Subnet | undefined {
  const id = host.fast.subnetId(bytes, start, end);
  if (id !== ctx.subnetId || ctx.subnet === undefined) {
    ctx.subnetId = id;
    ctx.subnet = host.subnet(id);
  }
  return ctx.subnet;
}
