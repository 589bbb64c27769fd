// alcor-agent as a library: everything here is pure computation (no sockets, no files), the same code
// the agent daemon runs in its worker threads.
//
//   import { decodeGoalState, compileAll, openflow } from 'alcor-agent';
//
// Goal states:   decodeGoalState (bytes -> normalized model, fast path for neighbors),
//                fromGoalState / fromGoalStateV2 (generated messages -> model), ResourceStore (held
//                state, two-phase plan/commit/revert with per-resource statuses).
// Flows:         compileAll / compileOwner (model -> Flow values), FlowTable (desired flows with
//                owners; apply() gives the minimal delta, reconcile() converges a dump), flowKey.
// OpenFlow:      openflow.* (OF1.3/1.4 + Nicira codec: flow-mods, bundles, packet-in/out, errors,
//                dump-flows text).
// Packets:       packet.* (Ethernet/IPv4/UDP/ARP), handleDhcp (a DHCP server as a pure function).
// Engine:        Engine (the partitioned worker pool the agent uses: bytes in, flow-mod batches out).
// The wire contract itself (generated ts-proto codecs) is `alcor-agent/proto`.

export const VERSION = '0.1.0';

export type * from './model';
export { type Flow, type Action, type MatchField, type FieldName, flowKey, flowBody, canonicalMatch } from './flow';
export {
  ResourceStore,
  StoreError,
  fromGoalState,
  fromGoalStateV2,
  type ApplyPlan,
  type Change,
  type PlannedStatus,
  type StoreSnapshot,
} from './goalstate';
export { parseIpv4, formatIpv4, parseMac, formatMac, parseCidr, formatCidr } from './goalstate/addr';
export { decodeGoalState, DecodeError } from './engine/decode';
export { Engine, type EngineOptions, type Prepared, type PrepareOptions } from './engine/engine';
export { GoalStateStatuses } from './engine/statuses';
export {
  compileAll,
  compileOwner,
  compileResource,
  dependents,
  type PipelineView,
  type ArpAnswers,
  type OwnerRef,
  MemoryView,
  encodeCookie,
  decodeCookie,
  cookieToString,
} from './pipeline';
export { FlowTable, type FlowDelta, type OwnerChange } from './flowtable';
export { handleDhcp, type DhcpLease, type DhcpLookup, type DhcpOutcome } from './dhcp/server';
export * as openflow from './openflow';
export * as packet from './packet/ethernet';
export * as arp from './packet/arp';
