import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateOperationReply } from '../../proto';
import { ResourceType } from '../../proto';
import { GoalStateStatuses } from '../engine/statuses';
import type { PlannedStatus } from '../goalstate';
import { ENCODE_REPLY, encodeColumnarReply, encodeGoalStateOperationReply } from './operation-reply';

type Status = GoalStateOperationReply['operationStatuses'][number];

function status(over: Partial<Status>): Status {
  return {
    resourceId: '',
    resourceType: 0,
    operationType: 0,
    operationStatus: 0,
    dataplaneProgrammingTime: 0,
    networkConfigurationTime: 0,
    stateElapseTime: 0,
    ...over,
  };
}

function same(reply: GoalStateOperationReply): void {
  const ours = encodeGoalStateOperationReply(reply);
  const generated = Buffer.from(GoalStateOperationReply.encode(reply).finish());
  assert.is(ours.toString('hex'), generated.toString('hex'));
}

test('the empty reply and zero-valued statuses encode as the generated code does', () => {
  same({ formatVersion: 0, operationStatuses: [], messageTotalOperationTime: 0 });
  same({ formatVersion: 1, operationStatuses: [status({})], messageTotalOperationTime: 0 });
});

test('every field at its size boundaries, non-ASCII ids and negative enums match byte for byte', () => {
  const edges = [1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 268_435_456, 0xffff_ffff];
  const ids = ['port-1', 'é-ü-漢字', 'x'.repeat(200), ''];
  const statuses: Status[] = [];
  for (let i = 0; i < edges.length; i++) {
    statuses.push(
      status({
        resourceId: ids[i % ids.length],
        resourceType: i % 9,
        operationType: i % 6,
        operationStatus: i % 7,
        dataplaneProgrammingTime: edges[i],
        networkConfigurationTime: edges[(i + 3) % edges.length],
        stateElapseTime: edges[(i + 7) % edges.length],
      }),
    );
  }
  // Enum values outside the schema (a newer peer's, or UNRECOGNIZED = -1) still round-trip exactly.
  statuses.push(
    status({
      resourceId: 'bad',
      resourceType: -1,
      operationType: -2_147_483_648 as Status['operationType'],
      operationStatus: -7 as Status['operationStatus'],
    }),
  );
  same({ formatVersion: 1, operationStatuses: statuses, messageTotalOperationTime: 0xffff_fffe });
});

test('a random mix of 10,000 statuses matches and decodes back', () => {
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return seed % n;
  };
  const statuses = Array.from({ length: 10_000 }, (_, i) =>
    status({
      resourceId: `neighbor-${i}-${rnd(1e9)}`,
      resourceType: rnd(9),
      operationType: rnd(6),
      operationStatus: rnd(7),
      dataplaneProgrammingTime: rnd(2) ? rnd(2 ** 31) : 0,
      stateElapseTime: rnd(2 ** 31),
    }),
  );
  const reply = { formatVersion: 1, operationStatuses: statuses, messageTotalOperationTime: 123_456 };
  same(reply);
  assert.equal(GoalStateOperationReply.decode(encodeGoalStateOperationReply(reply)), reply);
});

/** Ids laid out as a request would hold them: each id's bytes somewhere in one buffer. */
function columnsOf(ids: readonly Uint8Array[]): { message: Uint8Array; idRanges: Uint32Array } {
  const parts: number[] = [];
  const idRanges = new Uint32Array(2 * ids.length);
  ids.forEach((id, n) => {
    parts.push(0x0a, 0x00); // bytes between ids, as tags and lengths would be
    idRanges[2 * n] = parts.length;
    parts.push(...id);
    idRanges[2 * n + 1] = parts.length;
  });
  return { message: Uint8Array.from(parts), idRanges };
}

test('the columnar reply is the generated encoding of the same statuses, odd ids and listed ones included', () => {
  const enc = new TextEncoder();
  const ids = [
    enc.encode('nbr-1'),
    enc.encode(''),
    enc.encode('\ufeffbom-first'),
    enc.encode('ünïcødé-€-𝄞'),
    Uint8Array.from([0x6e, 0xff, 0xc3]), // not UTF-8: the reply carries what the decoder reads
    enc.encode('x'.repeat(200)), // a two-byte length
    enc.encode('listed'),
  ];
  const { message, idRanges } = columnsOf(ids);
  const codes = Uint8Array.from([0, 3, 1, 0, 2, 0, 255]);
  const operations = Uint8Array.from([1, 0, 4, 2, 1, 3, 1]);
  const listed = new Map<number, PlannedStatus>([
    [6, { resourceId: 'listed', resourceType: ResourceType.NEIGHBOR, operationType: 1, status: 3, reason: 'why' }],
  ]);
  const others: PlannedStatus[] = [
    { resourceId: 'vpc-1', resourceType: ResourceType.VPC, operationType: 1, status: 0, reason: '' },
    { resourceId: 'port-1', resourceType: ResourceType.PORT, operationType: 1, status: 4, reason: 'pending' },
    { resourceId: 'dhcp-1', resourceType: ResourceType.DHCP, operationType: 1, status: 0, reason: '' },
  ];
  const statuses = new GoalStateStatuses({ others, message, idRanges, codes, operations, listed });
  for (const [dataplaneUs, totalUs] of [
    [0, 0],
    [5, 0],
    [0, 7],
    [300_000, 4_000_000_000],
  ]) {
    const reply: GoalStateOperationReply = {
      formatVersion: 1,
      messageTotalOperationTime: totalUs,
      operationStatuses: [...statuses].map((s) =>
        status({
          resourceId: s.resourceId,
          resourceType: s.resourceType,
          operationType: s.operationType,
          operationStatus: s.status,
          dataplaneProgrammingTime: dataplaneUs,
          stateElapseTime: totalUs,
        }),
      ),
    };
    const generated = Buffer.from(GoalStateOperationReply.encode(reply).finish()).toString('hex');
    assert.is(encodeColumnarReply(statuses.columns(), { dataplaneUs, totalUs }).toString('hex'), generated);
    // A reply object carrying it is encoded by it, not by walking its statuses.
    const carrying = { ...reply, [ENCODE_REPLY]: () => Buffer.from('own') } as GoalStateOperationReply;
    assert.is(encodeGoalStateOperationReply(carrying).toString(), 'own');
  }
});

test.run();
