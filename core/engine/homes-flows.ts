// What a partition's neighbor homes (neighbor-homes.ts) hold, read out: every key, a neighbor's
// keys, every desired flow, the desired groups' ids, the delta that converges a dump of installed flows to them, and the
// owner of a delta's message.

import { isGroupEntry, type Flow } from '../flow';
import { fastFlowKey, sameActions, type FlowDelta } from '../flowtable';
import { ownerKey } from '../pipeline';
import {
  type DeltaMessages,
  type EncodeContext,
  type EncodedDelta,
  emptyRecordDelta,
  encodeDelta,
  pushRecord,
} from './delta-encode';
import {
  ARP_FAMILY,
  L2_FAMILY,
  L3_FLOW,
  type NeighborFamily,
  type NeighborRecord,
  familyKeyOf,
  l3KeyOf,
  recordFlow,
  recordFlows,
} from './neighbor-flows';
import type { FamilyKey, NeighborHomes } from './neighbor-homes';

/** Every desired flow. */
export function desiredFlows(homes: NeighborHomes): Flow[] {
  const out = [...homes.table.flows()];
  const arp = homes.records.arpAnswerFlows;
  for (const r of homes.records.records()) for (const f of recordFlows(r, arp)) out.push(f);
  const tunnelOfport = homes.facts.tunnelOfport ?? 0;
  for (const row of homes.lane.rows())
    for (const f of recordFlows(homes.lane.record(row, tunnelOfport), arp)) out.push(f);
  return out;
}

/** The ids of the desired groups of these gateways (group entries are owned by their gateway). */
export function desiredGroupIds(homes: NeighborHomes, gatewayIds: Iterable<string>): number[] {
  const out: number[] = [];
  for (const id of gatewayIds) {
    for (const key of homes.table.keysOf(ownerKey({ kind: 'gateway', id }))) {
      const f = homes.table.get(key);
      if (f !== undefined && isGroupEntry(f)) out.push(f.priority);
    }
  }
  return out;
}

/** The owner of message `i` of a delta (to say which resource OVS rejected). */
export function ownerOfMessage(homes: NeighborHomes, messages: DeltaMessages, i: number): string | undefined {
  const { laneRows, flows, records } = messages;
  if (laneRows !== undefined) {
    if (i < laneRows.length) {
      const row = laneRows.at(i);
      return row < 0 ? undefined : ownerKey({ kind: 'neighbor', id: homes.lane.id(row) });
    }
    i -= laneRows.length;
  }
  const f = flows[i];
  if (f !== undefined) return homes.table.ownersOf(fastFlowKey(f))[0];
  // A deleted flow has no owner any more (as for the table's flows).
  let j = i - flows.length - (records?.delete.records.length ?? 0);
  if (records === undefined || j < 0) return undefined;
  const r =
    j < records.modify.records.length
      ? records.modify.records[j]
      : records.add.records[(j -= records.modify.records.length)];
  return r === undefined ? undefined : ownerKey({ kind: 'neighbor', id: r.id });
}

