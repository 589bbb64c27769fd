// OVSDB client, bridge ensure and interface monitor against a real ovsdb-server + ovs-vswitchd (test/sandbox).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { requirePrereqs } from '../../test/prereq';
import { OvsSandbox } from '../../test/sandbox';
import { OvsdbClient, type MonitorUpdate } from './client';
import { ensureBridge, ensureVxlanPort, OVS_DB } from './bridge';
import { InterfaceMonitor, tapNameFor, type InterfaceEvent, type PortEvent } from './interfaces';
import { mapValues } from './values';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, get: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  let sb: OvsSandbox | null = null;
  let client: OvsdbClient | null = null;

  const get = async (args: string[]): Promise<string> => {
    if (sb === null) throw new Error('no sandbox');
    return (await sb.vsctl(['get', ...args])).stdout.trim();
  };
  const c = (): OvsdbClient => {
    if (client === null) throw new Error('no client');
    return client;
  };
  const box = (): OvsSandbox => {
    if (sb === null) throw new Error('no sandbox');
    return sb;
  };

  test.before(async () => {
    sb = await OvsSandbox.start({ name: 'ovsdbc' });
    client = new OvsdbClient({ socketPath: path.join(sb.rundir, 'db.sock') });
    await client.connect();
  });

  test.after(async () => {
    client?.close();
    await sb?.stop();
  });

  test('list_dbs and get_schema', async () => {
    assert.ok((await c().listDbs()).includes(OVS_DB));
    const schema = await c().getSchema(OVS_DB);
    assert.is(schema.tables.Interface?.columns.ofport, 'set'); // optional integer
    assert.is(schema.tables.Interface?.columns.external_ids, 'map');
    assert.is(schema.tables.Interface?.columns.name, 'scalar');
  });

  test('ensureBridge creates once, then is a no-op; repairs a field changed by hand', async () => {
    const spec = { name: 'br-tst', datapathType: 'netdev', otherConfig: { 'disable-in-band': 'true' } } as const;
    const first = await ensureBridge(c(), spec);
    assert.is(first.changed, true);
    const second = await ensureBridge(c(), spec);
    assert.equal(second, { changed: false, actions: [] });
    assert.is(await get(['bridge', 'br-tst', 'datapath_type']), 'netdev');
    assert.is(await get(['bridge', 'br-tst', 'fail_mode']), 'secure');
    assert.is(await get(['bridge', 'br-tst', 'protocols']), '[OpenFlow13, OpenFlow14]');
    assert.is(await get(['bridge', 'br-tst', 'other_config:disable-in-band']), '"true"');
    // ovs-vswitchd made the LOCAL port from our internal interface
    assert.match((await box().vsctl(['list-ports', 'br-tst'])).stdout, /^$/); // LOCAL port is not listed as a port
    assert.is(await get(['interface', 'br-tst', 'ofport']), '65534');

    await box().vsctl(['set', 'bridge', 'br-tst', 'fail_mode=standalone', 'protocols=OpenFlow10']);
    const repaired = await ensureBridge(c(), spec);
    assert.is(repaired.changed, true);
    assert.is(await get(['bridge', 'br-tst', 'fail_mode']), 'secure');
    // protocols already enabled are kept
    assert.is(await get(['bridge', 'br-tst', 'protocols']), '[OpenFlow10, OpenFlow13, OpenFlow14]');
    assert.is((await ensureBridge(c(), spec)).changed, false);
  });

  test('ensureBridge on the sandbox br-int (OF1.0-1.5 enabled) changes nothing', async () => {
    const before = await get(['bridge', 'br-int', 'protocols']);
    const r = await ensureBridge(c(), { name: 'br-int', datapathType: 'netdev' });
    assert.equal(r, { changed: false, actions: [] });
    assert.is(await get(['bridge', 'br-int', 'protocols']), before);
  });

  test('ensureVxlanPort: flow-based tunnel with the right options, idempotent, repaired', async () => {
    const spec = { bridge: 'br-tst', name: 'vxlan-t', localIp: '192.0.2.1', ofportRequest: 100 } as const;
    assert.is((await ensureVxlanPort(c(), spec)).changed, true);
    assert.is((await ensureVxlanPort(c(), spec)).changed, false);
    assert.is(await get(['interface', 'vxlan-t', 'type']), 'vxlan');
    assert.is(await get(['interface', 'vxlan-t', 'options']), '{key=flow, local_ip="192.0.2.1", remote_ip=flow}');
    assert.is(await get(['interface', 'vxlan-t', 'ofport_request']), '100');
    for (let i = 0; i < 100 && (await get(['interface', 'vxlan-t', 'ofport'])) !== '100'; i++) await sleep(20);
    assert.is(await get(['interface', 'vxlan-t', 'ofport']), '100');
    assert.match((await box().vsctl(['list-ports', 'br-tst'])).stdout, /vxlan-t/);

    await box().vsctl(['set', 'interface', 'vxlan-t', 'options:key=5', 'options:remote_ip=192.0.2.9']);
    const r = await ensureVxlanPort(c(), spec);
    assert.equal(r.actions, ['options repaired']);
    assert.is(await get(['interface', 'vxlan-t', 'options']), '{key=flow, local_ip="192.0.2.1", remote_ip=flow}');

    let code: string | undefined;
    await ensureVxlanPort(c(), { ...spec, bridge: 'br-int' }).catch((e: unknown) => {
      code = (e as { code?: string }).code;
    });
    assert.is(code, 'OVSDB_PORT_ON_OTHER_BRIDGE');
  });

  test('interface monitor: iface-id and tap-name ports appear with their ofport and disappear', async () => {
    const mon = new InterfaceMonitor(c());
    const ifaceEvents: InterfaceEvent[] = [];
    const portEvents: PortEvent[] = [];
    mon.on('interface', (e: InterfaceEvent) => ifaceEvents.push(e));
    mon.on('port', (e: PortEvent) => portEvents.push(e));
    await mon.start();
    try {
      const byIdPort = '6f1c3a2e-0b7d-4f4e-9a51-aaaaaaaaaaaa';
      const byNamePort = 'c0ffee11-2222-4333-8444-555566667777';
      assert.is(mon.track(byIdPort), null);
      assert.is(mon.track(byNamePort), null);

      // Port found by external_ids:iface-id (name unrelated), like Nova/Neutron plug it.
      await box().vsctl([
        'add-port',
        'br-int',
        'vm-port-x',
        '--',
        'set',
        'interface',
        'vm-port-x',
        'type=internal',
        `external_ids:iface-id=${byIdPort}`,
        'ofport_request=7',
      ]);
      const bound = await waitFor('bound event', () =>
        portEvents.find((e) => e.kind === 'bound' && e.portId === byIdPort),
      );
      assert.is(bound.kind === 'bound' ? bound.ofport : -1, 7);
      assert.is(mon.ofportOf(byIdPort), 7);
      assert.is(mon.ports.get(byIdPort), 7);
      assert.ok(ifaceEvents.some((e) => e.kind === 'appeared' && e.iface.name === 'vm-port-x'));

      // Port found by name tap + 11 chars of its id (a real veth from a VM namespace).
      const vm = await box().addVm({
        name: 'vm1',
        mac: '02:00:00:00:00:31',
        ip: '10.200.0.31/24',
        ofport: 9,
        iface: tapNameFor(byNamePort),
      });
      const bound2 = await waitFor('bound by name', () =>
        portEvents.find((e) => e.kind === 'bound' && e.portId === byNamePort),
      );
      assert.is(bound2.kind === 'bound' ? bound2.ofport : -1, vm.ofport);
      assert.is(mon.lookup(byNamePort)?.name, 'tapc0ffee11-22');

      await box().vsctl(['del-port', 'br-int', 'vm-port-x']);
      const unbound = await waitFor('unbound', () =>
        portEvents.find((e) => e.kind === 'unbound' && e.portId === byIdPort),
      );
      assert.is(unbound.kind === 'unbound' ? unbound.previousOfport : -1, 7);
      assert.is(mon.ofportOf(byIdPort), null);
      assert.ok(ifaceEvents.some((e) => e.kind === 'disappeared' && e.iface.name === 'vm-port-x'));
    } finally {
      await mon.stop();
    }
  });

  test('monitor_cond: update2 diffs applied into full rows', async () => {
    const updates: MonitorUpdate[] = [];
    const h = await c().monitorCond(
      OVS_DB,
      { Interface: { columns: ['name', 'external_ids', 'ofport'], where: [['name', '==', 'cond-if']] } },
      (u) => updates.push(u),
    );
    try {
      assert.is(updates[0]?.changes.length, 0);
      await box().vsctl([
        'add-port',
        'br-int',
        'cond-if',
        '--',
        'set',
        'interface',
        'cond-if',
        'type=internal',
        'external_ids:a=1',
        'external_ids:b=2',
      ]);
      await waitFor('insert', () => updates.find((u) => u.changes.some((x) => x.kind === 'insert')));
      await box().vsctl(['set', 'interface', 'cond-if', 'external_ids:b=3', 'external_ids:c=4']);
      await box().vsctl(['remove', 'interface', 'cond-if', 'external_ids', 'a']);
      const row = await waitFor('modified row', () => {
        const rows = h.rows.get('Interface');
        const r = rows === undefined ? undefined : [...rows.values()][0];
        const ids = mapValues(r?.external_ids);
        return ids.c === '4' && ids.a === undefined ? r : undefined;
      });
      assert.equal(mapValues(row.external_ids), { b: '3', c: '4' });
      await box().vsctl(['del-port', 'br-int', 'cond-if']);
      await waitFor('delete', () => updates.find((u) => u.changes.some((x) => x.kind === 'delete')));
      assert.is(h.rows.get('Interface')?.size, 0);
    } finally {
      await h.cancel();
    }
  });

  test.run();
}
