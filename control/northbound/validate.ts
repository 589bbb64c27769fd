// What the control service checks before it stores a goal state: exactly what an agent would refuse
// whole, so nothing stored can make every later push of a host fail.
//
// - Size: an agent refuses a message over its --max-message-mb (default 256 MiB). The northbound
//   message itself, and every per-host message the commit would make (the host's FULL state after
//   the commit, which is what a reconnect pushes), must fit. Otherwise the message was stored,
//   forwarded, refused, retried forever, and the host's later pushes came back PENDING.
// - Content: the message is decoded with the same codec the agent uses and every resource is run
//   through core's normalizers (syntax, ranges, usable MACs and addresses). The splitter only reads
//   the top level of each resource, so a neighbor with truncated inner bytes used to be stored.
// Checks that need the agent's held state (is the port's subnet there? is the IP inside it?) stay
// the agent's; their INVALID_ARG statuses come back in the reply and in /v1/hosts/<ip>/result.
import { GoalStateV2, OperationType } from '../../proto';
import { fromGoalStateV2 } from '../../core/goalstate';
import { varintSize } from '../../core/wire/varint';
import { ControlError, ParsedGoalState, parseResourceKey } from '../resources';
import type { StateCache } from '../store/store';

/** The agents' default --max-message-mb (agent/cli/run.ts), in bytes. */
export const AGENT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Refuses (ControlError BAD_GOAL_STATE / BAD_RESOURCE) a goal state an agent could not read. */
export function validateContent(raw: Uint8Array): void {
  let msg: GoalStateV2;
  try {
    msg = GoalStateV2.decode(raw);
  } catch (err: unknown) {
    throw new ControlError('BAD_GOAL_STATE', `undecodable GoalStateV2: ${(err as Error).message}`);
  }
  const ops = fromGoalStateV2(msg).ops;
  let first: string | undefined;
  let bad = 0;
  for (const op of ops) {
    if (op.error === undefined) continue;
    bad++;
    first ??= op.error;
  }
  if (first !== undefined) {
    const more = bad > 1 ? ` (and ${bad - 1} more invalid resource(s))` : '';
    throw new ControlError('BAD_RESOURCE', `${first}${more}; nothing was stored`);
  }
}

/** Refuses (ControlError MESSAGE_TOO_LARGE) a message, or a host's resulting full state, over `limit` bytes. */
export function validateSize(gs: ParsedGoalState, rawLength: number, cache: StateCache, limit: number): void {
  if (rawLength > limit) {
    throw new ControlError(
      'MESSAGE_TOO_LARGE',
      `the goal state is ${rawLength} bytes, over the agents' limit of ${limit} bytes; split it`,
    );
  }
  for (const [host, wanted] of gs.hosts) {
    const keys = new Set(cache.hosts.get(host)?.keys ?? []);
    for (const key of wanted) {
      const incoming = gs.resources.get(key);
      if (incoming !== undefined && incoming.operation === OperationType.DELETE) keys.delete(key);
      else keys.add(key);
    }
    let size = 2; // format_version
    for (const key of keys) {
      const state = gs.resources.get(key)?.state ?? cache.resources.get(key)?.state;
      if (state === undefined) continue; // unknown keys are reported missing, not pushed
      size += hostMessageBytes(key, state.length);
      if (size > limit) {
        throw new ControlError(
          'MESSAGE_TOO_LARGE',
          `host ${host}'s goal state would be over ${limit} bytes (the agents' limit) after this change; ` +
            `split the host's resources or raise --max-message-mb on its agent and here`,
        );
      }
    }
  }
}

/** Bytes one resource adds to a host's message: its map entry plus its host_resources item (upper bound). */
function hostMessageBytes(key: string, stateLength: number): number {
  const { id } = parseResourceKey(key);
  const idLen = Buffer.byteLength(id, 'utf8');
  const entryLen = 1 + varintSize(idLen) + idLen + 1 + varintSize(stateLength) + stateLength;
  const itemLen = 3 + 1 + varintSize(idLen) + idLen; // type (at most 3 bytes) + id
  return 2 + varintSize(entryLen) + entryLen + 1 + varintSize(itemLen) + itemLen;
}
