// Regressions (found by fuzzing, goalstate.fuzz.test.ts seed 388724191): the splitter places a neighbor by
// the id its partition will decode, so 2 workers answer as the inline engine does. It once read ids its own
// way: it gave up on a field it could not skip (a 10-byte varint) and placed the neighbor by an empty id, and
// it took the first id or map key where the decoders keep the last. A neighbor placed in another partition
// than its id's is held twice and contests its own flow keys across partitions, and moving it to partition 0
// settles nothing (the next split sends it back): ENGINE_CONTEST where the inline engine answered SUCCESS.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalState } from '../../proto';
import { fullGoalStateBytes, NEIGHBOR_L3_ID } from '../../test/fixtures/goalstates';
import { encodeMessage, parseMessage, varint, type PbField } from '../../test/fuzz-protobuf';
import { formatFlow } from '../openflow';
import { DecodeError, decodeGoalState } from './decode';
import type { Engine } from './engine';
import { FIXTURE_OFPORTS, engineWith as engineOn } from '../../test/engine-runs';
import { partitionOfNeighbor } from './placement';
import { SplitError, splitGoalState, type SplitGoalState } from './split';

const PARTS = 2;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const len = (field: number, value: Uint8Array | string): PbField => ({
  field,
  wire: 2,
  value: typeof value === 'string' ? enc(value) : value,
});
const num = (field: number, value: number | bigint): PbField => ({ field, wire: 0, value: varint(value) });
/** -1 as int64: a legal 10-byte varint, more than the hot paths' 53-bit reader takes. */
const TEN_BYTE_VARINT = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);

/** Two ids whose partitions (of PARTS) differ, so a neighbor placed by the wrong one is seen. */
function idsApart(): [string, string] {
  const first = 'nbr-first';
  for (let i = 0; ; i++) {
    const other = `nbr-other-${i}`;
    if (partitionOfNeighbor(other, PARTS) !== partitionOfNeighbor(first, PARTS)) return [first, other];
  }
}

/** The partition the split put neighbor 0 in, and the id its statuses name it by. */
function placed(split: SplitGoalState, bytes: Uint8Array): { partition: number; statusId: string } {
  const partition = split.chunks.findIndex((cs) => cs.some((c) => c.neighborOrder.includes(0)));
  const statusId = new TextDecoder('utf-8', { ignoreBOM: true }).decode(
    bytes.subarray(split.idRanges[0], split.idRanges[1]),
  );
  return { partition, statusId };
}

/** A v1 goal state of one neighbor entry whose configuration fields are `config`. */
function v1With(config: readonly PbField[], more: readonly PbField[] = []): Uint8Array {
  const state: PbField = {
    field: 5,
    wire: 2,
    value: new Uint8Array(0),
    children: [num(1, 1), len(2, encodeMessage(config)), ...more],
  };
  return encodeMessage([num(1, 101), state]);
}

/** The neighbor id the generated decoder reads from a v1 goal state. */
const v1DecodedId = (bytes: Uint8Array): string => GoalState.decode(bytes).neighborStates[0]?.configuration?.id ?? '';

test('a v1 neighbor whose revision_number is a 10-byte varint is placed and named by its id, not by an empty one', () => {
  const [id] = idsApart();
  const bytes = v1With([{ field: 1, wire: 0, value: TEN_BYTE_VARINT }, len(3, id)]);
  assert.is(v1DecodedId(bytes), id);
  assert.equal(placed(splitGoalState(bytes, 1, PARTS), bytes), {
    partition: partitionOfNeighbor(id, PARTS),
    statusId: id,
  });
});

test('a v1 neighbor with its id given twice is placed and named by the last, as the decoders keep it', () => {
  const [first, last] = idsApart();
  const bytes = v1With([len(3, first), len(7, 'fa:16:3e:00:00:01'), len(3, last)]);
  assert.is(v1DecodedId(bytes), last);
  const at = placed(splitGoalState(bytes, 1, PARTS), bytes);
  assert.equal(at, { partition: partitionOfNeighbor(last, PARTS), statusId: last });
});

test('a v1 neighbor with its configuration given twice is placed by the last one (it replaces the first)', () => {
  const [first, last] = idsApart();
  const bytes = v1With([len(3, first)], [len(2, encodeMessage([len(6, 'no id here')]))]);
  assert.is(v1DecodedId(bytes), '');
  const bytes2 = v1With([len(3, first)], [len(2, encodeMessage([len(3, last)]))]);
  assert.is(v1DecodedId(bytes2), last);
  assert.is(placed(splitGoalState(bytes, 1, PARTS), bytes).statusId, '');
  const at = placed(splitGoalState(bytes2, 1, PARTS), bytes2);
  assert.equal(at, { partition: partitionOfNeighbor(last, PARTS), statusId: last });
});

