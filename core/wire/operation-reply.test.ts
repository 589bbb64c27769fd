import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateOperationReply } from '../../proto';
import { encodeGoalStateOperationReply } from './operation-reply';

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

test.run();
