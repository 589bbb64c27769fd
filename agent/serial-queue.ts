// The daemon's one serial queue. It exists because the engine holds at most one open transaction
// and OVS must see bundles in the order the engine planned them: everything that opens a
// transaction (goal states, host facts, converges) or must not see one half-done (snapshots, the
// /flows report) runs here, one after another. A failed task does not stop the ones after it.

export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after everything queued before it; resolves or rejects with its outcome. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves when everything queued so far has finished. */
  async idle(): Promise<void> {
    await this.#tail.catch(() => undefined);
  }
}
