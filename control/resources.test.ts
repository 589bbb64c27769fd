import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2, OperationType, PortState, ResourceType } from '../proto';
import { encodeHostGoalState, encodeResourceEntry, parseGoalStateV2, resourceKey } from './resources';
import { makeGoalState } from './testing/fixtures';

test("parseGoalStateV2 splits by host and keeps each resource's bytes", () => {
  const gs = makeGoalState({ hosts: ['10.0.0.1', '10.0.0.2'], portsPerHost: 2, sharedNeighbors: 1 });
  const parsed = parseGoalStateV2(GoalStateV2.encode(gs).finish());
  assert.is(parsed.resources.size, 1 + 1 + 4);
  assert.equal(parsed.hosts.get('10.0.0.1'), [
    'subnet/subnet-a',
    'neighbor/nbr-a-0',
    'port/port-a-10.0.0.1-0',
    'port/port-a-10.0.0.1-1',
  ]);
  const port = parsed.resources.get('port/port-a-10.0.0.2-1');
  assert.ok(port);
  assert.is(port.operation, OperationType.CREATE);
  assert.equal(PortState.decode(port.state), gs.portStates['port-a-10.0.0.2-1']);
});

test("a per-host message re-assembled from entries decodes to exactly that host's part", () => {
  const gs = makeGoalState({ hosts: ['10.0.0.1', '10.0.0.2'], portsPerHost: 1, sharedNeighbors: 1 });
  const parsed = parseGoalStateV2(GoalStateV2.encode(gs).finish());
  const keys = parsed.hosts.get('10.0.0.2') ?? [];
  const msg = encodeHostGoalState(
    '10.0.0.2',
    keys,
    keys.map((k) => encodeResourceEntry(k, parsed.resources.get(k)?.state ?? new Uint8Array())),
  );
  const back = GoalStateV2.decode(msg);
  assert.equal(Object.keys(back.hostResources), ['10.0.0.2']);
  assert.equal(back.hostResources['10.0.0.2'], gs.hostResources['10.0.0.2']);
  assert.equal(Object.keys(back.portStates), ['port-a-10.0.0.2-0']);
  assert.equal(back.portStates['port-a-10.0.0.2-0'], gs.portStates['port-a-10.0.0.2-0']);
  assert.equal(back.neighborStates, gs.neighborStates);
  assert.equal(back.subnetStates, gs.subnetStates);
});

test('a canonical map entry is kept as received (forwarded without a copy); any other form is re-encoded', () => {
  const gs = makeGoalState({ hosts: ['10.0.0.1'], portsPerHost: 2, sharedNeighbors: 1 });
  const parsed = parseGoalStateV2(GoalStateV2.encode(gs).finish());
  for (const r of parsed.resources.values()) {
    assert.ok(r.entry, `${r.key}: canonical`);
    assert.equal(
      [...r.entry],
      [...encodeResourceEntry(r.key, r.state)],
      `${r.key}: the bytes encodeResourceEntry writes`,
    );
  }
  const state = PortState.encode(PortState.fromPartial({ operationType: OperationType.CREATE })).finish();
  const field = 5; // port_states
  const reorder = Buffer.concat([
    Buffer.from([(field << 3) | 2, 6 + state.length, 0x12, state.length]),
    state,
    Buffer.from([0x0a, 2]),
    Buffer.from('p1'),
  ]);
  const paddedLength = Buffer.concat([
    Buffer.from([(field << 3) | 2, 0x80 | (6 + state.length), 0x00, 0x0a, 2]),
    Buffer.from('p1'),
    Buffer.from([0x12, state.length]),
    state,
  ]);
  const nonAscii = Buffer.concat([
    Buffer.from([(field << 3) | 2, 7 + state.length, 0x0a, 3]),
    Buffer.from('pö'),
    Buffer.from([0x12, state.length]),
    state,
  ]);
  for (const [what, msg, key] of [
    ['value before key', reorder, 'port/p1'],
    ['a non-minimal length', paddedLength, 'port/p1'],
    ['a non-ASCII id', nonAscii, 'port/pö'],
  ] as const) {
    const r = parseGoalStateV2(msg).resources.get(key);
    assert.ok(r, what);
    assert.is(r.entry, undefined, `${what}: not forwarded as is`);
    assert.equal([...r.state], [...state], what);
  }
});

test('bad input is a clear error, never a crash', () => {
  assert.throws(() => parseGoalStateV2(Buffer.from([0x2a, 0x05, 0x0a])), /truncated/);
  assert.throws(() => resourceKey(99 as ResourceType, 'x'), /unknown resource type/);
  const empty = GoalStateV2.encode(GoalStateV2.fromPartial({ hostResources: { '': { resources: [] } } })).finish();
  assert.throws(() => parseGoalStateV2(empty), /empty host IP/);
});

test.run();
