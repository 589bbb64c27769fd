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

import path from 'node:path';
import Piscina from 'piscina';
import type { Flow } from '../flow';
import type { PlannedStatus, StoreSnapshot } from '../goalstate';
import type { Dhcp, Ipv4, Subnet } from '../model';
import { ResourceType } from '../../proto';
import { hash32 } from '../pipeline/cookie';
import { ARP_ANSWERS, type ArpAnswers } from '../pipeline/view';
import type { ArpTriple } from './arp-entries';
import type { HostFacts, PrepareResult, PrepareTimings } from './partition';
import type { WorkerReply, WorkerTask } from './protocol';
import { splitGoalState } from './split';
import { PartitionHost, replyValue } from './worker';

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

/**
 * xids of the engine's flow-mods: partition p's message i has xid XID_BASE + p * XID_SPAN + i.
 * The OpenFlow session keeps its own xids below XID_BASE, so an ERROR's xid says where it came from.
 */
export const XID_BASE = 0x4000_0000;
export const XID_SPAN = 0x0400_0000;
export const MAX_PARTITIONS = 16;

/** The txn of a partition that sat a goal state out: nothing in it was its (split.ts `idle`). */
const NO_TXN = -1;
const IDLE_RESULT: PrepareResult = {
  txn: NO_TXN,
  statuses: [],
  delta: { bytes: new Uint8Array(0), add: 0, modify: 0, delete: 0 },
  timings: { decodeMs: 0, planMs: 0, compileMs: 0, diffMs: 0, encodeMs: 0 },
  slowNeighbors: 0,
};

export interface Prepared {
  readonly bundleId: number;
  /** One status per op, in op order. */
  readonly statuses: readonly PlannedStatus[];
  /** Per partition, its BUNDLE_ADD_MESSAGE(FLOW_MOD)s; send them all in one bundle. */
  readonly deltas: readonly Uint8Array[];
  readonly add: number;
  readonly modify: number;
  readonly delete: number;
  /** Slowest partition per phase. */
  readonly timings: PrepareTimings;
  readonly slowNeighbors: number;
  /** Per partition, its open transaction. */
  readonly txns: readonly number[];
}

interface Backend {
  run(task: WorkerTask, transfer?: readonly ArrayBufferLike[]): Promise<WorkerReply>;
  close(): Promise<void>;
}

class ThreadBackend implements Backend {
  readonly #pool: Piscina;
  constructor(filename: string) {
    this.#pool = new Piscina({
      filename,
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
    });
  }
  async run(task: WorkerTask, transfer?: readonly ArrayBufferLike[]): Promise<WorkerReply> {
    return (await this.#pool.run(
      task,
      transfer ? { transferList: transfer as ArrayBuffer[] } : undefined,
    )) as WorkerReply;
  }
  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}

class InlineBackend implements Backend {
  readonly #host = new PartitionHost();
  async run(task: WorkerTask): Promise<WorkerReply> {
    return replyValue(this.#host.handle(task));
  }
  async close(): Promise<void> {}
}

export class EngineError extends Error {
  readonly code: 'ENGINE_BAD_OPTIONS' | 'ENGINE_REPLY';
  constructor(code: 'ENGINE_BAD_OPTIONS' | 'ENGINE_REPLY', message: string) {
    super(message);
    this.code = code;
  }
}

function expect<T extends WorkerReply['type']>(reply: WorkerReply, type: T): Extract<WorkerReply, { type: T }> {
  if (reply.type !== type) throw new EngineError('ENGINE_REPLY', `partition answered ${reply.type}, expected ${type}`);
  return reply as Extract<WorkerReply, { type: T }>;
}

/** Splits a snapshot for the partitions: neighbors by id hash, everything else to all. */
function splitSnapshot(s: StoreSnapshot, parts: number): StoreSnapshot[] {
  return Array.from({ length: parts }, (_, p) => ({
    format: s.format,
    resources: {
      ...s.resources,
      neighbor: parts === 1 ? s.resources.neighbor : s.resources.neighbor.filter((n) => hash32(n.id) % parts === p),
    },
  }));
}

export class Engine {
  readonly #parts: Backend[];
  #bundleId = 0;

