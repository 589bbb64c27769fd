// Fuzzing goal-state bytes through decode, validation and the engine (issue 13, part 5). Every input must end
// in statuses or a coded error (an Error with a string `code`), never a crash, a hang or an uncoded exception;
// a refused message leaves the engine's desired flows as they were; and 2 worker threads answer exactly as the
// inline engine does. Inputs: random bytes, byte-level damage to valid messages (bit flips, truncation, splices,
// duplicated runs) and structural damage (repeated fields, dropped fields, wrong wire types, hostile values,
// length prefixes that lie). Seeds and replay: test/fuzz.ts.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateOperationReply, OperationStatus } from '../../proto';
import type { PlannedStatus } from '../goalstate';
import { encodeGoalStateOperationReply } from '../wire/operation-reply';
import { fullGoalStateBytes, fullGoalStateV2Bytes, neighborsGoalStateV2Bytes } from '../../test/fixtures/goalstates';
import { assertCoded, fuzzAsync, mutate, mutationArb } from '../../test/fuzz';
import { editMessage, pbEditArb } from '../../test/fuzz-protobuf';
import { formatFlow } from '../openflow';
import type { Engine } from './engine';
import { FIXTURE_OFPORTS, engineWith as engineOn } from '../../test/engine-runs';

type Version = 1 | 2;

interface Seed {
  readonly name: string;
  readonly version: Version;
  readonly bytes: Uint8Array;
}

/** Valid messages the mutations start from. */
const SEEDS: readonly Seed[] = [
  { name: 'full v2', version: 2, bytes: fullGoalStateV2Bytes() },
  { name: 'full v1', version: 1, bytes: fullGoalStateBytes() },
  { name: '12 neighbors v2', version: 2, bytes: neighborsGoalStateV2Bytes(12) },
];
const SEED_BYTES = SEEDS.map((s) => s.bytes);

/** What is programmed before the fuzzed message: every seed applied once. */
const BASELINE: readonly Seed[] = [SEEDS[0], SEEDS[2]];

function engineWith(workers: number): Promise<Engine> {
  return engineOn(workers, FIXTURE_OFPORTS);
}

/** A formatted flow without its cookie and actions: what identifies it in OVS. */
function flowKeyOf(text: string): string {
  return text.replace(/^cookie=0x[0-9a-f]+, /, '').split(' actions=')[0] as string;
}

async function desired(engine: Engine): Promise<string[]> {
  return (await engine.desiredFlows()).map((f) => formatFlow(f)).sort();
}

const STATUS_VALUES: ReadonlySet<number> = new Set([
  OperationStatus.SUCCESS,
  OperationStatus.FAILURE,
  OperationStatus.INVALID_ARG,
  OperationStatus.PENDING,
  OperationStatus.OUT_OF_ORDER,
]);
/** Statuses after which the dataplane may have changed. */
const CHANGING: ReadonlySet<number> = new Set([OperationStatus.SUCCESS, OperationStatus.PENDING]);

/** How one message ended: a coded error, or one line per status. */
type Outcome =
  { readonly kind: 'error'; readonly code: string } | { readonly kind: 'statuses'; readonly lines: string[] };

interface Held {
  readonly flows: string[];
  /** Per resource kind, each held resource as JSON, sorted. */
  readonly resources: Record<string, string[]>;
}

async function held(engine: Engine): Promise<Held> {
  const snap = await engine.snapshot();
  const resources: Record<string, string[]> = {};
  for (const [kind, list] of Object.entries(snap.resources)) {
    resources[kind] = (list as readonly unknown[]).map((r) => JSON.stringify(r)).sort();
  }
  return { flows: await desired(engine), resources };
}

/** Fails with what changed, in a few lines. */
function assertSameHeld(after: Held, before: Held, what: string): void {
  const lines: string[] = [];
  const diff = (label: string, a: readonly string[], b: readonly string[]): void => {
    const gone = b.filter((x) => !a.includes(x));
    const added = a.filter((x) => !b.includes(x));
    for (const x of gone.slice(0, 3)) lines.push(`  ${label} gone: ${x.slice(0, 300)}`);
    for (const x of added.slice(0, 3)) lines.push(`  ${label} new:  ${x.slice(0, 300)}`);
  };
  diff('flow', after.flows, before.flows);
  for (const kind of new Set([...Object.keys(after.resources), ...Object.keys(before.resources)])) {
    diff(kind, after.resources[kind] ?? [], before.resources[kind] ?? []);
  }
  if (lines.length > 0) assert.unreachable(`${what}:\n${lines.join('\n')}`);
}