test('a v2 neighbor entry with its key given twice is placed and named by the last key', () => {
  const [first, last] = idsApart();
  const entry: PbField = {
    field: 7,
    wire: 2,
    value: new Uint8Array(0),
    children: [len(1, first), len(2, encodeMessage([num(1, 1)])), len(1, last)],
  };
  const bytes = encodeMessage([num(1, 102), entry]);
  const at = placed(splitGoalState(bytes, 2, PARTS), bytes);
  assert.equal(at, { partition: partitionOfNeighbor(last, PARTS), statusId: last });
});

test('an entry the generated decoder reads otherwise (a field 0 inside a fixed IP) is refused, inline and with workers', async () => {
  // Not protobuf (field number 0): the decoder stops reading the fixed IP at that tag and reads on from there
  // in the configuration, so the id field hidden after it is the one it keeps, not the one the splitter placed
  // the neighbor by. Checking every byte of every entry on the main thread would cost as much as the split;
  // the partition finds it (the fast path declines the entry, and the decoded id is compared).
  const [outer, hidden] = idsApart();
  const fixedIp = Uint8Array.from([0x00, ...encodeMessage([len(3, hidden)])]);
  const bytes = v1With([len(3, outer), { field: 10, wire: 2, value: fixedIp }]);
  assert.is(v1DecodedId(bytes), hidden);
  assert.throws(
    () => decodeGoalState(bytes, 1),
    (e: unknown) => e instanceof DecodeError && e.code === 'GOALSTATE_DECODE',
  );
  for (const workers of [0, PARTS]) {
    const engine = await engineWith(workers);
    try {
      const before = await engine.desiredFlows();
      let code: unknown;
      try {
        await engine.prepare(bytes, 1);
      } catch (e: unknown) {
        code = (e as { code?: unknown }).code;
      }
      assert.is(code, 'GOALSTATE_DECODE', `${workers} workers`);
      assert.equal(await engine.desiredFlows(), before, `${workers} workers: nothing programmed`);
    } finally {
      await engine.close();
    }
  }
});

test('an id with a leading U+FEFF keeps it: placed and named by the id the generated decoder reads', () => {
  const id = '\ufeffnbr-bom';
  const bytes = v1With([len(3, id)]);
  assert.is(v1DecodedId(bytes), id);
  assert.equal(placed(splitGoalState(bytes, 1, PARTS), bytes), {
    partition: partitionOfNeighbor(id, PARTS),
    statusId: id,
  });
});

test('a top-level tag past 32 bits (its low bits name neighbor_states) is refused: GOALSTATE_WIRE', () => {
  // 0x2a (field 5, wire 2) plus 2^35: the generated decoder would keep the low 32 bits, a neighbor entry the
  // splitter does not count as one, and every partition would plan it.
  const tag = Uint8Array.from(varint(0x2a + 2 ** 35));
  const bytes = Uint8Array.from([...tag, 2, 0x08, 0x01]);
  assert.throws(
    () => splitGoalState(bytes, 1, PARTS),
    (e: unknown) => e instanceof SplitError && e.code === 'GOALSTATE_WIRE' && e.offset === 0,
  );
});

function engineWith(workers: number): Promise<Engine> {
  return engineOn(workers, FIXTURE_OFPORTS);
}

/** The full v1 fixture with neighbor NEIGHBOR_L3_ID's revision_number written as a 10-byte varint. */
function fullWithLongRevision(): Uint8Array {
  const top = parseMessage(fullGoalStateBytes()) ?? [];
  const decoded = GoalState.decode(fullGoalStateBytes());
  const at = decoded.neighborStates.findIndex((n) => n.configuration?.id === NEIGHBOR_L3_ID);
  const state = top.filter((f) => f.field === 5)[at];
  const config = state?.children?.find((f) => f.field === 2)?.children as PbField[];
  config[config.findIndex((f) => f.field === 1)] = { field: 1, wire: 0, value: TEN_BYTE_VARINT };
  return encodeMessage(top);
}

test('2 workers answer the fuzzer\'s case as the inline engine does (it was ENGINE_CONTEST "…d5")', async () => {
  const messages = [fullGoalStateBytes(), fullWithLongRevision()];
  const answers: string[][] = [];
  for (const workers of [0, PARTS]) {
    const engine = await engineWith(workers);
    try {
      const lines: string[] = [];
      for (const bytes of messages) {
        const p = await engine.prepare(bytes, 1);
        await engine.commit(p.txns);
        for (const s of p.statuses) lines.push(`${s.resourceType}/${s.resourceId}: ${s.status} ${s.reason}`);
      }
      lines.push(...(await engine.desiredFlows()).map((f) => formatFlow(f)).sort());
      answers.push(lines);
    } finally {
      await engine.close();
    }
  }
  assert.equal(answers[1], answers[0]);
});

test.run();
