// Memory back to the system after a large goal state, once the agent is idle.
//
// A 1M-neighbor push leaves hundreds of MB of garbage in the main thread and the workers (the
// request, chunk copies, the reply), mostly ArrayBuffers outside V8's heap; an idle agent's small
// heaps give V8 no reason to collect, so it stays resident. Measured at 1M: ~920 MB resident after
// the push, most of it garbage (docs/benchmarks.md). So after a goal state of COLLECT_AFTER_BYTES or
// more, once no goal state has arrived for IDLE_MS, every thread runs a full collection (Engine
// collect). It costs a pause of a few hundred ms when nothing is waiting.
import type { Engine } from '../core/engine/engine';
import { errorText } from '../core/errors';
import type { Logger } from './log';

export const COLLECT_AFTER_BYTES = 32 * 1024 * 1024;
export const IDLE_MS = 1000;

export class IdleCollector {
  readonly #engine: Engine;
  readonly #log: Logger;
  #due = false;
  #lastActivity = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(engine: Engine, log: Logger) {
    this.#engine = engine;
    this.#log = log;
  }

  /** A goal state of `bytes` was applied (or replayed): a large one makes a collection due. */
  goalState(bytes: number): void {
    this.#lastActivity = Date.now();
    if (bytes >= COLLECT_AFTER_BYTES) this.#due = true;
    if (this.#due) this.#arm(IDLE_MS);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#run(), ms);
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    if (this.#closed || !this.#due) return;
    const quiet = Date.now() - this.#lastActivity;
    if (quiet < IDLE_MS) {
      this.#arm(IDLE_MS - quiet);
      return;
    }
    this.#due = false;
    const before = process.memoryUsage().rss;
    const t0 = Date.now();
    try {
      await this.#engine.collect();
      const mb = (b: number): number => Math.round(b / 2 ** 20);
      this.#log('info', 'memory collected after a large goal state', {
        rssBeforeMB: mb(before),
        rssAfterMB: mb(process.memoryUsage().rss),
        ms: Date.now() - t0,
      });
    } catch (e: unknown) {
      this.#log('warn', 'collection after a large goal state failed', { error: errorText(e) });
    }
  }
}
