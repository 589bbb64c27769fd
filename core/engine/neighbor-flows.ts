// The bulk representation of neighbor-owned flows: one compact record per neighbor instead of two
// Flow objects and two key strings in the FlowTable.
//
// A "simple" neighbor (one L2 fixed IP whose VNI is known, on another host, with a tunnel port)
// compiles to exactly two flows (core/pipeline/compile.ts compileNeighbor):
//   L2 remote     key (VNI, MAC)  body: host IP, tunnel ofport, cookie
//   ARP responder key (VNI, IP)   body: MAC, cookie
// so the record (VNI, MAC, IP, host IP, tunnel ofport) is the flows. When ARP is answered outside
// OVS (view.ts ArpAnswers `none`) it compiles to the L2 flow only: the set is built with
// `arpAnswerFlows: false` and every user of records asks it (`arpAnswerFlows`, `families`) once
// per batch. The ARP key index is kept either way, so what counts as contested does not depend on
// the option. Numeric indexes per VNI (MAC -> neighbor, IP -> neighbor) find contested keys.
//
// The FlowTable's semantics for a key several owners want (ref-counted, preferred owner wins) are
// kept by never letting a key be shared while it is held here: neighbor-homes.ts checks every change
// against these indexes and the FlowTable (route, swap), and on any contest it moves every
// record into the FlowTable (`drain`) and stops using this set. Contested keys mean stale or
// conflicting goal states, which are rare; the FlowTable handles them exactly.

import type { Flow } from '../flow';
import type { Ipv4, Mac, Neighbor } from '../model';
import {
  Priority,
  TABLES,
  arpResponderFlow,
  encodeCookie,
  l3ResolveFlow,
  remoteL2Flow,
  type PipelineView,
} from '../pipeline';
import { type FlowTable, type OwnerChange, fastFlowKey } from '../flowtable';

export interface NeighborRecord {
  readonly id: string;
  readonly vni: number;
  readonly mac: Mac;
  readonly ip: Ipv4;
  readonly hostIp: Ipv4;
  readonly tunnelOfport: number;
  /**
   * An L3 neighbor (lane rows only; the record set holds L2 ones): a third flow, IP -> MAC in the
   * L3Resolve table (compileNeighbor's l3ResolveFlow, no source MAC), keyed (VNI, IP) like the ARP one.
   */
  readonly l3?: boolean;
}

/** 0: the L2 remote flow, 1: the ARP responder flow: the key families that are indexed and contested. */
export type NeighborFamily = 0 | 1;

/**
 * The flows a record can have: the two key families, and 2, an L3 neighbor's resolve flow. That
 * one's key is never indexed on its own: its (VNI, IP) is the ARP family's, and whatever else wants
 * an L3Resolve key at Normal priority (a local port, an ordinary L3 neighbor) wants the ARP key with
 * the same VNI and IP too while ARP answer flows are on (port-flows.ts, remote-neighbor-flows.ts),
 * so the ARP key standing free means the L3 one is. Only then may an L3 neighbor be a lane row.
 */
export type FlowFamily = NeighborFamily | 2;

export const L2_FAMILY: NeighborFamily = 0;
export const ARP_FAMILY: NeighborFamily = 1;
export const L3_FLOW: FlowFamily = 2;
const BOTH_FAMILIES: readonly NeighborFamily[] = [L2_FAMILY, ARP_FAMILY];
const L2_ONLY: readonly NeighborFamily[] = [L2_FAMILY];

/** The record of a neighbor whose flows are exactly those of a record; undefined otherwise. */
export function simpleRecord(n: Neighbor, view: PipelineView): NeighborRecord | undefined {
  const tunnelOfport = view.tunnelOfport;
  if (tunnelOfport === undefined || n.hostIp === view.localTunnelIp) return undefined;
  if (n.fixedIps.length !== 1) return undefined;
  const fip = n.fixedIps[0];
  if (fip.type !== 'l2') return undefined;
  const vni = fip.tunnelId !== 0 ? fip.tunnelId : view.subnet(fip.subnetId)?.tunnelId;
  if (vni === undefined) return undefined;
  return { id: n.id, vni, mac: n.mac, ip: fip.ip, hostIp: n.hostIp, tunnelOfport };
}

