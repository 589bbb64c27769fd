// Issue 13, fuzzing the control service's northbound: random bytes and mutations of valid GoalStateV2
// messages go through the submit path (in process, embedded store). Every input must end in a reply
// or a coded error that maps to INVALID_ARGUMENT / RESOURCE_EXHAUSTED: no crash, no INTERNAL, and no
// stored change when it is refused.
//
// Seeded so a failure replays: FUZZ_SEED=<n> FUZZ_RUNS=<n> node dist/control/northbound.fuzz.test.js.
// CI runs a few hundred inputs (a couple of seconds); `npm run fuzz` runs many more.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { GoalStateV2 } from '../proto';
import { fromGoalStateV2 } from '../core/goalstate';
import { silentLogger } from './log';
import { grpcStatusOf } from './northbound/grpc';
import { ControlError, encodeHostGoalState, parseGoalStateV2 } from './resources';
import { ControlHandle, startControl } from './server';
import { embeddedConfig, hostIp, makeGoalState } from './testing/fixtures';

const SEED = Number(process.env['FUZZ_SEED'] ?? 1313);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);

/** What is stored, by identity: a commit replaces the objects it touches. */
function snapshot(ctl: ControlHandle): { resources: Map<string, unknown>; hosts: Map<string, unknown> } {
  return { resources: new Map(ctl.store.cache.resources), hosts: new Map(ctl.store.cache.hosts) };
}

function sameMaps(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Submits one input; asserts the outcome is a reply or a coded refusal that changed nothing. */
async function submitAndCheck(ctl: ControlHandle, input: Uint8Array): Promise<void> {
  const before = snapshot(ctl);
  try {
    const reply = await ctl.controller.submit(input);
    assert.ok(Array.isArray(reply.operationStatuses));
    // Accepted means an agent can read every resource that is stored and pushed: each host's message,
    // as the control service builds it, decodes and normalizes without an error.
    for (const host of parseGoalStateV2(input).hosts.keys()) {
      const keys = [...(ctl.store.cache.hosts.get(host)?.keys ?? [])];
      const entries = keys.flatMap((k) => {
        const e = ctl.store.cache.entry(k);
        return e === undefined ? [] : [e];
      });
      const ops = fromGoalStateV2(GoalStateV2.decode(encodeHostGoalState(host, keys, entries))).ops;
      for (const op of ops) assert.is(op.error, undefined, `stored a resource an agent refuses: ${op.error ?? ''}`);
    }
  } catch (err: unknown) {
    assert.ok(err instanceof ControlError, `not a coded error: ${String(err)}`);
    const code = grpcStatusOf(err);
    assert.ok(
      code === grpc.status.INVALID_ARGUMENT || code === grpc.status.RESOURCE_EXHAUSTED,
      `${err.code} maps to ${grpc.status[code]}: ${err.message}`,
    );
    const after = snapshot(ctl);
    assert.ok(sameMaps(before.resources, after.resources), `a refused input (${err.code}) changed stored resources`);
    assert.ok(sameMaps(before.hosts, after.hosts), `a refused input (${err.code}) changed host indexes`);
  }
}

const VALID: readonly Uint8Array[] = [
  GoalStateV2.encode(makeGoalState({ hosts: [hostIp(1), hostIp(2)], portsPerHost: 2, sharedNeighbors: 2 })).finish(),
  GoalStateV2.encode(makeGoalState({ hosts: [hostIp(3)], portsPerHost: 1, sharedNeighbors: 1, tag: 'b' })).finish(),
];

type Mutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
);

function mutate(base: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(base);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.length), b.subarray(at)]);
        break;
    }
  }
  return b;
}

async function withControl(fn: (ctl: ControlHandle) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-control-fuzz-'));
  const ctl = await startControl(embeddedConfig(dir, { maxMessageBytes: 16 * 1024 }), silentLogger);
  try {
    await fn(ctl);
  } finally {
    await ctl.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test(`northbound fuzz: random bytes end in a reply or a coded refusal (seed ${SEED}, ${RUNS} runs)`, async () => {
  await withControl(async (ctl) => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), (bytes) => submitAndCheck(ctl, bytes)),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

test(`northbound fuzz: mutated valid GoalStateV2 messages end in a reply or a coded refusal (seed ${SEED}, ${RUNS} runs)`, async () => {
  await withControl(async (ctl) => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: VALID.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (which, ms) => submitAndCheck(ctl, mutate(VALID[which] as Uint8Array, ms)),
      ),
      { seed: SEED + 1, numRuns: RUNS },
    );
  });
});

test('northbound fuzz: valid messages are still accepted between mutations (the suite is not vacuous)', async () => {
  await withControl(async (ctl) => {
    for (const v of VALID) {
      const reply = await ctl.controller.submit(v);
      assert.ok(reply.operationStatuses.length > 0);
    }
    assert.ok(ctl.store.cache.resources.size > 0);
  });
});

test.run();
