// Idempotent bridge and tunnel-port set-up through OVSDB, one transaction per change.
//
// Each ensure* reads the current rows, computes what differs, and commits the difference in ONE transaction that
// also `wait`s for the rows it read to be unchanged (optimistic concurrency: if ovs-vsctl or another agent changed
// them in between, the transaction fails as a whole and we re-read and retry). Nothing differs -> no transaction.
// Calling an ensure* twice is therefore harmless, and it repairs fields someone changed by hand.
import type { OvsdbClient } from './client';
import { OvsdbError } from './client';
import {
  map,
  mapValues,
  namedUuid,
  optionalInteger,
  optionalString,
  sameStringMap,
  set,
  setValues,
  uuid,
  uuidOf,
  type Condition,
  type Operation,
  type OvsdbRow,
  type OvsdbValue,
} from './values';

export const OVS_DB = 'Open_vSwitch';
const MAX_ATTEMPTS = 5;

export interface BridgeSpec {
  readonly name: string;
  /** 'netdev' (userspace) or 'system'; unset leaves OVS's default. */
  readonly datapathType?: string;
  /** Default 'secure': no NORMAL fallback while the agent is disconnected. */
  readonly failMode?: 'secure' | 'standalone';
  /** Protocols that must be enabled; any others already enabled stay. Default OpenFlow13 + OpenFlow14. */
  readonly protocols?: readonly string[];
  /** Keys that must have these values; other keys are left alone. */
  readonly otherConfig?: Readonly<Record<string, string>>;
  readonly externalIds?: Readonly<Record<string, string>>;
}

export interface VxlanPortSpec {
  readonly bridge: string;
  readonly name: string;
  /** Tunnel source address; unset lets OVS pick by route. */
  readonly localIp?: string;
  readonly ofportRequest?: number;
  /** Extra Interface options (e.g. df_default, dst_port). remote_ip=flow and key=flow are always set. */
  readonly extraOptions?: Readonly<Record<string, string>>;
  readonly type?: 'vxlan' | 'geneve';
}

export interface EnsureResult {
  /** False when everything already matched (no transaction was sent). */
  readonly changed: boolean;
  /** Short description of each field that was created or repaired. */
  readonly actions: readonly string[];
}

const BRIDGE_COLUMNS = [
  '_uuid',
  'name',
  'datapath_type',
  'fail_mode',
  'protocols',
  'other_config',
  'external_ids',
  'ports',
];
const PORT_COLUMNS = ['_uuid', 'name', 'interfaces'];
const IFACE_COLUMNS = ['_uuid', 'name', 'type', 'options', 'ofport_request'];

const eq = (column: string, value: OvsdbValue): Condition => [column, '==', value];

async function selectRows(
  client: OvsdbClient,
  table: string,
  where: readonly Condition[],
  columns: readonly string[],
): Promise<readonly OvsdbRow[]> {
  const [r] = await client.transact(OVS_DB, [{ op: 'select', table, where, columns }]);
  return r?.rows ?? [];
}

/** Row with only the given columns, for a `wait` that the rows are as we read them. */
function pick(row: OvsdbRow, columns: readonly string[]): OvsdbRow {
  const out: Record<string, OvsdbValue> = {};
  for (const c of columns) {
    const v = row[c];
    if (v !== undefined) out[c] = v;
  }
  return out;
}

function isRetryable(e: unknown): boolean {
  return e instanceof OvsdbError && e.code === 'OVSDB_TRANSACTION' && e.results.some((r) => r?.error === 'timed out');
}

/**
 * Runs read-diff-commit until it commits: a failed `wait` (someone changed the rows we read) re-reads and retries,
 * up to MAX_ATTEMPTS; then OVSDB_CONTENDED. Other errors pass through.
 */
async function withRetries<T>(body: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await body();
    } catch (e: unknown) {
      if (!isRetryable(e)) throw e;
      if (attempt >= MAX_ATTEMPTS) {
        throw new OvsdbError(
          'OVSDB_CONTENDED',
          `rows kept changing under us for ${MAX_ATTEMPTS} attempts: ${(e as Error).message}`,
        );
      }
    }
  }
}

/** Creates the bridge (with its internal LOCAL port) or repairs its settings; one transaction. */
export function ensureBridge(client: OvsdbClient, spec: BridgeSpec): Promise<EnsureResult> {
  const failMode = spec.failMode ?? 'secure';
  const wantedProtocols = spec.protocols ?? ['OpenFlow13', 'OpenFlow14'];
  return withRetries(async () => {
    const rows = await selectRows(client, 'Bridge', [eq('name', spec.name)], BRIDGE_COLUMNS);
    const current = rows[0];
    if (current === undefined) {
      await createBridge(client, spec, failMode, wantedProtocols);
      return { changed: true, actions: [`created bridge ${spec.name}`] };
    }
    const bridgeUuid = uuidOf(current._uuid);
    if (bridgeUuid === null) throw new OvsdbError('OVSDB_BAD_REPLY', 'Bridge row without _uuid');
    const { update, actions } = bridgeRepairs(current, spec, failMode, wantedProtocols);
    if (actions.length === 0) return { changed: false, actions };
    await updateUnchangedRow(client, 'Bridge', bridgeUuid, current, BRIDGE_REPAIR_COLUMNS, update, {
      comment: `alcor-agent: repair bridge ${spec.name}: ${actions.join('; ')}`,
    });
    return { changed: true, actions };
  });
}

