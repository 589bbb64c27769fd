// The engine with `arpAnswers: 'none'` (the agent's `--dataplane ebpf`): no ARP answer flow is desired
// anywhere (ports, routers, neighbors in the FlowTable and as records), on prepare, abort and reconcile;
// everything else is what `flows` gives.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationType } from '../../proto';
import { fullGoalStateV2Bytes } from '../../test/fixtures/goalstates';
import type { Flow } from '../flow';
import { formatFlow } from '../openflow';
import { Priority, TABLES, type ArpAnswers } from '../pipeline';
import { Engine, EngineError } from './engine';
import { PartitionEngine } from './partition';
import { flowModTexts } from '../../test/flowmod-text';
import {
  editNeighbor,
  fixtureNeighbors,
  neighborPartition,
  neighborStatesBytes,
} from '../../test/fixtures/neighbor-edits';

/** records: neighbors as records (`lane`: in the lane first); false: in the FlowTable alone. */
function partition(arpAnswers: ArpAnswers, records: boolean, lane = false): PartitionEngine {
  return neighborPartition(records ? (lane ? 'lane' : 'records') : 'table', { arpAnswers });
}

/** An answer flow: the ArpResponder table at Normal priority (the others there are miss, punt and skips). */
function isArpAnswer(f: Flow): boolean {
  return f.table === TABLES.ArpResponder.id && f.priority === Priority.Normal;
}

const text = (flows: readonly Flow[]): string[] => flows.map((f) => formatFlow(f)).sort();

const deltaText = (bytes: Uint8Array): string[] => flowModTexts([bytes]);

const base = fixtureNeighbors(1, 10);
const STEPS: readonly { bytes: Uint8Array; abort?: boolean }[] = [
  { bytes: neighborStatesBytes(base, true) },
  {
    bytes: neighborStatesBytes({
      'nbr-2': editNeighbor(base['nbr-2'], 'nbr-2', () => ({ hostIpAddress: '123.9.9.9' })),
    }),
  },
  {
    bytes: neighborStatesBytes({
      'nbr-3': editNeighbor(base['nbr-3'], 'nbr-3', () => ({ macAddress: '6c:dd:ee:99:99:99' })),
    }),
  },
  {
    bytes: neighborStatesBytes({
      'nbr-4': editNeighbor(base['nbr-4'], 'nbr-4', (c) => ({
        fixedIps: [{ ...c.fixedIps[0], ipAddress: '10.99.99.99' }],
      })),
    }),
  },
  {
    bytes: neighborStatesBytes({ 'nbr-5': editNeighbor(base['nbr-5'], 'nbr-5', () => ({}), OperationType.DELETE) }),
    abort: true,
  },
  { bytes: neighborStatesBytes({ 'nbr-5': editNeighbor(base['nbr-5'], 'nbr-5', () => ({}), OperationType.DELETE) }) },
  { bytes: fullGoalStateV2Bytes() },
  // Two neighbors claiming one IP: a contest for the records even with no ARP flow (the table takes over).
  {
    bytes: neighborStatesBytes({
      dupip: editNeighbor(base['nbr-1'], 'dupip', () => ({ macAddress: '6c:dd:ee:77:77:77' })),
    }),
  },
  { bytes: neighborStatesBytes(fixtureNeighbors(20, 3)) },
];

test("'none': the lane, records and the FlowTable agree at every step, and nothing answers ARP", () => {
  for (const lane of [true, false]) sameWithoutAnswers(lane);
});

