// The embedded record store's group commit: transactions sent at once are committed together, yet each sees the
// writes of those before it, keeps its own revision and change event, fails alone, and is durable on restart.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApiError } from './errors';
import { FileRecordStore } from './file-record-store';
import type { RecordChange } from './record-store';

test('concurrent transactions: in order, each on the writes before it, one fails alone, all durable', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-records-'));
  try {
    const store = new FileRecordStore(dir);
    await store.start();
    const events: RecordChange[][] = [];
    store.events.on('change', (c) => events.push([...c]));
    // Each one counts up the same key: only correct if it reads the one before it (same group or not).
    const bump = (): Promise<{ result: number; revision: number }> =>
      store.transact((tx) => {
        const n = (tx.get<number>('counter') ?? 0) + 1;
        tx.put('counter', n);
        tx.put(`item/${n}`, n);
        return n;
      });
    const failing = store.transact(() => {
      throw new ApiError(409, 'CONFLICT', 'refused');
    });
    const results = await Promise.all([bump(), bump(), failing.catch((e: unknown) => e), bump(), bump()]);
    const ok = results.filter((r): r is { result: number; revision: number } => !(r instanceof Error));
    assert.equal(
      ok.map((r) => r.result),
      [1, 2, 3, 4],
    );
    assert.equal(
      ok.map((r) => r.revision),
      [1, 2, 3, 4],
    );
    assert.instance(results[2], ApiError);
    // One change event per transaction, in order, once durable.
    assert.equal(
      events.map((e) => e.map((c) => `${c.key}@${c.modRev}`)),
      [1, 2, 3, 4].map((r) => [`counter@${r}`, `item/${r}@${r}`]),
    );
    const empty = await store.transact((tx) => tx.get<number>('counter'));
    assert.equal(empty, { result: 4, revision: 4 });
    await store.close();
    const again = new FileRecordStore(dir);
    await again.start();
    assert.is(again.view.get('counter')?.value, 4);
    assert.is(again.view.get('item/3')?.modRev, 3);
    assert.is(again.revision(), 4);
    await again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a key keeps its create revision through updates, group commits and restarts; a re-created key gets a new one', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-records-'));
  try {
    const store = new FileRecordStore(dir);
    await store.start();
    const events: RecordChange[] = [];
    store.events.on('change', (c) => events.push(...c));
    const put = (k: string, v: unknown): Promise<unknown> => store.transact((tx) => tx.put(k, v));
    await put('a', 1); // r1
    await put('b', 1); // r2
    // One group: c is created, then updated by the next transaction of the same group.
    await Promise.all([put('c', 1), put('c', 2), put('a', 2)]); // r3..r5
    await store.transact((tx) => tx.del('b')); // r6
    await put('b', 2); // r7: created again
    const want = { a: [5, 1], b: [7, 7], c: [4, 3] };
    const revs = (s: FileRecordStore): Record<string, number[]> =>
      Object.fromEntries(['a', 'b', 'c'].map((k) => [k, [s.view.get(k)?.modRev ?? 0, s.view.get(k)?.createRev ?? 0]]));
    assert.equal(revs(store), want);
    assert.equal(
      events.map((c) => `${c.key}@${c.modRev}/${c.createRev}`),
      ['a@1/1', 'b@2/2', 'c@3/3', 'c@4/3', 'a@5/1', 'b@6/2', 'b@7/7'],
    );
    await store.close();
    // The first restart replays the log and compacts it into a snapshot; the second reads the snapshot.
    for (let i = 0; i < 2; i++) {
      const again = new FileRecordStore(dir);
      await again.start();
      assert.equal(revs(again), want, `restart ${i + 1}`);
      const seen: RecordChange[] = [];
      again.events.on('change', (c) => seen.push(...c));
      await again.transact((tx) => tx.put('c', 3 + i));
      assert.equal(
        seen.map((c) => c.createRev),
        [3],
      );
      await again.close();
      want.c = [8 + i, 3];
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
