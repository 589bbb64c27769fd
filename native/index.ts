// Typed face of the N-API addon (native/addon.cc -> build/Release/alcor_native.node): BPF maps, XDP programs,
// AF_PACKET sockets and a few hot-path helpers.
//
// The addon is loaded lazily on first use, so importing this module (or a module that imports it for types) works
// on machines where the addon was not built; the first call then throws a NativeNotBuiltError that says how to build.
//
// Errors thrown (or rejected) by the addon are plain Errors with a string `code`: the errno name for failing syscalls
// (message like `bpf(BPF_MAP_UPDATE_ELEM) failed: E2BIG (Argument list too long)`, plus a numeric `errno`), or an
// Alcor code for rejected input: EBADKEYSIZE, EBADVALUESIZE, EBADMAPFD, EBADNAME, EBADELF, EMISSINGMAP, EBADFRAME,
// ERR_INVALID_ARG.
//
// Threads: single-entry map calls are synchronous (a syscall costs ~1.4 µs here; a thread-pool round-trip costs tens
// of µs). Batch updates/deletes, dumps, ELF loading and XDP attach/detach run on the libuv pool and return Promises.
// Async batch calls read the given Buffers in place: do not modify them until the Promise settles.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The ABI this wrapper was written against (addon.cc's `abiVersion`). */
const EXPECTED_ABI = 3;

export interface NativeError extends Error {
  readonly code: string;
  readonly errno?: number;
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

export class NativeNotBuiltError extends Error {
  readonly code = 'ENATIVE_NOT_BUILT';
  constructor(message: string) {
    super(message);
    this.name = 'NativeNotBuiltError';
  }
}

export interface RawMapInfo {
  readonly type: number;
  readonly id: number;
  readonly keySize: number;
  readonly valueSize: number;
  /** Bytes per value in user space: valueSize, or round_up(valueSize, 8) * possible CPUs for per-CPU maps. */
  readonly valueBytes: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly name: string;
  readonly perCpu: boolean;
}

export interface BatchResult {
  /** Entries written (update) or actually deleted (delete: absent keys are skipped, not counted). */
  readonly count: number;
  /** False when the kernel had no batch support for this map type and the addon looped per entry. */
  readonly usedBatch: boolean;
}

export interface MapDump {
  readonly count: number;
  /** count * keySize bytes, packed. */
  readonly keys: Buffer;
  /** count * valueBytes bytes, packed. */
  readonly values: Buffer;
}

export type XdpMode = 'auto' | 'native' | 'generic';
export type XdpAttachedMode = 'none' | 'native' | 'generic' | 'offload' | 'multi' | 'unknown';

export interface XdpProgram {
  readonly fd: number;
  readonly id: number;
  readonly section: string;
  readonly name: string;
  readonly insnCount: number;
  readonly mapsUsed: readonly string[];
}

export interface XdpAttachResult {
  /** The mode actually used; 'auto' tries native first, then generic. */
  readonly mode: 'native' | 'generic';
  readonly ifindex: number;
  /** Why native mode was refused, when 'auto' fell back to generic. */
  readonly nativeError?: string;
}

export interface NetnsOption {
  /**
   * Network namespace to act in: a name from `ip netns add` (/var/run/netns/NAME) or a path such as /proc/PID/ns/net.
   * The addon enters it on a short-lived thread of its own, so no long-lived thread ever changes namespace.
   */
  readonly netns?: string;
}

export type PacketCallback = (err: NativeError | null, frames: Buffer[]) => void;

/** The raw binding. Prefer the wrappers below; this is exported for benchmarks and tests. */
export interface NativeBinding {
  readonly abiVersion: number;
  mapFile(path: string): ArrayBuffer;
  inetChecksum(buf: Uint8Array): number;
  noop(): void;
  possibleCpus(): number;
  mapCreate(opts: {
    type: number;
    keySize: number;
    valueSize: number;
    maxEntries: number;
    flags?: number;
    name?: string;
  }): number;
  mapInfo(fd: number): RawMapInfo;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  mapOpenPinned(path: string): number;
  mapLookup(fd: number, key: Uint8Array): Buffer | null;
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags?: number): void;
  mapDelete(fd: number, key: Uint8Array): boolean;
  mapNextKey(fd: number, key: Uint8Array | null): Buffer | null;
  mapUpdateBatch(fd: number, keys: Uint8Array, values: Uint8Array, flags?: number): Promise<BatchResult>;
  mapUpdateBatchSync(fd: number, keys: Uint8Array, values: Uint8Array, flags?: number): BatchResult;
  mapDeleteBatch(fd: number, keys: Uint8Array): Promise<BatchResult>;
  mapDeleteBatchSync(fd: number, keys: Uint8Array): BatchResult;
  mapDump(fd: number): Promise<MapDump>;
  mapDumpSync(fd: number): MapDump;
  closeFd(fd: number): void;
  loadXdpProgram(opts: {
    path: string;
    section?: string;
    name?: string;
    maps?: Record<string, number>;
  }): Promise<XdpProgram>;
  elfMapNames(path: string, section?: string): string[];
  xdpAttach(opts: { ifname: string; progFd: number; mode?: XdpMode; netns?: string }): Promise<XdpAttachResult>;
  xdpDetach(opts: { ifname: string; netns?: string }): Promise<{ detached: XdpAttachedMode; ifindex: number }>;
  xdpQuery(opts: {
    ifname: string;
    netns?: string;
  }): Promise<{ mode: XdpAttachedMode; progId: number; ifindex: number }>;
  packetOpen(opts: { ifname: string; netns?: string; protocol?: number }): { fd: number; ifindex: number };
  packetSend(fd: number, frame: Uint8Array): void;
  packetRecv(fd: number, includeOutgoing?: boolean): Buffer | null;
  packetPoll(fd: number, cb: PacketCallback, includeOutgoing?: boolean, ref?: boolean): void;
  packetPollStop(fd: number): void;
  packetClose(fd: number): void;
}

