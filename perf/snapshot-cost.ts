// The local snapshot's cost at scale: how long writing it and restoring from it take for a host
// holding N neighbors (engine only, no OVS). Run: node dist/perf/snapshot-cost.js [N] [workers]
// Prints one JSON line.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine } from '../core/engine/engine';
import { parseIpv4 } from '../core/goalstate/addr';
import { HOST_A, NEIGHBORS_PORT } from '../test/fixtures/goalstates';
import { neighborsFixtureFile } from './fixture-file';
import { readSnapshot, writeSnapshot } from '../agent/host-state';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 1_000_000);
  const workers = Number(process.argv[3] ?? Math.max(1, Math.min(os.availableParallelism(), 16)));
  const bytes = fs.readFileSync(await neighborsFixtureFile(n));
  const opts = {
    workers,
    localTunnelIp: parseIpv4(HOST_A.ip),
    tunnelOfport: 100,
    ofports: new Map([[NEIGHBORS_PORT.id, 1]]),
  };
  const engine = await Engine.create(opts);
  const p = await engine.prepare(bytes, 2);
  await engine.commit(p.txns);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-snapshot-cost-'));
  try {
    let t = performance.now();
    const snap = await engine.snapshot();
    const engineSnapshotMs = performance.now() - t;
    // The longest the event loop went without a turn while the file was written: what gRPC,
    // packet-ins and OpenFlow echoes would wait.
    let maxStallMs = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      maxStallMs = Math.max(maxStallMs, now - last);
      last = now;
    }, 5);
    t = performance.now();
    await writeSnapshot(dir, snap);
    const writeMs = performance.now() - t;
    clearInterval(tick);
    const fileBytes = fs.statSync(path.join(dir, 'snapshot.json')).size;
    await engine.close();
    t = performance.now();
    const read = await readSnapshot(dir);
    const readMs = performance.now() - t;
    if (read.kind !== 'ok') throw new Error(`snapshot ${read.kind}`);
    t = performance.now();
    const restored = await Engine.create({ ...opts, snapshot: read.snapshot });
    const restoreEngineMs = performance.now() - t;
    const flows = (await restored.stats()).flows;
    await restored.close();
    const r = (x: number): number => Math.round(x);
    process.stdout.write(
      JSON.stringify({
        bench: 'snapshot-cost',
        neighbors: n,
        workers,
        fileMB: Math.round(fileBytes / 1e5) / 10,
        engineSnapshotMs: r(engineSnapshotMs),
        writeMs: r(writeMs),
        writeMaxStallMs: r(maxStallMs),
        readParseMs: r(readMs),
        restoreEngineMs: r(restoreEngineMs),
        restoredFlows: flows,
      }) + '\n',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
