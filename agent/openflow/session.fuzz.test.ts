// Fuzzing the OpenFlow session's input side (issue 13, part 5) against a scripted fake switch on a unix socket
// (test/fake-switch.ts). Valid switch messages (PACKET_INs, echo requests, multipart replies to a flow dump,
// messages the session ignores) written in pieces cut at random byte boundaries must be understood exactly as if
// they came whole. Garbage (random bytes, damaged messages, bad lengths, truncated bodies), after the handshake
// or in place of it, must end in a clean outcome: the dump in flight resolves or fails with a coded
// SessionError, the connection is dropped and re-established when framing is lost, and nothing escapes as an
// uncaught exception or an unhandled rejection. Seeds: test/fuzz.ts.
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { flowStatsReply, OFP14, OFPT, startFakeSwitch, waitUntil, type FakeSwitch } from '../../test/fake-switch';
import { assertCoded, concat, fuzzAsync, mutate, mutationArb, splitAt } from '../../test/fuzz';
import { ofpMessage } from '../../test/ofp-message';
import { ByteWriter, encodeMatch } from '../../core/openflow';
import { OpenFlowSession, type PacketIn } from './session';

/** Problems that escaped the session: each fails the run that caused it. */
const escaped: unknown[] = [];
process.on('uncaughtException', (e) => escaped.push(e));
process.on('unhandledRejection', (e) => escaped.push(e));

