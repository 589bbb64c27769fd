// The embedded store's goal-state records: built a slice at a time and written a 1 MiB piece at a time from two
// reused buffers, each line is still the JSON record of its whole message, and a restart replays them the same.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GoalStateV2, OperationType } from '../../proto';
import { parseGoalStateV2 } from '../resources';
import { hostIp, makeGoalState } from '../testing/fixtures';
import { requirePrereqs } from '../../test/prereq';
import { run } from '../../test/sandbox/exec';
import { FileStore } from './file-store';

test('goal-state records hold the whole message, a large one then a smaller one, and replay the same', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-file-store-'));
  try {
    const hosts = Array.from({ length: 20 }, (_, i) => hostIp(i + 1));
    // Several pieces (1 MiB of base64 each) of many slices (48 KiB each), an odd length; then a smaller record.
    const big = GoalStateV2.encode(
      makeGoalState({ hosts, portsPerHost: 600, sharedNeighbors: 3, tag: 'big' }),
    ).finish();
    const small = GoalStateV2.encode(makeGoalState({ hosts: hosts.slice(0, 2), portsPerHost: 1, tag: 'sm' })).finish();
    assert.ok(big.length > 2 * 786432, `big enough: ${big.length}`);
    let store = new FileStore(dir);
    await store.start();
    await store.commit(parseGoalStateV2(big), 'r');
    await store.commit(parseGoalStateV2(small), 'r');
    const lines = fs
      .readFileSync(path.join(dir, 'desired.log'), 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const records = lines.map((l) => JSON.parse(l) as { t: string; v: number; b: string });
    assert.equal(
      records.map((r) => [r.t, r.v, r.b]),
      [
        ['g', 1, Buffer.from(big).toString('base64')],
        ['g', 2, Buffer.from(small).toString('base64')],
      ],
    );
    const snapshot = (s: FileStore): unknown => ({
      resources: [...s.cache.resources].map(([k, r]) => [k, Buffer.from(r.state).toString('hex')]),
      hosts: [...s.cache.hosts].map(([h, i]) => [h, i.version, [...i.keys]]),
      entries: [...s.cache.resources.keys()].map((k) => s.cache.entry(k)?.toString('hex')),
    });
    const before = snapshot(store);
    await store.close();
    store = new FileStore(dir);
    await store.start();
    assert.equal(snapshot(store), before);
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('host indexes moved in place by deltas (logged as messages or as key lists) replay the same', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-file-store-'));
  const enc = (gs: GoalStateV2): Uint8Array => GoalStateV2.encode(gs).finish();
  const keysOf = (s: FileStore): unknown => [...s.cache.hosts].map(([h, i]) => [h, i.version, [...i.keys].sort()]);
  const refsOf = (s: FileStore): unknown =>
    [...s.cache.resources.keys()].map((k) => [k, [...(s.cache.refs.get(k) ?? [])].sort()]);
  try {
    const hosts = [hostIp(1), hostIp(2), hostIp(3)];
    let store = new FileStore(dir);
    await store.start();
    await store.commit(parseGoalStateV2(enc(makeGoalState({ hosts, portsPerHost: 2, sharedNeighbors: 2 }))), 'r');
    // A restart: the indexes come back from the snapshot's key lists, then move by deltas again.
    await store.close();
    store = new FileStore(dir);
    await store.start();
    const h1 = hosts[0] as string;
    const del = makeGoalState({ hosts: [h1], portsPerHost: 2, operation: OperationType.DELETE });
    delete del.subnetStates['subnet-a'];
    const hr = del.hostResources[h1];
    if (hr) hr.resources = hr.resources.filter((r) => r.id.startsWith('port-'));
    await store.commit(parseGoalStateV2(enc(del)), 'r');
    // Without the raw message: logged as resource records and the host's whole key list.
    const more = parseGoalStateV2(enc(makeGoalState({ hosts: hosts.slice(1), portsPerHost: 1, tag: 'b' })));
    await store.commit({ resources: more.resources, hosts: more.hosts }, 'r');
    await store.commit(parseGoalStateV2(enc(makeGoalState({ hosts: [h1], portsPerHost: 1, tag: 'c' }))), 'r');
    const idx = store.cache.hosts.get(h1);
    assert.equal(
      [...(idx?.keys ?? [])].sort(),
      ['neighbor/nbr-a-0', 'neighbor/nbr-a-1', `port/port-c-${h1}-0`, 'subnet/subnet-a', 'subnet/subnet-c'].sort(),
    );
    assert.is(store.cache.resources.has(`port/port-a-${h1}-0`), false);
    assert.equal(store.cache.refs.get('neighbor/nbr-a-0'), new Set(hosts));
    const before = { keys: keysOf(store), refs: refsOf(store) };
    await store.close();
    store = new FileStore(dir);
    await store.start();
    assert.equal({ keys: keysOf(store), refs: refsOf(store) }, before);
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

if (requirePrereqs(['root'])) {
  test('a disk that fills mid-record: the commit fails, the next one lands, and the log still replays', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-file-store-full-'));
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-file-store-copy-'));
    let mounted = false;
    // Closed in `finally` too: an open log keeps the tmpfs busy, and a failed assertion must not leave it mounted.
    const stores: FileStore[] = [];
    const enc = (gs: GoalStateV2): Uint8Array => GoalStateV2.encode(gs).finish();
    const hosts = [hostIp(1), hostIp(2)];
    try {
      // Room for the first record, and for part of the second: the write that fills the disk takes some of
      // its bytes and refuses the rest, as a full disk does.
      const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=192k', 'tmpfs', dir]);
      assert.is(m.code, 0, m.stderr);
      mounted = true;
      const first = enc(makeGoalState({ hosts, portsPerHost: 150, tag: 'a' }));
      const tooBig = enc(makeGoalState({ hosts, portsPerHost: 600, tag: 'b' }));
      const last = enc(makeGoalState({ hosts: hosts.slice(0, 1), portsPerHost: 2, tag: 'c' }));
      const b64 = (b: Uint8Array): number => (b.length * 4) / 3;
      assert.ok(b64(first) < 100 * 1024 && b64(tooBig) > 192 * 1024, `${first.length} ${tooBig.length}`);
      const store = new FileStore(dir);
      stores.push(store);
      await store.start();
      await store.commit(parseGoalStateV2(first), 'r');
      const failed = await store.commit(parseGoalStateV2(tooBig), 'r').then(
        () => null,
        (e: unknown) => e as { code?: string },
      );
      assert.is(failed?.code, 'STORE_UNAVAILABLE');
      assert.not.ok(store.healthy(), 'the store says it could not write');
      await store.commit(parseGoalStateV2(last), 'r');
      assert.ok(store.healthy());
      await store.close();

      // The log replays (on a disk with room for the restart's snapshot): the failed commit is not in it.
      fs.copyFileSync(path.join(dir, 'desired.log'), path.join(copy, 'desired.log'));
      const records = fs
        .readFileSync(path.join(copy, 'desired.log'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { t: string; b: string });
      assert.equal(
        records.map((r) => r.b),
        [first, last].map((b) => Buffer.from(b).toString('base64')),
      );
      const again = new FileStore(copy);
      stores.push(again);
      await again.start();
      assert.ok(again.cache.resources.has(`port/port-c-${hostIp(1)}-1`), 'the commit after the failure replays');
      assert.not.ok(
        [...again.cache.resources.keys()].some((k) => k.startsWith('port/port-b-')),
        'nothing of the failed one',
      );
      assert.is(again.cache.hosts.get(hostIp(1))?.version, 2, 'the failed commit took no version');
      await again.close();
    } finally {
      for (const st of stores) await st.close().catch(() => undefined);
      if (mounted) await run('umount', [dir]);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
}

test.run();
