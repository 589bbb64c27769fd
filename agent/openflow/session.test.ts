// The OpenFlow session against a real sandboxed OVS (bundles, rejection, multipart dumps) and against
// a fake switch on a unix socket (echo keepalive, dead-peer detection, reconnect).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Flow } from '../../core/flow';
import {
  ByteWriter,
  OFP14_VERSION,
  OpenFlowFramer,
  decodeFlowStatsEntries,
  decodeMessage,
  encodeEchoRequest,
  encodeHello,
  writeBundledFlowMod,
} from '../../core/openflow';
import { requirePrereqs } from '../../test/prereq';
import { OvsSandbox } from '../../test/sandbox';
import { OpenFlowSession, SessionError, mgmtSocketPath } from './session';
import { ofpMessage } from '../../test/ofp-message';

const ENGINE_XID = 0x4000_0000;
const COOKIE = 0xa1c0_0100_0000_0001n;
const MARKER = 0xa1c0_0000_0000_0000n;
const MASK = 0xffff_0000_0000_0000n;

function flow(table: number, priority: number, inPort: number, outPort = 1): Flow {
  return {
    table,
    priority,
    cookie: COOKIE,
    match: [{ field: 'in_port', value: inPort }],
    actions: [{ kind: 'output', port: outPort }],
  };
}

/** A reserved port number with no meaning (OpenFlow 1.3 §7.2.1): OVS answers OFPBAC_BAD_OUT_PORT. */
const BAD_PORT = 0xfffffff0;

/** One delta buffer of BUNDLE_ADD(FLOW_MOD add) with engine-style xids. */
function delta(bundleId: number, flows: readonly Flow[]): Uint8Array {
  const w = new ByteWriter(1024);
  flows.forEach((f, i) => writeBundledFlowMod(w, ENGINE_XID + i, OFP14_VERSION, bundleId, f, 'add'));
  return w.toBuffer();
}

async function countFlows(s: OpenFlowSession): Promise<number> {
  const bodies = await s.dumpFlows(MARKER, MASK);
  return bodies.reduce((n, b) => n + decodeFlowStatsEntries(b).length, 0);
}

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('real OVS: bundle applies, a rejected bundle changes nothing, dumps span many replies', async () => {
    let sb: OvsSandbox | undefined;
    let s: OpenFlowSession | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'ofsess' });
      const session = new OpenFlowSession({ socketPath: mgmtSocketPath(sb.rundir, 'br-int') });
      s = session;
      session.start();
      await session.whenReady();
      await session.applyBundle(1, []); // empty: nothing sent
      await session.applyBundle(2, [delta(2, [flow(0, 100, 1), flow(0, 100, 2)])]);
      assert.is(await countFlows(session), 2);

      // The second flow outputs to a meaningless port: OVS rejects it.
      let err: unknown;
      try {
        await session.applyBundle(3, [delta(3, [flow(0, 100, 3), flow(0, 100, 4, BAD_PORT)])]);
      } catch (e: unknown) {
        err = e;
      }
      assert.ok(err instanceof SessionError, String(err));
      const se = err as SessionError;
      assert.is(se.code, 'OF_REJECTED');
      assert.ok(se.ofErrors.length >= 1);
      assert.ok(
        se.ofErrors.some((e) => e.xid === ENGINE_XID + 1),
        se.message,
      );
      assert.is(await countFlows(session), 2, 'atomic: the good flow of the rejected bundle is not installed');

      // 3000 flows: the dump arrives in several multipart replies (OFPMPF_REPLY_MORE).
      const many = Array.from({ length: 3000 }, (_, i) => flow(1, 10, 100 + i));
      await session.applyBundle(4, [delta(4, many.slice(0, 1500)), delta(4, many.slice(1500))]);
      const bodies = await session.dumpFlows(MARKER, MASK);
      assert.ok(bodies.length > 1, `expected several replies, got ${bodies.length}`);
      assert.is(
        bodies.reduce((n, b) => n + decodeFlowStatsEntries(b).length, 0),
        3002,
      );
    } finally {
      s?.stop();
      await sb?.stop();
    }
  });

  test('real OVS: a streamed bundle commits what was pushed; an abandoned one leaves OVS as it was', async () => {
    let sb: OvsSandbox | undefined;
    let session: OpenFlowSession | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'ofsessstream' });
      session = new OpenFlowSession({ socketPath: mgmtSocketPath(sb.rundir, 'br-int') });
      session.start();
      await session.whenReady();
      const ok = session.streamBundle(5);
      ok.push(delta(5, [flow(3, 10, 1)]));
      ok.push(new Uint8Array(0));
      ok.push(delta(5, [flow(3, 10, 2)]));
      ok.end();
      await ok.result;
      assert.is(await countFlows(session), 2);

      const gone = session.streamBundle(6);
      gone.push(delta(6, [flow(3, 10, 3), flow(3, 10, 4)]));
      await new Promise((r) => setTimeout(r, 50)); // let the adds reach OVS first
      gone.abandon('the producer failed');
      let code: unknown;
      try {
        await gone.result;
      } catch (e: unknown) {
        code = (e as { code?: unknown }).code;
      }
      assert.is(code, 'OF_ABANDONED');
      assert.is(await countFlows(session), 2, 'nothing of the abandoned bundle is installed');

      const empty = session.streamBundle(7);
      empty.end();
      assert.equal(await empty.result, { addUs: 0, commitUs: 0 }, 'no delta: no bundle at all');
    } finally {
      session?.stop();
      await sb?.stop();
    }
  });

  test('real OVS: a delta of several MiB goes in slices with echoes between them, and applies whole', async () => {
    let sb: OvsSandbox | undefined;
    let session: OpenFlowSession | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'ofsessbig' });
      // Echo as often as the timer allows, so echoes land between the slices of the delta.
      session = new OpenFlowSession({ socketPath: mgmtSocketPath(sb.rundir, 'br-int'), echoIntervalMs: 2 });
      session.start();
      await session.whenReady();
      const flows = Array.from({ length: 40_000 }, (_, i) => flow(2, 10, 1000 + i));
      const big = delta(7, flows);
      assert.ok(big.length > 3 * 2 ** 20, `delta of ${big.length} bytes`);
      await session.applyBundle(7, [big]);
      assert.is(await countFlows(session), 40_000);
    } finally {
      session?.stop();
      await sb?.stop();
    }
  });
}

