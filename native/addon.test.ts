// The addon's BPF map, pinning and error surface against the real kernel (root + bpffs). Every bad input must come
// back as a JS exception with a clear message and `code`, with the process still alive.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import {
  BpfMap,
  closeFd,
  isNativeError,
  loadXdpProgram,
  mapFile,
  native,
  PacketSocket,
  perCpuSlots,
  possibleCpus,
  xdpAttach,
  xdpQuery,
} from './index';
import { ensureBpfObject } from './bpf-build';

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** Runs fn, expecting a native error with this code; returns it for further checks. */
function throwsCode(fn: () => unknown, code: string): Error & { code: string } {
  try {
    fn();
  } catch (e: unknown) {
    assert.ok(isNativeError(e), `expected a coded Error, got ${String(e)}`);
    assert.is(e.code, code, e.message);
    return e;
  }
  assert.unreachable(`expected an exception with code ${code}`);
  throw new Error('unreachable');
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  try {
    await p;
  } catch (e: unknown) {
    assert.ok(isNativeError(e), `expected a coded Error, got ${String(e)}`);
    assert.is(e.code, code, e.message);
    return e;
  }
  assert.unreachable(`expected a rejection with code ${code}`);
  throw new Error('unreachable');
}

const PIN_DIR = `/sys/fs/bpf/alcor-addon-test-${process.pid}`;

