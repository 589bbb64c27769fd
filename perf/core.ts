// alcor-bench core: the compute side of one big goal state, without OVS.
//
// Input (as the issue defines it): one GoalStateV2 with 1 port and N L2 neighbors, built by the
// test fixture in ACA's numbering. Measured: from the encoded bytes to the encoded flow-mods
// (split across partitions, decode, validate, plan, compile, diff, encode), then adding one more
// neighbor to the held state. `--baseline` also times the generated (ts-proto) decoder on the same
// bytes, the path a straightforward agent would take.

import * as fs from 'node:fs';
import os from 'node:os';
import { GoalStateV2 } from '../proto';
import { Engine } from '../core/engine/engine';
import { parseIpv4 } from '../core/goalstate/addr';
import { HOST_A, NEIGHBORS_PORT, neighborsGoalStateV2 } from '../test/fixtures/goalstates';
import { neighborsFixtureFile } from './fixture-file';

export interface CoreBenchOptions {
  readonly neighbors: number;
  /** Worker threads; default: one per core. */
  readonly workers?: number;
  /** One-neighbor additions to time for incrementalUs (median). */
  readonly increments?: number;
  readonly baseline?: boolean;
  readonly progress?: (line: string) => void;
}

export interface CoreBenchResult {
  readonly bench: 'core';
  readonly neighbors: number;
  readonly workers: number;
  readonly messageBytes: number;
  readonly flows: number;
  /** Bytes of BUNDLE_ADD_MESSAGE(FLOW_MOD)s produced. */
  readonly flowModBytes: number;
  readonly statuses: number;
  readonly failedStatuses: number;
  readonly decodeMs: number;
  readonly planMs: number;
  readonly compileMs: number;
  readonly diffMs: number;
  readonly encodeMs: number;
  /** Lane neighbors: decode, plan, compile, diff and encode in one pass (core/engine/neighbor-lane.ts). */
  readonly laneMs: number;
  readonly totalMs: number;
  /** Peak resident set of this process (main thread and workers) while it applied the goal state. */
  readonly rssMB: number;
  /** Resident set with the input read and no engine yet. */
  readonly rssBeforeMB: number;
  readonly incrementalUs: number;
  readonly tsProtoDecodeMs?: number;
}

/** ACA's numbering gives at most this many distinct neighbors (test/fixtures/goalstates.ts). */
const MAX_NUMBERED = 1_000_000;

/**
 * A GoalStateV2 holding just neighbor i: what a controller sends when one VM appears elsewhere.
 * Past ACA's numbering (a 1M-neighbor base state uses it all) the addresses wrap around, so the
 * neighbor gets its own id and another VNI, to stay a new neighbor with keys nobody else holds.
 */
function oneNeighbor(i: number): Uint8Array {
  const wrapped = i > MAX_NUMBERED;
  const gs = neighborsGoalStateV2(1, {
    startIndex: wrapped ? ((i - 1) % MAX_NUMBERED) + 1 : i,
    hostResources: false,
    ...(wrapped ? { vni: 1000 + Math.floor((i - 1) / MAX_NUMBERED) } : {}),
  });
  let neighborStates = gs.neighborStates;
  if (wrapped) {
    neighborStates = {};
    for (const s of Object.values(gs.neighborStates)) {
      const id = `nbr-extra-${i}`;
      neighborStates[id] = { ...s, configuration: s.configuration && { ...s.configuration, id, name: id } };
    }
  }
  return GoalStateV2.encode({ ...gs, vpcStates: {}, subnetStates: {}, portStates: {}, neighborStates }).finish();
}

/**
 * Reads one byte per page of the input. Pages a file read filled are slow on first access on
 * these VMs (about 2.5 ms/MB); a gRPC receive leaves its message in pages its own copy touched,
 * so the timed apply should not pay for that.
 */
function touchPages(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 4096) sum += bytes[i];
  return sum;
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

export async function runCoreBench(opts: CoreBenchOptions): Promise<CoreBenchResult> {
  const log = opts.progress ?? (() => undefined);
  const workers = opts.workers ?? Math.max(1, Math.min(os.availableParallelism(), 16));
  log(`building a GoalStateV2 with 1 port and ${opts.neighbors} neighbors (in a child process)`);
  const bytes = fs.readFileSync(await neighborsFixtureFile(opts.neighbors));
  touchPages(bytes);
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sample = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  try {
    const engine = await Engine.create({
      workers,
      localTunnelIp: parseIpv4(HOST_A.ip),
      tunnelOfport: 100,
      ofports: new Map([[NEIGHBORS_PORT.id, 1]]),
    });
    try {
      log(`applying ${bytes.length} bytes with ${workers} worker(s)`);
      const t0 = performance.now();
      // Streamed, as the agent applies it: each chunk's flow-mods are handed over (here: counted and
      // dropped) as soon as they are encoded, so they are never all held at once.
      let flowModBytes = 0;
      const prepared = await engine.prepare(bytes, 2, {
        onDelta: (delta, _bundleId, release) => {
          flowModBytes += delta.length;
          release();
        },
      });
      const totalMs = performance.now() - t0;
      await engine.commit(prepared.txns);
      const failed = prepared.statuses.length - prepared.statuses.countStatus(0);

      const increments = opts.increments ?? 51;
      log(`timing ${increments} single-neighbor additions`);
      const samples: number[] = [];
      for (let i = 0; i < increments; i++) {
        const one = oneNeighbor(opts.neighbors + 1 + i);
        const t = performance.now();
        const p = await engine.prepare(one, 2);
        samples.push(performance.now() - t);
        await engine.commit(p.txns);
      }
      samples.sort((a, b) => a - b);
      const incrementalUs = samples.length ? samples[Math.floor(samples.length / 2)] * 1000 : 0;

      let tsProtoDecodeMs: number | undefined;
      if (opts.baseline) {
        log('baseline: the generated ts-proto decoder on the same bytes');
        const t = performance.now();
        GoalStateV2.decode(bytes);
        tsProtoDecodeMs = round(performance.now() - t);
      }
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      return {
        bench: 'core',
        neighbors: opts.neighbors,
        workers,
        messageBytes: bytes.length,
        flows: prepared.add + prepared.modify + prepared.delete,
        flowModBytes,
        statuses: prepared.statuses.length,
        failedStatuses: failed,
        decodeMs: round(prepared.timings.decodeMs),
        planMs: round(prepared.timings.planMs),
        compileMs: round(prepared.timings.compileMs),
        diffMs: round(prepared.timings.diffMs),
        encodeMs: round(prepared.timings.encodeMs),
        laneMs: round(prepared.timings.laneMs),
        totalMs: round(totalMs),
        rssMB: Math.round(peakRss / 2 ** 20),
        rssBeforeMB: Math.round(rssBefore / 2 ** 20),
        incrementalUs: round(incrementalUs),
        ...(tsProtoDecodeMs === undefined ? {} : { tsProtoDecodeMs }),
      };
    } finally {
      await engine.close();
    }
  } finally {
    clearInterval(sample);
  }
}
