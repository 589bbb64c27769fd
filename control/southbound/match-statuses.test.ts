import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationStatus, OperationType, ResourceType } from '../../proto';
import { matchStatuses } from './match-statuses';

const st = (type: ResourceType, id: string, status = OperationStatus.SUCCESS) => ({
  resourceId: id,
  resourceType: type,
  operationType: OperationType.INFO,
  operationStatus: status,
});

const opOf = (key: string): OperationType | undefined => (key.startsWith('port/') ? OperationType.CREATE : undefined);

test('statuses in the order of the keys are matched by position, with the caller operation and no timings', () => {
  const out = matchStatuses(
    ['port/p1', 'neighbor/n1'],
    [st(ResourceType.PORT, 'p1'), st(ResourceType.NEIGHBOR, 'n1', OperationStatus.FAILURE)],
    opOf,
  );
  assert.equal(out, [
    {
      resourceId: 'p1',
      resourceType: ResourceType.PORT,
      operationType: OperationType.CREATE,
      operationStatus: OperationStatus.SUCCESS,
      dataplaneProgrammingTime: 0,
      networkConfigurationTime: 0,
      stateElapseTime: 0,
    },
    {
      resourceId: 'n1',
      resourceType: ResourceType.NEIGHBOR,
      operationType: OperationType.INFO,
      operationStatus: OperationStatus.FAILURE,
      dataplaneProgrammingTime: 0,
      networkConfigurationTime: 0,
      stateElapseTime: 0,
    },
  ]);
});

test('out of order, unknown or extra statuses: matched by key, the others left out, in the agent order', () => {
  const out = matchStatuses(
    ['port/p1', 'port/p2', 'subnet/s1'],
    [
      st(ResourceType.SUBNET, 's1'),
      st(ResourceType.PORT, 'p9'), // not asked for
      st(ResourceType.PORT, 'p2'),
      st(99 as ResourceType, 'x'), // no such type
      st(ResourceType.NEIGHBOR, 'p1'), // same id, another kind
      st(ResourceType.PORT, 'p1'),
    ],
    opOf,
  );
  assert.equal(
    out.map((s) => `${s.resourceType}/${s.resourceId}`),
    [`${ResourceType.SUBNET}/s1`, `${ResourceType.PORT}/p2`, `${ResourceType.PORT}/p1`],
  );
  assert.equal(matchStatuses(['port/p1'], [], opOf), []);
});

test.run();
