// The snapshot file: written in batches yet read back as the same object; what counts as unusable.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SNAPSHOT_FORMAT, type StoreSnapshot } from '../core/goalstate';
import { readSnapshot, setAsideSnapshot, writeSnapshot } from './host-state';

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-host-state-'));
    try {
      await fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'a snapshot written in batches reads back equal (more resources than one batch, empty kinds)',
  withDir(async (dir) => {
    const neighbor = Array.from({ length: 20_000 }, (_, i) => ({ id: `n${i}`, mac: i, ips: [i, i + 1] }));
    const snap = {
      format: SNAPSHOT_FORMAT,
      resources: { vpc: [], subnet: [{ id: 's', name: 'a "quoted" name' }], neighbor },
    } as unknown as StoreSnapshot;
    const stateDir = path.join(dir, 'br-int');
    await writeSnapshot(stateDir, snap);
    const r = await readSnapshot(stateDir);
    assert.is(r.kind, 'ok');
    assert.equal(r.kind === 'ok' ? r.snapshot : undefined, snap);
    assert.equal(
      fs.readdirSync(stateDir).filter((f) => f.endsWith('.tmp')),
      [],
      'no temp file left',
    );
  }),
);

test(
  'none without a file or a state dir; unusable for garbage, another format, or a file that cannot be read',
  withDir(async (dir) => {
    assert.is((await readSnapshot(undefined)).kind, 'none');
    assert.is((await readSnapshot(dir)).kind, 'none');
    const file = path.join(dir, 'snapshot.json');
    for (const text of [
      '{"format":"alcor-agent-store/1","resources":{"port":[{"id"',
      '{"format":"other/9","resources":{}}',
      '[]',
    ]) {
      fs.writeFileSync(file, text);
      assert.is((await readSnapshot(dir)).kind, 'unusable', text);
    }
    const aside = await setAsideSnapshot(file);
    assert.is(aside, `${file}.unusable`);
    assert.ok(fs.existsSync(`${file}.unusable`) && !fs.existsSync(file));
    fs.mkdirSync(file); // EISDIR: there, but not readable as a file
    assert.is((await readSnapshot(dir)).kind, 'unusable');
  }),
);

test.run();
