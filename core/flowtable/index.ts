export { FlowTable, type FlowDelta, type FlowTableOptions, type OwnerChange } from './table';
export { fastFlowKey, sameActions, sameBody } from './key';
