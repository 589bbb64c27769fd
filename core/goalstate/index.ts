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
export {
  fromGoalState,
  fromGoalStateV2,
  KIND_ORDER,
  RESOURCE_TYPE_OF_KIND,
  kindOfResourceType,
  MAX_TUNNEL_ID,
  MAX_VLAN_ID,
} from './normalize';
export { ResourceStore, StoreError, SNAPSHOT_FORMAT, sameContent } from './store';
export type { ApplyPlan, Change, PlannedStatus, ResourceOf, StoreErrorCode, StoreSnapshot } from './store';