function sameWithoutAnswers(lane: boolean): void {
  const a = partition('none', true, lane);
  const b = partition('none', false);
  const withFlows = partition('flows', true, lane);
  let recordsUsed = false;
  for (const [n, step] of STEPS.entries()) {
    const enc = { bundleId: n + 1, firstXid: 1 };
    const ra = a.prepareGoalState(step.bytes, 2, enc);
    const rb = b.prepareGoalState(step.bytes, 2, enc);
    const rf = withFlows.prepareGoalState(step.bytes, 2, enc);
    assert.equal(deltaText(ra.delta.bytes), deltaText(rb.delta.bytes), `step ${n} delta`);
    for (const [e, r] of [
      [a, ra],
      [b, rb],
      [withFlows, rf],
    ] as const) {
      if (step.abort === true) e.abort(r.txn);
      else e.commit(r.txn);
    }
    const desired = a.desiredFlows();
    assert.equal(text(desired), text(b.desiredFlows()), `step ${n} desired`);
    assert.is(a.flowCount, desired.length, `step ${n} count`);
    assert.is(b.flowCount, desired.length, `step ${n} count (table)`);
    assert.is(desired.filter(isArpAnswer).length, 0, `step ${n}: no answer flow`);
    // Exactly the answer flows are missing compared with `flows`.
    const flowsDesired = withFlows.desiredFlows();
    assert.ok(flowsDesired.some(isArpAnswer));
    assert.equal(text(desired), text(flowsDesired.filter((f) => !isArpAnswer(f))), `step ${n} vs flows`);
    recordsUsed ||= lane ? a.lane.size > 0 : a.neighborFlows.enabled && a.neighborFlows.size > 0;
  }
  assert.ok(recordsUsed, lane ? 'the lane was exercised' : 'the record path was exercised');
  if (!lane) assert.not.ok(a.neighborFlows.enabled, 'the contest moved the records into the table');
}

test("'none': one new neighbor is one flow-mod (L2 only); its delete is one", () => {
  const e = partition('none', true, true);
  e.commit(e.prepareGoalState(neighborStatesBytes(base, true), 2, { bundleId: 1, firstXid: 1 }).txn);
  const add = e.prepareGoalState(neighborStatesBytes(fixtureNeighbors(50, 1)), 2, { bundleId: 2, firstXid: 1 });
  assert.equal([add.delta.add, add.delta.modify, add.delta.delete], [1, 0, 0]);
  e.commit(add.txn);
  const del = e.prepareGoalState(
    neighborStatesBytes({
      'nbr-50': editNeighbor(fixtureNeighbors(50, 1)['nbr-50'], 'nbr-50', () => ({}), OperationType.DELETE),
    }),
    2,
    { bundleId: 3, firstXid: 1 },
  );
  assert.equal([del.delta.add, del.delta.modify, del.delta.delete], [0, 0, 1]);
  e.commit(del.txn);
  assert.ok(e.lane.size === 10 && e.neighborFlows.size === 0, 'held in the lane');
});

test("reconcile: switching 'flows' -> 'none' deletes exactly the answer flows, and back adds them", () => {
  for (const records of [true, false]) {
    const before = partition('flows', records, records);
    const after = partition('none', records, records);
    for (const e of [before, after]) {
      e.commit(e.prepareGoalState(neighborStatesBytes(base, true), 2, { bundleId: 1, firstXid: 1 }).txn);
      e.commit(e.prepareGoalState(fullGoalStateV2Bytes(), 2, { bundleId: 2, firstXid: 1 }).txn);
    }
    const installedWithAnswers = before.desiredFlows();
    const answers = installedWithAnswers.filter(isArpAnswer).length;
    assert.ok(answers > 10, `${answers} answer flows (ports, gateways, neighbors)`);
    const enc = { bundleId: 3, firstXid: 1 };
    const down = after.reconcile(installedWithAnswers, enc);
    assert.equal([down.add, down.modify, down.delete], [0, 0, answers], `records=${records}`);
    const up = before.reconcile(after.desiredFlows(), enc);
    assert.equal([up.add, up.modify, up.delete], [answers, 0, 0], `records=${records}`);
    assert.is(after.reconcile(after.desiredFlows(), enc).bytes.length, 0, 'in sync');
  }
});

test('Engine.create rejects an unknown arpAnswers', async () => {
  try {
    await Engine.create({ workers: 0, arpAnswers: 'xdp' as ArpAnswers });
    assert.unreachable('should have thrown');
  } catch (e: unknown) {
    assert.instance(e, EngineError);
    assert.is((e as EngineError).code, 'ENGINE_BAD_OPTIONS');
    assert.match((e as Error).message, /arpAnswers/);
  }
});

test.run();
