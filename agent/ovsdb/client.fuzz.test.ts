// Fuzzing OVSDB JSON-RPC input (issue 13, part 5): the stream splitter (framing.ts) and the client (client.ts)
// against a scripted server on a unix socket. Valid replies and notifications cut at random points must be read
// exactly as if whole; garbage, deeply nested and oversized JSON, and replies or monitor updates of the wrong
// shape must end in a coded error (a rejected request, a dropped and re-established connection), never an
// exception escaping to the process, and never more memory held than the configured message limit.
// Seeds: test/fuzz.ts.
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitUntil } from '../../test/fake-switch';
import { assertCoded, fuzz, fuzzAsync, mutate, mutationArb, splitAt, type Mutation } from '../../test/fuzz';
import { OvsdbClient, type MonitorUpdate } from './client';
import { JsonMessageSplitter, OvsdbFramingError } from './framing';

/** Problems that escaped the client: each fails the run that caused it. */
const escaped: unknown[] = [];
process.on('uncaughtException', (e) => escaped.push(e));
process.on('unhandledRejection', (e) => escaped.push(e));

function assertNothingEscaped(): void {
  if (escaped.length > 0) {
    const e = escaped.splice(0)[0];
    assert.unreachable(`escaped the client: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
}

/** `v` as JSON.parse gives it back (fast-check's records have no prototype; parsed objects do). */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

const jsonArb = fc.jsonValue({ maxDepth: 6 });
const replyArb = fc.record({
  id: fc.oneof(fc.nat(), fc.string(), fc.constant(null)),
  result: jsonArb,
  error: fc.constant(null),
});
const notificationArb = fc.record({
  id: fc.constant(null),
  method: fc.constantFrom('update', 'update2', 'x'),
  params: fc.array(jsonArb, { maxLength: 3 }),
});
const messageArb = fc.oneof(replyArb, notificationArb);
const whitespaceArb = fc.constantFrom('', ' ', '\n', '\r\n', '\t ');

/** Deeply nested arrays and objects, as text (fast-check's recursion would be too slow at this depth). */
const deepArb = fc
  .tuple(fc.integer({ min: 100, max: 20_000 }), fc.boolean())
  .map(([depth, objects]) =>
    objects
      ? `{"id":1,"result":${'{"a":'.repeat(depth)}0${'}'.repeat(depth)},"error":null}`
      : `{"id":null,"method":"echo","params":${'['.repeat(depth)}${']'.repeat(depth)}}`,
  );

test('ovsdb fuzz: the splitter reads valid messages cut anywhere exactly as whole ones', () => {
  fuzz(
    'splitter, valid cut',
    { runs: 400, timeMs: 3000 },
    [
      fc.array(fc.tuple(messageArb, whitespaceArb), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 20 }),
    ],
    (msgs, cuts) => {
      const stream = Buffer.from(msgs.map(([m, ws]) => JSON.stringify(m) + ws).join(''), 'utf8');
      const s = new JsonMessageSplitter();
      const texts = splitAt(stream, cuts).flatMap((piece) => s.write(Buffer.from(piece)));
      assert.equal(
        texts.map((t) => JSON.parse(t) as unknown),
        msgs.map(([m]) => plain(m)),
      );
      assert.is(s.midMessage, false);
    },
  );
});

test('ovsdb fuzz: garbage through the splitter gives texts or a coded framing error, within the size limit', () => {
  const limit = 4096;
  const streamArb = fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc
      .tuple(
        fc.array(messageArb, { minLength: 1, maxLength: 4 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
      )
      .map(([ms, muts]) =>
        muts.reduce(
          (b: Uint8Array, m: Mutation) => mutate(b, m),
          Buffer.from(ms.map((m) => JSON.stringify(m)).join('')),
        ),
      ),
    deepArb.map((t) => Buffer.from(t)),
    fc.nat({ max: 20_000 }).map((n) => Buffer.from(`{"id":1,"result":"${'x'.repeat(n)}`)),
  );
  fuzz(
    'splitter, garbage',
    { runs: 600, timeMs: 3000 },
    [streamArb, fc.array(fc.nat(), { maxLength: 10 })],
    (stream, cuts) => {
      const s = new JsonMessageSplitter(limit);
      try {
        for (const piece of splitAt(stream, cuts)) {
          for (const text of s.write(Buffer.from(piece)))
            assert.ok(Buffer.byteLength(text) <= limit, 'a text over the limit');
        }
      } catch (e: unknown) {
        assert.ok(e instanceof OvsdbFramingError, `not a framing error: ${String(e)}`);
        assertCoded(e, 'splitter');
      }
    },
  );
});

// ---- the client against a scripted server -----------------------------------------------------------------------

interface FakeServer {
  readonly socketPath: string;
  /** Requests seen (parsed), newest last. */
  readonly requests: { id: unknown; method: string; params: unknown }[];
  readonly socket: net.Socket | undefined;
  /** Bytes the server answers a request with; default: an empty result. */
  answer: (req: { id: unknown; method: string; params: unknown }) => Uint8Array[] | null;
  writePieces(pieces: readonly Uint8Array[]): Promise<void>;
  close(): Promise<void>;
}

async function startServer(socketPath: string): Promise<FakeServer> {
  const requests: FakeServer['requests'] = [];
  let newest: net.Socket | undefined;
  const all: net.Socket[] = [];
  const writePieces = async (sock: net.Socket, pieces: readonly Uint8Array[]): Promise<void> => {
    for (const p of pieces) {
      if (sock.destroyed) return;
      await new Promise<void>((resolve) => sock.write(p, () => resolve()));
      await new Promise((r) => setImmediate(r));
    }
  };
  const fake: FakeServer = {
    socketPath,
    requests,
    get socket() {
      return newest;
    },
    answer: (req) => [Buffer.from(JSON.stringify({ id: req.id, result: [], error: null }))],
    writePieces: (pieces) => (newest === undefined ? Promise.resolve() : writePieces(newest, pieces)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of all) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((sock) => {
    newest = sock;
    all.push(sock);
    sock.on('error', () => undefined);
    const splitter = new JsonMessageSplitter();
    sock.on('data', (chunk: Buffer) => {
      for (const text of splitter.write(chunk)) {
        const msg = JSON.parse(text) as { id: unknown; method?: string; params: unknown };
        if (msg.method === undefined) continue;
        const req = { id: msg.id, method: msg.method, params: msg.params };
        requests.push(req);
        const pieces = fake.answer(req);
        if (pieces !== null) void writePieces(sock, pieces);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, () => resolve()));
  return fake;
}

let dir = '';
let server: FakeServer;
let client: OvsdbClient;
const updates: MonitorUpdate[] = [];

test.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-ovsdbfuzz-'));
  server = await startServer(path.join(dir, 'db.sock'));
  client = new OvsdbClient({
    socketPath: server.socketPath,
    reconnect: { initialDelayMs: 1, maxDelayMs: 20 },
    probeIntervalMs: 0,
    // Short: garbage that leaves a message open makes the next request wait for this.
    requestTimeoutMs: 300,
    maxMessageBytes: 64 * 1024,
  });
  server.answer = defaultAnswer;
  await client.connect();
  await client.monitor('Open_vSwitch', { Interface: { columns: ['name', 'ofport'] } }, (u) => updates.push(u));
  await client.monitorCond('Open_vSwitch', { Interface: { columns: ['name', 'ofport', 'external_ids'] } }, () => {});
});

const SCHEMA = {
  name: 'Open_vSwitch',
  version: '8.3.0',
  tables: {
    Interface: {
      columns: {
        name: { type: 'string' },
        ofport: { type: { key: 'integer', min: 0, max: 1 } },
        external_ids: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
      },
    },
  },
};

/** What a sane server answers: the schema, empty initial monitor contents, an empty result otherwise. */
function defaultAnswer(req: { id: unknown; method: string }): Uint8Array[] {
  const result = req.method === 'get_schema' ? SCHEMA : req.method.startsWith('monitor') ? {} : [];
  return [Buffer.from(JSON.stringify({ id: req.id, result, error: null }))];
}

test.after(async () => {
  client.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A monitor's id as the server saw it (for update notifications): the plain one, or the monitor_cond one. */
function monitorId(cond = false): unknown {
  const req = server.requests.find((r) => r.method === (cond ? 'monitor_cond' : 'monitor'));
  return Array.isArray(req?.params) ? req.params[1] : undefined;
}

test('ovsdb fuzz: transact replies and monitor updates cut at random points are read as if whole', async () => {
  const rowArb = fc.record({ name: fc.string({ maxLength: 20 }), ofport: fc.integer({ min: -1, max: 65279 }) });
  const runArb = fc.record({
    result: fc.array(fc.record({ rows: fc.array(rowArb, { maxLength: 5 }) }), { minLength: 1, maxLength: 3 }),
    rows: fc.dictionary(fc.uuid(), rowArb, { maxKeys: 5 }),
    cuts: fc.array(fc.nat(), { maxLength: 20 }),
  });
  await fuzzAsync('client, valid cut', { runs: 120, timeMs: 5000 }, [runArb], async ({ result, rows, cuts }) => {
    await waitUntil(() => client.connected, 3000, 'the client to be connected');
    updates.length = 0;
    const update = {
      id: null,
      method: 'update',
      params: [monitorId(), { Interface: Object.fromEntries(Object.entries(rows).map(([u, r]) => [u, { new: r }])) }],
    };
    server.answer = (req) => {
      const reply = Buffer.from(JSON.stringify({ id: req.id, result, error: null }));
      return splitAt(Buffer.concat([Buffer.from(JSON.stringify(update)), reply]), cuts);
    };
    const got = await client.transact('Open_vSwitch', [{ op: 'select', table: 'Interface', where: [] }]);
    assert.equal(got, plain(result));
    if (Object.keys(rows).length > 0) {
      await waitUntil(() => updates.length > 0, 3000, 'the monitor update');
      assert.equal(
        updates[0].changes.map((c) => [c.uuid, c.new]),
        Object.entries(rows).map(([u, r]) => [u, plain(r)]),
      );
    }
    assertNothingEscaped();
  });
});

/** Replies and notifications of the wrong shape, and plain garbage, for the client. */
const hostileArb: fc.Arbitrary<(id: unknown, monitor: (cond: boolean) => unknown) => string> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => () => Buffer.from(b).toString('latin1')),
  deepArb.map((t) => () => t),
  fc
    .nat({ max: 100_000 })
    .map((n) => (id: unknown) => `{"id":${JSON.stringify(id)},"result":"${'x'.repeat(n)}","error":null}`),
  jsonArb.map((v) => (id: unknown) => JSON.stringify({ id, result: v, error: v })),
  jsonArb.map((v) => () => JSON.stringify({ id: 'x', method: 'echo', params: v })),
  jsonArb.map((v) => () => JSON.stringify({ id: v, method: 'no_such_method', params: [] })),
  // Monitor updates whose rows, diffs and values have the wrong shape.
  fc
    .tuple(fc.constantFrom('update', 'update2'), fc.boolean(), fc.constantFrom('Interface', 'x'), fc.uuid(), jsonArb)
    .map(
      ([method, cond, table, uuid, v]) =>
        (_id: unknown, monitor: (cond: boolean) => unknown) =>
          JSON.stringify({ id: null, method, params: [monitor(cond), { [table]: { [uuid]: v } }] }),
    ),
  fc
    .tuple(
      fc.boolean(),
      fc.uuid(),
      fc.constantFrom<unknown>(null, 5, 'x', ['set', 5], ['map', [null]], ['map', 5], { a: null }),
      fc.constantFrom('name', 'ofport', 'external_ids'),
    )
    .map(
      ([cond, uuid, v, column]) =>
        (_id: unknown, monitor: (cond: boolean) => unknown) =>
          // The row first, so the damaged diff has something to apply to.
          JSON.stringify({
            id: null,
            method: cond ? 'update2' : 'update',
            params: [
              monitor(cond),
              { Interface: { [uuid]: cond ? { insert: { name: 'a' } } : { new: { name: 'a' } } } },
            ],
          }) +
          JSON.stringify({
            id: null,
            method: cond ? 'update2' : 'update',
            params: [
              monitor(cond),
              { Interface: { [uuid]: cond ? { modify: v === null ? null : { [column]: v } } : { new: v, old: v } } },
            ],
          }),
    ),
);

test('ovsdb fuzz: garbage, deep and oversized JSON, and wrong shapes end in a coded error or a reconnect', async () => {
  const runArb = fc.record({
    hostile: fc.array(hostileArb, { minLength: 1, maxLength: 3 }),
    cuts: fc.array(fc.nat(), { maxLength: 10 }),
  });
  await fuzzAsync(
    'client, garbage',
    { runs: 100, timeMs: 8000, stateful: true },
    [runArb],
    async ({ hostile, cuts }) => {
      await waitUntil(() => client.connected, 5000, 'the client to be connected');
      server.answer = (req) => splitAt(Buffer.from(hostile.map((h) => h(req.id, monitorId)).join('')), cuts);
      const sock = server.socket;
      const outcome = await client.request('list_dbs', []).then(
        (ok: unknown) => ({ ok }),
        (err: unknown) => ({ err }),
      );
      if ('err' in outcome) assertCoded(outcome.err, 'request');
      // Garbage may leave a message open: the server hangs up then, and the client must come back.
      server.answer = (req) =>
        req.method === 'list_dbs'
          ? [Buffer.from(JSON.stringify({ id: req.id, result: ['Open_vSwitch'], error: null }))]
          : defaultAnswer(req);
      if (client.connected && server.socket === sock) {
        const probe = await client.listDbs().then(
          (dbs) => dbs,
          (err: unknown) => err,
        );
        if (!Array.isArray(probe)) {
          assertCoded(probe, 'listDbs after garbage');
          sock?.destroy();
        }
      }
      // Pieces of the hostile answer may still be on their way and take the next connection down too: each
      // failure must be coded, and a working connection must follow.
      const deadline = Date.now() + 5000;
      for (;;) {
        await waitUntil(() => client.connected, 5000, 'the client to reconnect');
        const dbs = await client.listDbs().then(
          (d) => d,
          (err: unknown) => err,
        );
        if (Array.isArray(dbs)) {
          assert.equal(dbs, ['Open_vSwitch']);
          break;
        }
        assertCoded(dbs, 'listDbs after garbage');
        if (Date.now() > deadline) assert.unreachable('no working connection within 5 s of the garbage');
      }
      assertNothingEscaped();
    },
  );
});

// ---- regressions: what the fuzzing found ----------------------------------------------------------------------

/** Sends `text` unasked, then checks the client dropped the connection, came back, and nothing escaped. */
async function hostileNotification(text: string): Promise<void> {
  await waitUntil(() => client.connected, 5000, 'the client to be connected');
  server.answer = defaultAnswer;
  const sock = server.socket;
  await server.writePieces([Buffer.from(text)]);
  await waitUntil(() => sock?.destroyed === true, 3000, 'the client to hang up');
  await waitUntil(() => client.connected && server.socket !== sock, 5000, 'the client to reconnect');
  assert.is(escaped.length, 0, `escaped the client: ${String(escaped[0])}`);
  assert.ok(Array.isArray(await client.listDbs()));
}

test('regression (found by fuzzing): an echo nested 20 000 levels deep no longer ends the process', async () => {
  // Its reply's JSON.stringify overflowed the stack inside the socket callback: an uncaught RangeError. The
  // splitter now refuses nesting deeper than 128 levels and the connection is dropped and re-established.
  await hostileNotification(`{"id":"e","method":"echo","params":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
});

test('regression (found by fuzzing): an update2 whose modify is null no longer ends the process', async () => {
  // Object.entries(null) threw out of the socket callback for a monitor_cond monitor (an uncaught TypeError).
  const uuid = '00000000-0000-4000-8000-000000000001';
  const insert = [monitorId(true), { Interface: { [uuid]: { insert: { name: 'tap1' } } } }];
  const modify = [monitorId(true), { Interface: { [uuid]: { modify: null } } }];
  await hostileNotification(
    JSON.stringify({ id: null, method: 'update2', params: insert }) +
      JSON.stringify({ id: null, method: 'update2', params: modify }),
  );
});

test('regression (found by fuzzing): a message inside one chunk is held to the size limit too', () => {
  const s = new JsonMessageSplitter(100);
  let code: unknown;
  try {
    s.write(Buffer.from(`{"id":1,"result":"${'x'.repeat(200)}"}`));
  } catch (e: unknown) {
    code = (e as { code?: unknown }).code;
  }
  assert.is(code, 'OVSDB_MESSAGE_TOO_LARGE');
});

test('nothing escaped the client after the last run', async () => {
  await new Promise((r) => setImmediate(r));
  assertNothingEscaped();
});

test.run();
