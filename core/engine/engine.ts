// The agent's compute engine as the main thread sees it: goal-state bytes in, statuses and encoded
// flow-mod batches out, computed in a pool of worker threads (piscina), one per partition.
//
// Why partitions (see partition.ts): a million neighbors are too many for one thread to decode,
// compile and diff in the time we allow, and too much state for one heap to hold cheaply. Each
// neighbor belongs to one partition by id hash; everything else is small and every partition holds
// it. Piscina cannot pin a task to a thread, so each partition is its own single-thread pool.
//
// `workers: 0` runs one partition in the calling thread: the same code, no threads, for the
// library, the CLI and tests. Results are identical for any worker count: the statuses come back
// in op order (neighbors in message order), and the flow-mods are the same set.
//
// Streaming (prepare with `onDelta`, what the agent does): each partition's share is planned in
// chunks of neighbors, and each chunk's flow-mods are handed over as soon as they are encoded, so
// OVS parses the first BUNDLE_ADDs while the workers compute the rest. The caller commits the
// bundle only when prepare() resolved; a failure in any chunk takes every chunk back.
//
// The pieces: backend.ts reaches a partition (its thread, or inline), contests.ts settles keys two
// partitions claim, xids.ts maps an xid to its partition and chunk, merge.ts puts the answers together.

import path from 'node:path';
import type { Flow } from '../flow';
import type { StoreSnapshot } from '../goalstate';
import type { Dhcp, Ipv4, Subnet } from '../model';
import { Placement, partitionOfNeighbor } from './placement';
import { KeyFilter } from './key-filter';
import { ARP_ANSWERS, type ArpAnswers } from '../pipeline/view';
import { type ArpChange, type ArpTriple, sumArpChanges } from './arp-entries';
import type { HostFacts, PrepareResult, PrepareTimings } from './partition';
import type { WorkerReply, WorkerTask } from './protocol';
import { fullCollection } from './full-gc';
import { splitGoalState, type SplitChunk } from './split';
import type { GoalStateStatuses } from './statuses';
import { BufferPool } from './buffer-pool';
import { type Backend, EngineError, InlineBackend, ThreadBackend, expect } from './backend';
import { Contests } from './contests';
import { mergeStatuses, slowestTimings, sum } from './merge';
import { MAX_CHUNKS, chunkEnc, locateXid } from './xids';
import { warmUpGoalState } from './warm-up';
import { OperationType } from '../../proto';

export { EngineError, type EngineErrorCode } from './backend';
export { XID_BASE, XID_SPAN } from './xids';

export interface EngineOptions {
  /** Worker threads (= partitions). 0: one partition in the calling thread. */
  readonly workers: number;
  readonly localTunnelIp?: Ipv4;
  readonly tunnelOfport?: number;
  readonly snapshot?: StoreSnapshot;
  readonly ofports?: ReadonlyMap<string, number>;
  /**
   * `flows` (default): OVS answers ARP for known addresses. `none`: no ARP answer flow anywhere,
   * because another data plane answers (the agent's `--dataplane ebpf`); see pipeline/view.ts.
   */
  readonly arpAnswers?: ArpAnswers;
}

export const MAX_PARTITIONS = 16;
/**
 * Neighbors per chunk when streaming: small enough that OVS starts parsing the first flow-mods
 * early, large enough that per-chunk costs (a worker round trip, a plan) stay negligible.
 */
const CHUNK_NEIGHBORS = 8192;
/** Enough neighbors per round that every partition runs its loops long enough to be optimised. */
const WARM_UP_NEIGHBORS = 8192;
const WARM_UP_ROUNDS = 3;

/** A partition's open transactions for one goal state, per partition in chunk order. */
export type Txns = readonly (readonly number[])[];

/** The txn of a partition that sat a goal state out: nothing in it was its (split.ts `idle`). */
const NO_TXN = -1;
const IDLE_RESULT: PrepareResult = {
  txn: NO_TXN,
  statuses: [],
  neighbors: { codes: new Uint8Array(0), operations: new Uint8Array(0), listed: [], listedStatuses: [] },
  delta: { bytes: new Uint8Array(0), add: 0, modify: 0, delete: 0 },
  timings: { decodeMs: 0, planMs: 0, compileMs: 0, diffMs: 0, encodeMs: 0, laneMs: 0 },
  slowNeighbors: 0,
};