const ADDON_RELATIVE = path.join('build', 'Release', 'alcor_native.node');

/** The package root: the nearest ancestor of this file holding package.json (native/ from tsx, dist/native/ built). */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return path.resolve(__dirname, '..');
}

let binding: NativeBinding | null = null;

/** The loaded addon; throws NativeNotBuiltError with build instructions when it is missing or stale. */
export function native(): NativeBinding {
  if (binding !== null) return binding;
  const file = process.env.ALCOR_NATIVE_PATH ?? path.join(packageRoot(), ADDON_RELATIVE);
  if (!fs.existsSync(file)) {
    throw new NativeNotBuiltError(
      `native addon not built: ${file} is missing (run \`npm install\`, or \`npx node-gyp rebuild --nodedir=/usr\`)`,
    );
  }
  let loaded: NativeBinding;
  try {
    // A .node addon can only be loaded through require (its path is only known at run time).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as NativeBinding;
  } catch (e: unknown) {
    const why = e instanceof Error ? e.message : String(e);
    throw new NativeNotBuiltError(`native addon ${file} failed to load: ${why} (rebuild it: npx node-gyp rebuild)`);
  }
  if (loaded.abiVersion !== EXPECTED_ABI) {
    throw new NativeNotBuiltError(
      `native addon ${file} has ABI ${loaded.abiVersion}, this code needs ${EXPECTED_ABI} (stale build: npx node-gyp rebuild)`,
    );
  }
  binding = loaded;
  return loaded;
}

// ---------------------------------------------------------------------------------------------------------------
// BPF maps

export type MapType = 'hash' | 'array' | 'lpm_trie' | 'percpu_array' | 'percpu_hash' | 'lru_hash';

/** BPF_MAP_TYPE_* numbers from linux/bpf.h. */
export const MAP_TYPE_IDS: Readonly<Record<MapType, number>> = {
  hash: 1,
  array: 2,
  percpu_hash: 5,
  percpu_array: 6,
  lru_hash: 9,
  lpm_trie: 11,
};

export function mapTypeName(id: number): MapType | `type ${number}` {
  const found = (Object.keys(MAP_TYPE_IDS) as MapType[]).find((t) => MAP_TYPE_IDS[t] === id);
  return found ?? `type ${id}`;
}

/** How an update treats an existing key: BPF_ANY (0), BPF_NOEXIST (1), BPF_EXIST (2). */
export type UpdateMode = 'any' | 'noexist' | 'exist';

const UPDATE_FLAGS: Readonly<Record<UpdateMode, number>> = { any: 0, noexist: 1, exist: 2 };

