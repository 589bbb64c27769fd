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
// What is not decoded: bytes the splitter reads past and nothing keeps (a map entry or value superseded
// by a later one for the same key inside the same message, last one wins); they are neither stored nor
// forwarded, so no agent ever sees them.
// Checks that need the agent's held state (is the port's subnet there? is the IP inside it?) stay
// the agent's; their INVALID_ARG statuses come back in the reply and in /v1/hosts/<ip>/result.
import {
  DHCPState,
  GatewayState,
  GoalStateV2,
  NeighborState,
  OperationType,
  PortState,
  ResourceType,
  RouterState,
  SecurityGroupState,
  SubnetState,
  VpcState,
} from '../../proto';
import { fromGoalStateV2 } from '../../core/goalstate';
import { varintSize } from '../../core/wire/varint';
import { ControlError, ParsedGoalState, ParsedResource, stateLength, WireResource } from '../resources';
import { portSurelyValid } from './port-check';
import type { StateCache } from '../store/store';

/** The agents' default --max-message-mb (agent/cli/run.ts), in bytes. */
export const AGENT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Decoders of each resource's XState message, by the kind's GoalStateV2 map (what the agent's decode runs). */
const STATE_CODECS: { readonly [T in ResourceType]?: { readonly map: StateMap; decode(b: Uint8Array): unknown } } = {
  [ResourceType.VPC]: { map: 'vpcStates', decode: (b) => VpcState.decode(b) },
  [ResourceType.SUBNET]: { map: 'subnetStates', decode: (b) => SubnetState.decode(b) },
  [ResourceType.PORT]: { map: 'portStates', decode: (b) => PortState.decode(b) },
  [ResourceType.DHCP]: { map: 'dhcpStates', decode: (b) => DHCPState.decode(b) },
  [ResourceType.NEIGHBOR]: { map: 'neighborStates', decode: (b) => NeighborState.decode(b) },
  [ResourceType.SECURITYGROUP]: { map: 'securityGroupStates', decode: (b) => SecurityGroupState.decode(b) },
  [ResourceType.ROUTER]: { map: 'routerStates', decode: (b) => RouterState.decode(b) },
  [ResourceType.GATEWAY]: { map: 'gatewayStates', decode: (b) => GatewayState.decode(b) },
};

type StateMap =
  | 'vpcStates'
  | 'subnetStates'
  | 'portStates'
  | 'dhcpStates'
  | 'neighborStates'
  | 'securityGroupStates'
  | 'routerStates'
  | 'gatewayStates';

/**
 * Refuses (ControlError BAD_GOAL_STATE / BAD_RESOURCE) a goal state whose resources an agent could not
 * read. Only the resource states are decoded: the splitter already read the top level and the host
 * lists (decoding host_resources again would double the cost for nothing). Ports the quick check
 * (port-check.ts) finds surely valid are not decoded at all; each resource is judged on its own, so
 * leaving valid ones out changes neither the verdict nor its wording.
 */
export function validateContent(gs: ParsedGoalState): void {
  const unsure: ParsedResource[] = [];
  for (const r of gs.resources.values()) {
    if (r.type === ResourceType.PORT && surelyValidPort(r)) continue;
    unsure.push(r);
  }
  if (unsure.length > 0) validateDecoded(unsure);
}

/** A received port is read where it lies in the message (no view of its state made for the check). */
function surelyValidPort(r: ParsedResource): boolean {
  if (r instanceof WireResource) return portSurelyValid(r.raw, r.id, r.stateStart, r.stateEnd);
  return portSurelyValid(r.state, r.id);
}

/** The ordinary check: every resource decoded with the agent's codec and run through core's normalizers. */
export function validateDecoded(resources: Iterable<ParsedResource>): void {
  const msg: GoalStateV2 = {
    formatVersion: 0,
    hostResources: {},
    vpcStates: {},
    subnetStates: {},
    portStates: {},
    dhcpStates: {},
    neighborStates: {},
    securityGroupStates: {},
    routerStates: {},
    gatewayStates: {},
  };
  for (const r of resources) {
    const codec = STATE_CODECS[r.type];
    if (codec === undefined) continue;
    let state: unknown;
    try {
      state = codec.decode(r.state);
    } catch (err: unknown) {
      throw new ControlError('BAD_GOAL_STATE', `${r.key}: the state does not decode: ${(err as Error).message}`);
    }
    (msg[codec.map] as Record<string, unknown>)[r.id] = state;
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
  if (messageBytesBound(gs, cache) <= limit) return;
  for (const [host, wanted] of gs.hosts) {
    const held = cache.hosts.get(host)?.keys;
    // A new host holds what it is given (its list has no repeats): nothing to merge, no copy of an index.
    const keys = held === undefined || held.size === 0 ? wanted : withWanted(held, wanted, gs);
    let size = 2; // format_version
    for (const key of keys) {
      const incoming = gs.resources.get(key);
      if (incoming?.operation === OperationType.DELETE) continue;
      const state = incoming?.state ?? cache.resources.get(key)?.state;
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

/**
 * More than any host's message can hold after the commit: every resource stored or in the message, each at most
 * hostMessageBytes with an id of 3 UTF-8 bytes per UTF-16 unit of its whole key and varints of 5 bytes (2 x id +
 * state + 34). Summing this costs a pass over the message's resources, not a lookup per key of every host's list:
 * a 100k-port goal state is far under the limit, and only one near it is checked host by host.
 */
function messageBytesBound(gs: ParsedGoalState, cache: StateCache): number {
  const stored = cache.storedTotals();
  let bound = 2 + 6 * stored.keyChars + stored.stateBytes + 34 * stored.count;
  for (const r of gs.resources.values()) {
    if (r.operation !== OperationType.DELETE) bound += 6 * r.key.length + stateLength(r) + 34;
  }
  return bound;
}

/** The keys a host holds after a goal state that lists `wanted` for it (its deletes taken out). */
function withWanted(held: Iterable<string>, wanted: Iterable<string>, gs: ParsedGoalState): Set<string> {
  const keys = new Set(held);
  for (const key of wanted) {
    if (gs.resources.get(key)?.operation === OperationType.DELETE) keys.delete(key);
    else keys.add(key);
  }
  return keys;
}

/** Bytes one resource adds to a host's message: its map entry plus its host_resources item (upper bound). */
function hostMessageBytes(key: string, stateLength: number): number {
  // The id's UTF-8 length without slicing it out: the kind prefix and its slash are ASCII.
  const idLen = Buffer.byteLength(key, 'utf8') - key.indexOf('/') - 1;
  const entryLen = 1 + varintSize(idLen) + idLen + 1 + varintSize(stateLength) + stateLength;
  const itemLen = 3 + 1 + varintSize(idLen) + idLen; // type (at most 3 bytes) + id
  return 2 + varintSize(entryLen) + entryLen + 1 + varintSize(itemLen) + itemLen;
}