if (requirePrereqs(['root', 'bpf'])) {
  test.after(() => fs.rmSync(PIN_DIR, { recursive: true, force: true }));

  test('hash map: update / lookup / delete / update flags', () => {
    const m = BpfMap.create({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16, name: 'alc_t_hash' });
    try {
      assert.is(m.info.keySize, 4);
      assert.is(m.info.name, 'alc_t_hash');
      assert.is(m.lookup(u32(1)), null);
      m.update(u32(1), u64(100));
      assert.equal(m.lookup(u32(1)), u64(100));
      const exists = throwsCode(() => m.update(u32(1), u64(5), 'noexist'), 'EEXIST');
      assert.match(exists.message, /bpf\(BPF_MAP_UPDATE_ELEM\) failed: EEXIST \(File exists\)/);
      throwsCode(() => m.update(u32(2), u64(5), 'exist'), 'ENOENT');
      m.update(u32(1), u64(101), 'exist');
      assert.equal(m.lookup(u32(1)), u64(101));
      assert.is(m.delete(u32(1)), true);
      assert.is(m.delete(u32(1)), false, 'deleting an absent key is not an error');
      assert.is(m.lookup(u32(1)), null);
    } finally {
      m.close();
    }
  });

  test('full hash map: E2BIG names the command and errno', () => {
    const m = BpfMap.create({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 2, name: 'alc_t_full' });
    try {
      m.update(u32(1), u32(1));
      m.update(u32(2), u32(2));
      const e = throwsCode(() => m.update(u32(3), u32(3)), 'E2BIG');
      assert.is(e.message, 'bpf(BPF_MAP_UPDATE_ELEM) failed: E2BIG (Argument list too long)');
      const batch = throwsCode(
        () => m.updateBatchSync(Buffer.concat([u32(4), u32(5)]), Buffer.concat([u32(4), u32(5)])),
        'E2BIG',
      );
      assert.match(batch.message, /BPF_MAP_UPDATE_BATCH\) failed: E2BIG .*at entry 0 of 2/);
    } finally {
      m.close();
    }
  });

  test('bad input: wrong key/value size, bad fd, wrong types -> clear errors, process alive', () => {
    const m = BpfMap.create({ type: 'hash', keySize: 8, valueSize: 8, maxEntries: 16, name: 'alc_t_bad' });
    try {
      const k = throwsCode(() => m.update(u32(1), u64(1)), 'EBADKEYSIZE');
      assert.match(k.message, /key is 4 bytes but map 'alc_t_bad' has key_size 8/);
      throwsCode(() => m.lookup(Buffer.alloc(9)), 'EBADKEYSIZE');
      throwsCode(() => m.update(u64(1), u32(1)), 'EBADVALUESIZE');
      throwsCode(() => m.updateBatchSync(Buffer.alloc(12), Buffer.alloc(8)), 'EBADKEYSIZE');
      throwsCode(() => m.updateBatchSync(Buffer.alloc(16), Buffer.alloc(8)), 'EBADVALUESIZE');
      throwsCode(() => native().mapLookup(m.fd, 'not a buffer' as unknown as Uint8Array), 'ERR_INVALID_ARG');
      throwsCode(() => native().mapLookup(-1, u64(1)), 'ERR_INVALID_ARG');
      throwsCode(
        () => native().mapCreate({ type: 1, keySize: 4, valueSize: 4, maxEntries: 4, name: 'bad name!' }),
        'EBADNAME',
      );
      throwsCode(() => native().mapCreate({ type: 1, keySize: 0, valueSize: 4, maxEntries: 4 }), 'EINVAL');
      // fd 0 is stdin, not a map: refused before any bpf() call could misread memory.
      throwsCode(() => native().mapUpdate(0, u64(1), u64(1)), 'EBADMAPFD');
    } finally {
      m.close();
    }
    throwsCode(() => m.lookup(u64(1)), 'EBADMAPFD');
    assert.is(typeof process.pid, 'number', 'still alive');
  });

  test('batch update, dump, iterate, batch delete skipping absent keys (sync and async)', async () => {
    const n = 10_000;
    const m = BpfMap.create({ type: 'hash', keySize: 8, valueSize: 8, maxEntries: n, name: 'alc_t_batch' });
    try {
      const keys = Buffer.alloc(8 * n);
      const values = Buffer.alloc(8 * n);
      for (let i = 0; i < n; i++) {
        keys.writeUInt32LE(i, 8 * i);
        values.writeUInt32LE(i * 3, 8 * i);
      }
      const r = await m.updateBatch(keys, values);
      assert.equal(r, { count: n, usedBatch: true });
      assert.equal(m.lookup(keys.subarray(8 * 77, 8 * 78)), values.subarray(8 * 77, 8 * 78));
      const dump = await m.dump();
      assert.is(dump.count, n);
      const seen = new Set<number>();
      for (let i = 0; i < dump.count; i++) {
        const k = dump.keys.readUInt32LE(8 * i);
        assert.is(dump.values.readUInt32LE(8 * i), k * 3);
        seen.add(k);
      }
      assert.is(seen.size, n);
      assert.is([...m.keys()].length, n);
      assert.is(m.dumpSync().count, n);
      // Delete 0..99 plus 50 keys that were never there.
      const gone = Buffer.alloc(8 * 150);
      for (let i = 0; i < 150; i++) gone.writeUInt32LE(i < 100 ? i : 1_000_000 + i, 8 * i);
      assert.equal(await m.deleteBatch(gone), { count: 100, usedBatch: true });
      assert.equal(m.deleteBatchSync(gone), { count: 0, usedBatch: true });
      assert.is(m.dumpSync().count, n - 100);
      // NOEXIST cannot go through the kernel's batch path: it loops, and reports the first clash.
      await rejectsCode(m.updateBatch(keys.subarray(800, 816), values.subarray(800, 816), 'noexist'), 'EEXIST');
    } finally {
      m.close();
    }
  });

  test('parallel batch update writes every entry once', async () => {
    const n = 40_000;
    const m = BpfMap.create({ type: 'hash', keySize: 8, valueSize: 8, maxEntries: n, name: 'alc_t_par' });
    try {
      const keys = Buffer.alloc(8 * n);
      const values = Buffer.alloc(8 * n);
      for (let i = 0; i < n; i++) {
        keys.writeUInt32LE(i, 8 * i);
        values.writeUInt32LE(i + 1, 8 * i);
      }
      assert.equal(await m.updateBatch(keys, values, 'any', { parallel: 4 }), { count: n, usedBatch: true });
      const dump = m.dumpSync();
      assert.is(dump.count, n);
      for (let i = 0; i < dump.count; i++)
        assert.is(dump.values.readUInt32LE(8 * i), dump.keys.readUInt32LE(8 * i) + 1);
    } finally {
      m.close();
    }
  });

  test('array, percpu_array and lpm_trie maps', () => {
    const arr = BpfMap.create({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 8, name: 'alc_t_arr' });
    const pc = BpfMap.create({ type: 'percpu_array', keySize: 4, valueSize: 12, maxEntries: 4, name: 'alc_t_pc' });
    const lpm = BpfMap.create({ type: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries: 16, name: 'alc_t_lpm' });
    try {
      assert.equal(arr.lookup(u32(3)), u64(0), 'array slots exist from the start');
      arr.updateBatchSync(Buffer.concat([u32(0), u32(1)]), Buffer.concat([u64(7), u64(8)]));
      assert.equal(arr.lookup(u32(1)), u64(8));
      assert.is(arr.lookup(u32(8)), null, 'out-of-range index reads as absent');
      throwsCode(() => arr.update(u32(8), u64(1)), 'E2BIG');
      // Arrays cannot delete: the kernel has no batch delete (ENOTSUPP), the per-entry fallback says EINVAL.
      const del = throwsCode(() => arr.deleteBatchSync(u32(0)), 'EINVAL');
      assert.match(del.message, /BPF_MAP_DELETE_ELEM/);

      const cpus = possibleCpus();
      assert.is(pc.valueBytes, 16 * cpus, 'per-CPU values are rounded to 8 bytes, one per possible CPU');
      const v = pc.lookup(u32(2));
      assert.ok(v !== null);
      assert.is(perCpuSlots(v, 12).length, cpus);
      const all = Buffer.alloc(pc.valueBytes, 1);
      pc.update(u32(2), all);
      assert.equal(pc.lookup(u32(2)), all);
      throwsCode(() => pc.update(u32(2), Buffer.alloc(12)), 'EBADVALUESIZE');

      // LPM key: {prefixlen u32, IPv4 bytes}.
      const prefix = (len: number, ip: number[]): Buffer => Buffer.concat([u32(len), Buffer.from(ip)]);
      lpm.update(prefix(24, [10, 1, 2, 0]), u32(24));
      lpm.update(prefix(16, [10, 1, 0, 0]), u32(16));
      assert.equal(lpm.lookup(prefix(32, [10, 1, 2, 9])), u32(24));
      assert.equal(lpm.lookup(prefix(32, [10, 1, 9, 9])), u32(16));
      assert.is(lpm.lookup(prefix(32, [10, 2, 0, 1])), null);
      assert.is(lpm.dumpSync().count, 2);
      assert.is(lpm.deleteBatchSync(prefix(24, [10, 1, 2, 0])).count, 1);
    } finally {
      arr.close();
      pc.close();
      lpm.close();
    }
  });

  test('pin, open pinned, open-or-create with shape check; missing pin path is ENOENT', () => {
    const spec = { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 8, name: 'alc_t_pin' } as const;
    const pinPath = path.join(PIN_DIR, 'pinned');
    const first = BpfMap.openOrCreatePinned(pinPath, spec);
    assert.is(first.created, true);
    first.map.update(u32(1), u32(11));
    first.map.close();
    const again = BpfMap.openOrCreatePinned(pinPath, spec);
    assert.is(again.created, false);
    assert.equal(again.map.lookup(u32(1)), u32(11), 'pinned map keeps its entries across opens');
    again.map.close();
    const shape = throwsCode(() => BpfMap.openOrCreatePinned(pinPath, { ...spec, valueSize: 8 }), 'EMAPSHAPE');
    assert.match(shape.message, /value_size 4 != 8/);
    const missing = throwsCode(() => BpfMap.openPinned(path.join(PIN_DIR, 'nope')), 'ENOENT');
    assert.match(missing.message, /bpf\(BPF_OBJ_GET\) failed: ENOENT .*alcor-addon-test-\d+\/nope/);
  });

  test('ELF and interface errors: not an ELF, missing map fd, unknown interface / netns', async () => {
    await rejectsCode(loadXdpProgram({ path: path.join(__dirname, '..', '..', 'package.json'), maps: {} }), 'EBADELF');
    await rejectsCode(loadXdpProgram({ path: '/nonexistent/x.o', maps: {} }), 'ENOENT');
    const obj = ensureBpfObject('arp_responder');
    assert.equal(native().elfMapNames(obj), ['arp_scope', 'arp_stats', 'arp_table']);
    const e = await rejectsCode(loadXdpProgram({ path: obj, maps: {} }), 'EMISSINGMAP');
    assert.match(e.message, /uses map 'arp_\w+' but no fd was given/);
    const dev = await rejectsCode(xdpAttach({ ifname: 'alc-nope0', progFd: 0 }), 'ENODEV');
    assert.match(dev.message, /interface 'alc-nope0' not found/);
    await rejectsCode(xdpQuery({ ifname: 'lo', netns: 'alc-no-such-ns' }), 'ENOENT');
    assert.is((await xdpQuery({ ifname: 'lo' })).mode, 'none');
    throwsCode(() => PacketSocket.open({ ifname: 'alc-nope0' }), 'ENODEV');
  });

  test('truncated or corrupted BPF objects are refused with coded errors, never a crash', async () => {
    const original = fs.readFileSync(ensureBpfObject('arp_responder'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-elf-'));
    const table = BpfMap.create({ type: 'hash', keySize: 8, valueSize: 8, maxEntries: 4, name: 'alc_t_f1' });
    const scope = BpfMap.create({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 4, name: 'alc_t_f2' });
    const stats = BpfMap.create({
      type: 'percpu_array',
      keySize: 4,
      valueSize: 32,
      maxEntries: 4096,
      name: 'alc_t_f3',
    });
    try {
      let seed = 7;
      const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
      const codes = new Set<string>();
      for (let i = 0; i < 60; i++) {
        let bytes = Buffer.from(original);
        if (i < 30) bytes = bytes.subarray(0, Math.floor((original.length * i) / 30));
        else for (let j = 0; j < 4; j++) bytes[rnd() % bytes.length] = rnd() & 255;
        const file = path.join(dir, `f${i}.o`);
        fs.writeFileSync(file, bytes);
        try {
          const prog = await loadXdpProgram({
            path: file,
            maps: { arp_table: table, arp_scope: scope, arp_stats: stats },
          });
          closeFd(prog.fd);
        } catch (e: unknown) {
          assert.ok(isNativeError(e), String(e));
          codes.add(e.code);
        }
      }
      assert.ok(codes.has('EBADELF'), [...codes].join(','));
    } finally {
      table.close();
      scope.close();
      stats.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('verifier refusal carries the verifier log', async () => {
    const obj = ensureBpfObject('arp_responder');
    // Swap the maps: the program then reads a 4-byte-value map as the 32-byte stats struct.
    const table = BpfMap.create({ type: 'hash', keySize: 8, valueSize: 8, maxEntries: 4, name: 'alc_t_v1' });
    const scope = BpfMap.create({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 4, name: 'alc_t_v2' });
    try {
      const e = await rejectsCode(
        loadXdpProgram({ path: obj, maps: { arp_table: table, arp_scope: scope, arp_stats: scope } }),
        'EACCES',
      );
      assert.match(e.message, /bpf\(BPF_PROG_LOAD\) failed: EACCES .*verifier log:/s);
    } finally {
      table.close();
      scope.close();
    }
  });

  test('missing addon gives NativeNotBuiltError with build instructions', () => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `try { require(${JSON.stringify(path.join(__dirname, 'index.js'))}).native() } catch (e) { console.log(e.code + ' ' + e.message) }`,
      ],
      { env: { ...process.env, ALCOR_NATIVE_PATH: '/nonexistent/alcor_native.node' }, encoding: 'utf8' },
    );
    assert.match(r.stdout, /^ENATIVE_NOT_BUILT native addon not built: .*npm install/);
  });

  test('mapFile: the file as it is, copy-on-write; an empty file; a missing one is an errno error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-mapfile-'));
    const file = path.join(dir, 'bytes');
    const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i & 0xff));
    fs.writeFileSync(file, bytes);
    const mapped = mapFile(file);
    assert.ok(mapped.equals(bytes));
    mapped[0] = 0xff; // a private copy of that page: the file does not change
    assert.is(fs.readFileSync(file)[0], 0);
    fs.writeFileSync(path.join(dir, 'empty'), '');
    assert.is(mapFile(path.join(dir, 'empty')).length, 0);
    assert.throws(
      () => mapFile(path.join(dir, 'missing')),
      (e: unknown) => (e as { code?: string }).code === 'ENOENT',
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('noop and inetChecksum still exported', () => {
    native().noop();
    assert.is(native().inetChecksum(Buffer.from([0x45, 0x00, 0x00, 0x1c])), 0xbae3);
  });

  test.run();
}