function assertNothingEscaped(): void {
  if (escaped.length > 0) {
    const e = escaped.splice(0)[0];
    assert.unreachable(`escaped the session: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
}

/** A PACKET_IN (§7.4.1): buffer_id, total_len, reason, table_id, cookie, match (in_port), pad[2], frame. */
function packetIn(xid: number, inPort: number, frame: Uint8Array): Buffer {
  const w = new ByteWriter(64);
  encodeMatch(w, [{ field: 'in_port', value: inPort }]);
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32BE(0xffff_ffff, 0);
  fixed.writeUInt16BE(frame.length, 4);
  fixed.writeUInt8(1, 6);
  return ofpMessage(OFP14, OFPT.PACKET_IN, xid, Buffer.concat([fixed, w.toBuffer(), Buffer.alloc(2), frame]));
}

/** What the switch sends unasked, with what the session must make of it. */
type SwitchMessage =
  | { readonly kind: 'packet_in'; readonly xid: number; readonly inPort: number; readonly frame: Uint8Array }
  | { readonly kind: 'echo'; readonly xid: number; readonly data: Uint8Array }
  | { readonly kind: 'ignored'; readonly type: number; readonly xid: number; readonly body: Uint8Array };

/** Types the session decodes as 'other' and ignores. */
const IGNORED_TYPES = [4, 7, 8, 9, 11, 13, 14, 15, 16, 17, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34, 99, 255];

const switchMessageArb: fc.Arbitrary<SwitchMessage> = fc.oneof(
  fc.record({
    kind: fc.constant('packet_in' as const),
    xid: fc.nat({ max: 0xffff_ffff }),
    inPort: fc.integer({ min: 1, max: 0xffff_ff00 }),
    frame: fc.uint8Array({ minLength: 14, maxLength: 1600 }),
  }),
  fc.record({
    kind: fc.constant('echo' as const),
    xid: fc.nat({ max: 0xffff_ffff }),
    data: fc.uint8Array({ maxLength: 64 }),
  }),
  fc.record({
    kind: fc.constant('ignored' as const),
    type: fc.constantFrom(...IGNORED_TYPES),
    xid: fc.nat({ max: 0xffff_ffff }),
    body: fc.uint8Array({ maxLength: 200 }),
  }),
);

function encodeSwitchMessage(m: SwitchMessage): Buffer {
  switch (m.kind) {
    case 'packet_in':
      return packetIn(m.xid, m.inPort, m.frame);
    case 'echo':
      return ofpMessage(OFP14, OFPT.ECHO_REQUEST, m.xid, Buffer.from(m.data));
    case 'ignored':
      return ofpMessage(OFP14, m.type, m.xid, Buffer.from(m.body));
    default: {
      const never: never = m;
      return never;
    }
  }
}

/** Damaged and hostile bytes from the switch. */
const garbageArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }),
  // Valid messages, damaged (lengths included).
  fc
    .tuple(
      fc.array(switchMessageArb, { minLength: 1, maxLength: 4 }),
      fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
    )
    .map(([ms, muts]) => muts.reduce((b, m) => mutate(b, m), concat(ms.map(encodeSwitchMessage)) as Uint8Array)),
  // Well framed, with bodies too short or wrong for their type: ERROR, FEATURES_REPLY, PACKET_IN, PORT_STATUS,
  // MULTIPART_REPLY, BUNDLE_CONTROL, HELLO with a bad bitmap element.
  fc
    .tuple(fc.constantFrom(0, 1, 6, 10, 12, 19, 21, 33), fc.nat({ max: 0xffff_ffff }), fc.uint8Array({ maxLength: 40 }))
    .map(([type, xid, body]) => ofpMessage(OFP14, type, xid, Buffer.from(body))),
  // A header whose length is below the header's own 8 bytes: framing is lost.
  fc
    .tuple(fc.integer({ min: 0, max: 7 }), fc.nat({ max: 255 }))
    .map(([len, type]) => Uint8Array.of(OFP14, type, 0, len, 0, 0, 0, 1)),
  // Another version's message.
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.nat({ max: 40 }))
    .map(([version, type]) => ofpMessage(version, type, 7)),
);

let dir = '';
let fake: FakeSwitch;
let session: OpenFlowSession;
const packetIns: PacketIn[] = [];
let downs = 0;

test.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-offuzz-'));
  fake = await startFakeSwitch(path.join(dir, 'br-int.mgmt'));
  session = new OpenFlowSession({
    socketPath: fake.socketPath,
    echoIntervalMs: 200,
    deadAfterMs: 400,
    backoffInitialMs: 1,
    backoffMaxMs: 20,
    requestTimeoutMs: 3000,
  });
  session.on('packet_in', (p: PacketIn) => packetIns.push(p));
  session.on('down', () => downs++);
  session.start();
  await session.whenReady();
});

test.after(async () => {
  session.stop();
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Starts a flow dump and returns it with the xid the switch saw it under. */
async function startDump(): Promise<{ xid: number; result: Promise<{ ok: Buffer[] } | { err: unknown }> }> {
  const seen = fake.received.length;
  const result = session.dumpFlows(0n, 0n).then(
    (ok) => ({ ok }),
    (err: unknown) => ({ err }),
  );
  await waitUntil(
    () => fake.received.slice(seen).some((m) => m.type === OFPT.MULTIPART_REQUEST),
    3000,
    'the flow-stats request',
  );
  const request = fake.received.slice(seen).find((m) => m.type === OFPT.MULTIPART_REQUEST);
  return { xid: request?.xid ?? -1, result };
}

test('openflow fuzz: valid switch messages cut at random points are understood as if they came whole', async () => {
  const runArb = fc.record({
    unasked: fc.array(switchMessageArb, { maxLength: 8 }),
    bodies: fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 4 }),
    cuts: fc.array(fc.nat(), { maxLength: 30 }),
  });
  await fuzzAsync('valid messages, cut', { runs: 300, timeMs: 5000 }, [runArb], async ({ unasked, bodies, cuts }) => {
    await session.whenReady();
    packetIns.length = 0;
    const downsBefore = downs;
    const echoesFrom = fake.received.length;
    const dump = await startDump();
    // The dump's replies in order, the unasked messages between them.
    const replies = bodies.map((b, i) => flowStatsReply(dump.xid, b, i < bodies.length - 1));
    const stream: Uint8Array[] = [];
    for (let i = 0; i < Math.max(replies.length, unasked.length); i++) {
      if (i < unasked.length) stream.push(encodeSwitchMessage(unasked[i]));
      if (i < replies.length) stream.push(replies[i]);
    }
    await fake.writePieces(splitAt(concat(stream), cuts));
    const outcome = await dump.result;
    if (!('ok' in outcome)) return assert.unreachable(`the dump failed: ${String(outcome.err)}`);
    assert.equal(
      outcome.ok.map((b) => Buffer.from(b).toString('hex')),
      bodies.map((b) => Buffer.from(b).toString('hex')),
    );
    const sentPacketIns = unasked.filter((m) => m.kind === 'packet_in');
    await waitUntil(() => packetIns.length >= sentPacketIns.length, 3000, 'the PACKET_IN events');
    assert.equal(
      packetIns.map((p) => [p.xid, p.inPort, Buffer.from(p.data).toString('hex')]),
      sentPacketIns.map((m) => [m.xid, m.inPort, Buffer.from(m.frame).toString('hex')]),
    );
    const echoes = unasked.filter((m) => m.kind === 'echo');
    const answered = (): string[] =>
      fake.received
        .slice(echoesFrom)
        .filter((m) => m.type === OFPT.ECHO_REPLY)
        .map((m) => `${m.xid}:${m.bytes.subarray(8).toString('hex')}`);
    await waitUntil(() => answered().length >= echoes.length, 3000, 'the echo replies');
    assert.equal(
      answered(),
      echoes.map((m) => `${m.xid}:${Buffer.from(m.data).toString('hex')}`),
    );
    assert.is(downs, downsBefore, 'valid input dropped the connection');
    assertNothingEscaped();
  });
});

test('openflow fuzz: garbage from the switch ends in a coded error or a clean reconnect, never an escape', async () => {
  const runArb = fc.record({
    garbage: fc.array(garbageArb, { minLength: 1, maxLength: 4 }),
    cuts: fc.array(fc.nat(), { maxLength: 10 }),
    errorForDump: fc.boolean(),
    atHandshake: fc.boolean(),
  });
  await fuzzAsync(
    'garbage',
    { runs: 60, timeMs: 7000, stateful: true },
    [runArb],
    async ({ garbage, cuts, errorForDump, atHandshake }) => {
      await session.whenReady();
      const bytes = concat(garbage);
      if (atHandshake) {
        // The next connection gets the garbage before its HELLO.
        const before = fake.connections;
        fake.handshakeGarbage = splitAt(bytes, cuts);
        fake.socket?.destroy();
        await waitUntil(() => fake.connections > before, 3000, 'a reconnect');
      } else {
        const dump = await startDump();
        const error = errorForDump ? [ofpMessage(OFP14, OFPT.ERROR, dump.xid, Buffer.from([0, 1, 0, 2]))] : [];
        await fake.writePieces(splitAt(concat([bytes, ...error]), cuts));
        await fake.writePieces([flowStatsReply(dump.xid, Uint8Array.of(1, 2, 3), false)]);
        // A long length in the garbage may have swallowed the final reply: then the switch hangs up.
        let settled = false;
        void dump.result.then(() => (settled = true));
        await waitUntil(() => settled, 3000, 'the dump to settle').catch(() => fake.socket?.destroy());
        const outcome = await dump.result;
        if ('err' in outcome) {
          assertCoded(outcome.err, 'dumpFlows');
          assert.ok(
            ['OF_SESSION_DOWN', 'OF_REJECTED', 'OF_TIMEOUT'].includes(outcome.err.code),
            `unexpected ${outcome.err.code}`,
          );
        } else {
          assert.is(Buffer.from(outcome.ok[outcome.ok.length - 1] ?? []).toString('hex'), '010203');
        }
      }
      // Whatever happened, the session comes back and works.
      await Promise.race([
        session.whenReady(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('session not ready again within 5 s')), 5000)),
      ]);
      await session.barrier();
      assertNothingEscaped();
    },
  );
});

// ---- regressions: what the fuzzing found ----------------------------------------------------------------------

test('regression (found by fuzzing): stray bytes that never complete a message do not wedge the session', async () => {
  // Three bytes (d3 27 25) put the framer on a 9477-byte length that the switch's next messages only feed: the
  // dump's reply was swallowed, and since any byte counted as a sign of life, the echo replies kept the wedged
  // connection "alive": every request waited for its timeout. Now only whole messages count, so the session
  // declares the connection dead after deadAfterMs (400 ms here), fails the dump, and reconnects.
  await session.whenReady();
  const downsBefore = downs;
  const dump = await startDump();
  await fake.writePieces([Uint8Array.of(0xd3, 0x27, 0x25)]);
  await fake.writePieces([flowStatsReply(dump.xid, Uint8Array.of(1, 2, 3), false)]);
  const outcome = await dump.result;
  if (!('err' in outcome)) return assert.unreachable('the swallowed dump resolved');
  assertCoded(outcome.err, 'dumpFlows');
  assert.is(outcome.err.code, 'OF_SESSION_DOWN');
  assert.is(downs, downsBefore + 1);
  await session.whenReady();
  await session.barrier();
  assertNothingEscaped();
});

test('nothing escaped the session after the last run', async () => {
  await new Promise((r) => setImmediate(r));
  assertNothingEscaped();
});

test.run();
