// Reload TLS material when its files change, so a certificate rotated on disk (by hand, by cert-manager,
// by a kubelet's secret volume that swaps a `..data` symlink) is served without anyone sending SIGHUP.
//
// The directories holding the files are watched, not the files: rotation usually replaces a file (write a
// new one, rename it over the old) or swaps a symlink, and a watch on the old inode would never fire again.
// An event in those directories counts only when one of the files (followed through symlinks) now has
// another inode, size or modification time, so unrelated churn beside them (a data directory, logs) costs a
// few stats and never a reload. A change schedules one reload after a short quiet period, because a rotation
// writes several files (certificate, then key) and a reload in between would see a key that does not match.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** How long the directories must stay quiet before the reload: a rotation's files land together. */
export const TLS_WATCH_QUIET_MS = 250;

export interface TlsWatch {
  close(): void;
}

/**
 * Calls `reload` once the directories of `files` have been quiet for `quietMs` after a change. Files that are
 * undefined are skipped; with none left, nothing is watched. A directory that cannot be watched is reported
 * through `onError` and the others are still watched (SIGHUP keeps working in every case).
 */
export function watchTlsFiles(
  files: readonly (string | undefined)[],
  reload: () => void,
  onError: (dir: string, err: Error) => void,
  quietMs = TLS_WATCH_QUIET_MS,
): TlsWatch {
  const watched = [...new Set(files.filter((f): f is string => f !== undefined).map((f) => path.resolve(f)))];
  const dirs = new Set(watched.map((f) => path.dirname(f)));
  const watchers: fs.FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let seen = signature(watched);
  const changed = (): void => {
    const now = signature(watched);
    if (now === seen) return;
    seen = now;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      reload();
    }, quietMs);
    timer.unref();
  };
  for (const dir of dirs) {
    try {
      const w = fs.watch(dir, { persistent: false }, changed);
      w.on('error', (err) => onError(dir, err));
      watchers.push(w);
    } catch (e: unknown) {
      onError(dir, e instanceof Error ? e : new Error(String(e)));
    }
  }
  return {
    close(): void {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      for (const w of watchers) w.close();
    },
  };
}

/** What identifies each file's current content cheaply: inode, size and mtime, through symlinks. */
function signature(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const st = fs.statSync(f);
        return `${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}
