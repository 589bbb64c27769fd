// Whether the snapshot and goal-state log on disk may be behind what OVS holds.
//
// A goal state is acknowledged as soon as OVS confirms its bundle. Normally the goal-state log
// (agent/goalstate-log.ts) holds it before the bundle commits. When the log could not take it (a
// full disk), an agent killed later would restart from the older state, converge to it, and delete
// flows it had acknowledged. So before such a bundle commits, the state directory gets a marker
// (`snapshot.behind`), and the marker goes only when a snapshot written after every commit is on
// disk. A restart that finds the marker treats the snapshot as it treats a read-back run's:
// installed flows are kept until the full state is known.
//
// Marker operations run one at a time, in order: a create and an unlink issued together could
// otherwise reach the disk in either order.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { errorText } from '../core/errors';
import type { Logger } from './log';
import { stateMarkerPresent } from './read-back';

export const SNAPSHOT_BEHIND_FILE = 'snapshot.behind';

/** Whether a previous run left the marker: its snapshot may lack goal states it acknowledged. */
export function snapshotBehind(stateDir: string | undefined): Promise<boolean> {
  return stateMarkerPresent(stateDir, SNAPSHOT_BEHIND_FILE);
}

export class SnapshotLag {
  readonly #stateDir: string | undefined;
  readonly #snapshotFile: string | undefined;
  readonly #log: Logger;
  /** The marker is on disk. */
  #marked: boolean;
  /** Goal-state bundles between beforeCommit and bundleDone. */
  #inFlight = 0;
  /** Goal-state bundles OVS confirmed, ever. */
  #commits = 0;
  #ops: Promise<void> = Promise.resolve();

  constructor(stateDir: string | undefined, snapshotFile: string, log: Logger, markedAtStart: boolean) {
    this.#stateDir = stateDir;
    this.#marked = markedAtStart;
    this.#snapshotFile = stateDir === undefined ? undefined : path.join(stateDir, snapshotFile);
    this.#log = log;
  }

  /** The marker is on disk (or must be): only a snapshot can clear it. */
  get marked(): boolean {
    return this.#marked;
  }

  /**
   * Before a goal-state bundle commits. `logged`: the goal-state log holds it, so the state on disk
   * is not behind; otherwise, from now until a newer snapshot, it may be.
   */
  beforeCommit(logged: boolean): Promise<void> {
    this.#inFlight++;
    if (this.#stateDir === undefined || logged) return Promise.resolve();
    return this.#run(async () => {
      if (this.#marked) return;
      const dir = this.#stateDir as string;
      try {
        await fs.writeFile(path.join(dir, SNAPSHOT_BEHIND_FILE), '');
        this.#marked = true;
      } catch (e: unknown) {
        // Cannot say the snapshot is behind: then there must be no snapshot to roll back to. An unlink
        // works on a full disk; the restart reads the installed flows back instead.
        await fs.rm(this.#snapshotFile as string, { force: true }).catch(() => undefined);
        this.#log('warn', 'cannot mark the snapshot as behind; removed it so a restart keeps the installed flows', {
          stateDir: dir,
          error: errorText(e),
        });
      }
    });
  }

  /** The bundle ended: confirmed by OVS (`committed`) or not. */
  bundleDone(committed: boolean): void {
    this.#inFlight--;
    if (committed) this.#commits++;
  }

  /**
   * Taken when a snapshot is read from the engine: hand it to snapshotWritten once the file is on disk.
   * Null when a bundle is in flight (the snapshot may miss it, so it cannot clear the marker).
   */
  readingSnapshot(): number | null {
    return this.#inFlight === 0 ? this.#commits : null;
  }

  /** A snapshot read at `token` is on disk: when nothing committed since, the marker goes. */
  snapshotWritten(token: number | null): Promise<void> {
    if (this.#stateDir === undefined || token === null) return Promise.resolve();
    return this.#run(async () => {
      if (!this.#marked || this.#inFlight !== 0 || this.#commits !== token) return;
      await fs.rm(path.join(this.#stateDir as string, SNAPSHOT_BEHIND_FILE), { force: true });
      this.#marked = false;
    });
  }

  #run(op: () => Promise<void>): Promise<void> {
    const next = this.#ops.then(op);
    this.#ops = next.catch(() => undefined);
    return next;
  }
}