/** The Bridge columns a repair reads and may write; the repair waits for them to be unchanged. */
const BRIDGE_REPAIR_COLUMNS = ['datapath_type', 'fail_mode', 'protocols', 'other_config', 'external_ids'];

async function createBridge(
  client: OvsdbClient,
  spec: BridgeSpec,
  failMode: string,
  wantedProtocols: readonly string[],
): Promise<void> {
  const row: Record<string, OvsdbValue> = {
    name: spec.name,
    fail_mode: failMode,
    protocols: set([...wantedProtocols].sort()),
    ports: set([namedUuid('port')]),
    other_config: map(spec.otherConfig ?? {}),
    external_ids: map(spec.externalIds ?? {}),
  };
  if (spec.datapathType !== undefined) row.datapath_type = spec.datapathType;
  await client.transact(OVS_DB, [
    { op: 'comment', comment: `alcor-agent: create bridge ${spec.name}` },
    // Fails the transaction if someone created it since our select.
    absent('Bridge', spec.name),
    { op: 'insert', table: 'Interface', row: { name: spec.name, type: 'internal' }, 'uuid-name': 'iface' },
    {
      op: 'insert',
      table: 'Port',
      row: { name: spec.name, interfaces: set([namedUuid('iface')]) },
      'uuid-name': 'port',
    },
    { op: 'insert', table: 'Bridge', row, 'uuid-name': 'bridge' },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [],
      mutations: [['bridges', 'insert', set([namedUuid('bridge')])]],
    },
  ]);
}

/** What differs between the bridge row and the spec: the columns to write and a word for each. */
function bridgeRepairs(
  current: OvsdbRow,
  spec: BridgeSpec,
  failMode: string,
  wantedProtocols: readonly string[],
): { update: Record<string, OvsdbValue>; actions: string[] } {
  const update: Record<string, OvsdbValue> = {};
  const actions: string[] = [];
  if (spec.datapathType !== undefined && current.datapath_type !== spec.datapathType) {
    update.datapath_type = spec.datapathType;
    actions.push(`datapath_type=${spec.datapathType}`);
  }
  if (optionalString(current.fail_mode) !== failMode) {
    update.fail_mode = failMode;
    actions.push(`fail_mode=${failMode}`);
  }
  const haveProtocols = setValues(current.protocols).map(String);
  const missing = wantedProtocols.filter((p) => !haveProtocols.includes(p));
  if (missing.length > 0) {
    update.protocols = set([...haveProtocols, ...missing].sort());
    actions.push(`protocols+=${missing.join(',')}`);
  }
  for (const [column, wanted] of [
    ['other_config', spec.otherConfig],
    ['external_ids', spec.externalIds],
  ] as const) {
    if (wanted === undefined) continue;
    const have = mapValues(current[column]);
    const merged = { ...have, ...wanted };
    if (!sameStringMap(have, merged)) {
      update[column] = map(merged);
      actions.push(`${column} updated`);
    }
  }
  return { update, actions };
}

/** A `wait` that fails the transaction when a row named `name` exists (someone created it since our select). */
function absent(table: string, name: string): Operation {
  return { op: 'wait', table, where: [eq('name', name)], columns: ['name'], until: '==', rows: [], timeout: 0 };
}

/**
 * Updates one row, in a transaction that first waits for `readColumns` to still hold what we read
 * (`current`): a concurrent writer makes it fail, and withRetries reads again.
 */
async function updateUnchangedRow(
  client: OvsdbClient,
  table: string,
  rowUuid: string,
  current: OvsdbRow,
  readColumns: readonly string[],
  update: Record<string, OvsdbValue>,
  why: { readonly comment: string },
): Promise<void> {
  await client.transact(OVS_DB, [
    { op: 'comment', comment: why.comment },
    {
      op: 'wait',
      table,
      where: [eq('_uuid', uuid(rowUuid))],
      columns: [...readColumns],
      until: '==',
      rows: [pick(current, [...readColumns])],
      timeout: 0,
    },
    { op: 'update', table, where: [eq('_uuid', uuid(rowUuid))], row: update },
  ]);
}

function tunnelOptions(spec: VxlanPortSpec): Record<string, string> {
  const options: Record<string, string> = { ...(spec.extraOptions ?? {}), remote_ip: 'flow', key: 'flow' };
  if (spec.localIp !== undefined) options.local_ip = spec.localIp;
  return options;
}

