// Mirroring desired entries into a pinned BPF map: the piece the agent's `--dataplane ebpf` uses to keep arp_table
// (and later maps) equal to what the goal-state pipeline wants.
//
// Split in two:
//  - pure planning (planMapSync, packMapSyncPlan, desiredArpEntries): no I/O, deterministic, unit-testable;
//  - MapMirror, a thin I/O class that reads the map once when it opens (an agent restart does NOT clear pinned maps:
//    it reconciles against what the map really holds), then applies each plan with one batched delete and one
//    batched update and keeps its view of the map in step.
//
// Keys and values are raw bytes carried as "byte strings": each byte one latin1 char (a bijection). Strings hash and
// compare natively in Map and ===, and cost far less than a Uint8Array view per entry (measured ~4x at 200k entries).
import * as os from 'node:os';
import { BpfMap, type BatchResult, type MapSpec } from './index';
import { writeArpKey, writeArpValue, type ArpEntry, ARP_TABLE_SPEC } from './arp-responder';

/** Map from key bytes to value bytes, both as byte strings (see byteString). */
export type EntryMap = ReadonlyMap<string, string>;

/** The byte string of `len` bytes of buf from offset (default: all of it). */
export function byteString(buf: Uint8Array, offset = 0, len = buf.length - offset): string {
  if (len === 8) {
    // The common case (arp_table keys and values), kept in JS: no call into Buffer's C++ decoder.
    return String.fromCharCode(
      buf[offset] as number,
      buf[offset + 1] as number,
      buf[offset + 2] as number,
      buf[offset + 3] as number,
      buf[offset + 4] as number,
      buf[offset + 5] as number,
      buf[offset + 6] as number,
      buf[offset + 7] as number,
    );
  }
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', offset, offset + len);
}

/** Inverse of byteString. */
export function bytesOf(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** Writes a byte string into out at offset. */
function putBytes(out: Buffer, offset: number, s: string): void {
  for (let i = 0; i < s.length; i++) out[offset + i] = s.charCodeAt(i);
}

export interface MapSyncPlan {
  /** [key, value] byte strings to write: absent from the map, or holding another value. */
  readonly upserts: ReadonlyArray<readonly [string, string]>;
  /** Keys in the map that nothing wants any more. */
  readonly deletes: readonly string[];
  readonly unchanged: number;
}

/** What must change so that `current` becomes `desired`. Deterministic: follows the iteration order of the inputs. */
export function planMapSync(desired: EntryMap, current: EntryMap): MapSyncPlan {
  const upserts: Array<readonly [string, string]> = [];
  const deletes: string[] = [];
  let unchanged = 0;
  for (const [key, value] of desired) {
    if (current.get(key) === value) unchanged++;
    else upserts.push([key, value]);
  }
  for (const key of current.keys()) {
    if (!desired.has(key)) deletes.push(key);
  }
  return { upserts, deletes, unchanged };
}

export interface PackedPlan {
  readonly deleteKeys: Buffer;
  readonly upsertKeys: Buffer;
  readonly upsertValues: Buffer;
}

function sizeError(code: 'EBADKEYSIZE' | 'EBADVALUESIZE', what: string, got: number, want: number): Error {
  return Object.assign(new Error(`${what} of ${got} bytes in a map with ${what} size ${want}`), { code });
}

/** The plan as the packed buffers batch calls take. Throws EBADKEYSIZE/EBADVALUESIZE on a wrongly sized entry. */
export function packMapSyncPlan(plan: MapSyncPlan, keySize: number, valueSize: number): PackedPlan {
  const deleteKeys = Buffer.allocUnsafe(plan.deletes.length * keySize);
  plan.deletes.forEach((key, i) => {
    if (key.length !== keySize) throw sizeError('EBADKEYSIZE', 'key', key.length, keySize);
    putBytes(deleteKeys, i * keySize, key);
  });
  const upsertKeys = Buffer.allocUnsafe(plan.upserts.length * keySize);
  const upsertValues = Buffer.allocUnsafe(plan.upserts.length * valueSize);
  plan.upserts.forEach(([key, value], i) => {
    if (key.length !== keySize) throw sizeError('EBADKEYSIZE', 'key', key.length, keySize);
    if (value.length !== valueSize) throw sizeError('EBADVALUESIZE', 'value', value.length, valueSize);
    putBytes(upsertKeys, i * keySize, key);
    putBytes(upsertValues, i * valueSize, value);
  });
  return { deleteKeys, upsertKeys, upsertValues };
}

/** Splits a packed dump into an EntryMap. */
export function entriesFromPacked(
  keys: Buffer,
  values: Buffer,
  count: number,
  keySize: number,
  valueSize: number,
): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    out.set(byteString(keys, i * keySize, keySize), byteString(values, i * valueSize, valueSize));
  }
  return out;
}

export interface ArpConflict {
  readonly scope: number;
  readonly ip: string;
  readonly macs: readonly string[];
}

/**
 * arp_table entries for a list of {scope, ip, mac}. The same (scope, ip) with two different MACs is a conflict:
 * the first MAC is kept and the conflict is reported, so one bad port cannot stop the rest from being served.
 * Throws (EBADIP/EBADMAC/EBADSCOPE) on malformed input.
 */
