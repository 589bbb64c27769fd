// eBPF map programming speed: how fast the agent can fill arp_table-shaped maps (8-byte key, 8-byte value) through the
// addon, compared with bpftool, plus the fixed cost of an N-API call. Needs root (bpf) and bpftool.
//
//   node dist/perf/ebpf.js [--entries N] [--bpftool-entries N] [--single-entries N]
//   alcor-bench ebpf --entries N --json      (wired through perf/cli; see `command` below)
//
// The LAST line printed is one JSON object (EbpfBenchResult). Rates are entries per second over the whole call,
// including crossing into C++ and the syscalls.
//   batchUpdatesPerSec      one BPF_MAP_UPDATE_BATCH of N fresh entries from the pool thread (async API)
//   batchUpdatesParallelPerSec  the same N entries split into batchParallelSlices concurrent batch calls
//   batchUpdateSyncPerSec   the same through the sync API (JS thread)
//   batchOverwritesPerSec   the same keys again (updates of existing entries)
//   batchDeletesPerSec      one BPF_MAP_DELETE_BATCH of all N keys
//   singleUpdatesPerSec     one mapUpdate (one bpf() syscall) per entry from JS, over singleEntries entries
//   dumpEntriesPerSec       reading the whole map back (BPF_MAP_LOOKUP_BATCH)
//   bpftoolUpdatesPerSec    `bpftool batch file F` with one `map update id ...` line per entry (bpftoolEntries lines,
//                           one bpftool process, bpftoolMethod = 'batch-file')
//   bpftoolSpawnUpdatesPerSec  one `bpftool map update` process per entry (bpftoolSpawnSamples runs)
//   *CpuNsPerEntry          process CPU time per entry for the same runs: wall-clock rates drop when other jobs
//                           load the 2 cores, CPU time much less so
//   napiCallNs              a no-op N-API call
//   mirrorSyncMs / mirrorNoopSyncMs  MapMirror.sync of N ARP entries into an empty pinned map / again unchanged
//                           (diff + pack + batch; needs bpffs, else null)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, type OptionSpec } from '../core/cli/args';
import type { CliIo, SubcommandModule } from '../core/cli/commands';
import { desiredArpEntries, MapMirror } from '../native/ebpf-dataplane';
import { BpfMap, native } from '../native/index';

export interface EbpfBenchOptions {
  readonly entries: number;
  /** Entries for the one-syscall-per-entry loop (default min(entries, 200k)). */
  readonly singleEntries?: number;
  /** Lines in the bpftool batch file (default min(entries, 100k)). */
  readonly bpftoolEntries?: number;
  /** bpftool processes spawned one per update (default 50). */
  readonly bpftoolSpawnSamples?: number;
  /** Progress lines (default: console.log). */
  readonly log?: (line: string) => void;
}

export interface EbpfBenchResult {
  readonly entries: number;
  readonly batchUpdatesPerSec: number;
  /** CPU time (all threads) per entry of the async batch update: comparable across runs on a loaded machine. */
  readonly batchUpdateCpuNsPerEntry: number;
  readonly batchUpdatesParallelPerSec: number;
  readonly batchParallelSlices: number;
  readonly batchUpdateSyncPerSec: number;
  readonly batchOverwritesPerSec: number;
  readonly batchDeletesPerSec: number;
  readonly singleEntries: number;
  readonly singleUpdatesPerSec: number;
  readonly singleUpdateCpuNsPerEntry: number;
  readonly singleLookupNs: number;
  readonly dumpEntriesPerSec: number;
  readonly bpftoolMethod: 'batch-file';
  readonly bpftoolEntries: number;
  readonly bpftoolUpdatesPerSec: number | null;
  readonly bpftoolSpawnSamples: number;
  readonly bpftoolSpawnUpdatesPerSec: number | null;
  readonly napiCallNs: number;
  readonly mirrorSyncMs: number | null;
  readonly mirrorNoopSyncMs: number | null;
  readonly usedBatch: boolean;
  readonly cpus: number;
  readonly loadAvg1m: number;
}