export interface PrepareOptions {
  /**
   * Receives each chunk's BUNDLE_ADD_MESSAGE(FLOW_MOD)s as soon as its partition has encoded them
   * (a partition's chunks in order; partitions interleaved), so the caller can stream them into an
   * open bundle while the rest is computed. With it, the goal state is planned in chunks of
   * neighbors and `Prepared.deltas` is empty. A consumer done with a delta's bytes (written out,
   * or copied) may call `release`: the partition then encodes a later chunk into the same memory
   * instead of fresh pages (buffer-pool.ts). After `release` the bytes must not be read.
   *
   * A delta with a new bundle id means the engine started the goal state over (it found neighbors
   * of different partitions contesting a flow key and moved them together: placement.ts): drop
   * every delta of the earlier bundle id. `Prepared.bundleId` is the last one.
   */
  readonly onDelta?: (delta: Uint8Array, bundleId: number, release: () => void) => void;
  /**
   * The goal state's flows are installed already (a restart replaying its log): plan and count them,
   * but write no bytes for the neighbor lane's flow-mods, which at a million neighbors are 400 MB.
   * The deltas then hold only the other flows' flow-mods: they are not meant for OVS.
   */
  readonly restoring?: boolean;
  /**
   * Backpressure from the consumer (with `onDelta`): at most this many deltas per partition handed
   * out and not yet released; the partition encodes its next chunk only after a release. For a
   * consumer that writes to a socket OVS reads slowly: memory stays at `window` chunks per partition
   * instead of every flow-mod of the goal state. The consumer must release every delta, also those
   * it drops; without `window` there is no limit.
   */
  readonly window?: number;
}

export interface Prepared {
  readonly bundleId: number;
  /** One status per op, in op order. */
  readonly statuses: GoalStateStatuses;
  /** The BUNDLE_ADD_MESSAGE(FLOW_MOD)s to send in one bundle (empty when they went to `onDelta`). */
  readonly deltas: readonly Uint8Array[];
  readonly add: number;
  readonly modify: number;
  readonly delete: number;
  /** Slowest partition per phase (summed over its chunks). */
  readonly timings: PrepareTimings;
  readonly slowNeighbors: number;
  /** The open transactions; give them back to commit() or abort(). */
  readonly txns: Txns;
}

/**
 * A window of deltas handed out and not released (PrepareOptions.window). take() resolves in call
 * order: each waiter is queued behind the ones before it, so chunks are still queued in order.
 */
class Credits {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(window: number) {
    this.#free = Math.max(1, window);
  }

  take(): Promise<void> {
    if (this.#free > 0 && this.#waiting.length === 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  give(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#free++;
  }
}

/** Splits a snapshot for the partitions: neighbors by id hash (placement.ts), everything else to all. */
function splitSnapshot(s: StoreSnapshot, parts: number): StoreSnapshot[] {
  return Array.from({ length: parts }, (_, p) => ({
    format: s.format,
    resources: {
      ...s.resources,
      neighbor:
        parts === 1 ? s.resources.neighbor : s.resources.neighbor.filter((n) => partitionOfNeighbor(n.id, parts) === p),
    },
  }));
}

export class Engine {
  readonly #parts: Backend[];
  readonly #placement: Placement;
  readonly #contests: Contests;
  #bundleId = 0;

  private constructor(parts: Backend[]) {
    this.#parts = parts;
    this.#placement = new Placement(parts.length);
    this.#contests = new Contests(parts, this.#placement);
  }

  get partitions(): number {
    return this.#parts.length;
  }

  static async create(opts: EngineOptions): Promise<Engine> {
    if (!Number.isInteger(opts.workers) || opts.workers < 0 || opts.workers > MAX_PARTITIONS) {
      throw new EngineError(
        'ENGINE_BAD_OPTIONS',
        `workers must be an integer from 0 to ${MAX_PARTITIONS}, got ${opts.workers}`,
      );
    }
    if (opts.arpAnswers !== undefined && !ARP_ANSWERS.includes(opts.arpAnswers)) {
      throw new EngineError(
        'ENGINE_BAD_OPTIONS',
        `arpAnswers must be one of ${ARP_ANSWERS.join(', ')}, got ${JSON.stringify(opts.arpAnswers)}`,
      );
    }
    const count = Math.max(1, opts.workers);
    const filename = path.join(__dirname, 'worker.js');
    const parts: Backend[] = Array.from({ length: count }, () =>
      opts.workers === 0 ? new InlineBackend() : new ThreadBackend(filename),
    );
    const engine = new Engine(parts);
    const snaps = opts.snapshot === undefined ? undefined : splitSnapshot(opts.snapshot, count);
    // One key filter per partition, readable by all (contests across partitions: placement.ts).
    const filters = count > 1 ? Array.from({ length: count }, () => new KeyFilter().buffer) : undefined;
    await Promise.all(
      parts.map((b, index) =>
        b.run({
          type: 'init',
          index,
          count,
          localTunnelIp: opts.localTunnelIp,
          tunnelOfport: opts.tunnelOfport,
          snapshot: snaps?.[index],
          ofports: opts.ofports === undefined ? undefined : [...opts.ofports],
          arpAnswers: opts.arpAnswers,
          filters,
        }),
      ),
    );
    // A snapshot split by id hash may put two claimants of a key in different partitions.
    if (snaps !== undefined && count > 1) {
      const contested = await engine.#contests.contestedKeys(
        parts.map((_, p) => p),
        true,
      );
      if (contested !== undefined) await engine.#contests.move(await engine.#contests.claimants(contested));
    }
    return engine;
  }