  private constructor(parts: Backend[]) {
    this.#parts = parts;
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
        }),
      ),
    );
    return engine;
  }

  #nextBundle(): number {
    this.#bundleId = (this.#bundleId + 1) >>> 0 || 1;
    return this.#bundleId;
  }

  #enc(bundleId: number, p: number): { bundleId: number; firstXid: number } {
    return { bundleId, firstXid: XID_BASE + p * XID_SPAN };
  }

  /**
   * Plans an encoded goal state (v1 GoalState or GoalStateV2) in every partition. The caller sends
   * `deltas` to OVS in one bundle, then calls commit() or abort(). One goal state at a time.
   */
  async prepare(bytes: Uint8Array, version: 1 | 2): Promise<Prepared> {
    const bundleId = this.#nextBundle();
    const split = splitGoalState(bytes, version, this.#parts.length);
    const results = await Promise.all(
      this.#parts.map(async (b, p): Promise<PrepareResult> => {
        if (split.idle[p]) return IDLE_RESULT;
        const part = split.parts[p];
        // With one partition the caller's buffer is used as it is (it may be a view into a larger one).
        const transfer = this.#parts.length > 1 && b instanceof ThreadBackend ? [part.buffer] : undefined;
        const reply = await b.run({ type: 'prepare', version, bytes: part, enc: this.#enc(bundleId, p) }, transfer);
        return expect(reply, 'prepare').result;
      }),
    );
    const statuses = mergeStatuses(
      results.map((r) => r.statuses),
      split.neighborOrder,
      split.neighborCount,
    );
    const timings: PrepareTimings = { decodeMs: 0, planMs: 0, compileMs: 0, diffMs: 0, encodeMs: 0 };
    for (const r of results) {
      for (const k of Object.keys(timings) as (keyof PrepareTimings)[]) timings[k] = Math.max(timings[k], r.timings[k]);
    }
    return {
      bundleId,
      statuses,
      deltas: results.map((r) => r.delta.bytes),
      add: sum(results.map((r) => r.delta.add)),
      modify: sum(results.map((r) => r.delta.modify)),
      delete: sum(results.map((r) => r.delta.delete)),
      timings,
      slowNeighbors: sum(results.map((r) => r.slowNeighbors)),
      txns: results.map((r) => r.txn),
    };
  }

  /** Interfaces appeared/moved/went away, or the tunnel port changed: the flow-mods that follow. */
  async prepareHostFacts(
    facts: HostFacts,
  ): Promise<{
    bundleId: number;
    deltas: Uint8Array[];
    txns: number[];
    flowMods: number;
    add: number;
    delete: number;
  }> {
    const bundleId = this.#nextBundle();
    const replies = await Promise.all(
      this.#parts.map((b, p) => b.run({ type: 'hostFacts', facts, enc: this.#enc(bundleId, p) })),
    );
    const rs = replies.map((r) => expect(r, 'hostFacts'));
    return {
      bundleId,
      deltas: rs.map((r) => r.delta.bytes),
      txns: rs.map((r) => r.txn),
      flowMods: sum(rs.map((r) => r.delta.add + r.delta.modify + r.delta.delete)),
      add: sum(rs.map((r) => r.delta.add)),
      delete: sum(rs.map((r) => r.delta.delete)),
    };
  }

  async commit(txns: readonly number[]): Promise<void> {
    await Promise.all(
      this.#parts.map((b, p) => (txns[p] === NO_TXN ? undefined : b.run({ type: 'commit', txn: txns[p] }))),
    );
  }

  async abort(txns: readonly number[]): Promise<void> {
    await Promise.all(
      this.#parts.map((b, p) => (txns[p] === NO_TXN ? undefined : b.run({ type: 'abort', txn: txns[p] }))),
    );
  }

  /** The owner ("kind:id") of the flow-mod with this xid in the open transaction, if it is ours. */
  async ownerOfXid(txns: readonly number[], xid: number): Promise<string | undefined> {
    if (xid < XID_BASE) return undefined;
    const p = Math.floor((xid - XID_BASE) / XID_SPAN);
    if (p >= this.#parts.length || txns[p] === NO_TXN) return undefined;
    const reply = await this.#parts[p].run({ type: 'ownerOf', txn: txns[p], index: (xid - XID_BASE) % XID_SPAN });
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
      this.#parts.map((b, p) => b.run({ type: 'reconcile', bodies: shared, enc: this.#enc(bundleId, p) })),
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
   * Desired flow count (all partitions) and the DHCP entries and subnets (held by every partition;
   * partition 0's copy): cheap enough to call after every commit, unlike snapshot() or desiredFlows().
   */
  async stats(): Promise<{ flows: number; dhcp: readonly Dhcp[]; subnets: readonly Subnet[] }> {
    const replies = await Promise.all(this.#parts.map((b) => b.run({ type: 'stats' })));
    const rs = replies.map((r) => expect(r, 'stats'));
    return { flows: sum(rs.map((r) => r.flows)), dhcp: rs[0].dhcp, subnets: rs[0].subnets };
  }

  /**
   * The ARP answers every partition's held state implies, deduplicated by (VNI, IP, MAC). Cost is linear in held
   * ports and neighbors: fine once per coalesced post-commit pass; the caller diffs it against the map.
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

  async close(): Promise<void> {
    await Promise.all(this.#parts.map((b) => b.close()));
  }
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

/**
 * Partition 0 reports every op; the others only their neighbors. The neighbor block of partition
 * 0's list is replaced by all partitions' neighbor statuses in message order.
 */
function mergeStatuses(
  lists: readonly (readonly PlannedStatus[])[],
  neighborOrder: readonly Uint32Array[],
  neighborCount: number,
): PlannedStatus[] {
  if (lists.length === 1) return [...lists[0]];
  const merged = new Array<PlannedStatus>(neighborCount);
  for (let p = 0; p < lists.length; p++) {
    const order = neighborOrder[p];
    let i = 0;
    for (const s of lists[p]) if (s.resourceType === ResourceType.NEIGHBOR) merged[order[i++]] = s;
  }
  const out: PlannedStatus[] = [];
  let placed = false;
  for (const s of lists[0]) {
    if (s.resourceType === ResourceType.NEIGHBOR) {
      if (!placed) for (const m of merged) out.push(m);
      placed = true;
      continue;
    }
    out.push(s);
  }
  // Partition 0 may have had no neighbors: put the block where neighbors go (before DHCP).
  if (!placed && merged.length > 0) {
    const at = out.findIndex((s) => s.resourceType === ResourceType.DHCP);
    const tail = at < 0 ? [] : out.splice(at);
    for (const m of merged) out.push(m);
    for (const t of tail) out.push(t);
  }
  return out;
}