function nowNs(): bigint {
  return process.hrtime.bigint();
}

function perSec(count: number, ns: bigint): number {
  return Math.round(count / (Number(ns) / 1e9));
}

/** arp_table-shaped entries: key {scope u32, ipv4}, value {mac, pad}. */
function packedEntries(n: number, macSeed: number): { keys: Buffer; values: Buffer } {
  const keys = Buffer.alloc(8 * n);
  const values = Buffer.alloc(8 * n);
  for (let i = 0; i < n; i++) {
    keys.writeUInt32LE(1 + (i >>> 20), 8 * i); // scope
    keys.writeUInt32BE(0x0a000000 + (i & 0xfffff), 8 * i + 4); // 10.x.y.z
    values.writeUInt16BE(0x0200, 8 * i);
    values.writeUInt32BE((i + macSeed) >>> 0, 8 * i + 2);
  }
  return { keys, values };
}

function napiNoopNs(): number {
  const n = native();
  const calls = 1_000_000;
  for (let i = 0; i < 100_000; i++) n.noop();
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = nowNs();
    for (let i = 0; i < calls; i++) n.noop();
    best = Math.min(best, Number(nowNs() - t0) / calls);
  }
  return Math.round(best * 10) / 10;
}

function hexBytes(buf: Buffer, offset: number, len: number): string {
  const parts: string[] = [];
  for (let i = 0; i < len; i++) parts.push((buf[offset + i] as number).toString(16).padStart(2, '0'));
  return parts.join(' ');
}