// ---- fake switch ------------------------------------------------------------------------------

const OFPT_FEATURES_REPLY = 6;
const OFPT_BARRIER_REPLY = 21;

function reply(type: number, xid: number, body: Buffer = Buffer.alloc(0)): Buffer {
  return ofpMessage(OFP14_VERSION, type, xid, body);
}

interface FakeSwitch {
  readonly server: net.Server;
  readonly sockets: net.Socket[];
  echoReplies: number;
  /** When false the switch answers nothing (a hung peer). */
  answer: boolean;
}

function fakeSwitch(socketPath: string): Promise<FakeSwitch> {
  const fake: FakeSwitch = { server: net.createServer(), sockets: [], echoReplies: 0, answer: true };
  fake.server.on('connection', (sock) => {
    fake.sockets.push(sock);
    const framer = new OpenFlowFramer();
    sock.write(encodeHello(1, [OFP14_VERSION]));
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      for (const m of framer.push(chunk)) {
        const msg = decodeMessage(m);
        if (!fake.answer) continue;
        if (msg.kind === 'echo_reply') fake.echoReplies++;
        else if (msg.kind === 'echo_request') sock.write(reply(3, msg.xid));
        else if (msg.kind === 'other' && msg.type === 5) {
          // FEATURES_REQUEST -> FEATURES_REPLY: datapath_id, n_buffers, n_tables, aux id, pad, capabilities, reserved
          const body = Buffer.alloc(24);
          body.writeBigUInt64BE(0xabcn, 0);
          body.writeUInt8(254, 12);
          sock.write(reply(OFPT_FEATURES_REPLY, msg.xid, body));
        } else if (msg.kind === 'other' && msg.type === 20) sock.write(reply(OFPT_BARRIER_REPLY, msg.xid));
      }
    });
  });
  return new Promise((resolve) => fake.server.listen(socketPath, () => resolve(fake)));
}

test('fake switch: answers our keepalive, replies to its echo, reconnects after a drop and after a hang', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-ofsess-'));
  const sockPath = path.join(dir, 'br-int.mgmt');
  const fake = await fakeSwitch(sockPath);
  const s = new OpenFlowSession({
    socketPath: sockPath,
    echoIntervalMs: 100,
    deadAfterMs: 400,
    backoffInitialMs: 20,
    backoffMaxMs: 100,
  });
  let readies = 0;
  let downs = 0;
  s.on('ready', () => readies++);
  s.on('down', () => downs++);
  try {
    s.start();
    await s.whenReady();
    assert.is(readies, 1);

    // The switch's echo gets an echo reply with the same xid.
    fake.sockets[0].write(encodeEchoRequest(77, OFP14_VERSION));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(fake.echoReplies >= 1);

    // Our own echoes keep an idle but answering switch alive past deadAfterMs.
    await new Promise((r) => setTimeout(r, 600));
    assert.is(downs, 0);
    assert.ok(s.isReady);

    // A dropped connection comes back.
    fake.sockets[0].destroy();
    await new Promise((r) => setTimeout(r, 300));
    assert.is(downs, 1);
    assert.is(readies, 2);

    // A switch that stops answering is declared dead, then reconnected.
    fake.answer = false;
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(downs >= 2, `downs ${downs}`);
    fake.answer = true;
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(s.isReady);
    await s.applyBundle(9, []);
  } finally {
    s.stop();
    for (const sock of fake.sockets) sock.destroy();
    await new Promise((r) => fake.server.close(() => r(undefined)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a verb while not connected fails with OF_SESSION_DOWN', async () => {
  const s = new OpenFlowSession({ socketPath: '/nonexistent/br-int.mgmt' });
  let code: unknown;
  try {
    await s.dumpFlows(0n, 0n);
  } catch (e: unknown) {
    code = (e as { code?: unknown }).code;
  }
  assert.is(code, 'OF_SESSION_DOWN');
});

test.run();
