// The neighbor lane: the held state of the neighbors that make up almost every large goal state,
// kept in columns (typed arrays) instead of objects, and planned straight from wire bytes.
//
// Why: a host holds up to millions of neighbors, and each one as objects (the model Neighbor, its
// fixed IP, an id string, map entries in the store, a flow record and its index entries) costs
// about half a kilobyte and several allocations, which is what made a 1M-neighbor goal state take
// seconds and gigabytes. Here a neighbor is one row of about 100 bytes with its id in an arena,
// found by three open-addressing hash tables (id, (VNI, MAC), (VNI, IP)), and no object is made per
// neighbor on the way in or out.
//
// What the lane holds: a neighbor whose flows are exactly a record's (neighbor-flows.ts: one fixed
// IP, L2, or L3 while ARP answer flows are on; a remote host, a known VNI, a tunnel port), read by
// the fast path with an ASCII id, and whose two keys nobody else wants (an L3 row's resolve flow
// shares the ARP key: neighbor-flows.ts FlowFamily). Anything else is the ordinary path's (store + FlowTable), and
// a lane neighbor moves there (`eject`) when it stops qualifying. The partition decides which path
// an entry takes (partition.ts); this module keeps the rows, the indexes and the undo log.
//
// Transactions: a change never overwrites a row. An upsert writes a new row and points the indexes
// at it; a delete unlinks the row. Each transaction logs (old row, new row) pairs: abort walks them
// back, commit frees the old rows. So undo costs nothing on the way in and rows stay valid for
// naming a flow-mod's owner until the bundle is settled.

import type { Neighbor } from '../model';
import type { NeighborRecord } from './neighbor-flows';
import { RowTable } from './row-table';
import { asciiIdHash } from './wire';

/** Key families (neighbor-flows.ts): 0 = L2 (VNI, MAC), 1 = ARP (VNI, IP). */
type Family = 0 | 1;

function mix(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}

const TWO32 = 4294967296;

/** What a row holds besides its id (the fields of a one-fixed-IP Neighbor, plus the resolved VNI). */
/** One fixed IP of a held neighbor: its subnet, its own tunnel id (0: the subnet's), the IP and the MAC. */
export type NeighborAddressVisitor = (subnetId: string, tunnelId: number, ip: number, mac: number) => void;

/** The fixed IPs of neighbors held as objects (the store's), as NeighborLane.forEachAddress gives its rows'. */
export function visitNeighborAddresses(neighbors: Iterable<Neighbor>, visit: NeighborAddressVisitor): void {
  for (const n of neighbors) for (const f of n.fixedIps) visit(f.subnetId, f.tunnelId, f.ip, n.mac);
}

export interface LaneRow {
  revision: number;
  requestId: string;
  vpcId: string;
  /** undefined: the same as the id. */
  name: string | undefined;
  mac: number;
  /** -1: none. */
  hostMac: number;
  hostIp: number;
  subnetId: string;
  ip: number;
  /** As given (0 = the subnet's). */
  tunnelId: number;
  /** The VNI the flows use. */
  vni: number;
  /** The fixed IP is L3: a third flow (neighbor-flows.ts L3_FLOW). */
  l3: boolean;
}

export class NeighborLane {
  #cap = 0;
  #hash = new Uint32Array(0);
  #idStart = new Uint32Array(0);
  #idLen = new Uint16Array(0);
  #revision = new Float64Array(0);
  #mac = new Float64Array(0);
  #hostMac = new Float64Array(0);
  #hostIp = new Uint32Array(0);
  #ip = new Uint32Array(0);
  #tunnelId = new Uint32Array(0);
  #vni = new Uint32Array(0);
  /** 1: an L3 fixed IP. */
  #l3 = new Uint8Array(0);
  /** The transaction that wrote the row. */
  #txn = new Uint32Array(0);
  /** 0 free, 1 current (indexed), 2 replaced or deleted by an open transaction. */
  #state = new Uint8Array(0);
  /** Request, VPC and subnet ids and names, as refs into `#strings` (names: NAME_IS_ID when the id). */
  #requestId = new Uint32Array(0);
  #vpcId = new Uint32Array(0);
  #subnetId = new Uint32Array(0);
  #name = new Uint32Array(0);
  readonly #strings = new StringTable();
  #free: number[] = [];
  #highWater = 0;
  #live = 0;
  /** Current rows with an L3 fixed IP (each has a third flow). */
  #liveL3 = 0;