/** The statuses as the agent's reply carries them, encoded and read back by the generated decoder. */
function replyRoundTrip(statuses: readonly PlannedStatus[]): void {
  const operationStatuses = statuses.map((s) => ({
    resourceId: s.resourceId,
    resourceType: s.resourceType,
    operationType: s.operationType,
    operationStatus: s.status,
    dataplaneProgrammingTime: 0,
    networkConfigurationTime: 0,
    stateElapseTime: 0,
  }));
  const reply = { formatVersion: 1, operationStatuses, messageTotalOperationTime: 7 };
  const back = GoalStateOperationReply.decode(encodeGoalStateOperationReply(reply));
  assert.equal(back, GoalStateOperationReply.fromPartial(reply), 'the reply does not carry the statuses as planned');
}

/**
 * Applies one message the way the agent does (prepare, then commit) and checks the promises: a coded error or
 * well-formed statuses, and nothing held or programmed changes when the message was refused, whole or in every
 * part. Returns whether the engine may have changed (then it no longer holds the baseline).
 */
async function applyChecked(
  engine: Engine,
  bytes: Uint8Array,
  version: Version,
): Promise<Outcome & { changed: boolean }> {
  const before = await held(engine);
  let prepared;
  try {
    prepared = await engine.prepare(bytes, version);
  } catch (e: unknown) {
    assertCoded(e, 'prepare');
    assertSameHeld(await held(engine), before, `a refused message (${e.code}) changed what the engine holds`);
    return { kind: 'error', code: e.code, changed: false };
  }
  const lines: string[] = [];
  const statuses = [...prepared.statuses];
  let changing = false;
  for (const s of statuses) {
    assert.ok(STATUS_VALUES.has(s.status), `status ${s.status} is not an OperationStatus`);
    // Types are echoed as sent (int32, an unknown enum value included), so only their shape is checked.
    assert.ok(Number.isInteger(s.resourceType), `resource type ${s.resourceType}`);
    assert.ok(Number.isInteger(s.operationType), `operation type ${s.operationType}`);
    assert.type(s.resourceId, 'string');
    assert.type(s.reason, 'string');
    if (s.status !== OperationStatus.SUCCESS) assert.ok(s.reason !== '', `status ${s.status} without a reason`);
    if (CHANGING.has(s.status)) changing = true;
    lines.push(`${s.resourceType}/${s.resourceId}/${s.operationType}: ${s.status} ${s.reason}`);
  }
  replyRoundTrip(statuses);
  await engine.commit(prepared.txns);
  if (!changing)
    assertSameHeld(await held(engine), before, 'a message refused in every part changed what the engine holds');
  return { kind: 'statuses', lines, changed: changing };
}

async function baselineEngine(workers: number): Promise<Engine> {
  const engine = await engineWith(workers);
  for (const s of BASELINE) {
    const p = await engine.prepare(s.bytes, s.version);
    await engine.commit(p.txns);
  }
  return engine;
}

/**
 * An inline engine holding the baseline. A refused message leaves it as it was (checked), so it is reused until
 * a message changes it: each run starts from the same state, and a printed path replays exactly.
 */
let pristine: Engine | undefined;
async function withBaseline(run: (engine: Engine) => Promise<boolean>): Promise<void> {
  const engine = pristine ?? (await baselineEngine(0));
  pristine = undefined;
  let changed = true;
  try {
    changed = await run(engine);
  } finally {
    if (changed) await engine.close();
    else pristine = engine;
  }
}

const versionArb = fc.constantFrom<Version>(1, 2);
const seedArb = fc.nat({ max: SEEDS.length - 1 }).map((i) => SEEDS[i]);

/** A seed message with 1-3 byte-level mutations. */
const mutatedArb = fc.tuple(seedArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([seed, ms]) => ({
  version: seed.version,
  bytes: ms.reduce((b, m) => mutate(b, m, SEED_BYTES), seed.bytes),
}));

/** A seed message with 1-3 structural edits, lengths fixed up (so the damage reaches validation). */
const editedArb = fc
  .tuple(seedArb, fc.array(pbEditArb, { minLength: 1, maxLength: 3 }))
  .map(([seed, edits]) => ({ version: seed.version, bytes: editMessage(seed.bytes, edits) }));

const randomArb = fc.record({ version: versionArb, bytes: fc.uint8Array({ maxLength: 512 }) });

const anyInputArb = fc.oneof(randomArb, mutatedArb, editedArb);

async function oneInline(input: { version: Version; bytes: Uint8Array }): Promise<void> {
  await withBaseline(async (engine) => (await applyChecked(engine, input.bytes, input.version)).changed);
}

test('goal-state fuzz: random bytes end in statuses or a coded error, and a refusal changes nothing', async () => {
  await fuzzAsync('random bytes', { runs: 150, timeMs: 4000 }, [randomArb], oneInline);
});

