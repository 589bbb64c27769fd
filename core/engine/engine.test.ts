import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2, OperationStatus, OperationType } from '../../proto';
import {
  fullGoalStateV2,
  fullGoalStateV2Bytes,
  VPC_ID,
  neighborsGoalStateV2,
  neighborsGoalStateV2Bytes,
  NEIGHBORS_PORT,
  HOST_A,
} from '../../test/fixtures/goalstates';
import { parseIpv4 } from '../goalstate/addr';
import { ByteWriter, decodeFlowStats, encodeFlowMod, formatFlow } from '../openflow';
import { GROUP_TABLE, type Flow } from '../flow';
import { Priority, TABLES, type ArpAnswers } from '../pipeline';
import { Engine } from './engine';
import { decodeGoalState } from './decode';
import { fromGoalStateV2 } from '../goalstate';
import { splitGoalState } from './split';
import { flowModTexts } from '../../test/flowmod-text';

const TUNNEL_IP = parseIpv4(HOST_A.ip);

const deltaText = flowModTexts;

interface RunResult {
  readonly statuses: string;
  readonly flows: string[];
  readonly desired: string[];
}

function assertAllSame(results: readonly RunResult[]): void {
  for (const r of results.slice(1)) {
    assert.is(r.statuses, results[0].statuses);
    assert.equal(r.flows, results[0].flows);
    assert.equal(r.desired, results[0].desired);
  }
}

async function engineWith(workers: number, arpAnswers?: ArpAnswers): Promise<Engine> {
  return Engine.create({
    workers,
    localTunnelIp: TUNNEL_IP,
    tunnelOfport: 100,
    ofports: new Map([[NEIGHBORS_PORT.id, 1]]),
    arpAnswers,
  });
}

function flowsText(flows: readonly Flow[]): string[] {
  return flows.map((f) => formatFlow(f)).sort();
}

test('the fast neighbor decoder and the ordinary normalizer agree on valid neighbors', () => {
  const gs = neighborsGoalStateV2(50, { hostResources: false });
  const bytes = GoalStateV2.encode(gs).finish();
  const fast = decodeGoalState(bytes, 2);
  assert.is(fast.slowNeighbors, 0);
  const slow = fromGoalStateV2(GoalStateV2.decode(bytes));
  const fastNeighbors = fast.model.ops.filter((o) => o.kind === 'neighbor');
  const slowNeighbors = slow.ops.filter((o) => o.kind === 'neighbor');
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
  assert.equal([...fastNeighbors].sort(byId), [...slowNeighbors].sort(byId));
});

test('a neighbor the fast path declines gets the ordinary status and reason', async () => {
  const gs = neighborsGoalStateV2(3, { hostResources: false });
  const bad = Object.values(gs.neighborStates)[1];
  if (bad.configuration) bad.configuration.macAddress = 'zz:zz';
  const e = await engineWith(0);
  const p = await e.prepare(GoalStateV2.encode(gs).finish(), 2);
  const nbr = [...p.statuses].filter((s) => s.resourceType === 3);
  assert.is(nbr.length, 3);
  assert.is(nbr.filter((s) => s.status === OperationStatus.INVALID_ARG).length, 1);
  assert.match(nbr.find((s) => s.status === OperationStatus.INVALID_ARG)?.reason ?? '', /mac/i);
  await e.commit(p.txns);
  await e.close();
});

test('splitting keeps every neighbor exactly once and every other field in each part', () => {
  const bytes = neighborsGoalStateV2Bytes(1000, { hostResources: false });
  const split = splitGoalState(bytes, 2, 3);
  let total = 0;
  for (let p = 0; p < 3; p++) {
    assert.is(split.chunks[p].length, 1);
    const gs = GoalStateV2.decode(split.chunks[p][0].bytes);
    total += Object.keys(gs.neighborStates).length;
    assert.is(Object.keys(gs.subnetStates).length, 1);
    assert.is(Object.keys(gs.portStates).length, 1);
    assert.is(split.chunks[p][0].neighborOrder.length, Object.keys(gs.neighborStates).length);
  }
  assert.is(total, 1000);
  assert.is(split.neighborCount, 1000);
});

