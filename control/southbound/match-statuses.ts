// Which of an agent's statuses answer the keys a caller waits for. An agent answers a host's message with a
// status per resource, as a rule in the order the message listed them: those are matched by position, with
// no key built per status. Statuses out of that order fall back to a lookup by key (built once, on need).
import type { GoalStateOperationReply, OperationType } from '../../proto';
import { keyIs } from '../resources';
import type { HostResult } from '../store/store';
import { statusKey } from './host-session';

type Status = GoalStateOperationReply['operationStatuses'][number];

/**
 * The statuses of `result` whose resource is one of `expected`, in the agent's order, each as the caller
 * gets it: the caller's own operation (`opOf`, else the agent's) and no timings.
 */
export function matchStatuses(
  expected: readonly string[],
  result: HostResult['statuses'],
  opOf: (key: string) => OperationType | undefined,
): Status[] {
  const out: Status[] = [];
  let want: Set<string> | null = null;
  for (let i = 0; i < result.length; i++) {
    const s = result[i] as HostResult['statuses'][number];
    let key: string | null = i < expected.length ? (expected[i] as string) : null;
    if (key === null || !keyIs(key, s.resourceType, s.resourceId)) {
      want ??= new Set(expected);
      key = statusKey(s);
      if (key === null || !want.has(key)) continue;
    }
    out.push({
      resourceId: s.resourceId,
      resourceType: s.resourceType,
      // The caller's own operation: a NATS agent that applied everything sends no statuses to echo it.
      operationType: opOf(key) ?? s.operationType,
      operationStatus: s.operationStatus,
      dataplaneProgrammingTime: 0,
      networkConfigurationTime: 0,
      stateElapseTime: 0,
    });
  }
  return out;
}