export function desiredArpEntries(entries: Iterable<ArpEntry>): {
  readonly entries: Map<string, string>;
  readonly conflicts: ArpConflict[];
} {
  const out = new Map<string, string>();
  const conflicts = new Map<string, { scope: number; ip: string; macs: string[] }>();
  const key = Buffer.alloc(8);
  const value = Buffer.alloc(8);
  for (const e of entries) {
    writeArpKey(key, 0, e.scope, e.ip);
    writeArpValue(value, 0, e.mac);
    const k = byteString(key, 0, 8);
    const v = byteString(value, 0, 8);
    const have = out.get(k);
    if (have === undefined) {
      out.set(k, v);
    } else if (have !== v) {
      const c = conflicts.get(k) ?? { scope: e.scope, ip: e.ip, macs: [macText(have)] };
      c.macs.push(macText(v));
      conflicts.set(k, c);
    }
  }
  return { entries: out, conflicts: [...conflicts.values()] };
}

function macText(v: string): string {
  const hex: string[] = [];
  for (let i = 0; i < 6; i++) hex.push(v.charCodeAt(i).toString(16).padStart(2, '0'));
  return hex.join(':');
}

export interface MapSyncResult {
  readonly upserted: number;
  readonly deleted: number;
  readonly unchanged: number;
  readonly durationMs: number;
}

/**
 * Keeps one pinned map equal to a desired entry set. Not safe for concurrent sync() calls on one instance (the agent
 * drives it from its single ordered dispatch queue); a call made while another runs rejects with EBUSY.
 */
export class MapMirror {
  private current: Map<string, string>;
  private busy = false;
  private stale = false;
  /** Concurrent slices for large batched updates (see BpfMap.updateBatch); one per core by default. */
  parallel = Math.max(1, Math.min(4, os.cpus().length));

  private constructor(
    readonly map: BpfMap,
    readonly created: boolean,
    current: Map<string, string>,
  ) {
    this.current = current;
  }

  /** Opens (or creates and pins) the map at pinPath and reads what it holds. */
  static async open(pinPath: string, spec: MapSpec): Promise<MapMirror> {
    const { map, created } = BpfMap.openOrCreatePinned(pinPath, spec);
    try {
      return new MapMirror(map, created, await MapMirror.read(map));
    } catch (e: unknown) {
      map.close();
      throw e;
    }
  }

  static openArpTable(pinPath: string): Promise<MapMirror> {
    return MapMirror.open(pinPath, ARP_TABLE_SPEC);
  }

  private static async read(map: BpfMap): Promise<Map<string, string>> {
    const dump = await map.dump();
    return entriesFromPacked(dump.keys, dump.values, dump.count, map.keySize, map.valueBytes);
  }

  /** Entries the mirror believes the map holds. */
  get size(): number {
    return this.current.size;
  }

  entries(): EntryMap {
    return this.current;
  }

  /** Re-reads the map (after a failed sync, or when something else may have written it). */
  async reload(): Promise<void> {
    this.current = await MapMirror.read(this.map);
    this.stale = false;
  }

  /** A write failed part way: the view may be wrong until the next sync() re-reads the map. */
  get isStale(): boolean {
    return this.stale;
  }

  /** Makes the map hold exactly `desired`: one batched delete, then one batched update. */
  sync(desired: EntryMap): Promise<MapSyncResult> {
    return this.#apply(true, () => planMapSync(desired, this.current));
  }

  /**
   * Applies a plan made against entries() (for a few keys: ArpAnswers.planFor). Refused while the view is stale:
   * a plan made against a stale view could be wrong, so the caller syncs in full instead.
   */
  applyPlan(plan: MapSyncPlan): Promise<MapSyncResult> {
    return this.#apply(false, () => plan);
  }

  async #apply(reloadIfStale: boolean, planned: () => MapSyncPlan): Promise<MapSyncResult> {
    if (this.busy) throw Object.assign(new Error('MapMirror.sync is already running'), { code: 'EBUSY' });
    this.busy = true;
    const started = process.hrtime.bigint();
    try {
      if (this.stale) {
        if (!reloadIfStale) throw Object.assign(new Error('the map view is stale: sync in full'), { code: 'ESTALE' });
        await this.reload();
      }
      const plan = planned();
      const packed = packMapSyncPlan(plan, this.map.keySize, this.map.valueBytes);
      // Deletes first so a full map has room for the new entries.
      let deleted: BatchResult = { count: 0, usedBatch: false };
      try {
        if (plan.deletes.length > 0) deleted = await this.map.deleteBatch(packed.deleteKeys);
        // Plan keys are unique (they come from a Map), so the update may be split across pool threads.
        if (plan.upserts.length > 0) {
          await this.map.updateBatch(packed.upsertKeys, packed.upsertValues, 'any', { parallel: this.parallel });
        }
      } catch (e: unknown) {
        // Part of the plan may have landed: trust the kernel, not our view, next time.
        this.stale = true;
        throw e;
      }
      for (const id of plan.deletes) this.current.delete(id);
      for (const [id, value] of plan.upserts) this.current.set(id, value);
      return {
        upserted: plan.upserts.length,
        deleted: deleted.count,
        unchanged: plan.unchanged,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      };
    } finally {
      this.busy = false;
    }
  }

  close(): void {
    this.map.close();
  }
}