test('chunks: shared fields in chunk 0 only, neighbors in message order, at most maxChunks per partition', () => {
  const bytes = neighborsGoalStateV2Bytes(1000, { hostResources: false });
  const split = splitGoalState(bytes, 2, 2, 64);
  const seen: number[] = [];
  for (const chunks of split.chunks) {
    chunks.forEach((chunk, k) => {
      const gs = GoalStateV2.decode(chunk.bytes);
      assert.is(Object.keys(gs.portStates).length, k === 0 ? 1 : 0);
      assert.ok(Object.keys(gs.neighborStates).length <= 64);
      assert.is(chunk.neighborOrder.length, Object.keys(gs.neighborStates).length);
      seen.push(...chunk.neighborOrder);
    });
    const order = chunks.flatMap((c) => [...c.neighborOrder]);
    assert.equal(
      order,
      [...order].sort((a, b) => a - b),
    );
  }
  assert.equal(
    seen.sort((a, b) => a - b),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  const capped = splitGoalState(bytes, 2, 1, 10, 4);
  assert.is(capped.chunks[0].length, 4);
});

test('streaming in chunks gives the statuses and the flow-mods of the one-piece prepare, for any worker count', async () => {
  const big = neighborsGoalStateV2Bytes(20_000, { hostResources: false });
  const full = fullGoalStateV2Bytes();
  const results: RunResult[] = [];
  for (const [workers, stream] of [
    [0, false],
    [1, true],
    [2, true],
    [3, true],
  ] as const) {
    const e = await engineWith(workers);
    const flows: string[] = [];
    const statuses: unknown[] = [];
    for (const bytes of [big, full]) {
      const got: Uint8Array[] = [];
      const p = await e.prepare(bytes, 2, stream ? { onDelta: (d) => got.push(d) } : {});
      if (stream) assert.is(p.deltas.length, 0);
      flows.push(...deltaText(stream ? got : p.deltas));
      statuses.push(...p.statuses);
      await e.commit(p.txns);
    }
    results.push({
      statuses: JSON.stringify(statuses),
      flows: flows.sort(),
      desired: flowsText(await e.desiredFlows()),
    });
    await e.close();
  }
  assertAllSame(results);
});

test('the next goal state may be prepared right after commit() of a chunked one, without awaiting it', async () => {
  const e = await engineWith(2);
  const first = await e.prepare(neighborsGoalStateV2Bytes(40_000, { hostResources: false }), 2, {
    onDelta: () => undefined,
  });
  assert.ok(
    first.txns.every((t) => t.length > 1),
    'several chunks per partition',
  );
  const committed = e.commit(first.txns); // the agent does not wait for this before the next goal state
  const next = await e.prepare(fullGoalStateV2Bytes(), 2, { onDelta: () => undefined });
  await committed;
  await e.commit(next.txns);
  await e.close();
});

test('a streamed goal state that fails in a later chunk leaves nothing planned', async () => {
  const e = await engineWith(2);
  const before = (await e.stats()).flows;
  const good = neighborsGoalStateV2Bytes(30_000, { hostResources: false });
  // Undecodable bytes after the neighbors: the split accepts the framing, a partition's decoder does not.
  const bad = Buffer.concat([good, Buffer.from([0x3a, 0x03, 0x0a, 0x01, 0xff])]);
  let failed = false;
  try {
    await e.prepare(bad, 2, { onDelta: () => undefined });
  } catch {
    failed = true;
  }
  assert.ok(failed, 'prepare should fail');
  assert.is((await e.stats()).flows, before);
  const ok = await e.prepare(good, 2, { onDelta: () => undefined });
  await e.commit(ok.txns);
  assert.ok((await e.stats()).flows > before);
  await e.close();
});

test('1 worker, 2 workers and in-process give the same statuses and the same flow-mods', async () => {
  const big = neighborsGoalStateV2Bytes(2000, { hostResources: false });
  const full = fullGoalStateV2Bytes();
  const results: RunResult[] = [];
  for (const workers of [0, 1, 2, 3]) {
    const e = await engineWith(workers);
    const a = await e.prepare(big, 2);
    await e.commit(a.txns);
    const b = await e.prepare(full, 2);
    await e.commit(b.txns);
    results.push({
      statuses: JSON.stringify([...a.statuses, ...b.statuses]),
      flows: [...deltaText(a.deltas), ...deltaText(b.deltas)],
      desired: flowsText(await e.desiredFlows()),
    });
    await e.close();
  }
  assertAllSame(results);
});

test("arpAnswers 'none': the same statuses and flow-mods for any worker count, and no ARP answer flow", async () => {
  const big = neighborsGoalStateV2Bytes(500, { hostResources: false });
  const full = fullGoalStateV2Bytes();
  const del = neighborsGoalStateV2(300, { operationType: OperationType.DELETE, hostResources: false });
  const delBytes = GoalStateV2.encode({ ...del, vpcStates: {}, subnetStates: {}, portStates: {} }).finish();
  const isAnswer = (f: Flow): boolean => f.table === TABLES.ArpResponder.id && f.priority === Priority.Normal;
  const results: { statuses: string; flows: string[]; desired: string[]; adds: number }[] = [];
  for (const workers of [0, 1, 2, 3]) {
    const e = await engineWith(workers, 'none');
    const steps = [];
    for (const bytes of [big, full, delBytes]) {
      const p = await e.prepare(bytes, 2);
      await e.commit(p.txns);
      steps.push(p);
    }
    const desired = await e.desiredFlows();
    assert.is(desired.filter(isAnswer).length, 0, `${workers} workers: no answer flow`);
    results.push({
      statuses: JSON.stringify(steps.flatMap((p) => p.statuses)),
      flows: steps.flatMap((p) => deltaText(p.deltas)),
      desired: flowsText(desired),
      adds: steps[0].add,
    });
    await e.close();
  }
  // 500 neighbors are 500 L2 flows (no ARP answers), plus the local port's and the infra flows.
  assert.ok(results[0].adds > 500 && results[0].adds < 600, `${results[0].adds} adds`);
  assertAllSame(results);
  // And exactly `flows` minus the answer flows.
  const f = await engineWith(2, 'flows');
  for (const bytes of [big, full, delBytes]) await f.commit((await f.prepare(bytes, 2)).txns);
  assert.equal(results[0].desired, flowsText((await f.desiredFlows()).filter((x) => !isAnswer(x))));
  await f.close();
});

test('abort puts the held state and the flow table back', async () => {
  const e = await engineWith(2);
  const a = await e.prepare(neighborsGoalStateV2Bytes(100, { hostResources: false }), 2);
  await e.commit(a.txns);
  const before = flowsText(await e.desiredFlows());
  const snapBefore = await e.snapshot();
  const del = neighborsGoalStateV2(100, { operationType: OperationType.DELETE, hostResources: false });
  const d = await e.prepare(
    GoalStateV2.encode({ ...del, vpcStates: {}, subnetStates: {}, portStates: {} }).finish(),
    2,
  );
  assert.is(d.delete, 200);
  await e.abort(d.txns);
  assert.equal(flowsText(await e.desiredFlows()), before);
  assert.equal((await e.snapshot()).resources.neighbor.length, snapBefore.resources.neighbor.length);
  // And the same delete, prepared again, gives the same delta.
  const d2 = await e.prepare(
    GoalStateV2.encode({ ...del, vpcStates: {}, subnetStates: {}, portStates: {} }).finish(),
    2,
  );
  assert.is(d2.delete, 200);
  await e.commit(d2.txns);
  await e.close();
});

test('adding one neighbor to a held state yields exactly its two flows', async () => {
  const e = await engineWith(2);
  const a = await e.prepare(neighborsGoalStateV2Bytes(500, { hostResources: false }), 2);
  await e.commit(a.txns);
  const one = neighborsGoalStateV2(1, { startIndex: 501, hostResources: false });
  const p = await e.prepare(
    GoalStateV2.encode({ ...one, vpcStates: {}, subnetStates: {}, portStates: {} }).finish(),
    2,
  );
  assert.is(p.add, 2);
  assert.is(p.modify + p.delete, 0);
  assert.is(p.statuses.length, 1);
  // Only the neighbor's partition worked on it; the other sat the message out.
  assert.is(p.txns.flat().filter((t) => t < 0).length, 1);
  await e.commit(p.txns);
  const gone = neighborsGoalStateV2(1, { startIndex: 501, hostResources: false, operationType: OperationType.DELETE });
  const d = await e.prepare(
    GoalStateV2.encode({ ...gone, vpcStates: {}, subnetStates: {}, portStates: {} }).finish(),
    2,
  );
  assert.is(d.delete, 2);
  await e.abort(d.txns);
  assert.is(
    (await e.stats()).flows,
    await engineWith(0).then(async (z) => {
      const r = await z.prepare(neighborsGoalStateV2Bytes(501, { hostResources: false }), 2);
      await z.commit(r.txns);
      const n = (await z.stats()).flows;
      await z.close();
      return n;
    }),
  );
  await e.close();
});

test('a part with no neighbor and no shared resource is idle; a shared resource wakes every part', () => {
  const one = neighborsGoalStateV2(1, { startIndex: 7, hostResources: false });
  const alone = splitGoalState(
    GoalStateV2.encode({ ...one, vpcStates: {}, subnetStates: {}, portStates: {} }).finish(),
    2,
    3,
  );
  const idle = (s: ReturnType<typeof splitGoalState>): boolean[] => s.chunks.map((c) => c[0].idle);
  assert.equal(idle(alone).filter((x) => !x).length, 1);
  const withPort = splitGoalState(GoalStateV2.encode({ ...one, vpcStates: {}, subnetStates: {} }).finish(), 2, 3);
  assert.equal(idle(withPort), [false, false, false]);
  const empty = splitGoalState(GoalStateV2.encode(GoalStateV2.fromPartial({ formatVersion: 1 })).finish(), 2, 2);
  assert.equal(idle(empty), [true, true]);
});

test('a restart from a snapshot reconciles against installed flows without flushing', async () => {
  const e = await engineWith(2);
  const a = await e.prepare(neighborsGoalStateV2Bytes(50, { hostResources: false }), 2);
  await e.commit(a.txns);
  const desired = await e.desiredFlows();
  const snap = await e.snapshot();
  await e.close();
  // "Installed": everything desired but one flow, plus one stale flow of ours; as FLOW_STATS bodies.
  const installed = desired.slice(1);
  const stale: Flow = { ...desired[desired.length - 1], priority: 7 };
  const body = flowStatsBody([...installed, stale]);
  assert.is(decodeFlowStats(body).length, installed.length + 1);
  const r = await Engine.create({
    workers: 2,
    localTunnelIp: TUNNEL_IP,
    tunnelOfport: 100,
    snapshot: snap,
    ofports: new Map([[NEIGHBORS_PORT.id, 1]]),
  });
  const delta = await r.reconcile([body]);
  assert.is(delta.flowMods, 2, 'one add for the missing flow, one delete for the stale one');
  await r.close();
});

test('the ZETA gateway of the full fixture: one group in the bundle, same for any worker count, and removable', async () => {
  const full = fullGoalStateV2Bytes();
  const fixture = fullGoalStateV2();
  const unlisted = GoalStateV2.fromPartial({ formatVersion: 1 });
  const vpcState = fixture.vpcStates[VPC_ID];
  const cfg = vpcState?.configuration;
  if (vpcState === undefined || cfg === undefined) throw new Error('fixture VPC missing');
  unlisted.vpcStates[VPC_ID] = {
    ...vpcState,
    operationType: OperationType.UPDATE,
    configuration: { ...cfg, revisionNumber: cfg.revisionNumber + 1, gatewayIds: [] },
  };
  const results: RunResult[] = [];
  for (const workers of [0, 2]) {
    const e = await engineWith(workers);
    const a = await e.prepare(full, 2);
    await e.commit(a.txns);
    const desired = await e.desiredFlows();
    const groups = flowsText(desired).filter((l) => l.startsWith('group_id='));
    assert.is(groups.length, 1, 'one group');
    assert.is(groups[0].split(',bucket=').length - 1, 2, 'one bucket per destination');
    // The converge's stale-group sweep reads the desired group ids from stats(), whatever the partition.
    assert.equal((await e.stats()).groups, [Number(/^group_id=(\d+),/.exec(groups[0])?.[1])]);
    // In sync without the group in the dump (groups are not in flow dumps): nothing to send.
    const flowsOnly = desired.filter((f) => f.table !== GROUP_TABLE);
    assert.is((await e.reconcile([flowStatsBody(flowsOnly)])).flowMods, 0);
    // A gateway flow missing: it and its group (ADD_OR_MOD, idempotent) are sent.
    const missing = flowsOnly.filter((f) => f.priority !== Priority.GatewayFlood);
    assert.is((await e.reconcile([flowStatsBody(missing)])).flowMods, 2);
    const b = await e.prepare(GoalStateV2.encode(unlisted).finish(), 2);
    await e.commit(b.txns);
    assert.is(b.delete, groupsAndFlows(desired), 'the group and its flows go');
    assert.is(flowsText(await e.desiredFlows()).filter((l) => l.startsWith('group_id=')).length, 0);
    assert.equal((await e.stats()).groups, []);
    results.push({
      statuses: JSON.stringify([...a.statuses, ...b.statuses]),
      flows: [...deltaText(a.deltas), ...deltaText(b.deltas)],
      desired: flowsText(desired),
    });
    await e.close();
  }
  assertAllSame(results);
});

function groupsAndFlows(desired: readonly Flow[]): number {
  const owner = desired.find((f) => f.table === GROUP_TABLE)?.cookie;
  return desired.filter((f) => f.cookie === owner).length;
}

/** OFPMP_FLOW reply body for these flows (ofp_flow_stats entries). */
function flowStatsBody(flows: readonly Flow[]): Uint8Array {
  // Reuse the codec: encode each as a FLOW_MOD and re-pack the match and instructions as flow stats.
  const w = new ByteWriter();
  for (const f of flows) {
    const fm = encodeFlowModBytes(f);
    const matchLen = (fm[50] << 8) | fm[51];
    const matchPadded = (matchLen + 7) & ~7;
    const match = fm.subarray(48, 48 + matchPadded);
    const instructions = fm.subarray(48 + matchPadded);
    const length = 48 + match.length + instructions.length;
    w.u16(length);
    w.u8(f.table);
    w.u8(0);
    w.u32(0); // duration_sec
    w.u32(0); // duration_nsec
    w.u16(f.priority);
    w.u16(0); // idle
    w.u16(0); // hard
    w.u16(0); // flags
    w.u32(0); // pad
    w.u64hl(Number(f.cookie >> 32n), Number(f.cookie & 0xffffffffn));
    w.u64n(0); // packet_count
    w.u64n(0); // byte_count
    w.bytes(match);
    w.bytes(instructions);
  }
  return w.toBuffer();
}

function encodeFlowModBytes(f: Flow): Buffer {
  return encodeFlowMod(f, 'add', 1);
}

test.run();
