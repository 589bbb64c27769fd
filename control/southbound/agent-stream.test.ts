// How the control service's stream to an agent reads the agent's RESOURCE_EXHAUSTED: a message over
// the agent's size limit is refused for good (AGENT_REFUSED, not resent), while a full receive budget
// is transient (the agent invites a retry with grpc-retry-pushback-ms): the stream reconnects, the
// host session re-pushes, and the message gets through once the budget frees. A real agent gRPC server.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as http2 from 'node:http2';
import { GoalStateOperationReply } from '../../proto';
import { GoalStateServer, type GoalStateApplier } from '../../agent/grpc/server';
import { AgentStream, DEFAULT_STREAM_OPTIONS, isAgentRefusal } from './agent-stream';

const MiB = 1024 * 1024;
const STREAM_PATH = '/alcor.schema.GoalStateProvisioner/PushGoalStatesStream';

const applier: GoalStateApplier = {
  applyV1: async () => GoalStateOperationReply.fromPartial({}),
  applyV2: async () => GoalStateOperationReply.fromPartial({}),
};

/** A GoalStateV2 of about `size` bytes: one unknown length-delimited field, which the raw server answers. */
function message(size: number): Buffer {
  const body = Buffer.alloc(size - 6);
  const head = Buffer.from([0xfa, 0x3f, 0, 0, 0, 0]); // field 1023, wire type 2, then a 4-byte varint length
  let n = body.length;
  for (let i = 2; i < 6; i++) {
    head[i] = (n & 0x7f) | (i < 5 ? 0x80 : 0);
    n >>>= 7;
  }
  return Buffer.concat([head, body]);
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > 20_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function withAgent(
  options: { budgetBytes?: number; maxReceiveMessageBytes?: number },
  body: (server: GoalStateServer, address: string) => Promise<void>,
): Promise<void> {
  const server = new GoalStateServer(applier, {
    address: '127.0.0.1:0',
    requestMode: 'raw',
    receive: { budgetBytes: options.budgetBytes },
    ...(options.maxReceiveMessageBytes === undefined ? {} : { maxReceiveMessageBytes: options.maxReceiveMessageBytes }),
  });
  const port = await server.start();
  try {
    await body(server, `127.0.0.1:${port}`);
  } finally {
    await server.stop(500);
  }
}

function connectedStream(address: string): { stream: AgentStream; connections: () => number } {
  let connections = 0;
  const stream = new AgentStream(address, { ...DEFAULT_STREAM_OPTIONS, backoffInitialMs: 20, backoffMaxMs: 200 });
  stream.onConnected = () => connections++;
  stream.start();
  return { stream, connections: () => connections };
}

test('a full receive budget is transient: the stream reconnects and the message gets through once it frees', async () => {
  await withAgent({ budgetBytes: 8 * MiB }, async (server, address) => {
    // Another sender holds 6 of the agent's 8 MiB with a message it has not finished.
    const session = http2.connect(`http://${address}`);
    session.on('error', () => undefined);
    const hold = session.request({ ':method': 'POST', ':path': STREAM_PATH, 'content-type': 'application/grpc' });
    hold.on('error', () => undefined);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(6 * MiB, 1);
    hold.write(Buffer.concat([prefix, Buffer.alloc(MiB)]));
    await until(() => server.receive.inFlightBytes === 6 * MiB, 'the held message admitted');

    const { stream, connections } = connectedStream(address);
    try {
      await until(() => stream.connected(), 'the stream connected');
      const err = await stream.send(message(4 * MiB)).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err !== undefined, 'the message is not answered while the budget is full');
      assert.not.ok(isAgentRefusal(err), `a full budget is not a refusal: ${String(err)}`);
      await until(() => connections() >= 2, 'the stream to reconnect (where the host session re-pushes)');

      hold.close(http2.constants.NGHTTP2_CANCEL);
      await until(() => server.receive.inFlightBytes === 0, 'the held message released');
      await until(() => stream.connected(), 'the stream connected again');
      const reply = await stream.send(message(4 * MiB));
      assert.ok(reply !== undefined, 'the same message is answered once the budget frees');
    } finally {
      stream.stop();
      session.destroy();
    }
  });
});

test('a message over the agent size limit is refused for good (AGENT_REFUSED), and the stream stays usable', async () => {
  await withAgent({ maxReceiveMessageBytes: MiB }, async (_server, address) => {
    const { stream, connections } = connectedStream(address);
    try {
      await until(() => stream.connected(), 'the stream connected');
      const err = await stream.send(message(2 * MiB)).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isAgentRefusal(err), `refused for good: ${String(err)}`);
      const reply = await stream.send(message(1024));
      assert.ok(reply !== undefined, 'a message within the limit is answered on the same connection');
      assert.is(connections(), 1, 'a refusal does not reconnect');
    } finally {
      stream.stop();
    }
  });
});

test.run();
