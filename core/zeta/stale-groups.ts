// Groups left in OVS that no held ZETA gateway wants. Groups carry no cookie and are not in flow
// dumps, so the converge dumps them apart (OFPMP_GROUP_DESC) and deletes those in the agent's id
// range (core/pipeline/gateway-flows.ts GROUP_ID_SPAN) that the desired state does not hold: a
// gateway removed while the agent was down, or a group someone added by hand with one of our ids.
//
// The deletes go last in the converge's bundle: deleting a group deletes the flows that send to it
// (docs/pipeline.md, "What OVS accepts in a bundle"), and the converge's own flow-mods that stop
// using it come first. Wanted groups that are missing need nothing here: OVS cannot hold a flow
// naming a missing group, so the flows are missing too and the reconcile re-sends the group with them.

import { GROUP_TABLE } from '../flow';
import { BUNDLE_ATOMIC_ORDERED, ByteWriter, OFP14_VERSION, writeBundleAdd, writeGroupMod } from '../openflow';
import { GROUP_ID_SPAN } from '../pipeline/gateway-flows';

/**
 * xids of the deletes: above every engine partition's span (core/engine/xids.ts), so an ERROR for one
 * is the bundle's (the session gives xids >= XID_BASE to the bundle in flight) and names no owner.
 */
export const STALE_GROUP_XID = 0xf000_0000;

export function ownsGroupId(id: number): boolean {
  return Number.isInteger(id) && id >= 1 && id <= GROUP_ID_SPAN;
}

/** Installed group ids in our range that are not desired, ascending. */
export function staleGroupIds(installed: Iterable<number>, desired: Iterable<number>): number[] {
  const want = new Set(desired);
  const out = new Set<number>();
  for (const id of installed) if (ownsGroupId(id) && !want.has(id)) out.add(id);
  return [...out].sort((a, b) => a - b);
}

/** One BUNDLE_ADD_MESSAGE(GROUP_MOD DELETE) per id, for bundle `bundleId`. */
export function encodeGroupDeletes(ids: readonly number[], bundleId: number): Uint8Array {
  const w = new ByteWriter(32 * Math.max(1, ids.length));
  ids.forEach((id, i) => {
    const xid = (STALE_GROUP_XID + i) >>> 0;
    const entry = { table: GROUP_TABLE, priority: id, cookie: 0n, match: [], actions: [] };
    writeBundleAdd(w, xid, OFP14_VERSION, bundleId, BUNDLE_ATOMIC_ORDERED, (inner) =>
      writeGroupMod(inner, entry, 'delete', xid, OFP14_VERSION),
    );
  });
  return new Uint8Array(w.view());
}
