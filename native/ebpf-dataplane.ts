// Mirroring desired entries into a pinned BPF map: the piece the agent's `--dataplane ebpf` uses to keep arp_table
// (and later maps) equal to what the goal-state pipeline wants.
//
// Split in two:
//  - pure planning (planMapSync, packMapSyncPlan, desiredArpEntries): no I/O, deterministic, unit-testable;
//  - MapMirror, a thin I/O class that reads the map once when it opens (an agent restart does NOT clear pinned maps:
//    it reconciles against what the map really holds), then applies each plan with one batched delete and one
//    batched update and keeps its view of the map in step.
//
// Keys and values are raw bytes; a key's identity is its bytes read as a latin1 string (a bijection, and fast).
import { BpfMap, type BatchResult, type MapSpec } from './index';
import { writeArpKey, writeArpValue, type ArpEntry, ARP_TABLE_SPEC } from './arp-responder';

/** Map from key identity (keyId(bytes)) to value bytes. */
export type EntryMap = ReadonlyMap<string, Uint8Array>;

export function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export function keyBytes(id: string): Buffer {
  return Buffer.from(id, 'latin1');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  // Values are a few bytes: a plain loop beats creating Buffer views to call equals().
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface MapSyncPlan {
  /** Keys (ids) to write with their desired values: absent from the map, or holding another value. */
  readonly upserts: ReadonlyArray<readonly [string, Uint8Array]>;
  /** Keys (ids) in the map that nothing wants any more. */
  readonly deletes: readonly string[];
  readonly unchanged: number;
}

/** What must change so that `current` becomes `desired`. Deterministic: follows the iteration order of the inputs. */
export function planMapSync(desired: EntryMap, current: EntryMap): MapSyncPlan {
  const upserts: Array<readonly [string, Uint8Array]> = [];
  const deletes: string[] = [];
  let unchanged = 0;
  for (const [id, value] of desired) {
    const have = current.get(id);
    if (have !== undefined && sameBytes(have, value)) unchanged++;
    else upserts.push([id, value]);
  }
  for (const id of current.keys()) {
    if (!desired.has(id)) deletes.push(id);
  }
  return { upserts, deletes, unchanged };
}

export interface PackedPlan {
  readonly deleteKeys: Buffer;
  readonly upsertKeys: Buffer;
  readonly upsertValues: Buffer;
}

/** The plan as the packed buffers batch calls take. Throws EBADKEYSIZE/EBADVALUESIZE on a wrongly sized entry. */
export function packMapSyncPlan(plan: MapSyncPlan, keySize: number, valueSize: number): PackedPlan {
  const deleteKeys = Buffer.alloc(plan.deletes.length * keySize);
  plan.deletes.forEach((id, i) => {
    if (deleteKeys.write(id, i * keySize, 'latin1') !== keySize || id.length !== keySize) {
      throw Object.assign(new Error(`key of ${id.length} bytes in a map with key_size ${keySize}`), {
        code: 'EBADKEYSIZE',
      });
    }
  });
  const upsertKeys = Buffer.alloc(plan.upserts.length * keySize);
  const upsertValues = Buffer.alloc(plan.upserts.length * valueSize);
  plan.upserts.forEach(([id, value], i) => {
    if (id.length !== keySize) {
      throw Object.assign(new Error(`key of ${id.length} bytes in a map with key_size ${keySize}`), {
        code: 'EBADKEYSIZE',
      });
    }
    if (value.length !== valueSize) {
      throw Object.assign(new Error(`value of ${value.length} bytes in a map with value size ${valueSize}`), {
        code: 'EBADVALUESIZE',
      });
    }
    upsertKeys.write(id, i * keySize, 'latin1');
    upsertValues.set(value, i * valueSize);
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
): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++) {
    out.set(
      keys.toString('latin1', i * keySize, (i + 1) * keySize),
      values.subarray(i * valueSize, (i + 1) * valueSize),
    );
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
  readonly entries: Map<string, Uint8Array>;
  readonly conflicts: ArpConflict[];
} {
  const out = new Map<string, Uint8Array>();
  const conflicts = new Map<string, { scope: number; ip: string; macs: string[] }>();
  const key = Buffer.alloc(8);
  // Values are carved out of shared slabs: one allocation per 4096 entries instead of one each.
  let slab = Buffer.alloc(0);
  let slabOffset = 0;
  for (const e of entries) {
    writeArpKey(key, 0, e.scope, e.ip);
    if (slabOffset === slab.length) {
      slab = Buffer.alloc(8 * 4096);
      slabOffset = 0;
    }
    const value = slab.subarray(slabOffset, slabOffset + 8);
    writeArpValue(value, 0, e.mac);
    const id = key.toString('latin1');
    const have = out.get(id);
    if (have === undefined) {
      out.set(id, value);
      slabOffset += 8;
    } else if (!sameBytes(have, value)) {
      const c = conflicts.get(id) ?? { scope: e.scope, ip: e.ip, macs: [macText(have)] };
      c.macs.push(macText(value));
      conflicts.set(id, c);
    }
  }
  return { entries: out, conflicts: [...conflicts.values()] };
}

function macText(v: Uint8Array): string {
  return Array.from(v.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
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
  private current: Map<string, Uint8Array>;
  private busy = false;
  private stale = false;

  private constructor(
    readonly map: BpfMap,
    readonly created: boolean,
    current: Map<string, Uint8Array>,
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

  private static async read(map: BpfMap): Promise<Map<string, Uint8Array>> {
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

  /** Makes the map hold exactly `desired`: one batched delete, then one batched update. */
  async sync(desired: EntryMap): Promise<MapSyncResult> {
    if (this.busy) throw Object.assign(new Error('MapMirror.sync is already running'), { code: 'EBUSY' });
    this.busy = true;
    const started = process.hrtime.bigint();
    try {
      if (this.stale) await this.reload();
      const plan = planMapSync(desired, this.current);
      const packed = packMapSyncPlan(plan, this.map.keySize, this.map.valueBytes);
      // Deletes first so a full map has room for the new entries.
      let deleted: BatchResult = { count: 0, usedBatch: false };
      try {
        if (plan.deletes.length > 0) deleted = await this.map.deleteBatch(packed.deleteKeys);
        if (plan.upserts.length > 0) await this.map.updateBatch(packed.upsertKeys, packed.upsertValues);
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
