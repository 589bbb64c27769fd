// What arp_table should hold, kept by changes: the engine's ARP answers as a multiset of (scope, IPv4, MAC), and
// for each arp_table key the MAC it should answer with. Pure: no I/O; MapMirror applies the plans.
//
// One key, several MACs (two resources claim one IP in one VNI) is a conflict. The rule, the same whether a plan
// covers every key or only the keys that changed: the MAC the map holds stays while something still answers
// with it, otherwise the lowest. So a conflict never flaps the map, and a restarted agent keeps what it served.
import { checkScope } from './arp-responder';
import { planMapSync, type EntryMap, type MapSyncPlan } from './ebpf-dataplane';

/** [scope, ipv4, mac, delta]: numbers as the engine holds them (core/engine/arp-entries.ts ArpChange). */
export type ArpAnswerChange = readonly [scope: number, ip: number, mac: number, delta: number];

/** The 8-byte arp_table key as a byte string: scope as a little-endian u32, then the IPv4 address in network order. */
export function arpKeyString(scope: number, ip: number): string {
  checkScope(scope);
  return String.fromCharCode(
    scope & 0xff,
    (scope >>> 8) & 0xff,
    (scope >>> 16) & 0xff,
    scope >>> 24,
    ip >>> 24,
    (ip >>> 16) & 0xff,
    (ip >>> 8) & 0xff,
    ip & 0xff,
  );
}

/** The 8-byte arp_table value as a byte string: the MAC's six bytes, then two zero bytes. */
export function arpValueString(mac: number): string {
  const hi = Math.floor(mac / 2 ** 32);
  return String.fromCharCode(
    (hi >>> 8) & 0xff,
    hi & 0xff,
    mac >>> 24,
    (mac >>> 16) & 0xff,
    (mac >>> 8) & 0xff,
    mac & 0xff,
    0,
    0,
  );
}

export class ArpAnswers {
  /** arp_table key -> MAC value string -> how many answers name it. */
  readonly #byKey = new Map<string, Map<string, number>>();
  /** Keys answered with more than one MAC. */
  readonly #conflicts = new Set<string>();

  /** Distinct keys answered. */
  get size(): number {
    return this.#byKey.size;
  }

  get conflicts(): number {
    return this.#conflicts.size;
  }

  clear(): void {
    this.#byKey.clear();
    this.#conflicts.clear();
  }

  /** Applies the changes; returns the keys they touched. Throws EBADSCOPE before changing anything. */
  apply(changes: readonly ArpAnswerChange[]): Set<string> {
    const encoded = changes.map(
      ([scope, ip, mac, delta]) => [arpKeyString(scope, ip), arpValueString(mac), delta] as const,
    );
    const touched = new Set<string>();
    for (const [key, value, delta] of encoded) {
      let macs = this.#byKey.get(key);
      if (macs === undefined) this.#byKey.set(key, (macs = new Map()));
      const n = (macs.get(value) ?? 0) + delta;
      if (n > 0) macs.set(value, n);
      else macs.delete(value);
      if (macs.size === 0) this.#byKey.delete(key);
      if (macs.size > 1) this.#conflicts.add(key);
      else this.#conflicts.delete(key);
      touched.add(key);
    }
    return touched;
  }

  /** The value `key` should hold given what the map holds now (the rule above); undefined: nothing answers it. */
  valueFor(key: string, current: EntryMap): string | undefined {
    const macs = this.#byKey.get(key);
    if (macs === undefined) return undefined;
    const have = current.get(key);
    if (have !== undefined && macs.has(have)) return have;
    let lowest: string | undefined;
    for (const v of macs.keys()) if (lowest === undefined || v < lowest) lowest = v;
    return lowest;
  }

  /** Every key's value: the whole desired map (for a full sync). */
  desired(current: EntryMap): Map<string, string> {
    const out = new Map<string, string>();
    for (const key of this.#byKey.keys()) out.set(key, this.valueFor(key, current) as string);
    return out;
  }

  /** The plan for the touched keys only: what a full sync would do to them, and nothing to the rest. */
  planFor(touched: Iterable<string>, current: EntryMap): MapSyncPlan {
    const desired = new Map<string, string>();
    const scope = new Map<string, string>();
    for (const key of touched) {
      const v = this.valueFor(key, current);
      if (v !== undefined) desired.set(key, v);
      const have = current.get(key);
      if (have !== undefined) scope.set(key, have);
    }
    return planMapSync(desired, scope);
  }
}