  #nextBundle(): number {
    this.#bundleId = (this.#bundleId + 1) >>> 0 || 1;
    return this.#bundleId;
  }

  /**
   * Plans an encoded goal state (v1 GoalState or GoalStateV2) in every partition. The caller sends
   * the flow-mods (`deltas`, or what `onDelta` received) to OVS in one bundle, then calls commit()
   * or abort(). One goal state at a time. On an error nothing stays planned.
   */
  async prepare(bytes: Uint8Array, version: 1 | 2, opts: PrepareOptions = {}): Promise<Prepared> {
    for (let moves = 0; ; moves++) {
      const { prepared, active, candidates } = await this.#prepareOnce(bytes, version, opts);
      if (this.#parts.length === 1) return prepared;
      const contested = await this.#contests.contestedKeys(active, false, candidates);
      if (contested === undefined) return prepared;
      // Claimants of one key in different partitions: plan it again with all of them in partition
      // 0 (the deltas already handed to onDelta carry this bundle id; the next ones carry another).
      await this.#contests.moveClaimants(contested, moves, () => this.abort(prepared.txns));
    }
  }

  async #prepareOnce(
    bytes: Uint8Array,
    version: 1 | 2,
    opts: PrepareOptions,
  ): Promise<{ prepared: Prepared; active: number[]; candidates: (Float64Array | undefined)[] }> {
    const bundleId = this.#nextBundle();
    const threads = this.#parts[0] instanceof ThreadBackend;
    // Chunks only pay when another thread can work meanwhile (OVS parsing, the other partitions).
    const chunkNeighbors = opts.onDelta !== undefined && threads ? CHUNK_NEIGHBORS : Number.POSITIVE_INFINITY;
    const split = splitGoalState(bytes, version, this.#placement, chunkNeighbors, MAX_CHUNKS - 1);
    const active = split.chunks.flatMap((chunks, p) => (chunks.some((c) => !c.idle) ? [p] : []));
    // The only partition at work can look for contests as it ends: no other one is changing.
    const alone = active.length === 1 ? active[0] : -1;
    const settled = await Promise.all(
      this.#parts.map((b, p) => this.#preparePartition(b, p, split.chunks[p], version, bundleId, opts, p === alone)),
    );
    const failure = settled.flat().find((r) => r.status === 'rejected');
    if (failure !== undefined) {
      // Every chunk that did plan is taken back, newest first, before the error goes up.
      await Promise.all(
        settled.flatMap((rs, p) =>
          this.#abortAll(
            this.#parts[p],
            rs.map((r) => (r.status === 'fulfilled' ? r.value.txn : NO_TXN)),
          ),
        ),
      );
      throw (failure as PromiseRejectedResult).reason;
    }
    const perPartition = settled.map((rs) => rs.map((r) => (r as PromiseFulfilledResult<PrepareResult>).value));
    const results = perPartition.flat();
    const statuses = mergeStatuses(
      bytes,
      split.idRanges,
      perPartition.flatMap((rs, p) => rs.map((r, k) => ({ result: r, order: split.chunks[p][k].neighborOrder }))),
    );
    const timings = slowestTimings(perPartition);
    const candidates = active.map((p) => perPartition[p][perPartition[p].length - 1].candidates);
    const prepared: Prepared = {
      bundleId,
      statuses,
      deltas: opts.onDelta === undefined ? results.map((r) => r.delta.bytes) : [],
      add: sum(results.map((r) => r.delta.add)),
      modify: sum(results.map((r) => r.delta.modify)),
      delete: sum(results.map((r) => r.delta.delete)),
      timings,
      slowNeighbors: sum(results.map((r) => r.slowNeighbors)),
      txns: perPartition.map((rs) => rs.map((r) => r.txn)),
    };
    return { prepared, active, candidates };
  }

  /**
   * One partition's chunks, all queued at once (its worker runs one task at a time, in order);
   * settles when every chunk has, so the caller can take back the ones that planned.
   */
  async #preparePartition(
    b: Backend,
    p: number,
    chunks: readonly SplitChunk[],
    version: 1 | 2,
    bundleId: number,
    opts: PrepareOptions,
    candidates: boolean,
  ): Promise<PromiseSettledResult<PrepareResult>[]> {
    const onDelta = opts.onDelta;
    // Buffers the consumer released, going back to the partition with its next chunk.
    const spare: ArrayBuffer[] = [];
    // Input buffers the partition handed back, for the next chunks' copies.
    const inputs = new BufferPool();
    // The caller's buffer itself (one partition, one chunk) may be a view into a larger one: not moved.
    const movable = b instanceof ThreadBackend && (this.#parts.length > 1 || chunks.length > 1);
    const credits = movable && opts.window !== undefined ? new Credits(opts.window) : undefined;
    const runs = chunks.map(async (chunk, k): Promise<PrepareResult> => {
      if (chunk.idle) return IDLE_RESULT;
      // In chunk order (a partition runs its tasks in the order they are queued).
      if (credits !== undefined) await credits.take();
      const reply = await b.run(() => {
        const bytes = movable ? chunk.copyTo(inputs.take(chunk.size)) : chunk.bytes;
        const back = movable ? spare.splice(0) : [];
        const task: WorkerTask = {
          type: 'prepare',
          version,
          bytes,
          enc: chunkEnc(bundleId, p, k),
          continues: k > 0,
          ...(k < chunks.length - 1 ? { more: true } : {}),
          ...(movable ? { returnInput: true } : {}),
          ...(opts.restoring === true ? { restoring: true } : {}),
          ...(k === 0 && chunks.length > 1
            ? { expectedNeighbors: sum(chunks.map((c) => c.neighborOrder.length)) }
            : {}),
          ...(back.length > 0 ? { spare: back } : {}),
          ...(candidates && k === chunks.length - 1 ? { candidates: true } : {}),
        };
        return { task, transfer: movable ? [bytes.buffer, ...back] : undefined };
      });
      const prepared = expect(reply, 'prepare');
      if (prepared.input !== undefined) inputs.give(prepared.input);
      const result = prepared.result;
      const out = result.delta.bytes;
      let released = false;
      onDelta?.(out, bundleId, () => {
        if (released) return;
        released = true;
        credits?.give();
        if (out.buffer instanceof SharedArrayBuffer) return;
        // A partition on this thread takes it back now: a goal state is one chunk there, so there is no
        // next chunk to carry it, and every goal state would encode into fresh memory.
        if (b instanceof InlineBackend) b.giveBuffers([out.buffer as ArrayBuffer]);
        else if (movable) spare.push(out.buffer as ArrayBuffer);
      });
      return result;
    });
    return Promise.allSettled(runs);
  }

  /** Interfaces appeared/moved/went away, or the tunnel port changed: the flow-mods that follow. */
  async prepareHostFacts(facts: HostFacts): Promise<{
    bundleId: number;
    deltas: Uint8Array[];
    txns: Txns;
    flowMods: number;
    add: number;
    delete: number;
  }> {
    for (let moves = 0; ; moves++) {
      const bundleId = this.#nextBundle();
      const replies = await Promise.all(
        this.#parts.map((b, p) => b.run({ type: 'hostFacts', facts, enc: chunkEnc(bundleId, p) })),
      );
      const rs = replies.map((r) => expect(r, 'hostFacts'));
      const txns = rs.map((r) => [r.txn]);
      const contested =
        this.#parts.length === 1
          ? undefined
          : await this.#contests.contestedKeys(
              this.#parts.map((_, p) => p),
              false,
            );
      if (contested === undefined) return this.#hostFactsResult(bundleId, rs, txns);
      await this.#contests.moveClaimants(contested, moves, () => this.abort(txns));
    }
  }

  #hostFactsResult(
    bundleId: number,
    rs: readonly Extract<WorkerReply, { type: 'hostFacts' }>[],
    txns: Txns,
  ): { bundleId: number; deltas: Uint8Array[]; txns: Txns; flowMods: number; add: number; delete: number } {
    return {
      bundleId,
      deltas: rs.map((r) => r.delta.bytes),
      txns,
      flowMods: sum(rs.map((r) => r.delta.add + r.delta.modify + r.delta.delete)),
      add: sum(rs.map((r) => r.delta.add)),
      delete: sum(rs.map((r) => r.delta.delete)),
    };
  }

  // Every task goes into its partition's queue now, in order (a partition runs one task at a time),
  // so whatever the caller asks next (the next goal state) queues behind them.
  /**
   * Makes the transactions final. With worker threads the commit travels with the partition's next
   * task (any task: reads see it committed), so a stream of small goal states pays one worker round
   * trip each, not two.
   */
  async commit(txns: Txns): Promise<void> {
    await Promise.all(this.#parts.map((b, p) => b.commit((txns[p] ?? []).filter((t) => t !== NO_TXN))));
  }

  /** Newest chunk first: each undo must find the state the chunk left. */
  async abort(txns: Txns): Promise<void> {
    await Promise.all(this.#parts.flatMap((b, p) => this.#abortAll(b, txns[p] ?? [])));
  }

  /**
   * Plans a synthetic goal state (warm-up.ts) the way the agent plans a push, streamed, commits it and
   * deletes it again, `rounds` times: the hot loops are compiled and the buffer pools filled before the
   * first real push. Committed and deleted, not aborted: a restart's first push and the pushes after a
   * delete find their neighbors' ids and keys in the tables (hits, tombstones, reused rows), paths an
   * aborted warm-up never took; V8 compiled them on the first real push and threw code away for them
   * (deoptimised) on the second. Only for an engine that holds nothing yet (a fresh start): it then
   * holds nothing after.
   */
  async warmUp(localHost: string, neighbors = WARM_UP_NEIGHBORS, rounds = WARM_UP_ROUNDS): Promise<void> {
    // Buffers, as the agent's gRPC server hands the engine: a Buffer's subarrays are Buffers (another
    // map), so the split's copies warmed on a plain Uint8Array ran unoptimised on the first real push.
    const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const create = asBuffer(warmUpGoalState(neighbors, localHost));
    const remove = asBuffer(warmUpGoalState(neighbors, localHost, OperationType.DELETE));
    const round = async (): Promise<void> => {
      for (const bytes of [create, remove]) {
        const prepared = await this.prepare(bytes, 2, { onDelta: (_d, _b, release) => release(), window: 4 });
        await this.commit(prepared.txns);
      }
    };
    for (let r = 1; r < rounds; r++) await round();
    // What the rounds left is garbage: collected now, an idle agent would hold it for good. But a full
    // collection also drops much of what the rounds compiled (measured: the first 10k push after it
    // took 130-170 ms of CPU, 60-90 ms without it), so one round more comes after it; its own garbage
    // is one round's, mostly young.
    await this.collect();
    await round();
  }

  #abortAll(b: Backend, txns: readonly number[]): Promise<WorkerReply>[] {
    const out: Promise<WorkerReply>[] = [];
    for (let k = txns.length - 1; k >= 0; k--) if (txns[k] !== NO_TXN) out.push(b.run({ type: 'abort', txn: txns[k] }));
    return out;
  }

  /** The owner ("kind:id") of the flow-mod with this xid in the open transactions, if it is ours. */
  async ownerOfXid(txns: Txns, xid: number): Promise<string | undefined> {
    const at = locateXid(xid, this.#parts.length);
    if (at === undefined) return undefined;
    const txn = txns[at.partition]?.[at.chunk];
    if (txn === undefined || txn === NO_TXN) return undefined;
    const reply = await this.#parts[at.partition].run({ type: 'ownerOf', txn, index: at.index });
    return expect(reply, 'ownerOf').owner;
  }

  /**
   * The flow-mods that converge the bridge from a dump of its flows (FLOW_STATS multipart reply
   * bodies) to the desired state, without flushing anything. Not transactional: the desired table
   * does not change, so a failed bundle is simply retried.
   */
  async reconcile(
    bodies: readonly Uint8Array[],
  ): Promise<{ bundleId: number; deltas: Uint8Array[]; flowMods: number }> {
    const bundleId = this.#nextBundle();
    // Every partition reads every body; sharing one copy beats cloning per partition.
    const shared = bodies.map((b) => {
      const s = new Uint8Array(new SharedArrayBuffer(b.length));
      s.set(b);
      return s;
    });
    const replies = await Promise.all(
      this.#parts.map((b, p) => b.run({ type: 'reconcile', bodies: shared, enc: chunkEnc(bundleId, p) })),
    );
    const deltas = replies.map((r) => expect(r, 'reconcile').delta);
    return {
      bundleId,
      deltas: deltas.map((d) => d.bytes),
      flowMods: sum(deltas.map((d) => d.add + d.modify + d.delete)),
    };
  }

  /** Every desired flow, partition 0 first. */
  async desiredFlows(): Promise<Flow[]> {
    const replies = await Promise.all(this.#parts.map((b) => b.run({ type: 'desired' })));
    return replies.flatMap((r) => expect(r, 'desired').flows);
  }

  /** The whole held state: partition 0's resources and every partition's neighbors. */
  async snapshot(): Promise<StoreSnapshot> {
    const replies = await Promise.all(this.#parts.map((b) => b.run({ type: 'snapshot' })));
    const snaps = replies.map((r) => expect(r, 'snapshot').snapshot);
    const first = snaps[0];
    return {
      format: first.format,
      resources: { ...first.resources, neighbor: snaps.flatMap((s) => s.resources.neighbor) },
    };
  }

  /**
   * A full collection in every worker and in this thread (full-gc.ts): memory a large goal state
   * left behind goes back to the system. Queued behind the partitions' work, like any task.
   */
  async collect(): Promise<void> {
    await Promise.all(this.#parts.map((b) => b.run({ type: 'collect' })));
    fullCollection();
  }

  /**
   * Desired flow count (all partitions) and the DHCP entries and subnets (held by every partition;
   * partition 0's copy): cheap enough to call after every commit, unlike snapshot() or desiredFlows().
   */
  async stats(): Promise<{
    flows: number;
    dhcp: readonly Dhcp[];
    subnets: readonly Subnet[];
    zetaOam: readonly (readonly [number, number])[];
    /** Ids of the desired groups, ascending (a group lives in the partition of its gateway). */
    groups: readonly number[];
  }> {
    const replies = await Promise.all(this.#parts.map((b) => b.run({ type: 'stats' })));
    const rs = replies.map((r) => expect(r, 'stats'));
    const first = rs[0];
    const groups = [...new Set(rs.flatMap((r) => r.groups))].sort((a, b) => a - b);
    return {
      flows: sum(rs.map((r) => r.flows)),
      dhcp: first.dhcp,
      subnets: first.subnets,
      zetaOam: first.zetaOam,
      groups,
    };
  }

  /**
   * The ARP answers every partition's held state implies, deduplicated by (VNI, IP, MAC): the whole view, linear in
   * held ports and neighbors. The agent keeps arp_table by arpChanges instead; this is the reference they fold to.
   */
  async arpEntries(): Promise<{ entries: ArpTriple[]; portVnis: Map<string, number> }> {
    const replies = await Promise.all(this.#parts.map((b) => b.run({ type: 'arpEntries' })));
    const seen = new Set<string>();
    const out: ArpTriple[] = [];
    const portVnis = new Map<string, number>();
    for (const r of replies) {
      const reply = expect(r, 'arpEntries');
      for (const [id, vni] of reply.portVnis) portVnis.set(id, vni);
      for (const t of reply.entries) {
        const key = `${t[0]}/${t[1]}/${t[2]}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(t);
      }
    }
    return { entries: out, portVnis };
  }

  /**
   * How the ARP answers moved since the last call, summed over the partitions (arp-entries.ts ArpReport). `full`:
   * the changes are relative to nothing, so the caller starts over from them: on the first call, with `reset`, and
   * when some partition started over on its own (then every partition is asked again with reset).
   */
  async arpChanges(reset = false): Promise<{ full: boolean; changes: ArpChange[]; portVnis: Map<string, number> }> {
    const ask = (r: boolean): Promise<Extract<WorkerReply, { type: 'arpChanges' }>[]> =>
      Promise.all(this.#parts.map(async (b) => expect(await b.run({ type: 'arpChanges', reset: r }), 'arpChanges')));
    let replies = await ask(reset);
    if (replies.some((r) => r.full) && !replies.every((r) => r.full)) replies = await ask(true);
    const portVnis = new Map<string, number>();
    for (const r of replies) for (const [id, vni] of r.portVnis) portVnis.set(id, vni);
    return {
      full: replies.every((r) => r.full),
      changes: sumArpChanges(replies.map((r) => r.changes)),
      portVnis,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.#parts.map((b) => b.close()));
  }
}