/** The delta that converges a dump of installed flows (those `mine` accepts) to the desired ones. */
export function reconcile(
  homes: NeighborHomes,
  installed: Iterable<Flow>,
  mine: (f: Flow) => boolean,
  enc: EncodeContext,
): EncodedDelta {
  const tableFlows: Flow[] = [];
  const set = homes.records;
  const records = emptyRecordDelta();
  const seen = new Set<string>();
  const arpRecords = set.arpAnswerFlows;
  const l3Rows = homes.lane.l3Size > 0;
  for (const f of installed) {
    if (!mine(f)) continue;
    const l3 = l3Rows ? l3KeyOf(f) : undefined;
    if (l3 !== undefined) {
      // An L3 lane row's resolve flow (its key is the row's ARP key: neighbor-flows.ts FlowFamily).
      const r = homes.recordHolding(ARP_FAMILY, l3.vni, l3.ip);
      if (r?.l3 === true) {
        seen.add(r.id + '/' + L3_FLOW);
        const want = recordFlow(r, L3_FLOW);
        if (want.cookie !== f.cookie) pushRecord(records.add, r, L3_FLOW);
        else if (!sameActions(want, f)) pushRecord(records.modify, r, L3_FLOW);
        continue;
      }
    }
    const k = set.size + homes.lane.size > 0 ? familyKeyOf(f) : undefined;
    // An ARP answer no record wants (ARP answered elsewhere) is the table's to delete.
    const r =
      k === undefined || (!arpRecords && k.family === ARP_FAMILY)
        ? undefined
        : homes.recordHolding(k.family, k.vni, k.value);
    if (k === undefined || r === undefined) {
      tableFlows.push(f);
      continue;
    }
    seen.add(r.id + '/' + k.family);
    const want = recordFlow(r, k.family);
    if (want.cookie !== f.cookie) pushRecord(records.add, r, k.family);
    else if (!sameActions(want, f)) pushRecord(records.modify, r, k.family);
  }
  const delta = resendGroupsInUse(homes.table.reconcile(tableFlows));
  const unseen = (r: NeighborRecord): void => {
    if (!seen.has(r.id + '/' + L2_FAMILY)) pushRecord(records.add, r, L2_FAMILY);
    if (arpRecords && !seen.has(r.id + '/' + ARP_FAMILY)) pushRecord(records.add, r, ARP_FAMILY);
    if (r.l3 === true && !seen.has(r.id + '/' + L3_FLOW)) pushRecord(records.add, r, L3_FLOW);
  };
  for (const r of set.records()) unseen(r);
  const tunnelOfport = homes.facts.tunnelOfport ?? 0;
  for (const row of homes.lane.rows()) unseen(homes.lane.record(row, tunnelOfport));
  return encodeDelta(delta, enc, records).delta;
}

/**
 * Groups are not in a flow dump, so the table's reconcile adds every desired group entry. Only those
 * a flow being added or modified sends to are kept (as GROUP_MOD ADD_OR_MOD: idempotent): OVS drops a
 * group's flows with it, so a group that is gone shows as missing flows, and a bridge in sync still
 * reconciles to zero flow-mods. A group another controller changed behind our back is not seen.
 */
function resendGroupsInUse(delta: FlowDelta): FlowDelta {
  if (!delta.add.some(isGroupEntry)) return delta;
  const used = new Set<number>();
  for (const list of [delta.add, delta.modify]) {
    for (const f of list) for (const a of f.actions) if (a.kind === 'group') used.add(a.id);
  }
  return { ...delta, add: delta.add.filter((f) => !isGroupEntry(f) || used.has(f.priority)) };
}

/** The keys a held neighbor's flows have. */
export function keysOf(homes: NeighborHomes, id: string): FamilyKey[] {
  const row = homes.laneRow(id);
  if (row >= 0) {
    const vni = homes.lane.vni(row);
    return [
      { family: L2_FAMILY, vni, value: homes.lane.mac(row) },
      { family: ARP_FAMILY, vni, value: homes.lane.ip(row) },
    ];
  }
  const r = homes.records.get(id);
  if (r !== undefined) {
    return [
      { family: L2_FAMILY, vni: r.vni, value: r.mac },
      { family: ARP_FAMILY, vni: r.vni, value: r.ip },
    ];
  }
  const out = [];
  for (const key of homes.table.keysOf(ownerKey({ kind: 'neighbor', id }))) {
    const f = homes.table.get(key);
    const k = f === undefined ? undefined : familyKeyOf(f);
    if (k !== undefined) out.push(k);
  }
  return out;
}

/** Calls `fn` with every key held. */
export function forEachKey(homes: NeighborHomes, fn: (family: number, vni: number, value: number) => void): void {
  const lane = homes.lane;
  for (const row of lane.rows()) {
    fn(L2_FAMILY, lane.vni(row), lane.mac(row));
    fn(ARP_FAMILY, lane.vni(row), lane.ip(row));
  }
  for (const r of homes.records.records()) {
    fn(L2_FAMILY, r.vni, r.mac);
    fn(ARP_FAMILY, r.vni, r.ip);
  }
  for (let family = 0; family < 2; family++) {
    for (const [vni, values] of homes.tableKeys(family as NeighborFamily)) for (const v of values) fn(family, vni, v);
  }
}