/** Below this many entries per slice a parallel batch is not worth the extra pool round-trips. */
const MIN_PARALLEL_SLICE = 16_384;

export interface MapSpec {
  readonly type: MapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** Up to 15 chars of [A-Za-z0-9_.]; shows in `bpftool map`. */
  readonly name?: string;
  /** BPF_F_* map flags (lpm_trie gets BPF_F_NO_PREALLOC automatically). */
  readonly flags?: number;
}

function specMismatch(spec: MapSpec, info: RawMapInfo): string | null {
  const diffs: string[] = [];
  if (MAP_TYPE_IDS[spec.type] !== info.type) diffs.push(`type ${mapTypeName(info.type)} != ${spec.type}`);
  if (spec.keySize !== info.keySize) diffs.push(`key_size ${info.keySize} != ${spec.keySize}`);
  if (spec.valueSize !== info.valueSize) diffs.push(`value_size ${info.valueSize} != ${spec.valueSize}`);
  if (spec.maxEntries !== info.maxEntries) diffs.push(`max_entries ${info.maxEntries} != ${spec.maxEntries}`);
  return diffs.length === 0 ? null : diffs.join(', ');
}

function codedError(code: string, message: string): NativeError {
  return Object.assign(new Error(message), { code });
}

/** An open BPF map (owns its fd until close()). */
export class BpfMap {
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly info: RawMapInfo,
  ) {}

  static create(spec: MapSpec): BpfMap {
    const n = native();
    const fd = n.mapCreate({
      type: MAP_TYPE_IDS[spec.type],
      keySize: spec.keySize,
      valueSize: spec.valueSize,
      maxEntries: spec.maxEntries,
      flags: spec.flags ?? 0,
      name: spec.name ?? '',
    });
    return new BpfMap(fd, n.mapInfo(fd));
  }

  /** Opens a map pinned in bpffs (BPF_OBJ_GET). Throws ENOENT (with the path) when nothing is pinned there. */
  static openPinned(pinPath: string): BpfMap {
    const n = native();
    const fd = n.mapOpenPinned(pinPath);
    return new BpfMap(fd, n.mapInfo(fd));
  }

  /**
   * The map pinned at pinPath, or a new one created from spec and pinned there (parent dirs are created). An existing
   * pin with a different shape is an error (EMAPSHAPE), never silently replaced: the caller decides to unpin it.
   */
  static openOrCreatePinned(pinPath: string, spec: MapSpec): { readonly map: BpfMap; readonly created: boolean } {
    if (fs.existsSync(pinPath)) {
      const map = BpfMap.openPinned(pinPath);
      const mismatch = specMismatch(spec, map.info);
      if (mismatch !== null) {
        map.close();
        throw codedError(
          'EMAPSHAPE',
          `pinned map ${pinPath} does not match the expected shape: ${mismatch} (unpin it to recreate)`,
        );
      }
      return { map, created: false };
    }
    fs.mkdirSync(path.dirname(pinPath), { recursive: true });
    const map = BpfMap.create(spec);
    try {
      map.pin(pinPath);
    } catch (e: unknown) {
      map.close();
      throw e;
    }
    return { map, created: true };
  }

  get keySize(): number {
    return this.info.keySize;
  }

  /** Bytes of one value as user space sees it (per-CPU maps: one slot per possible CPU). */
  get valueBytes(): number {
    return this.info.valueBytes;
  }

  pin(pinPath: string): void {
    native().objPin(this.fd, pinPath);
  }

  lookup(key: Uint8Array): Buffer | null {
    return native().mapLookup(this.fd, key);
  }

  update(key: Uint8Array, value: Uint8Array, mode: UpdateMode = 'any'): void {
    native().mapUpdate(this.fd, key, value, UPDATE_FLAGS[mode]);
  }

  /** False when the key was not there. */
  delete(key: Uint8Array): boolean {
    return native().mapDelete(this.fd, key);
  }

  /** The key after `key` (or the first key for null); null at the end. */
  nextKey(key: Uint8Array | null): Buffer | null {
    return native().mapNextKey(this.fd, key);
  }

  *keys(): IterableIterator<Buffer> {
    let key = this.nextKey(null);
    while (key !== null) {
      yield key;
      key = this.nextKey(key);
    }
  }

  /**
   * Packed keys (n * keySize) and values (n * valueBytes). 'noexist'/'exist' loop per entry (the kernel's batch
   * update only does 'any').
   *
   * `parallel` > 1 splits the batch into that many slices written concurrently from the libuv pool (hash maps lock
   * per bucket, so this scales with cores). Only for UNIQUE keys: with a key repeated across slices, which value
   * wins is undefined. If a slice fails, the others may still have landed; the first error rejects.
   */
  async updateBatch(
    keys: Uint8Array,
    values: Uint8Array,
    mode: UpdateMode = 'any',
    opts: { readonly parallel?: number } = {},
  ): Promise<BatchResult> {
    const n = native();
    const count = this.info.keySize > 0 ? Math.floor(keys.length / this.info.keySize) : 0;
    const slices = Math.min(Math.max(1, Math.floor(opts.parallel ?? 1)), Math.floor(count / MIN_PARALLEL_SLICE) || 1);
    if (slices <= 1 || keys.length !== count * this.info.keySize || values.length !== count * this.info.valueBytes) {
      return n.mapUpdateBatch(this.fd, keys, values, UPDATE_FLAGS[mode]);
    }
    const per = Math.ceil(count / slices);
    const parts: Array<Promise<BatchResult>> = [];
    for (let start = 0; start < count; start += per) {
      const end = Math.min(count, start + per);
      parts.push(
        n.mapUpdateBatch(
          this.fd,
          keys.subarray(start * this.info.keySize, end * this.info.keySize),
          values.subarray(start * this.info.valueBytes, end * this.info.valueBytes),
          UPDATE_FLAGS[mode],
        ),
      );
    }
    const results = await Promise.all(parts);
    return {
      count: results.reduce((sum, r) => sum + r.count, 0),
      usedBatch: results.every((r) => r.usedBatch),
    };
  }

  updateBatchSync(keys: Uint8Array, values: Uint8Array, mode: UpdateMode = 'any'): BatchResult {
    return native().mapUpdateBatchSync(this.fd, keys, values, UPDATE_FLAGS[mode]);
  }

  /** Packed keys; absent keys are skipped. */
  deleteBatch(keys: Uint8Array): Promise<BatchResult> {
    return native().mapDeleteBatch(this.fd, keys);
  }

  deleteBatchSync(keys: Uint8Array): BatchResult {
    return native().mapDeleteBatchSync(this.fd, keys);
  }

  /** Every entry (BPF_MAP_LOOKUP_BATCH, or a get-next-key walk where the map type lacks it). */
  dump(): Promise<MapDump> {
    return native().mapDump(this.fd);
  }

  dumpSync(): MapDump {
    return native().mapDumpSync(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().closeFd(this.fd);
  }
}