/** The flow of one family of a record, exactly as compileNeighbor builds it. */
export function recordFlow(r: NeighborRecord, family: FlowFamily, cookie = encodeCookie('neighbor', r.id)): Flow {
  if (family === L2_FAMILY) return remoteL2Flow(r.vni, r.mac, r.hostIp, r.tunnelOfport, cookie);
  if (family === ARP_FAMILY) return arpResponderFlow(r.vni, r.ip, r.mac, cookie);
  return l3ResolveFlow(r.vni, r.ip, r.mac, undefined, cookie);
}

/** A record's flows, in compileNeighbor's order: L2, the ARP answer unless `arpAnswerFlows` is false, the L3 one. */
export function recordFlows(r: NeighborRecord, arpAnswerFlows = true): Flow[] {
  const cookie = encodeCookie('neighbor', r.id);
  const out = [recordFlow(r, L2_FAMILY, cookie)];
  if (arpAnswerFlows) out.push(recordFlow(r, ARP_FAMILY, cookie));
  if (r.l3 === true) out.push(recordFlow(r, L3_FLOW, cookie));
  return out;
}

/** Same key. */
export function sameKey(a: NeighborRecord, b: NeighborRecord, family: NeighborFamily): boolean {
  return a.vni === b.vni && (family === L2_FAMILY ? a.mac === b.mac : a.ip === b.ip);
}

/** Same flow body (actions; the cookie follows the id). */
export function sameBody(a: NeighborRecord, b: NeighborRecord, family: NeighborFamily): boolean {
  return family === L2_FAMILY ? a.hostIp === b.hostIp && a.tunnelOfport === b.tunnelOfport : a.mac === b.mac;
}

/** A record flow of each family with placeholder values: the fields, masks and fixed values every one has. */
const TEMPLATE_RECORD: NeighborRecord = { id: '', vni: 1, mac: 1, ip: 1, hostIp: 0, tunnelOfport: 0 };
const L2_TEMPLATE = recordFlow(TEMPLATE_RECORD, L2_FAMILY, 0n);
const ARP_TEMPLATE = recordFlow(TEMPLATE_RECORD, ARP_FAMILY, 0n);
const L3_TEMPLATE = recordFlow(TEMPLATE_RECORD, L3_FLOW, 0n);

/**
 * Whether `f`'s match is the template's, field by field, but for the values at positions `a` and `b`: then its
 * key is that of a record flow with those values (the template's fields are in canonical order, so both keys
 * are built the same way). Called for every flow the table gains or loses; building two key strings for each
 * was a tenth of a neighbor's cost in the engine. False says nothing: the caller compares keys.
 */
function likeTemplate(f: Flow, t: Flow, a: number, b: number): boolean {
  for (let i = 0; i < t.match.length; i++) {
    const x = f.match[i];
    const y = t.match[i];
    if (x === undefined || y === undefined || x.field !== y.field || x.mask !== y.mask) return false;
    if (i !== a && i !== b && x.value !== y.value) return false;
  }
  return true;
}

/**
 * The (family, VNI, MAC or IP) of a flow whose key is one a record's flow could have, or undefined.
 * Used to find generic flows that would contest a record's key.
 */
