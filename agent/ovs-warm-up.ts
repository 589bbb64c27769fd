// OVS's own first growth, taken at start instead of in the first real push.
//
// A switch that never held many flows installs its first big bundle slower than the same bundle
// later (measured with the bench's replay, 10k neighbors, load ~11: 387-502 ms cold against
// 251-307 ms once it had held and deleted flows): ovs-vswitchd's allocator grows and faults in its
// memory for the first time. Flows in a table the pipeline never reaches, committed and deleted at
// once, grow it the same way (the replay after them: 308-346 ms). So a fresh agent does that before
// it serves: WARM_UP_FLOWS flows into WARM_UP_TABLE under a cookie of their own, committed, then one
// non-strict delete of that table and cookie.
//
// Harmless to traffic: no flow of the pipeline goes to WARM_UP_TABLE (its tables end at 80), so no
// packet meets these flows, and nothing of them stays. Their cookie is outside the agent's range
// (core/pipeline/cookie.ts), so reconcile and read-back never count them; a crash between the two
// bundles leaves them in an unreachable table, and the next start's delete takes them.
import type { Flow } from '../core/flow';
import { ByteWriter, OFP14_VERSION, BUNDLE_ATOMIC_ORDERED, writeBundledFlowMod } from '../core/openflow';
import type { OpenFlowSession } from './openflow/session';

/**
 * A table the pipeline never goes to (its own end at 80: core/pipeline/tables.ts). Not 254: that is
 * OVS's internal table (its hidden recirculation and controller flows).
 */
export const WARM_UP_TABLE = 200;
/**
 * A marker of its own, 0xA1C2: not the pipeline's (0xA1C0) and not Zeta's direct paths' (0xA1C1, counted by
 * agent/zeta-direct-paths.ts); "warm" below.
 */
export const WARM_UP_COOKIE = 0xa1c2_0000_7761_726dn;
/** About what the engine's warm-up plans (8,192 neighbors, two flows each). */
export const WARM_UP_FLOWS = 16_384;
/** Bundle ids the engine does not reach in this run (it counts from 1) and xids below its range. */
export const WARM_UP_ADD_BUNDLE = 0xfff0_0001;
export const WARM_UP_DELETE_BUNDLE = 0xfff0_0002;
const FIRST_XID = 0x1000_0000;
const FLOWS_PER_DELTA = 1024;

/** Flow i: a remote neighbor's L2 forwarding flow in shape (VNI, MAC -> tunnel, output). */
function warmUpFlow(i: number): Flow {
  return {
    table: WARM_UP_TABLE,
    priority: 100 + (i % 4),
    cookie: WARM_UP_COOKIE,
    match: [
      { field: 'metadata', value: 1 + (i % 8) },
      { field: 'eth_dst', value: 0x02ab_cd00_0000 + i },
    ],
    actions: [
      { kind: 'set_field', field: 'tun_ipv4_dst', value: (0x0a00_0000 + i) >>> 0 },
      { kind: 'output', port: 1 },
    ],
  };
}

/** The add bundle's messages, FLOWS_PER_DELTA flow-mods each. */
export function warmUpAdds(flows = WARM_UP_FLOWS): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < flows; at += FLOWS_PER_DELTA) {
    const w = new ByteWriter(FLOWS_PER_DELTA * 128);
    for (let i = at; i < Math.min(flows, at + FLOWS_PER_DELTA); i++) {
      writeBundledFlowMod(w, FIRST_XID + i, OFP14_VERSION, WARM_UP_ADD_BUNDLE, warmUpFlow(i), 'add');
    }
    out.push(w.toBuffer());
  }
  return out;
}

/** One delete of every flow in WARM_UP_TABLE with WARM_UP_COOKIE (the cookie mask selects it exactly). */
export function warmUpDelete(): Uint8Array {
  const w = new ByteWriter(256);
  const all: Flow = { table: WARM_UP_TABLE, priority: 0, cookie: WARM_UP_COOKIE, match: [], actions: [] };
  writeBundledFlowMod(w, FIRST_XID - 1, OFP14_VERSION, WARM_UP_DELETE_BUNDLE, all, 'delete', BUNDLE_ATOMIC_ORDERED, {
    cookieMask: 0xffff_ffff_ffff_ffffn,
  });
  return w.toBuffer();
}

/** Installs the warm-up flows and deletes them again; resolves with the milliseconds it took. */
export async function warmUpOvs(session: OpenFlowSession, flows = WARM_UP_FLOWS): Promise<number> {
  const t0 = performance.now();
  await session.whenReady();
  // Leftovers of a start that crashed here are simply added again (same flows) and go with the delete.
  await session.applyBundle(WARM_UP_ADD_BUNDLE, warmUpAdds(flows));
  await session.applyBundle(WARM_UP_DELETE_BUNDLE, [warmUpDelete()]);
  return Math.round(performance.now() - t0);
}
