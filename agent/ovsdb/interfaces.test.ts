// InterfaceMonitor logic with a scripted monitor feed (the real-OVS path is in ovsdb.integration.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MonitorHandle, MonitorUpdate, OvsdbClient, RowChange } from './client';
import { InterfaceMonitor, tapNameFor, type InterfaceEvent, type PortEvent } from './interfaces';
import type { OvsdbRow } from './values';

/** Stands in for OvsdbClient.monitor: captures the handler so the test can push updates. */
function fakeClient(): { client: OvsdbClient; push: (u: MonitorUpdate) => void } {
  let handler: ((u: MonitorUpdate) => void) | null = null;
  const client = {
    monitor: async (_db: string, _tables: unknown, h: (u: MonitorUpdate) => void): Promise<MonitorHandle> => {
      handler = h;
      h({ reset: true, changes: [] });
      return { id: 'm', rows: new Map(), cancel: async () => undefined };
    },
  } as unknown as OvsdbClient;
  return {
    client,
    push: (u) => {
      if (handler === null) throw new Error('monitor not started');
      handler(u);
    },
  };
}

function row(name: string, ofport: number | null, ifaceId?: string): OvsdbRow {
  return {
    name,
    type: '',
    ofport: ofport === null ? ['set', []] : ofport,
    external_ids: ['map', ifaceId === undefined ? [] : [['iface-id', ifaceId]]],
    error: ['set', []],
  };
}

const insert = (uuid: string, r: OvsdbRow): RowChange => ({ table: 'Interface', uuid, kind: 'insert', new: r });
const modify = (uuid: string, r: OvsdbRow): RowChange => ({
  table: 'Interface',
  uuid,
  kind: 'modify',
  old: {},
  new: r,
});
const del = (uuid: string): RowChange => ({ table: 'Interface', uuid, kind: 'delete', old: {} });

const PORT = '0123456789abcdef-port';

test('tap name convention', () => {
  assert.is(tapNameFor(PORT), 'tap0123456789a');
  assert.is(tapNameFor(PORT).length, 14);
});

test('appears without ofport (pending), gets one (bound), -1 counts as unbound, deletion unbinds', async () => {
  const { client, push } = fakeClient();
  const mon = new InterfaceMonitor(client);
  const ports: PortEvent[] = [];
  const ifaces: InterfaceEvent[] = [];
  mon.on('port', (e: PortEvent) => ports.push(e));
  mon.on('interface', (e: InterfaceEvent) => ifaces.push(e));
  await mon.start();
  assert.is(mon.track(PORT), null);

  push({ reset: false, changes: [insert('u1', row(tapNameFor(PORT), null))] });
  assert.equal(
    ifaces.map((e) => e.kind),
    ['appeared'],
  );
  assert.equal(ports, []);
  assert.is(mon.ports.get(PORT), null);

  push({ reset: false, changes: [modify('u1', row(tapNameFor(PORT), 12))] });
  assert.equal(
    ports.map((e) => [e.kind, e.portId]),
    [['bound', PORT]],
  );
  assert.is(mon.ofportOf(PORT), 12);

  push({ reset: false, changes: [modify('u1', row(tapNameFor(PORT), -1))] });
  assert.equal(ports[1], { kind: 'unbound', portId: PORT, previousOfport: 12 });

  push({ reset: false, changes: [modify('u1', row(tapNameFor(PORT), 13))] });
  push({ reset: false, changes: [del('u1')] });
  assert.equal(
    ports.slice(2).map((e) => e.kind),
    ['bound', 'unbound'],
  );
  assert.equal(
    ifaces.map((e) => e.kind),
    ['appeared', 'changed', 'changed', 'changed', 'disappeared'],
  );
});

test('iface-id wins over the tap name; re-binding to another ofport gives unbound then bound', async () => {
  const { client, push } = fakeClient();
  const mon = new InterfaceMonitor(client);
  const ports: PortEvent[] = [];
  mon.on('port', (e: PortEvent) => ports.push(e));
  await mon.start();
  mon.track(PORT);
  push({ reset: false, changes: [insert('byname', row(tapNameFor(PORT), 5))] });
  assert.is(mon.ofportOf(PORT), 5);
  push({ reset: false, changes: [insert('byid', row('vhu-something', 9, PORT))] });
  assert.is(mon.ofportOf(PORT), 9);
  assert.is(mon.lookup(PORT)?.name, 'vhu-something');
  assert.equal(
    ports.map((e) => (e.kind === 'bound' ? `bound:${e.ofport}` : `unbound:${e.previousOfport}`)),
    ['bound:5', 'unbound:5', 'bound:9'],
  );
  // untracked ports get no port events but can still be looked up
  mon.untrack(PORT);
  push({ reset: false, changes: [del('byid')] });
  assert.is(ports.length, 3);
  assert.is(mon.ofportOf(PORT), 5);
});

test('reset after reconnect: interfaces missing from the fresh contents disappear', async () => {
  const { client, push } = fakeClient();
  const mon = new InterfaceMonitor(client);
  const ports: PortEvent[] = [];
  const ifaces: InterfaceEvent[] = [];
  mon.on('port', (e: PortEvent) => ports.push(e));
  mon.on('interface', (e: InterfaceEvent) => ifaces.push(e));
  await mon.start();
  mon.track('p-a');
  mon.track('p-b');
  push({ reset: false, changes: [insert('a', row('x', 1, 'p-a')), insert('b', row('y', 2, 'p-b'))] });
  // OVS restarted meanwhile: only 'b' is back, with a new ofport
  push({ reset: true, changes: [insert('b', row('y', 3, 'p-b'))] });
  assert.is(mon.ofportOf('p-a'), null);
  assert.is(mon.ofportOf('p-b'), 3);
  assert.ok(ifaces.some((e) => e.kind === 'disappeared' && e.iface.uuid === 'a'));
  assert.equal(
    ports.slice(2).map((e) => `${e.kind}:${e.portId}`),
    ['unbound:p-a', 'unbound:p-b', 'bound:p-b'],
  );
});

test.run();
