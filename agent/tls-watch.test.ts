// agent/tls-watch.ts: a rotation on disk reaches the reload, whether the file is rewritten in place,
// renamed over, or reached through a swapped symlink (a kubelet secret volume).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { watchTlsFiles } from './tls-watch';

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 10 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function withDir(body: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-watch-'));
    try {
      await body(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'a file rewritten in place, then renamed over, each reloads',
  withDir(async (dir) => {
    const cert = path.join(dir, 'tls.crt');
    fs.writeFileSync(cert, 'one');
    let reloads = 0;
    const w = watchTlsFiles([cert, undefined], () => reloads++, assert.unreachable, 20);
    try {
      fs.writeFileSync(cert, 'two, longer');
      await until('reload after an in-place write', () => reloads === 1);
      fs.writeFileSync(`${cert}.tmp`, 'three');
      fs.renameSync(`${cert}.tmp`, cert);
      await until('reload after a rename over', () => reloads === 2);
    } finally {
      w.close();
    }
  }),
);

test(
  'a swapped symlink (..data, as a kubelet secret volume does it) reloads',
  withDir(async (dir) => {
    fs.mkdirSync(path.join(dir, 'v1'));
    fs.mkdirSync(path.join(dir, 'v2'));
    fs.writeFileSync(path.join(dir, 'v1', 'tls.crt'), 'one');
    fs.writeFileSync(path.join(dir, 'v2', 'tls.crt'), 'two, longer');
    fs.symlinkSync('v1', path.join(dir, '..data'));
    fs.symlinkSync(path.join('..data', 'tls.crt'), path.join(dir, 'tls.crt'));
    let reloads = 0;
    const w = watchTlsFiles([path.join(dir, 'tls.crt')], () => reloads++, assert.unreachable, 20);
    try {
      fs.symlinkSync('v2', path.join(dir, '..data_tmp'));
      fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await until('reload after the symlink swap', () => reloads === 1);
    } finally {
      w.close();
    }
  }),
);

test('a directory that cannot be watched is reported, not thrown', () => {
  const errors: string[] = [];
  const w = watchTlsFiles(
    ['/nonexistent-alcor-dir/tls.crt'],
    () => undefined,
    (dir) => errors.push(dir),
  );
  w.close();
  assert.equal(errors, ['/nonexistent-alcor-dir']);
});

test.run();