/** Splits a per-CPU value (as returned by lookup on a per-CPU map) into one Buffer per possible CPU. */
export function perCpuSlots(value: Buffer, valueSize: number): Buffer[] {
  const stride = Math.ceil(valueSize / 8) * 8;
  const out: Buffer[] = [];
  for (let off = 0; off + stride <= value.length; off += stride) out.push(value.subarray(off, off + valueSize));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// XDP

export interface LoadXdpOptions {
  /** Compiled BPF object (clang -target bpf), e.g. build/bpf/arp_responder.o. */
  readonly path: string;
  /** Program section; default the first executable section named xdp*. */
  readonly section?: string;
  readonly name?: string;
  /** Every map the program references, by its symbol name in the C source. */
  readonly maps: Readonly<Record<string, BpfMap | number>>;
}

/** Loads (BPF_PROG_LOAD) an XDP program; a verifier refusal rejects with the tail of the verifier log. */
export function loadXdpProgram(opts: LoadXdpOptions): Promise<XdpProgram> {
  const maps: Record<string, number> = {};
  for (const [name, m] of Object.entries(opts.maps)) maps[name] = typeof m === 'number' ? m : m.fd;
  return native().loadXdpProgram({ path: opts.path, section: opts.section, name: opts.name, maps });
}

export interface XdpAttachOptions extends NetnsOption {
  /** Interface name, or its ifindex as a decimal string, as seen inside `netns`. */
  readonly ifname: string;
  readonly progFd: number;
  /**
   * 'auto' (default) tries native (driver) mode, then generic (SKB) mode; the result says which was used.
   * Note for veth: in native mode XDP_TX frames reach the peer only while the peer has an XDP program of its own
   * (see native/bpf/xdp_pass.c); generic mode has no such requirement.
   */
  readonly mode?: XdpMode;
}

/** Attaches (or replaces, in the same mode) the XDP program of an interface over rtnetlink. */
export function xdpAttach(opts: XdpAttachOptions): Promise<XdpAttachResult> {
  return native().xdpAttach({ ifname: opts.ifname, progFd: opts.progFd, mode: opts.mode ?? 'auto', netns: opts.netns });
}

/** Detaches whatever XDP program the interface has, in the mode it was attached; resolves which mode that was. */
export function xdpDetach(
  opts: { readonly ifname: string } & NetnsOption,
): Promise<{ detached: XdpAttachedMode; ifindex: number }> {
  return native().xdpDetach({ ifname: opts.ifname, netns: opts.netns });
}

export function xdpQuery(
  opts: { readonly ifname: string } & NetnsOption,
): Promise<{ mode: XdpAttachedMode; progId: number; ifindex: number }> {
  return native().xdpQuery({ ifname: opts.ifname, netns: opts.netns });
}

/** Closes any fd the addon handed out (program fds; maps and sockets have their own close()). */
export function closeFd(fd: number): void {
  native().closeFd(fd);
}

// ---------------------------------------------------------------------------------------------------------------
// AF_PACKET

export const ETH_P_ALL = 0x0003;
export const ETH_P_ARP = 0x0806;

export interface PacketOpenOptions extends NetnsOption {
  readonly ifname: string;
  /** Ethertype to receive (host order); default ETH_P_ALL. */
  readonly protocol?: number;
}

/** A raw AF_PACKET socket bound to one interface. Receiving uses libuv readiness, never blocking the JS thread. */
export class PacketSocket {
  private polling = false;
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly ifindex: number,
  ) {}

  static open(opts: PacketOpenOptions): PacketSocket {
    const s = native().packetOpen({ ifname: opts.ifname, netns: opts.netns, protocol: opts.protocol ?? ETH_P_ALL });
    return new PacketSocket(s.fd, s.ifindex);
  }

  /** Sends one whole Ethernet frame (the caller builds the header). */
  send(frame: Uint8Array): void {
    native().packetSend(this.fd, frame);
  }

  /** One waiting frame, or null. Frames this host sent out of the interface are skipped unless includeOutgoing. */
  recv(includeOutgoing = false): Buffer | null {
    return native().packetRecv(this.fd, includeOutgoing);
  }

  /** Calls cb with batches of frames as they arrive. `ref: false` lets the process exit while listening. */
  listen(cb: PacketCallback, opts: { readonly includeOutgoing?: boolean; readonly ref?: boolean } = {}): void {
    if (this.polling) throw codedError('EBUSY', `packet socket fd ${this.fd} is already listening`);
    native().packetPoll(this.fd, cb, opts.includeOutgoing ?? false, opts.ref ?? true);
    this.polling = true;
  }

  stopListening(): void {
    if (!this.polling) return;
    this.polling = false;
    native().packetPollStop(this.fd);
  }

  /** Resolves with the first incoming frame that satisfies `match`, or null after timeoutMs. */
  receive(timeoutMs: number, match: (frame: Buffer) => boolean = () => true): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stopListening();
        resolve(null);
      }, timeoutMs);
      this.listen((err, frames) => {
        if (err !== null) {
          clearTimeout(timer);
          this.stopListening();
          reject(err);
          return;
        }
        const hit = frames.find(match);
        if (hit !== undefined) {
          clearTimeout(timer);
          this.stopListening();
          resolve(hit);
        }
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.polling = false;
    native().packetClose(this.fd);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

/** RFC 1071 Internet checksum of a buffer. */
export function inetChecksum(buf: Uint8Array): number {
  return native().inetChecksum(buf);
}

export function possibleCpus(): number {
  return native().possibleCpus();
}

/**
 * The file's bytes, mapped copy-on-write instead of read (unmapped when the buffer is collected):
 * no copy and no fresh memory to touch, for the large files a restart reads (the goal-state log).
 */
export function mapFile(file: string): Buffer {
  const ab = native().mapFile(file);
  return Buffer.from(ab, 0, ab.byteLength);
}
