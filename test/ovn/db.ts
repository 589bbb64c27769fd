// OVN's northbound and southbound databases driven through the project's own OVSDB client (agent/ovsdb), in bulk
// transactions: thousands of ports do not fit on an ovn-nbctl command line, and one process per port would time
// the tools instead of OVN.
import {
  OvsdbClient,
  map,
  namedUuid,
  setValues,
  uuid,
  uuidOf,
  type Operation,
  type OvsdbAtom,
  type OvsdbRow,
} from '../../agent/ovsdb';

export const NB_DB = 'OVN_Northbound';
export const SB_DB = 'OVN_Southbound';
/** Rows per transaction: big enough that transactions are not the bottleneck, small enough to stay well-sized. */
export const BATCH = 1000;

export interface LogicalPort {
  readonly name: string;
  readonly mac: string;
  readonly ip: string;
}

/** A fake remote hypervisor: a Chassis row with one geneve Encap, as ovn-sbctl chassis-add makes. */
export interface FakeChassis {
  readonly name: string;
  readonly ip: string;
}

export async function connectDb(socketPath: string): Promise<OvsdbClient> {
  // No reconnect: a dropped NB/SB connection in a benchmark is a failure to report, not to paper over.
  const client = new OvsdbClient({ socketPath, reconnect: false, requestTimeoutMs: 120_000 });
  await client.connect(10_000);
  return client;
}

/** Creates the one NB_Global / SB_Global row (what `ovn-nbctl init` / `ovn-sbctl init` do) when missing. */
export async function initGlobal(client: OvsdbClient, db: typeof NB_DB | typeof SB_DB): Promise<void> {
  const table = db === NB_DB ? 'NB_Global' : 'SB_Global';
  const [sel] = await client.transact(db, [{ op: 'select', table, where: [], columns: ['_uuid'] }]);
  if ((sel?.rows?.length ?? 0) === 0) await client.transact(db, [{ op: 'insert', table, row: {} }]);
}

export async function addChassis(sb: OvsdbClient, chassis: readonly FakeChassis[]): Promise<void> {
  for (let i = 0; i < chassis.length; i += BATCH) {
    const ops: Operation[] = [];
    chassis.slice(i, i + BATCH).forEach((c, k) => {
      const encap = `e${k}`;
      ops.push({
        op: 'insert',
        table: 'Encap',
        'uuid-name': encap,
        row: { type: 'geneve', ip: c.ip, chassis_name: c.name, options: map({ csum: 'true' }) },
      });
      ops.push({
        op: 'insert',
        table: 'Chassis',
        row: { name: c.name, hostname: c.name, encaps: namedUuid(encap) },
      });
    });
    await sb.transact(SB_DB, ops);
  }
}

export async function createSwitch(nb: OvsdbClient, name: string): Promise<void> {
  await nb.transact(NB_DB, [{ op: 'insert', table: 'Logical_Switch', row: { name } }]);
}

/** Adds ports to switch `name`: per transaction, BATCH Logical_Switch_Port inserts and one mutate of `ports`. */
export async function addPorts(nb: OvsdbClient, switchName: string, ports: readonly LogicalPort[]): Promise<void> {
  for (let i = 0; i < ports.length; i += BATCH) {
    const batch = ports.slice(i, i + BATCH);
    const ops: Operation[] = batch.map((p, k) => ({
      op: 'insert',
      table: 'Logical_Switch_Port',
      'uuid-name': `p${k}`,
      row: { name: p.name, addresses: `${p.mac} ${p.ip}` },
    }));
    ops.push({
      op: 'mutate',
      table: 'Logical_Switch',
      where: [['name', '==', switchName]],
      mutations: [['ports', 'insert', ['set', batch.map((_, k) => namedUuid(`p${k}`))]]],
    });
    await nb.transact(NB_DB, ops);
  }
}