/**
 * Ensures a flow-based tunnel port (`type=vxlan, options:remote_ip=flow, options:key=flow`): flows pick the remote
 * endpoint and VNI per packet (set_field:->tun_dst / tun_id, ovs-fields(7) "Tunnel Fields"). One transaction.
 * A port of that name on another bridge is an error (OVSDB_PORT_ON_OTHER_BRIDGE): moving ports is not our call.
 */
export function ensureVxlanPort(client: OvsdbClient, spec: VxlanPortSpec): Promise<EnsureResult> {
  const type = spec.type ?? 'vxlan';
  const options = tunnelOptions(spec);
  return withRetries(async () => {
    const [bridgeRows, portRows, ifaceRows] = await Promise.all([
      selectRows(client, 'Bridge', [eq('name', spec.bridge)], ['_uuid', 'ports']),
      selectRows(client, 'Port', [eq('name', spec.name)], PORT_COLUMNS),
      selectRows(client, 'Interface', [eq('name', spec.name)], IFACE_COLUMNS),
    ]);
    const bridge = bridgeRows[0];
    const bridgeUuid = bridge === undefined ? null : uuidOf(bridge._uuid);
    if (bridge === undefined || bridgeUuid === null)
      throw new OvsdbError('OVSDB_NO_BRIDGE', `bridge ${spec.bridge} does not exist`);
    const port = portRows[0];
    const iface = ifaceRows[0];
    if (port === undefined) {
      await createTunnelPort(client, spec, type, options, bridge, bridgeUuid);
      return { changed: true, actions: [`created ${type} port ${spec.name}`] };
    }
    const portUuid = uuidOf(port._uuid);
    const onBridge = setValues(bridge.ports).some((p) => Array.isArray(p) && p[1] === portUuid);
    if (!onBridge) {
      throw new OvsdbError(
        'OVSDB_PORT_ON_OTHER_BRIDGE',
        `port ${spec.name} exists but is not on bridge ${spec.bridge}`,
      );
    }
    const ifaceUuid = iface === undefined ? null : uuidOf(iface._uuid);
    if (iface === undefined || ifaceUuid === null) {
      throw new OvsdbError('OVSDB_BAD_REPLY', `port ${spec.name} has no interface named ${spec.name}`);
    }
    const { update, actions } = tunnelRepairs(iface, spec, type, options);
    if (actions.length === 0) return { changed: false, actions };
    await updateUnchangedRow(client, 'Interface', ifaceUuid, iface, ['type', 'options', 'ofport_request'], update, {
      comment: `alcor-agent: repair tunnel port ${spec.name}: ${actions.join('; ')}`,
    });
    return { changed: true, actions };
  });
}

async function createTunnelPort(
  client: OvsdbClient,
  spec: VxlanPortSpec,
  type: string,
  options: Record<string, string>,
  bridge: OvsdbRow,
  bridgeUuid: string,
): Promise<void> {
  const ifaceRow: Record<string, OvsdbValue> = { name: spec.name, type, options: map(options) };
  if (spec.ofportRequest !== undefined) ifaceRow.ofport_request = spec.ofportRequest;
  await client.transact(OVS_DB, [
    { op: 'comment', comment: `alcor-agent: add ${type} port ${spec.name} to ${spec.bridge}` },
    absent('Port', spec.name),
    {
      op: 'wait',
      table: 'Bridge',
      where: [eq('_uuid', uuid(bridgeUuid))],
      columns: ['ports'],
      until: '==',
      rows: [pick(bridge, ['ports'])],
      timeout: 0,
    },
    // A leftover Interface row of that name without a Port cannot exist (OVSDB garbage-collects non-root rows).
    { op: 'insert', table: 'Interface', row: ifaceRow, 'uuid-name': 'iface' },
    {
      op: 'insert',
      table: 'Port',
      row: { name: spec.name, interfaces: set([namedUuid('iface')]) },
      'uuid-name': 'port',
    },
    {
      op: 'mutate',
      table: 'Bridge',
      where: [eq('_uuid', uuid(bridgeUuid))],
      mutations: [['ports', 'insert', set([namedUuid('port')])]],
    },
  ]);
}

/** What differs between the tunnel interface row and the spec: the columns to write and a word for each. */
function tunnelRepairs(
  iface: OvsdbRow,
  spec: VxlanPortSpec,
  type: string,
  options: Record<string, string>,
): { update: Record<string, OvsdbValue>; actions: string[] } {
  const update: Record<string, OvsdbValue> = {};
  const actions: string[] = [];
  if (iface.type !== type) {
    update.type = type;
    actions.push(`type=${type}`);
  }
  if (!sameStringMap(mapValues(iface.options), options)) {
    update.options = map(options);
    actions.push('options repaired');
  }
  if (spec.ofportRequest !== undefined && optionalInteger(iface.ofport_request) !== spec.ofportRequest) {
    update.ofport_request = spec.ofportRequest;
    actions.push(`ofport_request=${spec.ofportRequest}`);
  }
  return { update, actions };
}
