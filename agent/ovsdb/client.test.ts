// OvsdbClient against a scripted fake server on a unix socket: exact bytes, split writes, echo, reconnect.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyColumnDiff, OvsdbClient, parseSchema, type MonitorUpdate } from './client';
import { JsonMessageSplitter } from './framing';
import { ensureBridge } from './bridge';

interface FakeServer {
  readonly socketPath: string;
  readonly received: Record<string, unknown>[];
  readonly conns: net.Socket[];
  /** Handler for requests: return the reply object (without id) or null for no reply. */
  reply: (msg: Record<string, unknown>, sock: net.Socket) => Record<string, unknown> | null;
  close(): Promise<void>;
  /** Writes `text` in random small pieces. */
  sendSplit(sock: net.Socket, text: string): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startFake(dir: string): Promise<FakeServer> {
  const socketPath = path.join(dir, `db-${Math.random().toString(36).slice(2)}.sock`);
  const received: Record<string, unknown>[] = [];
  const conns: net.Socket[] = [];
  const fake: FakeServer = {
    socketPath,
    received,
    conns,
    reply: () => ({ result: {}, error: null }),
    close: () =>
      new Promise<void>((r) => {
        for (const c of conns) c.destroy();
        server.close(() => r());
      }),
    sendSplit: (sock, text) => {
      // Chained, so two concurrent replies never interleave their pieces.
      writeChain = writeChain.then(() => writePieces(sock, text));
      return writeChain;
    },
  };
  let writeChain: Promise<void> = Promise.resolve();
  const writePieces = async (sock: net.Socket, text: string): Promise<void> => {
    const buf = Buffer.from(text);
    for (let i = 0; i < buf.length;) {
      const n = 1 + Math.floor(Math.random() * 7);
      sock.write(buf.subarray(i, i + n));
      i += n;
      await sleep(0);
    }
  };
  const server = net.createServer((sock) => {
    conns.push(sock);
    const splitter = new JsonMessageSplitter();
    sock.on('data', (chunk: Buffer) => {
      for (const text of splitter.write(chunk)) {
        const msg = JSON.parse(text) as Record<string, unknown>;
        received.push(msg);
        if (msg.method === undefined) continue; // a reply from the client (e.g. to our echo)
        const r = fake.reply(msg, sock);
        if (r !== null) sock.write(JSON.stringify({ id: msg.id, ...r }));
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(socketPath, () => r()));
  return fake;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-ovsdb-client-'));

test('list_dbs and transact round-trip; replies split at random points', async () => {
  const fake = await startFake(dir);
  fake.reply = (msg, sock) => {
    const text = JSON.stringify({
      id: msg.id,
      result: msg.method === 'list_dbs' ? ['Open_vSwitch', '_Server'] : [{ rows: [{ name: 'br{"}x' }] }],
      error: null,
    });
    void fake.sendSplit(sock, text);
    return null;
  };
  const c = new OvsdbClient({ socketPath: fake.socketPath, reconnect: false });
  try {
    await c.connect();
    assert.equal(await c.listDbs(), ['Open_vSwitch', '_Server']);
    const [a, b] = await Promise.all([
      c.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [] }]),
      c.listDbs(),
    ]);
    assert.equal(a[0]?.rows, [{ name: 'br{"}x' }]);
    assert.equal(b, ['Open_vSwitch', '_Server']);
    const tx = fake.received.find((m) => m.method === 'transact');
    assert.equal(tx?.params, ['Open_vSwitch', { op: 'select', table: 'Bridge', where: [] }]);
  } finally {
    c.close();
    await fake.close();
  }
});

test('transact with a failed operation -> OVSDB_TRANSACTION naming the operation', async () => {
  const fake = await startFake(dir);
  fake.reply = () => ({ result: [{}, { error: 'constraint violation', details: 'duplicate name' }], error: null });
  const c = new OvsdbClient({ socketPath: fake.socketPath, reconnect: false });
  try {
    await c.connect();
    let err: unknown = null;
    await c
      .transact('Open_vSwitch', [
        { op: 'comment', comment: 'x' },
        { op: 'insert', table: 'Bridge', row: {} },
      ])
      .catch((e: unknown) => {
        err = e;
      });
    assert.is((err as { code?: string } | null)?.code, 'OVSDB_TRANSACTION');
    assert.match(String((err as Error).message), /operation 1 \(insert\): constraint violation: duplicate name/);
  } finally {
    c.close();
    await fake.close();
  }
});

test('server echo requests are answered with the same params and id', async () => {
  const fake = await startFake(dir);
  const c = new OvsdbClient({ socketPath: fake.socketPath, reconnect: false });
  try {
    await c.connect();
    fake.conns[0]?.write(JSON.stringify({ id: 'echo', method: 'echo', params: [1, 'x'] }));
    for (let i = 0; i < 50 && !fake.received.some((m) => m.id === 'echo'); i++) await sleep(5);
    assert.equal(
      fake.received.find((m) => m.id === 'echo'),
      { id: 'echo', result: [1, 'x'], error: null },
    );
  } finally {
    c.close();
    await fake.close();
  }
});

test('idle probe: a silent server is dropped and the client reconnects, re-registering its monitor', async () => {
  const fake = await startFake(dir);
  let monitorCalls = 0;
  let silent = false;
  fake.reply = (msg) => {
    if (silent) return null;
    if (msg.method === 'monitor') {
      monitorCalls += 1;
      const rows = monitorCalls === 1 ? { u1: { new: { name: 'a' } } } : { u2: { new: { name: 'b' } } };
      return { result: { Interface: rows }, error: null };
    }
    return { result: [], error: null };
  };
  const c = new OvsdbClient({
    socketPath: fake.socketPath,
    probeIntervalMs: 50,
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  const updates: MonitorUpdate[] = [];
  try {
    await c.connect();
    const h = await c.monitor('Open_vSwitch', { Interface: { columns: ['name'] } }, (u) => updates.push(u));
    assert.is(updates[0]?.reset, true);
    assert.equal(
      updates[0]?.changes.map((x) => x.uuid),
      ['u1'],
    );
    // live update notification
    fake.conns[0]?.write(
      JSON.stringify({
        id: null,
        method: 'update',
        params: [h.id, { Interface: { u1: { old: { name: 'a' }, new: { name: 'a2' } } } }],
      }),
    );
    for (let i = 0; i < 50 && updates.length < 2; i++) await sleep(5);
    assert.equal(updates[1]?.changes[0]?.kind, 'modify');
    assert.equal(updates[1]?.changes[0]?.new, { name: 'a2' });
    // go silent: the probe echo is unanswered, so the client drops the connection, then reconnects
    silent = true;
    const disconnected = new Promise<void>((r) => c.once('disconnected', () => r()));
    await disconnected;
    silent = false;
    const reconnected = new Promise<void>((r) => c.once('connected', () => r()));
    await reconnected;
    const last = updates[updates.length - 1];
    assert.is(last?.reset, true);
    assert.equal(
      last?.changes.map((x) => x.uuid),
      ['u2'],
    );
    assert.equal([...(h.rows.get('Interface')?.keys() ?? [])], ['u2']);
    assert.ok(
      fake.received.some((m) => m.method === 'echo'),
      'probe echo was sent',
    );
  } finally {
    c.close();
    await fake.close();
  }
});

test('requests in flight when the server goes away -> OVSDB_DISCONNECTED', async () => {
  const fake = await startFake(dir);
  fake.reply = () => null;
  const c = new OvsdbClient({ socketPath: fake.socketPath, reconnect: false });
  try {
    await c.connect();
    const p = c.listDbs().then(
      () => 'resolved',
      (e: unknown) => (e as { code?: string }).code,
    );
    await sleep(10);
    for (const s of fake.conns) s.destroy();
    assert.is(await p, 'OVSDB_DISCONNECTED');
  } finally {
    c.close();
    await fake.close();
  }
});

test('connect to a missing socket -> OVSDB_CONNECT', async () => {
  const c = new OvsdbClient({ socketPath: path.join(dir, 'nope.sock'), reconnect: false });
  let code: string | undefined;
  await c.connect(100).catch((e: unknown) => {
    code = (e as { code?: string }).code;
  });
  assert.is(code, 'OVSDB_CONNECT');
});

test('update2 diffs: set symmetric difference, map add/remove/change, scalar replace', () => {
  assert.equal(applyColumnDiff('scalar', 'a', 'b'), 'b');
  assert.equal(applyColumnDiff('set', ['set', [1, 2]], ['set', [2, 3]]), ['set', [1, 3]]);
  assert.equal(applyColumnDiff('set', 5, 5), ['set', []]); // optional column cleared
  assert.equal(applyColumnDiff('set', ['set', []], 7), ['set', [7]]);
  assert.equal(
    applyColumnDiff(
      'map',
      [
        'map',
        [
          ['a', '1'],
          ['b', '2'],
        ],
      ],
      [
        'map',
        [
          ['a', '1'],
          ['b', '3'],
          ['c', '4'],
        ],
      ],
    ),
    [
      'map',
      [
        ['b', '3'],
        ['c', '4'],
      ],
    ],
  );
  const schema = parseSchema({
    name: 'X',
    version: '1',
    tables: {
      T: {
        columns: {
          s: { type: 'string' },
          o: { type: { key: 'integer', min: 0, max: 1 } },
          m: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
        },
      },
    },
  });
  assert.equal(schema.tables.T?.columns, { s: 'scalar', o: 'set', m: 'map' });
});

test('ensureBridge: a failed wait (bridge created by someone else meanwhile) re-reads and settles without a write', async () => {
  const fake = await startFake(dir);
  const existing = {
    _uuid: ['uuid', '11111111-1111-1111-1111-111111111111'],
    name: 'br-x',
    datapath_type: 'netdev',
    fail_mode: 'secure',
    protocols: ['set', ['OpenFlow13', 'OpenFlow14']],
    other_config: ['map', []],
    external_ids: ['map', []],
    ports: ['set', []],
  };
  let selects = 0;
  const writes: unknown[][] = [];
  fake.reply = (msg) => {
    const ops = (msg.params as unknown[]).slice(1) as { op: string }[];
    if (ops.length === 1 && ops[0]?.op === 'select') {
      selects += 1;
      return { result: [{ rows: selects === 1 ? [] : [existing] }], error: null };
    }
    writes.push(ops);
    // the create transaction's `wait` (op 1) finds the bridge: RFC 7047 §5.2.6 "timed out"
    return { result: [{}, { error: 'timed out', details: '"wait" timed out' }], error: null };
  };
  const c = new OvsdbClient({ socketPath: fake.socketPath, reconnect: false });
  try {
    await c.connect();
    const r = await ensureBridge(c, { name: 'br-x', datapathType: 'netdev' });
    assert.equal(r, { changed: false, actions: [] });
    assert.is(selects, 2);
    assert.is(writes.length, 1);
  } finally {
    c.close();
    await fake.close();
  }
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
