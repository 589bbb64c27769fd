// OVSDB access for the agent: RFC 7047 client, idempotent bridge/tunnel set-up, live interface -> ofport view.
export { OvsdbClient, OvsdbError, applyColumnDiff, parseSchema, type OvsdbErrorCode } from './client';
export type {
  ColumnShape,
  DbSchema,
  MonitorHandle,
  MonitorTableRequest,
  MonitorUpdate,
  OvsdbClientOptions,
  ReconnectOptions,
  RowChange,
  TableSchema,
} from './client';
export { ensureBridge, ensureVxlanPort, OVS_DB } from './bridge';
export type { BridgeSpec, EnsureResult, VxlanPortSpec } from './bridge';
export { InterfaceMonitor, tapNameFor, TAP_ID_CHARS, TAP_PREFIX } from './interfaces';
export type { InterfaceEvent, OvsInterface, PortEvent } from './interfaces';
export { JsonMessageSplitter, OvsdbFramingError } from './framing';
export * from './values';