/** Removes every port of the switch but `keep` (the rows go with their last reference). */
export async function keepOnlyPort(nb: OvsdbClient, switchName: string, keep: string): Promise<void> {
  const [sel] = await nb.transact(NB_DB, [
    { op: 'select', table: 'Logical_Switch_Port', where: [['name', '==', keep]], columns: ['_uuid'] },
  ]);
  const kept = uuidOf(sel?.rows?.[0]?._uuid);
  if (kept === null) throw new Error(`no logical switch port ${keep}`);
  await nb.transact(NB_DB, [
    { op: 'update', table: 'Logical_Switch', where: [['name', '==', switchName]], row: { ports: uuid(kept) } },
  ]);
}

/** Chassis name -> row uuid. */
export async function chassisUuids(sb: OvsdbClient): Promise<Map<string, string>> {
  const [sel] = await sb.transact(SB_DB, [{ op: 'select', table: 'Chassis', where: [], columns: ['_uuid', 'name'] }]);
  return new Map((sel?.rows ?? []).map((r) => [String(r.name), uuidOf(r._uuid) ?? '']));
}

/**
 * Binds logical ports to chassis as their (fake) ovn-controllers would: Port_Binding.chassis and up=true, by row
 * uuid (ovsdb-server finds a row by uuid directly; a logical_port condition would scan the table per operation).
 */
export async function bindPorts(
  sb: OvsdbClient,
  bindings: readonly { readonly bindingUuid: string; readonly chassisUuid: string }[],
): Promise<void> {
  for (let i = 0; i < bindings.length; i += BATCH) {
    const ops: Operation[] = bindings.slice(i, i + BATCH).map((b) => ({
      op: 'update',
      table: 'Port_Binding',
      where: [['_uuid', '==', uuid(b.bindingUuid)]],
      row: { chassis: uuid(b.chassisUuid), up: true },
    }));
    await sb.transact(SB_DB, ops);
  }
}

/** logical_port -> Port_Binding uuid, for the ports whose chassis column is still empty. */
export async function unboundBindings(sb: OvsdbClient): Promise<Map<string, string>> {
  const [sel] = await sb.transact(SB_DB, [
    { op: 'select', table: 'Port_Binding', where: [], columns: ['_uuid', 'logical_port', 'chassis'] },
  ]);
  const out = new Map<string, string>();
  for (const r of sel?.rows ?? []) {
    if (setValues(r.chassis).length === 0) out.set(String(r.logical_port), uuidOf(r._uuid) ?? '');
  }
  return out;
}

/**
 * Waits until ovn-northd has turned the NB's current contents into SB contents (what `ovn-nbctl --wait=sb sync`
 * does): bumps NB_Global.nb_cfg and waits for northd to copy it to sb_cfg. hv_cfg is useless with fake chassis
 * (northd computes it over Chassis_Private rows, which only real ovn-controllers write).
 */
export async function syncSb(nb: OvsdbClient, timeoutMs: number): Promise<void> {
  const [, sel] = await nb.transact(NB_DB, [
    { op: 'mutate', table: 'NB_Global', where: [], mutations: [['nb_cfg', '+=', 1]] },
    { op: 'select', table: 'NB_Global', where: [], columns: ['nb_cfg'] },
  ]);
  const target = Number(sel?.rows?.[0]?.nb_cfg ?? 0);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [cur] = await nb.transact(NB_DB, [{ op: 'select', table: 'NB_Global', where: [], columns: ['sb_cfg'] }]);
    if (Number(cur?.rows?.[0]?.sb_cfg ?? -1) >= target) return;
    if (Date.now() > deadline) throw new Error(`ovn-northd did not reach nb_cfg ${target} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Number of rows in an SB table (e.g. to see northd's Port_Binding rows arrive). */
export async function countRows(client: OvsdbClient, db: string, table: string): Promise<number> {
  const [sel] = await client.transact(db, [{ op: 'select', table, where: [], columns: ['_uuid'] }]);
  return sel?.rows?.length ?? 0;
}

export type { OvsdbClient, OvsdbAtom, OvsdbRow };
