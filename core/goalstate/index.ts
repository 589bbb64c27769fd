// Goal-state intake: address parsing, message normalization and the held desired state.
export {
  INVALID,
  AddrError,
  parseIpv4,
  formatIpv4,
  requireIpv4,
  ipv4Problem,
  looksLikeIpv6,
  parseCidr,
  formatCidr,
  requireCidr,
  cidrProblem,
  cidrContains,
  prefixMask,
  parseMac,
  formatMac,
  requireMac,
  macProblem,
} from './addr';
export type { AddrErrorCode } from './addr';
export { fromGoalState, fromGoalStateV2 } from './normalize';
export { KIND_ORDER, KIND_LABEL, RESOURCE_TYPE_OF_KIND, kindOfResourceType } from './kinds';
export { MAX_TUNNEL_ID, MAX_VLAN_ID } from './field-readers';
export { ResourceStore } from './store';
export { StoreError } from './apply-plan';
export { SNAPSHOT_FORMAT } from './snapshot';
export { sameContent } from './same-content';
export type { ApplyPlan, Change, PlannedStatus, ResourceOf, StoreErrorCode } from './apply-plan';
export type { StoreSnapshot } from './snapshot';
