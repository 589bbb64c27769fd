// A partition's delta as bytes: the FlowTable's flow-mods, then the neighbor records' (written from
// fixed-size templates), behind the lane's, as BUNDLE_ADD_MESSAGE(FLOW_MOD)s. The owner of each
// message is kept (DeltaMessages) so a flow-mod OVS rejects can be named.

import { isGroupEntry, type Flow } from '../flow';
import type { FlowDelta } from '../flowtable';
import {
  type FlowModCommand,
  OFP14_VERSION,
  ByteWriter,
  writeBundledFlowMod,
  writeBundleAdd,
  writeGroupMod,
  type GroupModCommand,
  BUNDLE_ATOMIC_ORDERED,
} from '../openflow';
import { RecordEncoder, neighborCookieHalves } from './neighbor-encode';
import type { LaneDelta } from './lane-delta';
import type { BufferPool } from './buffer-pool';
import type { IntList } from './neighbor-lane';
import {
  ARP_FAMILY,
  type FlowFamily,
  L2_FAMILY,
  type NeighborFamily,
  type NeighborRecord,
  type RecordChange,
  sameBody as sameRecordBody,
  sameKey as sameRecordKey,
} from './neighbor-flows';

/** The encoded flow-mods of one delta: BUNDLE_ADD_MESSAGE(FLOW_MOD) messages, back to back. */
export interface EncodedDelta {
  readonly bytes: Uint8Array;
  readonly add: number;
  readonly modify: number;
  readonly delete: number;
}

export interface EncodeContext {
  readonly bundleId: number;
  /** xid of the first message; message i gets firstXid + i. */
  readonly firstXid: number;
}

/** Record flow-mods of a delta, in message order: parallel arrays. */
export interface RecordMessages {
  readonly records: NeighborRecord[];
  readonly families: FlowFamily[];
}

export interface RecordDelta {
  readonly delete: RecordMessages;
  readonly modify: RecordMessages;
  readonly add: RecordMessages;
}

/** Who each message of an encoded delta is for: lane rows, then FlowTable flows, then record flows. */
export interface DeltaMessages {
  /** Lane rows (neighbor-lane.ts), one per message (-1: a delete); they come first. */
  readonly laneRows?: IntList;
  readonly flows: readonly Flow[];
  /** Written after `flows`: deletes, modifies, adds. */
  readonly records: RecordDelta | undefined;
}

/** Record flow-mod templates (built on first use; the same for every partition). */
export const recordEncoder = new RecordEncoder();

export function emptyRecordDelta(): RecordDelta {
  return {
    delete: { records: [], families: [] },
    modify: { records: [], families: [] },
    add: { records: [], families: [] },
  };
}

export function pushRecord(m: RecordMessages, r: NeighborRecord, family: FlowFamily): void {
  m.records.push(r);
  m.families.push(family);
}

/** The flow-mods that take the record set from each change's `before` to its `after`. */
export function recordDeltaOf(
  changes: readonly RecordChange[],
  families: readonly NeighborFamily[],
  arpRecords: boolean,
): RecordDelta {
  const records = emptyRecordDelta();
  for (const { before, after } of changes) {
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
    for (const fam of families) {
      if (!sameRecordKey(before, after, fam)) {
        pushRecord(records.delete, before, fam);
        pushRecord(records.add, after, fam);
      } else if (!sameRecordBody(before, after, fam)) {
        pushRecord(records.modify, after, fam);
      }
    }
  }
  return records;
}

/** A delta's group entries apart from its flows; undefined when it has none (the usual case). */
function splitGroups(delta: FlowDelta): (FlowDelta & { readonly flows: FlowDelta }) | undefined {
  const has = (l: readonly Flow[]): boolean => l.some(isGroupEntry);
  if (!has(delta.add) && !has(delta.modify) && !has(delta.delete)) return undefined;
  const groupsOf = (l: readonly Flow[]): Flow[] => l.filter(isGroupEntry);
  const flowsOf = (l: readonly Flow[]): Flow[] => l.filter((f) => !isGroupEntry(f));
  return {
    add: groupsOf(delta.add),
    modify: groupsOf(delta.modify),
    delete: groupsOf(delta.delete),
    flows: { add: flowsOf(delta.add), modify: flowsOf(delta.modify), delete: flowsOf(delta.delete) },
  };
}

