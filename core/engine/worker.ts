// A partition's worker thread (run by piscina, one thread per partition: see engine.ts). It holds
// one PartitionEngine and answers WorkerTasks. Results that carry encoded flow-mods are moved to
// the main thread, not copied.

import Piscina from 'piscina';
import type { Flow } from '../flow';
import { packForThread } from '../errors';
import { decodeFlowStats } from '../openflow';
import { ArpReport, arpEntriesOf, portVnisOf } from './arp-entries';
import { PartitionEngine } from './partition';
import type { WorkerReply, WorkerTask } from './protocol';
import { fullCollection } from './full-gc';
import { oamPortsByVni } from '../zeta/oam';

/** Wraps a reply so piscina transfers the listed buffers instead of cloning them. */
function moving(reply: WorkerReply, buffers: readonly ArrayBufferLike[]): unknown {
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return buffers;
    },
    get [Piscina.valueSymbol]() {
      return reply;
    },
  } as unknown as ArrayBuffer);
}

/** Unwraps a `moving` reply (in-process use, where nothing crosses a thread). */
export function replyValue(result: unknown): WorkerReply {
  if (result !== null && typeof result === 'object' && Piscina.valueSymbol in result) {
    return (result as Record<symbol, unknown>)[Piscina.valueSymbol] as WorkerReply;
  }
  return result as WorkerReply;
}

/** Tasks that only read the partition: they leave its ARP answers as they were (ArpReport.touch). */
const READS: ReadonlySet<WorkerTask['type']> = new Set<WorkerTask['type']>([
  'stats',
  'arpEntries',
  'arpChanges',
  'desired',
  'snapshot',
  'ownerOf',
  'contestCandidates',
  'holds',
  'claimants',
  'collect',
]);

/** One partition's engine and the task dispatch; a worker thread holds one, the in-process engine too. */
export class PartitionHost {
  #engine: PartitionEngine | undefined;
  readonly #arp = new ArpReport();

  #need(): PartitionEngine {
    if (this.#engine === undefined) throw new Error('partition used before init');
    return this.#engine;
  }

  #init(task: Extract<WorkerTask, { type: 'init' }>): WorkerReply {
    const engine = new PartitionEngine({
      index: task.index,
      count: task.count,
      localTunnelIp: task.localTunnelIp,
      tunnelOfport: task.tunnelOfport,
      snapshot: task.snapshot,
      ofports: new Map(task.ofports ?? []),
      arpAnswers: task.arpAnswers,
      pinned: task.pinned,
      filters: task.filters,
    });
    this.#engine = engine;
    this.#arp.reset();
    return { type: 'init', flows: engine.flowCount };
  }

  /** Released output buffers for the partition's later deltas (before init: nothing to keep them). */
  giveBuffers(buffers: readonly ArrayBuffer[]): void {
    this.#engine?.giveBuffers(buffers);
  }

  #prepare(task: Extract<WorkerTask, { type: 'prepare' }>): unknown {
    this.#need().giveBuffers(task.spare ?? []);
    if (task.expectedNeighbors !== undefined) this.#need().reserveNeighbors(task.expectedNeighbors);
    const result = this.#need().prepareGoalState(task.bytes, task.version, task.enc, {
      continues: task.continues === true,
      candidates: task.candidates === true,
      restoring: task.restoring === true,
      more: task.more === true,
    });
    // Nothing keeps the input after prepare (ids and strings are copied out of it).
    const input = task.returnInput === true ? (task.bytes.buffer as ArrayBuffer) : undefined;
    return moving(
      { type: 'prepare', result, input },
      input ? [result.delta.bytes.buffer, input] : [result.delta.bytes.buffer],
    );
  }

  /** The read-only views of the partition's state the main thread aggregates. */
  #read(type: 'stats' | 'arpEntries'): WorkerReply {
    const e = this.#need();
    if (type === 'stats') {
      return {
        type: 'stats',
        flows: e.flowCount,
        dhcp: [...e.store.values('dhcp')],
        subnets: [...e.store.values('subnet')],
        zetaOam: oamPortsByVni(e.store.values('gateway'), e.store.values('vpc'), e.store.values('subnet')),
        groups: e.desiredGroupIds(),
      };
    }
    return { type: 'arpEntries', entries: arpEntriesOf(e.store, e.neighbors()), portVnis: portVnisOf(e.store) };
  }

  /** The reply, wrapped by `moving` when it carries buffers to transfer. */
  handle(task: WorkerTask): unknown {
    if (!READS.has(task.type)) this.#arp.touch();
    switch (task.type) {
      case 'init':
        return this.#init(task);
      case 'prepare':
        return this.#prepare(task);
      case 'hostFacts': {
        const { txn, delta } = this.#need().prepareHostFacts(task.facts, task.enc);
        return moving({ type: 'hostFacts', txn, delta }, [delta.bytes.buffer]);
      }
      case 'commit':
        this.#need().commit(task.txn);
        return { type: 'done' } satisfies WorkerReply;
      case 'after':
        for (const txn of task.commits) this.#need().commit(txn);
        return this.handle(task.task);
      case 'abort':
        this.#need().abort(task.txn);
        return { type: 'done' } satisfies WorkerReply;
      case 'ownerOf':
        return { type: 'ownerOf', owner: this.#need().ownerOfMessage(task.txn, task.index) } satisfies WorkerReply;
      case 'reconcile': {
        const installed: Flow[] = [];
        for (const body of task.bodies) for (const f of decodeFlowStats(body)) installed.push(f);
        const delta = this.#need().reconcile(installed, task.enc);
        return moving({ type: 'reconcile', delta }, [delta.bytes.buffer]);
      }
      case 'desired':
        return { type: 'desired', flows: this.#need().desiredFlows() } satisfies WorkerReply;
      case 'snapshot':
        return { type: 'snapshot', snapshot: this.#need().snapshot() } satisfies WorkerReply;
      case 'stats':
      case 'arpEntries':
        return this.#read(task.type);
      case 'arpChanges': {
        const e = this.#need();
        if (task.reset) this.#arp.reset();
        const { full, changes } = this.#arp.next(e.store, (visit) => e.forEachNeighborAddress(visit));
        return { type: 'arpChanges', full, changes, portVnis: portVnisOf(e.store) } satisfies WorkerReply;
      }
      case 'collect':
        fullCollection();
        return { type: 'done' } satisfies WorkerReply;
      case 'contestCandidates':
        return { type: 'keys', keys: this.#need().contestCandidates(task.all) } satisfies WorkerReply;
      case 'holds':
        return { type: 'holds', holds: this.#need().holds(task.keys) } satisfies WorkerReply;
      case 'claimants':
        return { type: 'claimants', owners: this.#need().claimants(task.keys) } satisfies WorkerReply;
      case 'pin':
        this.#need().pin(task.ids);
        return { type: 'done' } satisfies WorkerReply;
      case 'release':
        return { type: 'released', neighbors: this.#need().release(task.ids) } satisfies WorkerReply;
      case 'adopt':
        this.#need().adopt(task.neighbors);
        return { type: 'done' } satisfies WorkerReply;
      default: {
        const never: never = task;
        throw new Error(`unknown task ${JSON.stringify(never)}`);
      }
    }
  }
}

const host = new PartitionHost();

/** The piscina entry point. A thrown error keeps its code across the thread boundary (core/errors.ts). */
export default function handle(task: WorkerTask): unknown {
  try {
    return host.handle(task);
  } catch (e: unknown) {
    throw packForThread(e);
  }
}