function bpftoolBatch(mapId: number, keys: Buffer, values: Buffer, count: number): number | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bpftool-'));
  try {
    const file = path.join(dir, 'updates.txt');
    const lines: string[] = [];
    for (let i = 0; i < count; i++) {
      lines.push(`map update id ${mapId} key hex ${hexBytes(keys, 8 * i, 8)} value hex ${hexBytes(values, 8 * i, 8)}`);
    }
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const t0 = nowNs();
    const r = spawnSync('bpftool', ['batch', 'file', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const ns = nowNs() - t0;
    if (r.status !== 0) return null;
    return perSec(count, ns);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function bpftoolSpawn(mapId: number, keys: Buffer, values: Buffer, samples: number): number | null {
  const t0 = nowNs();
  for (let i = 0; i < samples; i++) {
    const r = spawnSync('bpftool', [
      'map',
      'update',
      'id',
      String(mapId),
      'key',
      'hex',
      ...hexBytes(keys, 8 * i, 8).split(' '),
      'value',
      'hex',
      ...hexBytes(values, 8 * i, 8).split(' '),
    ]);
    if (r.status !== 0) return null;
  }
  return perSec(samples, nowNs() - t0);
}

function bpffsMounted(): boolean {
  try {
    return fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf');
  } catch {
    return false;
  }
}

async function mirrorSync(n: number): Promise<{ first: number; noop: number } | null> {
  if (!bpffsMounted()) return null;
  const pinDir = `/sys/fs/bpf/alcor-bench-${process.pid}`;
  try {
    const mirror = await MapMirror.open(path.join(pinDir, 'arp_table'), {
      type: 'hash',
      keySize: 8,
      valueSize: 8,
      maxEntries: n,
      name: 'alc_bench_mir',
    });
    try {
      const wanted = Array.from({ length: n }, (_, i) => ({
        scope: 1 + (i >>> 20),
        ip: `10.${(i >>> 16) & 15}.${(i >>> 8) & 255}.${i & 255}`,
        mac: '02:00:00:00:00:01',
      }));
      const t0 = nowNs();
      await mirror.sync(desiredArpEntries(wanted).entries);
      const first = Number(nowNs() - t0) / 1e6;
      const t1 = nowNs();
      await mirror.sync(desiredArpEntries(wanted).entries);
      const noop = Number(nowNs() - t1) / 1e6;
      return { first: Math.round(first), noop: Math.round(noop) };
    } finally {
      mirror.close();
    }
  } finally {
    fs.rmSync(pinDir, { recursive: true, force: true });
  }
}

export async function runEbpfBench(opts: EbpfBenchOptions): Promise<EbpfBenchResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const n = opts.entries;
  if (!Number.isInteger(n) || n < 1 || n > 16_000_000) {
    throw Object.assign(new Error(`entries must be an integer in 1..16000000, got ${n}`), { code: 'EBADARG' });
  }
  const singleEntries = Math.min(opts.singleEntries ?? 200_000, n);
  const bpftoolEntries = Math.min(opts.bpftoolEntries ?? 100_000, n);
  const spawnSamples = Math.min(opts.bpftoolSpawnSamples ?? 50, n);

  const napiCallNs = napiNoopNs();
  log(`napi noop: ${napiCallNs} ns/call`);

  const { keys, values } = packedEntries(n, 1);
  const other = packedEntries(n, 7);
  const spec = { type: 'hash', keySize: 8, valueSize: 8, maxEntries: n, name: 'alc_bench' } as const;

  const map = BpfMap.create(spec);
  let result: EbpfBenchResult;
  try {
    let t0 = nowNs();
    const cpu0 = process.cpuUsage();
    const r = await map.updateBatch(keys, values);
    const batchUpdatesPerSec = perSec(n, nowNs() - t0);
    const cpu = process.cpuUsage(cpu0);
    const batchUpdateCpuNsPerEntry = Math.round(((cpu.user + cpu.system) * 1000) / n);
    log(
      `batch update (async): ${n} entries, ${batchUpdatesPerSec}/s, ${batchUpdateCpuNsPerEntry} CPU ns/entry, usedBatch=${r.usedBatch}`,
    );

    await map.deleteBatch(keys);
    const parallel = Math.max(2, Math.min(4, os.cpus().length));
    t0 = nowNs();
    await map.updateBatch(keys, values, 'any', { parallel });
    const batchUpdatesParallelPerSec = perSec(n, nowNs() - t0);
    log(`batch update (async, ${parallel} slices in parallel): ${batchUpdatesParallelPerSec}/s`);

    t0 = nowNs();
    map.updateBatchSync(other.keys, other.values);
    const batchOverwritesPerSec = perSec(n, nowNs() - t0);
    log(`batch overwrite (sync): ${batchOverwritesPerSec}/s`);

    t0 = nowNs();
    const dump = await map.dump();
    const dumpEntriesPerSec = perSec(dump.count, nowNs() - t0);
    log(`dump: ${dump.count} entries, ${dumpEntriesPerSec}/s`);

    t0 = nowNs();
    await map.deleteBatch(keys);
    const batchDeletesPerSec = perSec(n, nowNs() - t0);
    log(`batch delete: ${batchDeletesPerSec}/s`);

    t0 = nowNs();
    map.updateBatchSync(keys, values);
    const batchUpdateSyncPerSec = perSec(n, nowNs() - t0);
    log(`batch update (sync, fresh): ${batchUpdateSyncPerSec}/s`);
    await map.deleteBatch(keys);

    const n8 = native();
    const fd = map.fd;
    t0 = nowNs();
    const cpu1 = process.cpuUsage();
    for (let i = 0; i < singleEntries; i++) {
      n8.mapUpdate(fd, keys.subarray(8 * i, 8 * i + 8), values.subarray(8 * i, 8 * i + 8), 0);
    }
    const singleUpdatesPerSec = perSec(singleEntries, nowNs() - t0);
    const cpuSingle = process.cpuUsage(cpu1);
    const singleUpdateCpuNsPerEntry = Math.round(((cpuSingle.user + cpuSingle.system) * 1000) / singleEntries);
    log(
      `single updates: ${singleEntries} entries, ${singleUpdatesPerSec}/s, ${singleUpdateCpuNsPerEntry} CPU ns/entry`,
    );
    const lookups = Math.min(singleEntries, 100_000);
    t0 = nowNs();
    for (let i = 0; i < lookups; i++) n8.mapLookup(fd, keys.subarray(8 * i, 8 * i + 8));
    const singleLookupNs = Math.round(Number(nowNs() - t0) / lookups);
    await map.deleteBatch(keys);

    const bpftoolUpdatesPerSec = bpftoolBatch(map.info.id, keys, values, bpftoolEntries);
    log(`bpftool batch file: ${bpftoolEntries} lines, ${bpftoolUpdatesPerSec ?? 'failed'}/s`);
    const check = map.dumpSync().count;
    if (bpftoolUpdatesPerSec !== null && check !== bpftoolEntries)
      log(`warning: bpftool wrote ${check} of ${bpftoolEntries} entries`);
    const bpftoolSpawnUpdatesPerSec = bpftoolSpawn(map.info.id, other.keys, other.values, spawnSamples);
    log(`bpftool one process per update: ${spawnSamples} runs, ${bpftoolSpawnUpdatesPerSec ?? 'failed'}/s`);

    const mirror = await mirrorSync(n);
    log(
      mirror === null
        ? 'mirror: skipped (bpffs not mounted)'
        : `mirror sync: ${mirror.first} ms first, ${mirror.noop} ms unchanged`,
    );

    result = {
      entries: n,
      batchUpdatesPerSec,
      batchUpdateCpuNsPerEntry,
      batchUpdatesParallelPerSec,
      batchParallelSlices: parallel,
      batchUpdateSyncPerSec,
      batchOverwritesPerSec,
      batchDeletesPerSec,
      singleEntries,
      singleUpdatesPerSec,
      singleUpdateCpuNsPerEntry,
      singleLookupNs,
      dumpEntriesPerSec,
      bpftoolMethod: 'batch-file',
      bpftoolEntries,
      bpftoolUpdatesPerSec,
      bpftoolSpawnSamples: spawnSamples,
      bpftoolSpawnUpdatesPerSec,
      napiCallNs,
      mirrorSyncMs: mirror?.first ?? null,
      mirrorNoopSyncMs: mirror?.noop ?? null,
      usedBatch: r.usedBatch,
      cpus: os.cpus().length,
      loadAvg1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    };
  } finally {
    map.close();
  }
  return result;
}

const OPTIONS = [
  { name: 'entries', type: 'number', default: 1_000_000, help: 'map entries to write', metavar: 'N' },
  {
    name: 'single-entries',
    type: 'number',
    help: 'entries for the per-entry syscall loop (default min(N, 200000))',
    metavar: 'N',
  },
  {
    name: 'bpftool-entries',
    type: 'number',
    help: 'lines in the bpftool batch file (default min(N, 100000))',
    metavar: 'N',
  },
  { name: 'json', type: 'boolean', help: 'print only the JSON result line' },
] as const satisfies readonly OptionSpec[];

/** `alcor-bench ebpf`: perf/cli/ebpf.ts can simply `export { command } from '../ebpf';`. */
export const command: SubcommandModule = {
  help: {
    usage: 'alcor-bench ebpf [--entries N] [--json]',
    description:
      'BPF map update speed through the addon (batched, single) versus bpftool, and the N-API call cost. Needs root and bpftool.',
    options: OPTIONS,
  },
  run: async (argv: readonly string[], io: CliIo): Promise<number> => {
    const parsed = parseArgs(OPTIONS, argv, io.env);
    const o = parsed.options;
    const result = await runEbpfBench({
      entries: o.entries,
      singleEntries: o['single-entries'],
      bpftoolEntries: o['bpftool-entries'],
      log: o.json ? () => undefined : (line) => io.stdout(`${line}\n`),
    });
    io.stdout(`${JSON.stringify(result)}\n`);
    return 0;
  },
};

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  return command.run(argv, {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    env: process.env,
  });
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      const code = (e as { code?: unknown }).code;
      console.error(
        `ebpf bench failed: ${typeof code === 'string' ? `${code}: ` : ''}${e instanceof Error ? e.message : String(e)}`,
      );
      process.exitCode = 1;
    },
  );
}