export function familyKeyOf(f: Flow): { family: NeighborFamily; vni: number; value: number } | undefined {
  if (f.priority !== Priority.Normal) return undefined;
  if (f.table === TABLES.L2Forwarding.id && f.match.length === 3) {
    const vni = f.match[1].value;
    const mac = f.match[2].value;
    if (likeTemplate(f, L2_TEMPLATE, 1, 2)) return { family: L2_FAMILY, vni, value: mac };
    const probe: NeighborRecord = { id: '', vni, mac, ip: 0, hostIp: 0, tunnelOfport: 0 };
    if (fastFlowKey(recordFlow(probe, L2_FAMILY, 0n)) !== fastFlowKey(f)) return undefined;
    return { family: L2_FAMILY, vni, value: mac };
  }
  if (f.table === TABLES.ArpResponder.id && f.match.length === 4) {
    const vni = f.match[0].value;
    const ip = f.match[3].value;
    if (likeTemplate(f, ARP_TEMPLATE, 0, 3)) return { family: ARP_FAMILY, vni, value: ip };
    const probe: NeighborRecord = { id: '', vni, mac: 0, ip, hostIp: 0, tunnelOfport: 0 };
    if (fastFlowKey(recordFlow(probe, ARP_FAMILY, 0n)) !== fastFlowKey(f)) return undefined;
    return { family: ARP_FAMILY, vni, value: ip };
  }
  return undefined;
}

/**
 * The (VNI, IP) of a flow whose key is one a record's L3 resolve flow could have, or undefined (the
 * L3 family is not a key family: see FlowFamily; reconcile uses this to find a lane row's flow).
 */
export function l3KeyOf(f: Flow): { vni: number; ip: number } | undefined {
  if (f.priority !== Priority.Normal || f.table !== TABLES.L3Resolve.id || f.match.length !== 3) return undefined;
  const vni = f.match[0].value;
  const ip = f.match[2].value;
  if (likeTemplate(f, L3_TEMPLATE, 0, 2)) return { vni, ip };
  const probe: NeighborRecord = { id: '', vni, mac: 0, ip, hostIp: 0, tunnelOfport: 0 };
  return fastFlowKey(recordFlow(probe, L3_FLOW, 0n)) === fastFlowKey(f) ? { vni, ip } : undefined;
}

/** The FlowTable key string of a record's flow of one family. */
export function recordKey(r: NeighborRecord, family: NeighborFamily): string {
  return fastFlowKey(recordFlow(r, family, 0n));
}

/** Adds (present) or removes a (VNI, value) key in a per-VNI index. */
export function setKey(index: Map<number, Set<number>>, vni: number, value: number, present: boolean): void {
  let values = index.get(vni);
  if (present) {
    if (values === undefined) index.set(vni, (values = new Set()));
    values.add(value);
  } else if (values !== undefined) {
    values.delete(value);
    if (values.size === 0) index.delete(vni);
  }
}

/** (VNI, value) -> neighbor id, per family. */
class KeyIndex {
  readonly #byVni = new Map<number, Map<number, string>>();
  get(vni: number, value: number): string | undefined {
    return this.#byVni.get(vni)?.get(value);
  }
  set(vni: number, value: number, id: string): void {
    let m = this.#byVni.get(vni);
    if (m === undefined) {
      m = new Map();
      this.#byVni.set(vni, m);
    }
    m.set(value, id);
  }
  /** Removes the entry if `id` holds it. */
  delete(vni: number, value: number, id: string): void {
    const m = this.#byVni.get(vni);
    if (m === undefined || m.get(value) !== id) return;
    m.delete(value);
    if (m.size === 0) this.#byVni.delete(vni);
  }
  clear(): void {
    this.#byVni.clear();
  }
}

/** One neighbor's record before and after a change (undefined: none). */
export interface RecordChange {
  readonly before: NeighborRecord | undefined;
  readonly after: NeighborRecord | undefined;
}

export class NeighborFlowSet {
  readonly #records = new Map<string, NeighborRecord>();
  readonly #l2 = new KeyIndex();
  readonly #arp = new KeyIndex();
  /** False once a contest moved everything into the FlowTable. */
  enabled = true;
  /** Whether records compile to an ARP answer flow too (false: ARP is answered outside OVS). */
  readonly arpAnswerFlows: boolean;
  /** The families records compile to, in message order. */
  readonly families: readonly NeighborFamily[];

  constructor(opts: { readonly arpAnswerFlows?: boolean } = {}) {
    this.arpAnswerFlows = opts.arpAnswerFlows ?? true;
    this.families = this.arpAnswerFlows ? BOTH_FAMILIES : L2_ONLY;
  }

  get size(): number {
    return this.#records.size;
  }