test('goal-state fuzz: byte-level damage to valid messages (flips, truncation, splices, duplicated runs)', async () => {
  await fuzzAsync('byte damage', { runs: 250, timeMs: 5000 }, [mutatedArb], oneInline);
});

test('goal-state fuzz: structural damage (repeated fields, wrong wire types, hostile values, lying lengths)', async () => {
  await fuzzAsync('structural damage', { runs: 150, timeMs: 6000 }, [editedArb], oneInline);
});

test('goal-state fuzz: a sequence of damaged messages, then the baseline again, programs every flow key the baseline alone does', async () => {
  const clean = await baselineEngine(0);
  const expected = await desired(clean);
  await clean.close();
  await fuzzAsync(
    'sequence then baseline',
    { runs: 40, timeMs: 4000 },
    [fc.array(anyInputArb, { minLength: 1, maxLength: 4 })],
    async (inputs) => {
      const engine = await baselineEngine(0);
      try {
        for (const input of inputs) await applyChecked(engine, input.bytes, input.version);
        // Whatever the damaged messages did, a full re-push of the baseline must still apply cleanly
        // (they may have added resources of their own, so only the baseline's statuses are checked).
        for (const s of BASELINE) {
          const out = await applyChecked(engine, s.bytes, s.version);
          assert.is(out.kind, 'statuses');
        }
        // By flow key (table, priority, match), not by text: a damaged message may have added a resource whose
        // flows collide with a baseline one's (a router whose id alone was damaged wants the same keys); the
        // table then keeps the preferred owner's flow for the key, with that owner's cookie (core/flowtable),
        // whatever the order of arrival. What must hold is that every key of the baseline is programmed.
        const now = new Set((await desired(engine)).map(flowKeyOf));
        for (const flow of expected)
          if (!now.has(flowKeyOf(flow))) assert.unreachable(`baseline flow missing: ${flow}`);
      } finally {
        await engine.close();
      }
    },
  );
});

/**
 * Off until the engine's cross-partition key contest is fixed (issue 13 part 1): this suite found it too. A full
 * v1 goal state whose neighbor f37810eb-...-d4 has one byte of its id damaged (a new neighbor with the old one's IP
 * and MAC, in another partition) leaves 2 workers with the ARP answer and L2 flows of 10.0.0.4 and the inline
 * engine without them, both answering SUCCESS. Statuses and held resources are compared meanwhile.
 */
const COMPARE_FLOWS_ACROSS_WORKERS = true;

test('goal-state fuzz: 2 worker threads answer every damaged message as the inline engine does', async () => {
  // Threads are slow to start: one pair of engines for the whole property, each run applying its messages to
  // both, so their held states stay the same and every answer and flow table must match.
  const threaded = await baselineEngine(2);
  const inline = await baselineEngine(0);
  try {
    await fuzzAsync(
      'two workers vs inline',
      { runs: 50, timeMs: 6000, stateful: true },
      [fc.array(anyInputArb, { minLength: 1, maxLength: 3 })],
      async (inputs) => {
        for (const input of inputs) {
          const a = await applyChecked(inline, input.bytes, input.version);
          const b = await applyChecked(threaded, input.bytes, input.version);
          assert.equal({ ...b, changed: a.changed }, a, 'statuses or error code differ between 2 workers and inline');
        }
        const [a, b] = [await held(inline), await held(threaded)];
        assertSameHeld(
          COMPARE_FLOWS_ACROSS_WORKERS ? b : { ...b, flows: a.flows },
          a,
          '2 workers hold or program other than inline',
        );
      },
    );
  } finally {
    await threaded.close();
    await inline.close();
  }
});

// ---- regressions: what the fuzzing found ----------------------------------------------------------------------

test('regression (found by fuzzing): a decode error raised in a worker thread keeps its code', async () => {
  // neighbor_states (field 7) entry "nbr-x" whose NeighborState holds tag 0x0e (field 1, wire type 6): the top
  // level frames, so the worker's ordinary decoder is the one to refuse it. Its DecodeError used to reach the
  // main thread without `code` (structured clone drops it), so the agent could not tell bad input from a fault.
  const entry = Uint8Array.from([0x0a, 5, ...new TextEncoder().encode('nbr-x'), 0x12, 1, 0x0e]);
  const bytes = Uint8Array.from([0x3a, entry.length, ...entry]);
  const engine = await baselineEngine(2);
  try {
    const before = await held(engine);
    let error: unknown;
    try {
      await engine.prepare(bytes, 2);
    } catch (e: unknown) {
      error = e;
    }
    assertCoded(error, 'prepare with 2 workers');
    assert.is(error.code, 'GOALSTATE_DECODE');
    assertSameHeld(await held(engine), before, 'the refused message changed what the engine holds');
  } finally {
    await engine.close();
  }
});

test.after(async () => {
  await pristine?.close();
});

test.run();
