// A partition's side of key contests across partitions (the engine's side is in engine.ts; why, in
// placement.ts): which keys it took or let go of in its open transactions, its key filter that
// other partitions read, and the answers to their questions (holds, claimants).

import { ownerKey } from '../pipeline';
import { forEachKey } from './homes-flows';
import { KeyFilter, KeyList } from './key-filter';
import { ARP_FAMILY, L2_FAMILY, type NeighborFamily } from './neighbor-flows';
import type { FamilyKey, NeighborHomes } from './neighbor-homes';

export class ContestKeys {
  readonly #homes: NeighborHomes;
  /** This partition's key filter and the others'; none with one partition. */
  readonly #filter: KeyFilter | undefined;
  readonly #others: readonly KeyFilter[];
  /** How many of the homes' gained keys are in the filter already. */
  #filtered = 0;
  /**
   * Keys that neighbors of the open goal state wanted but were refused because another one took
   * them first ("family/vni/value" -> ids): which neighbor is refused, and why, depends on every
   * claimant, so these count as claims in a contest.
   */
  readonly #refused = new Map<string, string[]>();

  constructor(homes: NeighborHomes, index: number, filters: readonly SharedArrayBuffer[]) {
    this.#homes = homes;
    this.#filter = filters.length > 1 ? new KeyFilter(filters[index]) : undefined;
    this.#others = filters.length > 1 ? filters.filter((_, p) => p !== index).map((b) => new KeyFilter(b)) : [];
  }

  /** No transaction is open: nothing was taken or let go of since (the filter keeps what it was told). */
  settled(): void {
    this.#homes.gained.clear();
    this.#homes.lost.clear();
    this.#refused.clear();
    this.#filtered = 0;
  }

  /** A goal state or host facts begin: nothing gained yet; a filter gone stale is rebuilt first. */
  start(): void {
    this.settled();
    const f = this.#filter;
    if (f !== undefined && f.added > 4 * this.#homes.keyCount + 65536) this.rebuild();
  }

  /** Empties the filter and adds every key held now. */
  rebuild(): void {
    const f = this.#filter;
    if (f === undefined) return;
    f.clear();
    forEachKey(this.#homes, (family, vni, value) => f.add(family, vni, value));
  }

  /** A neighbor of the open goal state wanted this key and was refused it. */
  refuse(key: FamilyKey, id: string): void {
    const k = `${key.family}/${key.vni}/${key.value}`;
    const ids = this.#refused.get(k);
    if (ids === undefined) this.#refused.set(k, [id]);
    else ids.push(id);
  }

  /** Puts the keys transaction `txn` took into the filter, so other partitions see them. */
  fileGained(txn: number): void {
    const f = this.#filter;
    if (f === undefined) return;
    const lane = this.#homes.lane;
    const log = lane.written(txn);
    if (log !== undefined) {
      for (let i = 1; i < log.length; i += 2) {
        const row = log.values[i];
        if (row < 0) continue;
        f.add(L2_FAMILY, lane.vni(row), lane.mac(row));
        f.add(ARP_FAMILY, lane.vni(row), lane.ip(row));
      }
    }
    const g = this.#homes.gained;
    for (let i = this.#filtered; i < g.size; i++) f.add(g.family(i), g.vni(i), g.value(i));
    this.#filtered = g.size;
  }

  /**
   * Keys taken in the open transactions `open` (`all`: every key held) that another partition's
   * filter may hold: (family, VNI, value) triples. Exact only together with the others' answers
   * to holds().
   */
  candidates(all: boolean, open: readonly number[]): Float64Array {
    const out = new KeyList();
    const others = this.#others;
    if (others.length === 0) return out.toArray();
    // Repeats are rare (the lane holds each key once) and the engine drops them.
    const visit = (family: number, vni: number, value: number): void => {
      for (const o of others) {
        if (!o.mayHold(family, vni, value)) continue;
        out.push(family, vni, value);
        return;
      }
    };
    if (all) forEachKey(this.#homes, visit);
    else this.#forEachGainedKey(open, visit);
    return out.toArray();
  }

  /** Calls `fn` for each key the open transactions took: lane rows they wrote, then the rest. */
  #forEachGainedKey(open: readonly number[], fn: (family: number, vni: number, value: number) => void): void {
    const lane = this.#homes.lane;
    for (const txn of open) {
      const log = lane.written(txn);
      if (log === undefined) continue;
      for (let i = 1; i < log.length; i += 2) {
        const row = log.values[i];
        if (row < 0) continue;
        fn(L2_FAMILY, lane.vni(row), lane.mac(row));
        fn(ARP_FAMILY, lane.vni(row), lane.ip(row));
      }
    }
    const g = this.#homes.gained;
    for (let i = 0; i < g.size; i++) fn(g.family(i), g.vni(i), g.value(i));
    for (const k of this.#refused.keys()) {
      const [family, vni, value] = k.split('/').map(Number);
      fn(family, vni, value);
    }
  }

  /**
   * For each (family, VNI, value) triple: 1 if something here holds the key (open transactions
   * included) or the open transactions let go of it. A key one partition lets go of while another
   * takes it is a contest too: the first one's DELETE and the other's ADD would meet in one bundle,
   * in no set order.
   */
  holds(keys: Float64Array, open: readonly number[]): Uint8Array {
    const out = new Uint8Array(keys.length / 3);
    const lost = this.#lostKeys(open);
    const touched = lost.size > 0 || this.#refused.size > 0;
    for (let i = 0; i < out.length; i++) {
      const family = keys[3 * i] as NeighborFamily;
      const vni = keys[3 * i + 1];
      const value = keys[3 * i + 2];
      if (this.#homes.holder(family, vni, value) !== undefined) out[i] = 1;
      else if (touched) {
        const k = `${family}/${vni}/${value}`;
        if (lost.has(k) || this.#refused.has(k)) out[i] = 1;
      }
    }
    return out;
  }

  /** Keys the open transactions let go of, as "family/vni/value". */
  #lostKeys(open: readonly number[]): Set<string> {
    const out = new Set<string>();
    if (open.length === 0) return out;
    const lane = this.#homes.lane;
    for (const txn of open) {
      const log = lane.written(txn);
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
    const l = this.#homes.lost;
    for (let i = 0; i < l.size; i++) out.add(`${l.family(i)}/${l.vni(i)}/${l.value(i)}`);
    return out;
  }

  /** The owners here ("kind:id") that want these keys, refused claimants included. */
  claimants(keys: Float64Array): string[] {
    const out = new Set<string>();
    for (let i = 0; i < keys.length; i += 3) {
      for (const o of this.#homes.ownersOfKey(keys[i] as NeighborFamily, keys[i + 1], keys[i + 2])) out.add(o);
      for (const id of this.#refused.get(`${keys[i]}/${keys[i + 1]}/${keys[i + 2]}`) ?? []) {
        out.add(ownerKey({ kind: 'neighbor', id }));
      }
    }
    return [...out];
  }
}