  /** Flows held (one per record and family). */
  get flowCount(): number {
    return this.#records.size * this.families.length;
  }

  get(id: string): NeighborRecord | undefined {
    return this.#records.get(id);
  }

  records(): IterableIterator<NeighborRecord> {
    return this.#records.values();
  }

  /** The neighbor holding a key here, if any. */
  holder(family: NeighborFamily, vni: number, value: number): string | undefined {
    return (family === L2_FAMILY ? this.#l2 : this.#arp).get(vni, value);
  }

  set(r: NeighborRecord): void {
    this.#records.set(r.id, r);
    this.#l2.set(r.vni, r.mac, r.id);
    this.#arp.set(r.vni, r.ip, r.id);
  }

  delete(id: string): NeighborRecord | undefined {
    const r = this.#records.get(id);
    if (r === undefined) return undefined;
    this.#records.delete(id);
    this.#l2.delete(r.vni, r.mac, id);
    this.#arp.delete(r.vni, r.ip, id);
    return r;
  }

  /**
   * Applies record changes (the demoted and the changed records out, then the new ones in) unless
   * two records would share a key; returns whether they would (then the set may be half changed:
   * restore() puts it back). A key another record holds now counts, even if that record lets go
   * of it in this change (the table would send ADD with the new cookie, not DELETE + ADD).
   */
  swap(changes: readonly RecordChange[], demoted: readonly NeighborRecord[]): boolean {
    for (const c of changes) {
      const a = c.after;
      if (a === undefined) continue;
      const l2 = this.holder(L2_FAMILY, a.vni, a.mac);
      const arp = this.holder(ARP_FAMILY, a.vni, a.ip);
      if ((l2 !== undefined && l2 !== a.id) || (arp !== undefined && arp !== a.id)) return true;
    }
    for (const r of demoted) this.delete(r.id);
    for (const c of changes) if (c.before !== undefined) this.delete(c.before.id);
    for (const c of changes) {
      const a = c.after;
      if (a === undefined) continue;
      // A key already held by then (two new records) is contested too.
      if (this.holder(L2_FAMILY, a.vni, a.mac) !== undefined || this.holder(ARP_FAMILY, a.vni, a.ip) !== undefined) {
        return true;
      }
      this.set(a);
    }
    return false;
  }

  /** Puts back the records `changes` and `demoted` had before (whether swap() finished or not). */
  restore(changes: readonly RecordChange[], demoted: readonly NeighborRecord[]): void {
    for (const c of changes) if (c.after !== undefined) this.delete(c.after.id);
    for (const c of changes) if (c.before !== undefined) this.set(c.before);
    for (const r of demoted) this.set(r);
  }

  /** Whether a flow of these changes has a key a record holds. */
  holdsKeyOf(changes: readonly OwnerChange[]): boolean {
    for (const c of changes) {
      for (const f of c.flows) {
        const k = familyKeyOf(f);
        if (k !== undefined && this.holder(k.family, k.vni, k.value) !== undefined) return true;
      }
    }
    return false;
  }

  /** Whether `table` holds a key of one of these new records. */
  keysInTable(table: FlowTable, changes: readonly RecordChange[]): boolean {
    let added = 0;
    for (const c of changes) if (c.after !== undefined) added++;
    if (added === 0) return false;
    if (table.size <= added * 4) {
      // Few table flows: look each one up in the record indexes.
      for (const f of table.flows()) {
        const k = familyKeyOf(f);
        if (k !== undefined && this.holder(k.family, k.vni, k.value) !== undefined) return true;
      }
      return false;
    }
    for (const c of changes) {
      const a = c.after;
      if (a === undefined) continue;
      if (table.get(recordKey(a, L2_FAMILY)) !== undefined || table.get(recordKey(a, ARP_FAMILY)) !== undefined) {
        return true;
      }
    }
    return false;
  }

  /** Empties the set and stops using it; returns what it held. */
  drain(): NeighborRecord[] {
    const all = [...this.#records.values()];
    this.#records.clear();
    this.#l2.clear();
    this.#arp.clear();
    this.enabled = false;
    return all;
  }
}