/**
 * Encodes a delta as BUNDLE_ADD_MESSAGE(FLOW_MOD)s: the table's deletes, modifies and adds, then
 * the records' deletes, modifies and adds (keys are distinct within a delta, so the order only
 * makes the bundle read naturally). Group entries (core/flow.ts GROUP_TABLE) become GROUP_MODs:
 * added or modified before every flow-mod (a flow may only name a group that exists), deleted after
 * them. A message's entry in `messages.flows` is its group entry or flow, in message order.
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
  const writeGroups = (list: readonly Flow[], command: GroupModCommand): void => {
    for (let i = 0; i < list.length; i++) {
      writeBundleAdd(w, xid, OFP14_VERSION, enc.bundleId, BUNDLE_ATOMIC_ORDERED, (inner) =>
        writeGroupMod(inner, list[i], command, xid, OFP14_VERSION),
      );
      xid = (xid + 1) >>> 0;
      flows.push(list[i]);
    }
  };
  const write = (list: readonly Flow[], command: FlowModCommand): void => {
    for (let i = 0; i < list.length; i++) {
      writeBundledFlowMod(w, xid, OFP14_VERSION, enc.bundleId, list[i], command, BUNDLE_ATOMIC_ORDERED);
      xid = (xid + 1) >>> 0;
      flows.push(list[i]);
    }
  };
  const groups = splitGroups(delta);
  if (groups !== undefined) {
    writeGroups(groups.add, 'add_or_mod');
    writeGroups(groups.modify, 'modify');
  }
  write(groups?.flows.delete ?? delta.delete, 'delete_strict');
  write(groups?.flows.modify ?? delta.modify, 'modify_strict');
  write(groups?.flows.add ?? delta.add, 'add');
  // Last: deleting a group deletes the flows that still send to it (OVS), so every flow-mod that
  // stops using it goes first.
  if (groups !== undefined) writeGroups(groups.delete, 'delete');
  const counts = { add: delta.add.length, modify: delta.modify.length, delete: delta.delete.length };
  if (records === undefined) {
    // A copy sized to the content: the writer's buffer is oversized, and the copy can be transferred.
    const bytes = new Uint8Array(w.pos);
    bytes.set(w.view());
    return { delta: { bytes, ...counts }, messages: { flows, records } };
  }
  const bytes = writeRecords(w, xid, enc.bundleId, records);
  return {
    delta: {
      bytes,
      add: counts.add + records.add.records.length,
      modify: counts.modify + records.modify.records.length,
      delete: counts.delete + records.delete.records.length,
    },
    messages: { flows, records },
  };
}

/** The writer's messages followed by the records', numbered on from `xid`. */
function writeRecords(w: ByteWriter, xid: number, bundleId: number, records: RecordDelta): Uint8Array {
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
      pos = recordEncoder.writeAt(bytes, pos, xid, bundleId, r, m.families[i], command, cookie[0], cookie[1]);
      xid = (xid + 1) >>> 0;
    }
  }
  return bytes;
}

/** The lane's messages (written first, numbered first) in front of an encoded route's. */
export function withLaneMessages(
  lane: LaneDelta | undefined,
  out: { delta: EncodedDelta; messages: DeltaMessages },
  output: BufferPool,
): { delta: EncodedDelta; messages: DeltaMessages } {
  if (lane === undefined || lane.count === 0) return out;
  const messages = { ...out.messages, laneRows: lane.rows };
  const tail = out.delta;
  if (tail.bytes.length === 0) {
    return { delta: { bytes: lane.bytes(), add: lane.add, modify: lane.modify, delete: lane.delete }, messages };
  }
  const head = lane.bytes();
  const bytes = output.take(head.length + tail.bytes.length).subarray(0, head.length + tail.bytes.length);
  bytes.set(head);
  bytes.set(tail.bytes, head.length);
  output.give(head.buffer as ArrayBuffer);
  const delta = {
    bytes,
    add: tail.add + lane.add,
    modify: tail.modify + lane.modify,
    delete: tail.delete + lane.delete,
  };
  return { delta, messages };
}
