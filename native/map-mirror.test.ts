// MapMirror against a real pinned map: first sync fills it, later syncs apply only the difference, and a new mirror
// on the same pin (agent restart) reads what is there and reconciles instead of starting empty.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import { decodeArpValue, encodeArpKey, encodeArpValue } from './arp-responder';
import { desiredArpEntries, MapMirror } from './ebpf-dataplane';
import { BpfMap } from './index';

const PIN_DIR = `/sys/fs/bpf/alcor-mirror-test-${process.pid}`;
const PIN = path.join(PIN_DIR, 'arp_table');

function entries(n: number, macLast: number, scope = 3): Array<{ scope: number; ip: string; mac: string }> {
  return Array.from({ length: n }, (_, i) => ({
    scope,
    ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    mac: `02:00:00:00:00:${macLast.toString(16).padStart(2, '0')}`,
  }));
}

if (requirePrereqs(['root', 'bpf'])) {
  test.after(() => fs.rmSync(PIN_DIR, { recursive: true, force: true }));

  test('sync fills, diffs, deletes; restart reconciles from the pinned map', async () => {
    const m1 = await MapMirror.openArpTable(PIN);
    try {
      assert.is(m1.created, true);
      assert.is(m1.size, 0);
      const first = await m1.sync(desiredArpEntries(entries(5000, 1)).entries);
      assert.equal([first.upserted, first.deleted, first.unchanged], [5000, 0, 0]);
      // Change 1000 MACs (scope 3, first 1000 IPs), drop the last 1000, add 500 in another scope.
      const next = [...entries(1000, 2), ...entries(5000, 1).slice(1000, 4000), ...entries(500, 7, 4)];
      const second = await m1.sync(desiredArpEntries(next).entries);
      assert.equal([second.upserted, second.deleted, second.unchanged], [1500, 1000, 3000]);
      assert.is(m1.size, 4500);
      assert.is(m1.map.dumpSync().count, 4500);
      assert.is(decodeArpValue(m1.map.lookup(encodeArpKey(3, '10.0.0.5')) ?? Buffer.alloc(8)), '02:00:00:00:00:02');
      assert.is(m1.map.lookup(encodeArpKey(3, '10.0.19.0')), null, 'index 4864 was dropped');
    } finally {
      m1.close();
    }

    // Someone (or a crashed agent) left a stray entry; the new mirror sees it and removes it.
    const raw = BpfMap.openPinned(PIN);
    raw.update(encodeArpKey(9, '192.0.2.1'), encodeArpValue('02:de:ad:be:ef:00'));
    raw.close();

    const m2 = await MapMirror.openArpTable(PIN);
    try {
      assert.is(m2.created, false);
      assert.is(m2.size, 4501, 'read what the pinned map holds');
      const want = [...entries(1000, 2), ...entries(5000, 1).slice(1000, 4000), ...entries(500, 7, 4)];
      const r = await m2.sync(desiredArpEntries(want).entries);
      assert.equal(
        [r.upserted, r.deleted, r.unchanged],
        [0, 1, 4500],
        'restart with the same goal state changes nothing but the stray',
      );
      const empty = await m2.sync(new Map());
      assert.is(empty.deleted, 4500);
      assert.is(m2.map.dumpSync().count, 0);
    } finally {
      m2.close();
    }
  });

  test('a failed sync marks the view stale and the next sync re-reads the map', async () => {
    const small = path.join(PIN_DIR, 'small');
    const m = await MapMirror.open(small, {
      type: 'hash',
      keySize: 8,
      valueSize: 8,
      maxEntries: 10,
      name: 'alc_t_small',
    });
    try {
      let failed = false;
      try {
        await m.sync(desiredArpEntries(entries(11, 1)).entries);
      } catch (e: unknown) {
        failed = true;
        assert.is((e as { code?: string }).code, 'E2BIG');
      }
      assert.ok(failed, 'overfilling the map rejects');
      const r = await m.sync(desiredArpEntries(entries(10, 1)).entries);
      assert.is(r.upserted + r.unchanged, 10);
      assert.is(r.unchanged, 10, 'the partial batch had already written the first 10; the re-read saw them');
      assert.is(m.map.dumpSync().count, 10);
    } finally {
      m.close();
    }
  });

  test.run();
}
