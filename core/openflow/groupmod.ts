// GROUP_MOD encoding (OpenFlow 1.3 §7.3.4.2; 1.4 has the same layout) for the select groups the
// pipeline holds as group entries in the flow table (core/flow.ts GROUP_TABLE), alone or inside a
// BUNDLE_ADD_MESSAGE; and the OFPMP_GROUP_DESC dump (§7.3.5.9), the only way to see which groups
// a bridge has (they are not in flow dumps). OVS 3.1 accepts GROUP_MODs in an OpenFlow 1.4 bundle, in order with the
// FLOW_MODs around them (docs/pipeline.md, "What OVS accepts in a bundle").

import { groupBuckets, isGroupEntry, type Flow } from '../flow';
import { encodeActions } from './actions';
import { OFP_MAX_MESSAGE_LEN, OFPG_ANY, OFPMP, OFPP, OFPT, type OfVersion } from './constants';
import { OpenFlowError } from './errors';
import { ByteWriter, readU16, readU32 } from './writer';

/**
 * `add_or_mod` is OVS's OFPGC11_ADD_OR_MOD (0x8000, `ovs-ofctl mod-group --may-create`): add the
 * group, or replace its buckets if it exists. The agent adds groups this way so that a group left in
 * OVS (a restart, a reconcile that re-sends desired groups: groups are not in flow dumps) never fails
 * a bundle with OFPGMFC_GROUP_EXISTS.
 */
export type GroupModCommand = 'add' | 'modify' | 'delete' | 'add_or_mod';

const GROUP_MOD_COMMAND_CODE: Readonly<Record<GroupModCommand, number>> = {
  add: 0,
  modify: 1,
  delete: 2,
  add_or_mod: 0x8000,
};

/** ofp_group_type: OFPGT_SELECT, one bucket per packet chosen by the switch (OVS: a hash of the flow). */
const OFPGT_SELECT = 1;
/** OFPG_MAX: the last group id a controller may use. */
export const OFPG_MAX = 0xffffff00;

/**
 * Writes one GROUP_MOD for a group entry: header, command, type, pad, group_id, then (not for
 * delete) one ofp_bucket per bucket: len, weight 1, watch_port/watch_group ANY (only fast-failover
 * groups watch), pad, actions. A bad entry throws with nothing written.
 */
export function writeGroupMod(
  w: ByteWriter,
  entry: Flow,
  command: GroupModCommand,
  xid: number,
  version: OfVersion,
): void {
  if (!isGroupEntry(entry)) throw new OpenFlowError('OF_BAD_VALUE', `table ${entry.table} is not the group table`);
  const id = entry.priority;
  if (!Number.isInteger(id) || id < 0 || id > OFPG_MAX) {
    throw new OpenFlowError('OF_BAD_VALUE', `group id ${id} is outside 0..${OFPG_MAX}`);
  }
  const start = w.pos;
  try {
    w.u8(version);
    w.u8(OFPT.GROUP_MOD);
    w.u16(0); // length, patched below
    w.u32(xid);
    w.u16(GROUP_MOD_COMMAND_CODE[command]);
    w.u8(OFPGT_SELECT);
    w.u8(0);
    w.u32(id);
    if (command !== 'delete') {
      for (const bucket of groupBuckets(entry)) {
        const at = w.pos;
        w.u16(0); // bucket length, patched below
        w.u16(1);
        w.u32(OFPP.ANY);
        w.u32(OFPG_ANY);
        w.zeros(4);
        encodeActions(w, bucket);
        w.patchU16(at, w.pos - at);
      }
    }
    const len = w.pos - start;
    if (len > OFP_MAX_MESSAGE_LEN) {
      throw new OpenFlowError('OF_MESSAGE_TOO_LONG', `GROUP_MOD for group ${id} is ${len} bytes, over 65535`);
    }
    w.patchU16(start + 2, len);
  } catch (e: unknown) {
    w.pos = start;
    throw e;
  }
}

/** MULTIPART_REQUEST OFPMP_GROUP_DESC: no body in OpenFlow 1.3 and 1.4 (every group). */
export function encodeGroupDescRequest(xid: number, version: OfVersion): Buffer {
  const w = new ByteWriter(16);
  w.u8(version);
  w.u8(OFPT.MULTIPART_REQUEST);
  w.u16(16);
  w.u32(xid);
  w.u16(OFPMP.GROUP_DESC);
  w.u16(0); // flags: no OFPMPF_REQ_MORE
  w.zeros(4);
  return w.toBuffer();
}

/** One ofp_group_desc: the group's id and type, and how many buckets it has. */
export interface GroupDesc {
  readonly groupId: number;
  /** ofp_group_type: 0 all, 1 select, 2 indirect, 3 fast failover. */
  readonly type: number;
  readonly buckets: number;
}

/** Decodes an OFPMP_GROUP_DESC reply body (length, type, pad, group_id, buckets; §7.3.5.9). Bad framing throws. */
export function decodeGroupDescs(body: Uint8Array): GroupDesc[] {
  const out: GroupDesc[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 8) throw new OpenFlowError('OF_TRUNCATED', 'truncated ofp_group_desc');
    const len = readU16(body, at);
    if (len < 8 || at + len > body.length)
      throw new OpenFlowError('OF_BAD_MESSAGE', `ofp_group_desc length ${len} is out of range`);
    let buckets = 0;
    for (let b = at + 8; b < at + len; buckets++) {
      const blen = b + 2 <= at + len ? readU16(body, b) : 0;
      if (blen < 16 || b + blen > at + len)
        throw new OpenFlowError('OF_BAD_MESSAGE', `ofp_bucket length ${blen} is out of range`);
      b += blen;
    }
    out.push({ groupId: readU32(body, at + 4), type: body[at + 2], buckets });
    at += len;
  }
  return out;
}
