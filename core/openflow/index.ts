// Public API of the OpenFlow codec (pure: no sockets, no fs). See docs/openflow-codec.md.

export * from './constants';
export { OpenFlowError, type OpenFlowErrorCode } from './errors';
export { ByteWriter } from './writer';
export { OpenFlowFramer } from './framing';
export { encodeMatch, decodeMatch, decodeOxmFields, fieldSpec, fieldByHeader, type FieldSpec } from './oxm';
export { encodeAction, encodeActions, decodeActions } from './actions';
export {
  writeFlowMod,
  encodeFlowMod,
  decodeFlowStats,
  decodeFlowStatsEntries,
  type FlowStatsEntry,
  type FlowModOptions,
} from './flowmod';
export * from './messages';
export {
  writeGroupMod,
  encodeGroupDescRequest,
  decodeGroupDescs,
  OFPG_MAX,
  type GroupDesc,
  type GroupModCommand,
} from './groupmod';
export { decodeFlowRemoved, type FlowRemoved, type FlowRemovedParse } from './flow-removed';
export {
  formatFlow,
  formatGroup,
  formatMatch,
  formatAction,
  formatActions,
  normalizeDumpLine,
  type FormatOptions,
} from './format';
