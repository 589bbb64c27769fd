// Issue 13 part 2: bytes of messages still being received are bounded across calls, each message
// has a receive deadline, and a call that ends gives its partial message back. The sender here
// speaks raw HTTP/2 (node:http2) because a gRPC client cannot leave a message unfinished.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { GoalStateOperationReply } from '../../proto';
import { GoalStateServer, type GoalStateApplier } from './server';

const MiB = 1024 * 1024;
const STREAM_PATH = '/alcor.schema.GoalStateProvisioner/PushGoalStatesStream';
const UNARY_PATH = '/alcor.schema.GoalStateProvisioner/PushNetworkResourceStates';

const applier: GoalStateApplier = {
  applyV1: async () => GoalStateOperationReply.fromPartial({}),
  applyV2: async () => GoalStateOperationReply.fromPartial({}),
};

/** A gRPC length prefix declaring `size` bytes, uncompressed. */
function prefix(size: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(size, 1);
  return b;
}

interface RawCall {
  readonly stream: http2.ClientHttp2Stream;
  /** grpc-status, grpc-message and grpc-retry-pushback-ms, from the trailers (or a trailers-only answer). */
  readonly status: Promise<{ code: number; message: string; pushback?: string }>;
}

function rawCall(session: http2.ClientHttp2Session, path: string): RawCall {
  const stream = session.request({
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  const status = new Promise<{ code: number; message: string; pushback?: string }>((resolve) => {
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] === undefined) return;
      const pushback = h['grpc-retry-pushback-ms'];
      resolve({
        code: Number(h['grpc-status']),
        message: decodeURIComponent(String(h['grpc-message'] ?? '')),
        ...(pushback === undefined ? {} : { pushback: String(pushback) }),
      });
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('close', () => resolve({ code: -1, message: `closed, rst ${stream.rstCode}` }));
    stream.on('error', () => undefined);
    stream.resume();
  });
  return { stream, status };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

async function withServer(
  receive: { budgetBytes?: number; timeoutMs?: number },
  body: (server: GoalStateServer, session: http2.ClientHttp2Session) => Promise<void>,
): Promise<void> {
  const server = new GoalStateServer(applier, { address: '127.0.0.1:0', requestMode: 'raw', receive });
  const port = await server.start();
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  try {
    await body(server, session);
  } finally {
    session.destroy();
    await server.stop(500);
  }
}

test('issue 13 defect "partial messages hold memory": a message beyond the receive budget gets RESOURCE_EXHAUSTED while another is in flight; a cancelled call gives its share back', async () => {
  await withServer({ budgetBytes: 8 * MiB }, async (server, session) => {
    const a = rawCall(session, STREAM_PATH);
    a.stream.write(Buffer.concat([prefix(6 * MiB), Buffer.alloc(MiB)]));
    await until(() => server.receive.inFlightBytes === 6 * MiB, 'the first message admitted');

    const b = rawCall(session, STREAM_PATH);
    b.stream.write(Buffer.concat([prefix(6 * MiB), Buffer.alloc(1024)]));
    const refused = await b.status;
    assert.is(refused.code, grpc.status.RESOURCE_EXHAUSTED, refused.message);
    assert.match(refused.message, 'receive budget');
    assert.ok(
      Number(refused.pushback) > 0,
      'a full budget is transient: the refusal invites a retry (gRFC A6 pushback)',
    );
    assert.is(server.receive.inFlightBytes, 6 * MiB, 'the refused message holds nothing');

    // The unary path is bounded the same way.
    const u = rawCall(session, UNARY_PATH);
    u.stream.write(prefix(6 * MiB));
    assert.is((await u.status).code, grpc.status.RESOURCE_EXHAUSTED);

    a.stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => server.receive.inFlightBytes === 0, 'the cancelled call to give its share back');

    // With the budget free again, a message of the same size is received and answered.
    const c = rawCall(session, STREAM_PATH);
    c.stream.end(Buffer.concat([prefix(6 * MiB), Buffer.alloc(6 * MiB)]));
    const ok = await c.status;
    assert.is(ok.code, grpc.status.OK, ok.message);
    assert.is(server.receive.inFlightBytes, 0);
    assert.equal(server.receive.coverage, { calls: 4, bounded: 4 }, 'every call is bounded (grpc-js internals found)');
  });
});

test('issue 13: one message up to the size limit is always admitted, whatever the budget', async () => {
  await withServer({ budgetBytes: MiB }, async (server, session) => {
    const c = rawCall(session, STREAM_PATH);
    c.stream.end(Buffer.concat([prefix(3 * MiB), Buffer.alloc(3 * MiB)]));
    assert.is((await c.status).code, grpc.status.OK);
    assert.is(server.receive.inFlightBytes, 0);
  });
});

test('issue 13: a message not complete within the receive deadline gets DEADLINE_EXCEEDED and its bytes are dropped', async () => {
  await withServer({ timeoutMs: 200 }, async (server, session) => {
    const a = rawCall(session, STREAM_PATH);
    a.stream.write(Buffer.concat([prefix(4 * MiB), Buffer.alloc(MiB)]));
    const late = await a.status;
    assert.is(late.code, grpc.status.DEADLINE_EXCEEDED, late.message);
    assert.match(late.message, 'not received within 200 ms');
    assert.is(server.receive.inFlightBytes, 0);
  });
});

test('issue 13: a message larger than the size limit gets RESOURCE_EXHAUSTED', async () => {
  const server = new GoalStateServer(applier, {
    address: '127.0.0.1:0',
    requestMode: 'raw',
    maxReceiveMessageBytes: MiB,
  });
  const port = await server.start();
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  try {
    const a = rawCall(session, UNARY_PATH);
    a.stream.end(Buffer.concat([prefix(MiB + 1), Buffer.alloc(MiB + 1)]));
    const tooLarge = await a.status;
    assert.is(tooLarge.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.is(tooLarge.pushback, undefined, 'too large is permanent: no retry is invited');
  } finally {
    session.destroy();
    await server.stop(500);
  }
});

test.run();
