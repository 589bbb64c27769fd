// How the engine reaches a partition: a worker thread of its own (a single-thread piscina pool), or
// the calling thread (`workers: 0`). Both run the same PartitionHost and keep tasks in call order,
// which the partition's transactions depend on.

import Piscina from 'piscina';
import { unpackFromThread } from '../errors';
import type { WorkerReply, WorkerTask } from './protocol';
import { PartitionHost, replyValue } from './worker';

/** A task built only when its turn comes (a chunk's bytes are copied then, not all up front). */
export type LazyTask = () => { readonly task: WorkerTask; readonly transfer?: readonly ArrayBufferLike[] };

export interface Backend {
  run(task: WorkerTask | LazyTask, transfer?: readonly ArrayBufferLike[]): Promise<WorkerReply>;
  /** Commits open transactions, at the latest before the next task runs. */
  commit(txns: readonly number[]): Promise<void>;
  close(): Promise<void>;
}

export class ThreadBackend implements Backend {
  readonly #pool: Piscina;
  constructor(filename: string) {
    this.#pool = new Piscina({
      filename,
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
      resourceLimits: { maxYoungGenerationSizeMb: 16 },
    });
  }
  /** Tasks in call order: the partition's state machine depends on it (commit before the next prepare). */
  #tail: Promise<unknown> = Promise.resolve();
  /** Commits not sent yet: they ride with the next task instead of costing a round trip of their own. */
  #commits: number[] = [];

  commit(txns: readonly number[]): Promise<void> {
    this.#commits.push(...txns);
    return Promise.resolve();
  }

  run(inner: WorkerTask | LazyTask, transfer?: readonly ArrayBufferLike[]): Promise<WorkerReply> {
    // Piscina 5 does not run queued tasks in submission order (measured: 0,2,4,1,5,3), so each
    // task is handed over only when the one before it has finished.
    const dispatch = (): Promise<WorkerReply> => {
      const built = typeof inner === 'function' ? inner() : { task: inner, transfer };
      let task = built.task;
      // Commits made meanwhile ride with this task.
      if (this.#commits.length > 0) {
        task = { type: 'after', commits: this.#commits, task };
        this.#commits = [];
      }
      const options = built.transfer ? { transferList: built.transfer as ArrayBuffer[] } : undefined;
      return (this.#pool.run(task, options) as Promise<WorkerReply>).catch((e: unknown) => {
        throw unpackFromThread(e);
      });
    };
    const next = this.#tail.then(dispatch, dispatch);
    this.#tail = next.catch(() => undefined);
    return next;
  }
  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}

export class InlineBackend implements Backend {
  readonly #host = new PartitionHost();
  async run(task: WorkerTask | LazyTask): Promise<WorkerReply> {
    return replyValue(this.#host.handle(typeof task === 'function' ? task().task : task));
  }
  async commit(txns: readonly number[]): Promise<void> {
    for (const txn of txns) this.#host.handle({ type: 'commit', txn });
  }
  /** Output buffers the consumer released, back to the partition at once (same thread: nothing to carry). */
  giveBuffers(buffers: readonly ArrayBuffer[]): void {
    this.#host.giveBuffers(buffers);
  }
  async close(): Promise<void> {}
}

export type EngineErrorCode = 'ENGINE_BAD_OPTIONS' | 'ENGINE_REPLY' | 'ENGINE_CONTEST';

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The reply as the type asked for; anything else is a broken partition. */
export function expect<T extends WorkerReply['type']>(reply: WorkerReply, type: T): Extract<WorkerReply, { type: T }> {
  if (reply.type !== type) throw new EngineError('ENGINE_REPLY', `partition answered ${reply.type}, expected ${type}`);
  return reply as Extract<WorkerReply, { type: T }>;
}