  #arena = new Uint8Array(1 << 16);
  #arenaPos = 0;
  #arenaGarbage = 0;

  /** Id hash -> current row. */
  readonly #ids = new RowTable();
  /** (VNI, MAC) and (VNI, IP) key hash -> current row. */
  readonly #keys: readonly [RowTable, RowTable] = [new RowTable(), new RowTable()];

  /** Open transactions' (old row, new row) pairs; -1 = none. */
  readonly #logs = new Map<number, IntList>();

  /** Neighbors held. */
  get size(): number {
    return this.#live;
  }

  /** Neighbors held with an L3 fixed IP. */
  get l3Size(): number {
    return this.#liveL3;
  }

  // ------------------------------------------------------------------------------------ reads

  /** The current row of the id in buf[start, end) (hash: wire.ts asciiIdHash), or -1. */
  find(buf: Uint8Array, start: number, end: number, hash: number): number {
    const t = this.#ids;
    const len = end - start;
    const arena = this.#arena;
    for (let row = t.first(hash); row >= 0; row = t.next()) {
      if (this.#idLen[row] !== len) continue;
      const at = this.#idStart[row];
      let k = 0;
      while (k < len && arena[at + k] === buf[start + k]) k++;
      if (k === len) return row;
    }
    return -1;
  }

  /** The current row of an id string, or -1. */
  findId(id: string): number {
    const bytes = Buffer.from(id, 'utf8');
    const hash = asciiIdHash(bytes, 0, bytes.length);
    return hash < 0 ? -1 : this.find(bytes, 0, bytes.length, hash);
  }

  /** The row holding a key, or -1. */
  holder(family: Family, vni: number, value: number): number {
    const t = this.#keys[family];
    const values = family === 0 ? this.#mac : this.#ip;
    for (let row = t.first(keyHash(vni, value)); row >= 0; row = t.next()) {
      if (this.#vni[row] === vni && values[row] === value) return row;
    }
    return -1;
  }

  idHash(row: number): number {
    return this.#hash[row];
  }
  revision(row: number): number {
    return this.#revision[row];
  }
  vni(row: number): number {
    return this.#vni[row];
  }
  isL3(row: number): boolean {
    return this.#l3[row] === 1;
  }
  mac(row: number): number {
    return this.#mac[row];
  }
  ip(row: number): number {
    return this.#ip[row];
  }
  hostIp(row: number): number {
    return this.#hostIp[row];
  }
  subnetId(row: number): string {
    return this.#strings.get(this.#subnetId[row]);
  }
  id(row: number): string {
    const at = this.#idStart[row];
    return String.fromCharCode.apply(null, this.#arena.subarray(at, at + this.#idLen[row]) as unknown as number[]);
  }

  /** Whether the row holds exactly these fields, revision and request id aside (store.ts sameContent). */
  sameContent(row: number, r: LaneRow): boolean {
    return (
      this.#mac[row] === r.mac &&
      this.#hostMac[row] === r.hostMac &&
      this.#hostIp[row] === r.hostIp &&
      this.#ip[row] === r.ip &&
      this.#tunnelId[row] === r.tunnelId &&
      this.#l3[row] === (r.l3 ? 1 : 0) &&
      this.#strings.is(this.#subnetId[row], r.subnetId) &&
      this.#strings.is(this.#vpcId[row], r.vpcId) &&
      (r.name === undefined ? this.#name[row] === NAME_IS_ID : this.#strings.is(this.#name[row], r.name))
    );
  }

  /** Whether the revision and request id are the same (if not, the held copy is refreshed, as store.ts does). */
  sameMeta(row: number, r: LaneRow): boolean {
    return this.#revision[row] === r.revision && this.#strings.is(this.#requestId[row], r.requestId);
  }

  /** The model Neighbor of a row. */
  neighbor(row: number): Neighbor {
    const id = this.id(row);
    const hostMac = this.#hostMac[row];
    return {
      kind: 'neighbor',
      id,
      revision: this.#revision[row],
      requestId: this.#strings.get(this.#requestId[row]),
      vpcId: this.#strings.get(this.#vpcId[row]),
      name: this.#name[row] === NAME_IS_ID ? id : this.#strings.get(this.#name[row]),
      mac: this.#mac[row],
      hostMac: hostMac < 0 ? undefined : hostMac,
      hostIp: this.#hostIp[row],
      fixedIps: [
        {
          type: this.#l3[row] === 1 ? 'l3' : 'l2',
          subnetId: this.#strings.get(this.#subnetId[row]),
          ip: this.#ip[row],
          tunnelId: this.#tunnelId[row],
        },
      ],
      allowedAddressPairs: [],
    };
  }

  /** The flow record of a row (its flows: neighbor-flows.ts recordFlows). */
  record(row: number, tunnelOfport: number): NeighborRecord {
    return {
      id: this.id(row),
      vni: this.#vni[row],
      mac: this.#mac[row],
      ip: this.#ip[row],
      hostIp: this.#hostIp[row],
      tunnelOfport,
      l3: this.#l3[row] === 1,
    };
  }

  /**
   * Each current row's subnet, own tunnel id, IP and MAC, without building its Neighbor: the XDP ARP table's
   * report walks every neighbor after each commit (arp-entries.ts), and an id string and an object per row
   * were most of that walk.
   */
  forEachAddress(visit: NeighborAddressVisitor): void {
    for (let row = 0; row < this.#highWater; row++) {
      if (this.#state[row] === 1)
        visit(this.#strings.get(this.#subnetId[row]), this.#tunnelId[row], this.#ip[row], this.#mac[row]);
    }
  }

  /** Current rows, in row order. */
  *rows(): IterableIterator<number> {
    for (let row = 0; row < this.#highWater; row++) if (this.#state[row] === 1) yield row;
  }

  // ------------------------------------------------------------------------------------ writes

  /** Makes room for `more` new neighbors at once (one growth instead of many doublings). */
  reserve(more: number): void {
    const want = this.#highWater + more - this.#free.length;
    if (want > this.#cap) this.#grow(Math.max(want, this.#cap * 2));
    this.#ids.resize(more);
    this.#keys[0].resize(more);
    this.#keys[1].resize(more);
  }

  /**
   * Makes `r` the neighbor's current row in transaction `txn`: `old` is its current row (-1: new
   * neighbor, whose id is buf[idStart, idEnd) with hash `hash`). Returns the new row. The caller has
   * checked that no other row holds the new keys.
   */
  put(txn: number, old: number, buf: Uint8Array, idStart: number, idEnd: number, hash: number, r: LaneRow): number {
    const row = this.#alloc();
    if (old >= 0) {
      this.#idStart[row] = this.#idStart[old];
      this.#idLen[row] = this.#idLen[old];
      this.#hash[row] = this.#hash[old];
      this.#unkey(old);
      this.#state[old] = 2;
      this.#replaceId(old, row);
      this.#liveL3 -= this.#l3[old];
    } else {
      this.#idStart[row] = this.#storeId(buf, idStart, idEnd);
      this.#idLen[row] = idEnd - idStart;
      this.#hash[row] = hash;
      this.#insertId(row);
      this.#live++;
    }
    this.#revision[row] = r.revision;
    const strings = this.#strings;
    this.#requestId[row] = strings.ref(r.requestId);
    this.#vpcId[row] = strings.ref(r.vpcId);
    this.#name[row] = r.name === undefined ? NAME_IS_ID : strings.ref(r.name);
    this.#mac[row] = r.mac;
    this.#hostMac[row] = r.hostMac;
    this.#hostIp[row] = r.hostIp;
    this.#subnetId[row] = strings.ref(r.subnetId);
    this.#ip[row] = r.ip;
    this.#tunnelId[row] = r.tunnelId;
    this.#vni[row] = r.vni;
    this.#l3[row] = r.l3 ? 1 : 0;
    this.#liveL3 += this.#l3[row];
    this.#txn[row] = txn;
    this.#state[row] = 1;
    this.#key(row);
    this.#log(txn).push2(old, row);
    return row;
  }

  /** Deletes the neighbor of current row `row` in transaction `txn`. */
  remove(txn: number, row: number): void {
    this.#unkey(row);
    this.#removeId(row);
    this.#state[row] = 2;
    this.#live--;
    this.#liveL3 -= this.#l3[row];
    this.#log(txn).push2(row, -1);
  }

  /** The transaction is final: rows it replaced or deleted are freed. */
  commit(txn: number): void {
    const entry = this.#logs.get(txn);
    if (entry === undefined) return;
    this.#logs.delete(txn);
    const log = entry.values;
    // A replaced row shares its id bytes with its successor; a deleted one was the last.
    for (let i = 0; i < entry.length; i += 2) if (log[i] >= 0) this.#release(log[i], log[i + 1] < 0);
  }

  /** Takes the transaction back (the newest open one first): every row as it was. */
  abort(txn: number): void {
    const entry = this.#logs.get(txn);
    if (entry === undefined) return;
    this.#logs.delete(txn);
    const log = entry.values;
    for (let i = entry.length - 2; i >= 0; i -= 2) {
      const old = log[i];
      const row = log[i + 1];
      if (row >= 0) {
        this.#unkey(row);
        this.#liveL3 -= this.#l3[row];
        if (old >= 0) this.#replaceId(row, old);
        else {
          this.#removeId(row);
          this.#live--;
        }
        this.#release(row, old < 0);
      }
      if (old >= 0) {
        if (row < 0) {
          this.#insertId(old);
          this.#live++;
        }
        this.#state[old] = 1;
        this.#liveL3 += this.#l3[old];
        this.#key(old);
      }
    }
  }

  /** The (old row, new row) pairs transaction `txn` logged (new row -1: a delete), if it wrote any. */
  written(txn: number): IntList | undefined {
    return this.#logs.get(txn);
  }

  /** Whether an open transaction wrote the row (it cannot leave the lane before that settles). */
  isOpen(row: number): boolean {
    return this.#logs.has(this.#txn[row]);
  }

  /**
   * Takes a current row out of the lane for good (the ordinary path takes the neighbor over as it
   * is; nothing about it changes). Only for rows no open transaction wrote.
   */
  eject(row: number): void {
    this.#unkey(row);
    this.#removeId(row);
    this.#live--;
    this.#liveL3 -= this.#l3[row];
    this.#release(row, true);
  }

  // ------------------------------------------------------------------------------------ internals

  #log(txn: number): IntList {
    let log = this.#logs.get(txn);
    if (log === undefined) {
      log = new IntList();
      this.#logs.set(txn, log);
    }
    return log;
  }

  #alloc(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    if (this.#highWater === this.#cap) this.#grow(Math.max(1024, this.#cap * 2));
    return this.#highWater++;
  }

  /** Frees a row that no index points at; `lastOfId`: no other row shares its id bytes (they become garbage). */
  #release(row: number, lastOfId: boolean): void {
    this.#state[row] = 0;
    const strings = this.#strings;
    strings.unref(this.#requestId[row]);
    strings.unref(this.#vpcId[row]);
    strings.unref(this.#subnetId[row]);
    if (this.#name[row] !== NAME_IS_ID) strings.unref(this.#name[row]);
    this.#free.push(row);
    if (lastOfId) this.#arenaGarbage += this.#idLen[row];
  }

  #grow(cap: number): void {
    const grow = <T extends Uint32Array | Uint16Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.#hash = grow(this.#hash, (n) => new Uint32Array(n));
    this.#idStart = grow(this.#idStart, (n) => new Uint32Array(n));
    this.#idLen = grow(this.#idLen, (n) => new Uint16Array(n));
    this.#revision = grow(this.#revision, (n) => new Float64Array(n));
    this.#mac = grow(this.#mac, (n) => new Float64Array(n));
    this.#hostMac = grow(this.#hostMac, (n) => new Float64Array(n));
    this.#hostIp = grow(this.#hostIp, (n) => new Uint32Array(n));
    this.#ip = grow(this.#ip, (n) => new Uint32Array(n));
    this.#tunnelId = grow(this.#tunnelId, (n) => new Uint32Array(n));
    this.#vni = grow(this.#vni, (n) => new Uint32Array(n));
    this.#l3 = grow(this.#l3, (n) => new Uint8Array(n));
    this.#txn = grow(this.#txn, (n) => new Uint32Array(n));
    this.#state = grow(this.#state, (n) => new Uint8Array(n));
    this.#requestId = grow(this.#requestId, (n) => new Uint32Array(n));
    this.#vpcId = grow(this.#vpcId, (n) => new Uint32Array(n));
    this.#subnetId = grow(this.#subnetId, (n) => new Uint32Array(n));
    this.#name = grow(this.#name, (n) => new Uint32Array(n));
    this.#cap = cap;
  }

  #storeId(buf: Uint8Array, start: number, end: number): number {
    const len = end - start;
    if (this.#arenaPos + len > this.#arena.length) this.#makeArenaRoom(len);
    const at = this.#arenaPos;
    const arena = this.#arena;
    for (let i = 0; i < len; i++) arena[at + i] = buf[start + i];
    this.#arenaPos += len;
    return at;
  }

  /** Compacts the arena when at least half of it is garbage, grows it otherwise. */
  #makeArenaRoom(len: number): void {
    if (this.#arenaGarbage * 2 < this.#arenaPos) {
      const next = new Uint8Array(Math.max(this.#arena.length * 2, this.#arenaPos + len));
      next.set(this.#arena.subarray(0, this.#arenaPos));
      this.#arena = next;
      return;
    }
    const liveBytes = this.#arenaPos - this.#arenaGarbage;
    const next = new Uint8Array(Math.max(this.#arena.length, (liveBytes + len) * 2));
    let pos = 0;
    // Rows of one neighbor share id bytes: copy each distinct start once.
    const moved = new Map<number, number>();
    for (let row = 0; row < this.#highWater; row++) {
      if (this.#state[row] === 0) continue;
      const from = this.#idStart[row];
      let to = moved.get(from);
      if (to === undefined) {
        to = pos;
        next.set(this.#arena.subarray(from, from + this.#idLen[row]), pos);
        pos += this.#idLen[row];
        moved.set(from, to);
      }
      this.#idStart[row] = to;
    }
    this.#arena = next;
    this.#arenaPos = pos;
    this.#arenaGarbage = 0;
  }

  #insertId(row: number): void {
    this.#ids.insert(this.#hash[row], row);
  }

  #removeId(row: number): void {
    this.#ids.remove(this.#hash[row], row);
  }

  #replaceId(from: number, to: number): void {
    this.#ids.replace(this.#hash[from], from, to);
  }

  #key(row: number): void {
    const vni = this.#vni[row];
    this.#keys[0].insert(keyHash(vni, this.#mac[row]), row);
    this.#keys[1].insert(keyHash(vni, this.#ip[row]), row);
  }

  /** Unlinks the row's keys (only where the row is the one indexed). */
  #unkey(row: number): void {
    const vni = this.#vni[row];
    this.#keys[0].remove(keyHash(vni, this.#mac[row]), row);
    this.#keys[1].remove(keyHash(vni, this.#ip[row]), row);
  }
}

/** A growable list of int32s (typed: a million undo entries are a million numbers). */
export class IntList {
  values = new Int32Array(64);
  length = 0;

  push(a: number): void {
    if (this.length === this.values.length) this.#grow();
    this.values[this.length++] = a;
  }

  push2(a: number, b: number): void {
    if (this.length + 2 > this.values.length) this.#grow();
    this.values[this.length] = a;
    this.values[this.length + 1] = b;
    this.length += 2;
  }

  at(i: number): number {
    return this.values[i];
  }

  #grow(): void {
    const grown = new Int32Array(this.values.length * 2);
    grown.set(this.values);
    this.values = grown;
  }
}

/** A row's name ref when the name is the id (the usual case: nothing stored). */
const NAME_IS_ID = 0xffff_ffff;

/**
 * Strings shared by many rows (a request id per message, a VPC and a subnet id per network),
 * counted, so that ids of resources that are gone do not pile up. The last string looked up is
 * remembered: rows come in runs with the same strings (the fast path hands out one string object
 * per run).
 */
class StringTable {
  readonly #values: string[] = [];
  readonly #refs: number[] = [];
  readonly #index = new Map<string, number>();
  readonly #free: number[] = [];
  #last = '';
  #lastRef = -1;

  get(ref: number): string {
    return this.#values[ref];
  }

  is(ref: number, s: string): boolean {
    return this.#values[ref] === s;
  }

  /** The string's ref, counted once more. */
  ref(s: string): number {
    let ref = s === this.#last && this.#lastRef >= 0 ? this.#lastRef : this.#index.get(s);
    if (ref === undefined) {
      ref = this.#free.pop() ?? this.#values.length;
      this.#values[ref] = s;
      this.#refs[ref] = 0;
      this.#index.set(s, ref);
    }
    this.#refs[ref]++;
    this.#last = s;
    this.#lastRef = ref;
    return ref;
  }

  unref(ref: number): void {
    if (--this.#refs[ref] > 0) return;
    this.#index.delete(this.#values[ref]);
    this.#values[ref] = '';
    this.#free.push(ref);
    if (ref === this.#lastRef) this.#lastRef = -1;
  }
}

function keyHash(vni: number, value: number): number {
  return mix(vni, value % TWO32, Math.floor(value / TWO32));
}
