// GoalStateProvisioner server against a real grpc-js client (ts-proto GoalStateProvisionerClient) on loopback.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  GoalState,
  GoalStateV2,
  GoalStateOperationReply,
  GoalStateProvisionerClient,
  HostRequest,
  NeighborRulesRequest,
  OperationStatus,
  OperationType,
  PortState,
  ResourceType,
} from '../../proto';
import {
  GoalStateApplier,
  GoalStateRequest,
  GoalStateServer,
  GoalStateServerOptions,
  GoalStateValidationError,
  RequestContext,
} from './server';

/** Resolves when `p` rejects with an error satisfying `check`; fails the test otherwise. */
async function rejects(p: Promise<unknown>, check: (e: unknown) => boolean): Promise<void> {
  try {
    await p;
  } catch (e: unknown) {
    assert.ok(check(e), `unexpected error: ${String((e as { message?: unknown }).message ?? e)}`);
    return;
  }
  assert.unreachable('expected a rejection');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function portReply(ids: readonly string[], tag: number): GoalStateOperationReply {
  return GoalStateOperationReply.fromPartial({
    formatVersion: tag,
    operationStatuses: ids.map((id) => ({
      resourceId: id,
      resourceType: ResourceType.PORT,
      operationType: OperationType.CREATE,
      operationStatus: OperationStatus.SUCCESS,
    })),
  });
}

function decodedV2(req: GoalStateRequest<GoalStateV2>): GoalStateV2 {
  return req.kind === 'decoded' ? req.message : GoalStateV2.decode(req.bytes);
}

/** Echoes one SUCCESS status per port; formatVersion of the reply = formatVersion of the request (order tag). */
class EchoApplier implements GoalStateApplier {
  readonly calls: { seq: number; tag: number; version: string }[] = [];
  delayMs: (tag: number) => number = () => 0;
  failOn: (tag: number) => 'validation' | 'crash' | null = () => null;
  lastKind: string | null = null;

  async applyV1(req: GoalStateRequest<GoalState>, ctx: RequestContext): Promise<GoalStateOperationReply> {
    const gs = req.kind === 'decoded' ? req.message : GoalState.decode(req.bytes);
    this.lastKind = req.kind;
    this.calls.push({ seq: ctx.seq, tag: gs.formatVersion, version: 'v1' });
    return this.#answer(
      gs.formatVersion,
      gs.portStates.map((p) => p.configuration?.id ?? ''),
    );
  }

  async applyV2(req: GoalStateRequest<GoalStateV2>, ctx: RequestContext): Promise<GoalStateOperationReply> {
    const gs = decodedV2(req);
    this.lastKind = req.kind;
    this.calls.push({ seq: ctx.seq, tag: gs.formatVersion, version: 'v2' });
    return this.#answer(gs.formatVersion, Object.keys(gs.portStates));
  }

  async #answer(tag: number, ids: string[]): Promise<GoalStateOperationReply> {
    const delay = this.delayMs(tag);
    if (delay > 0) await sleep(delay);
    const fail = this.failOn(tag);
    if (fail === 'validation') throw new GoalStateValidationError(`port of goal state ${tag} has a bad MAC`);
    if (fail === 'crash') throw new Error(`boom on ${tag}`);
    return portReply(ids, tag);
  }
}

function v2WithPorts(tag: number, ids: readonly string[]): GoalStateV2 {
  const portStates: Record<string, PortState> = {};
  for (const id of ids) {
    portStates[id] = PortState.fromPartial({
      operationType: OperationType.CREATE,
      configuration: { id, macAddress: '02:00:00:00:00:01' },
    });
  }
  return GoalStateV2.fromPartial({ formatVersion: tag, portStates });
}

async function withServer(
  applier: GoalStateApplier,
  options: GoalStateServerOptions,
  body: (client: GoalStateProvisionerClient, port: number) => Promise<void>,
  clientCreds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  clientOptions: Partial<grpc.ClientOptions> = {},
): Promise<void> {
  const server = new GoalStateServer(applier, { address: '127.0.0.1:0', ...options });
  const port = await server.start();
  const client = new GoalStateProvisionerClient(`127.0.0.1:${port}`, clientCreds, {
    'grpc.max_send_message_length': 256 * 1024 * 1024,
    'grpc.max_receive_message_length': 256 * 1024 * 1024,
    ...clientOptions,
  });
  try {
    await body(client, port);
  } finally {
    client.close();
    await server.stop(1000);
  }
}

function unary(client: GoalStateProvisionerClient, gs: GoalState): Promise<GoalStateOperationReply> {
  return new Promise((resolve, reject) => {
    client.pushNetworkResourceStates(gs, (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

interface StreamResult {
  readonly replies: GoalStateOperationReply[];
  readonly error: grpc.ServiceError | null;
}

function streamAll(
  client: GoalStateProvisionerClient,
  messages: readonly GoalStateV2[],
  endAfterWrite = true,
): Promise<StreamResult> {
  return new Promise((resolve) => {
    const call = client.pushGoalStatesStream();
    const replies: GoalStateOperationReply[] = [];
    let error: grpc.ServiceError | null = null;
    call.on('data', (r: GoalStateOperationReply) => replies.push(r));
    call.on('error', (e: grpc.ServiceError) => {
      error = e;
    });
    call.on('status', () => resolve({ replies, error }));
    for (const m of messages) call.write(m);
    if (endAfterWrite) call.end();
  });
}

test('unary v1: one reply, applier gets the decoded message', async () => {
  const applier = new EchoApplier();
  await withServer(applier, {}, async (client) => {
    const gs = GoalState.fromPartial({
      formatVersion: 101,
      portStates: [{ operationType: OperationType.CREATE, configuration: { id: 'p1' } }],
    });
    const reply = await unary(client, gs);
    assert.equal(reply.formatVersion, 101);
    assert.equal(
      reply.operationStatuses.map((s) => s.resourceId),
      ['p1'],
    );
    assert.equal(applier.lastKind, 'decoded');
  });
});

test('stream of 10 messages -> 10 replies in order although the applier resolves out of order', async () => {
  const applier = new EchoApplier();
  applier.delayMs = (tag) => (10 - tag) * 5; // later messages finish first
  await withServer(applier, { maxInFlight: 10 }, async (client) => {
    const msgs = Array.from({ length: 10 }, (_, i) => v2WithPorts(i, [`port-${i}`]));
    const { replies, error } = await streamAll(client, msgs);
    assert.is(error, null);
    assert.equal(
      replies.map((r) => r.formatVersion),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.equal(
      replies.map((r) => r.operationStatuses[0]?.resourceId),
      msgs.map((_, i) => `port-${i}`),
    );
    assert.equal(
      applier.calls.map((c) => c.tag),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });
});

test('default maxInFlight=1: one goal state at a time; two streams are served in arrival order', async () => {
  const applier = new EchoApplier();
  let running = 0;
  let maxRunning = 0;
  const inner = applier.applyV2.bind(applier);
  applier.applyV2 = async (req, ctx) => {
    running += 1;
    maxRunning = Math.max(maxRunning, running);
    try {
      await sleep(2);
      return await inner(req, ctx);
    } finally {
      running -= 1;
    }
  };
  await withServer(applier, {}, async (client) => {
    const a = streamAll(client, [v2WithPorts(1, ['a']), v2WithPorts(2, ['a'])]);
    const b = streamAll(client, [v2WithPorts(11, ['b']), v2WithPorts(12, ['b'])]);
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(
      ra.replies.map((r) => r.formatVersion),
      [1, 2],
    );
    assert.equal(
      rb.replies.map((r) => r.formatVersion),
      [11, 12],
    );
    assert.is(maxRunning, 1);
    const seqs = applier.calls.map((c) => c.seq);
    assert.equal(
      seqs,
      [...seqs].sort((x, y) => x - y),
      'applier called in server arrival order',
    );
    // per stream the order is kept
    assert.ok(applier.calls.findIndex((c) => c.tag === 1) < applier.calls.findIndex((c) => c.tag === 2));
    assert.ok(applier.calls.findIndex((c) => c.tag === 11) < applier.calls.findIndex((c) => c.tag === 12));
  });
});

test('empty GoalStateV2 -> one reply with 0 statuses', async () => {
  const applier = new EchoApplier();
  await withServer(applier, {}, async (client) => {
    const { replies, error } = await streamAll(client, [GoalStateV2.fromPartial({})]);
    assert.is(error, null);
    assert.is(replies.length, 1);
    assert.is(replies[0]?.operationStatuses.length, 0);
  });
});

/**
 * A GoalStateV2 of more than 64 MiB built without encoding 64 MiB through the codec: a small real message followed
 * by an unknown length-delimited field 99 (decoders skip unknown fields, proto3 §"Unknown fields"), so the test
 * measures the transport, not string encoding.
 */
function bigGoalStateBytes(tag: number, portId: string, padBytes: number): Buffer {
  const head = Buffer.from(GoalStateV2.encode(v2WithPorts(tag, [portId])).finish());
  const key = Buffer.from([(99 << 3) | 2, 99 >> 4]); // field 99, wire type 2, as a 2-byte varint
  const len: number[] = [];
  for (let v = padBytes; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      len.push(v);
      break;
    }
    len.push((v % 128) | 0x80);
  }
  return Buffer.concat([head, key, Buffer.from(len), Buffer.alloc(padBytes)]);
}

/** A bidi client that sends pre-encoded bytes. */
function rawStream(
  port: number,
  messages: readonly Buffer[],
): Promise<{ replies: GoalStateOperationReply[]; error: unknown }> {
  const def = {
    stream: {
      path: '/alcor.schema.GoalStateProvisioner/PushGoalStatesStream',
      requestStream: true,
      responseStream: true,
      requestSerialize: (b: Buffer): Buffer => b,
      requestDeserialize: (b: Buffer): Buffer => b,
      responseSerialize: (r: GoalStateOperationReply): Buffer =>
        Buffer.from(GoalStateOperationReply.encode(r).finish()),
      responseDeserialize: (b: Buffer): GoalStateOperationReply => GoalStateOperationReply.decode(b),
    },
  };
  const RawClient = grpc.makeGenericClientConstructor(def, 'raw');
  const client = new RawClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 256 * 1024 * 1024,
  });
  return new Promise((resolve) => {
    const call = (
      client as unknown as { stream: () => grpc.ClientDuplexStream<Buffer, GoalStateOperationReply> }
    ).stream();
    const replies: GoalStateOperationReply[] = [];
    let error: unknown = null;
    call.on('data', (r: GoalStateOperationReply) => replies.push(r));
    call.on('error', (e: unknown) => {
      error = e;
    });
    call.on('status', () => {
      client.close();
      resolve({ replies, error });
    });
    for (const m of messages) call.write(m);
    call.end();
  });
}

test('a 64 MiB goal state is accepted; raw mode hands the bytes over undecoded; the size limit is enforced', async () => {
  // 64 MiB once (decoded mode); raw mode with 8 MiB: the transfer, not the mode, is what costs time here.
  for (const [requestMode, padBytes] of [
    ['decoded', 64 * 1024 * 1024],
    ['raw', 8 * 1024 * 1024],
  ] as const) {
    const big = bigGoalStateBytes(7, 'big-port', padBytes);
    const applier = new EchoApplier();
    let rawBytes = 0;
    const inner = applier.applyV2.bind(applier);
    applier.applyV2 = async (req, ctx) => {
      if (req.kind === 'raw') rawBytes = req.bytes.length;
      return inner(req, ctx);
    };
    await withServer(applier, { requestMode }, async (_client, port) => {
      const { replies, error } = await rawStream(port, [big]);
      assert.is(error, null);
      assert.is(replies[0]?.operationStatuses[0]?.resourceId, 'big-port');
      assert.is(applier.lastKind, requestMode);
      if (requestMode === 'raw') assert.is(rawBytes, big.length);
    });
  }
  // and the limit is enforced: over maxReceiveMessageBytes -> RESOURCE_EXHAUSTED
  await withServer(new EchoApplier(), { maxReceiveMessageBytes: 1024 * 1024 }, async (_client, port) => {
    const { error } = await rawStream(port, [bigGoalStateBytes(1, 'p', 2 * 1024 * 1024)]);
    assert.is((error as grpc.ServiceError | null)?.code, grpc.status.RESOURCE_EXHAUSTED);
  });
});

test('validation error -> INVALID_ARG statuses, gRPC OK, stream continues', async () => {
  const applier = new EchoApplier();
  applier.failOn = (tag) => (tag === 1 ? 'validation' : null);
  await withServer(applier, {}, async (client) => {
    const { replies, error } = await streamAll(client, [
      v2WithPorts(0, ['a']),
      v2WithPorts(1, ['b', 'c']),
      v2WithPorts(2, ['d']),
    ]);
    assert.is(error, null);
    assert.is(replies.length, 3);
    assert.equal(
      replies[1]?.operationStatuses.map((s) => [s.resourceId, s.operationStatus]),
      [
        ['b', OperationStatus.INVALID_ARG],
        ['c', OperationStatus.INVALID_ARG],
      ],
    );
    assert.is(replies[2]?.operationStatuses[0]?.resourceId, 'd');
    const v1 = await unary(
      client,
      GoalState.fromPartial({
        formatVersion: 1,
        portStates: [{ operationType: OperationType.CREATE, configuration: { id: 'q' } }],
      }),
    );
    assert.equal(
      v1.operationStatuses.map((s) => [s.resourceId, s.operationStatus]),
      [['q', OperationStatus.INVALID_ARG]],
    );
  });
});

test('unexpected exception -> earlier replies delivered, then INTERNAL ends the stream; later messages are not applied; server still serves', async () => {
  const applier = new EchoApplier();
  applier.failOn = (tag) => (tag === 1 ? 'crash' : null);
  applier.delayMs = (tag) => (tag === 1 ? 20 : 0);
  await withServer(applier, {}, async (client) => {
    const { replies, error } = await streamAll(client, [
      v2WithPorts(0, ['a']),
      v2WithPorts(1, ['b']),
      v2WithPorts(2, ['c']),
    ]);
    assert.equal(
      replies.map((r) => r.formatVersion),
      [0],
    );
    assert.is(error?.code, grpc.status.INTERNAL);
    assert.match(error?.details ?? '', /boom on 1/);
    assert.not.ok(
      applier.calls.some((c) => c.tag === 2),
      'message after the failure must not be applied',
    );
    await rejects(
      unary(client, GoalState.fromPartial({ formatVersion: 1 })),
      (e: unknown) => (e as grpc.ServiceError).code === grpc.status.INTERNAL,
    );
    const again = await streamAll(client, [v2WithPorts(5, ['z'])]);
    assert.is(again.error, null);
    assert.is(again.replies[0]?.formatVersion, 5);
  });
});

test('undecodable request -> INTERNAL from grpc-js, server keeps serving; applier throwing synchronously -> INTERNAL', async () => {
  const applier = new EchoApplier();
  await withServer(applier, {}, async (_client, port) => {
    const rawDef = {
      push: {
        path: '/alcor.schema.GoalStateProvisioner/PushNetworkResourceStates',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer): Buffer => b,
        requestDeserialize: (b: Buffer): Buffer => b,
        responseSerialize: (b: Buffer): Buffer => b,
        responseDeserialize: (b: Buffer): Buffer => b,
      },
    };
    const RawClient = grpc.makeGenericClientConstructor(rawDef, 'raw');
    const raw = new RawClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = (bytes: Buffer): Promise<grpc.ServiceError | null> =>
      new Promise((resolve) => {
        (raw as unknown as { push: (b: Buffer, cb: (e: grpc.ServiceError | null) => void) => void }).push(bytes, (e) =>
          resolve(e),
        );
      });
    try {
      const bad = await call(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
      assert.is(bad?.code, grpc.status.INTERNAL);
      assert.is(applier.calls.length, 0);
      assert.is(await call(Buffer.alloc(0)), null); // an empty GoalState is valid
    } finally {
      raw.close();
    }
  });
  const syncThrow: GoalStateApplier = {
    applyV1: () => {
      throw new Error('sync boom');
    },
    applyV2: () => {
      throw new Error('sync boom');
    },
  };
  await withServer(syncThrow, {}, async (client) => {
    await rejects(unary(client, GoalState.fromPartial({})), (e: unknown) =>
      /sync boom/.test((e as grpc.ServiceError).details),
    );
  });
});

test('RequestGoalStates and PushGoalstates -> UNIMPLEMENTED with a message', async () => {
  await withServer(new EchoApplier(), {}, async (client) => {
    const e1 = await new Promise<grpc.ServiceError | null>((r) =>
      client.requestGoalStates(HostRequest.fromPartial({}), (e) => r(e)),
    );
    assert.is(e1?.code, grpc.status.UNIMPLEMENTED);
    assert.match(e1?.details ?? '', /NCM/);
    const e2 = await new Promise<grpc.ServiceError | null>((r) =>
      client.pushGoalstates(NeighborRulesRequest.fromPartial({}), (e) => r(e)),
    );
    assert.is(e2?.code, grpc.status.UNIMPLEMENTED);
  });
});

const opensslAvailable = spawnSync('openssl', ['version']).status === 0;

function makeCert(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
  return { cert, key };
}

if (opensslAvailable) {
  test('TLS and mutual TLS with self-signed certificates', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-grpc-tls-'));
    try {
      const srv = makeCert(dir, 'server');
      const cli = makeCert(dir, 'client');
      const serverCa = fs.readFileSync(srv.cert);
      const gs = GoalState.fromPartial({ formatVersion: 3, portStates: [{ configuration: { id: 'tls-port' } }] });

      await withServer(
        new EchoApplier(),
        { tls: { certFile: srv.cert, keyFile: srv.key } },
        async (client) => {
          const reply = await unary(client, gs);
          assert.is(reply.operationStatuses[0]?.resourceId, 'tls-port');
        },
        grpc.credentials.createSsl(serverCa),
      );

      const mtls: GoalStateServerOptions = {
        tls: { certFile: srv.cert, keyFile: srv.key, caFile: cli.cert, requireClientCert: true },
      };
      await withServer(
        new EchoApplier(),
        mtls,
        async (client) => {
          const reply = await unary(client, gs);
          assert.is(reply.formatVersion, 3);
        },
        grpc.credentials.createSsl(serverCa, fs.readFileSync(cli.key), fs.readFileSync(cli.cert)),
      );

      await withServer(
        new EchoApplier(),
        mtls,
        async (client) => {
          await rejects(unary(client, gs), (e: unknown) => (e as grpc.ServiceError).code === grpc.status.UNAVAILABLE);
        },
        grpc.credentials.createSsl(serverCa),
      );

      await withServer(new EchoApplier(), { tls: { certFile: srv.cert, keyFile: srv.key } }, async (client) => {
        await rejects(unary(client, gs), (e: unknown) => (e as grpc.ServiceError).code === grpc.status.UNAVAILABLE);
      }); // plaintext client against a TLS server
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
} else {
  console.log('SKIP TLS test: openssl not on PATH (apt-get install openssl)');
}

test('bad TLS file -> clear error with code', async () => {
  const server = new GoalStateServer(new EchoApplier(), {
    address: '127.0.0.1:0',
    tls: { certFile: '/nonexistent.crt', keyFile: '/nonexistent.key' },
  });
  await rejects(server.start(), (e: unknown) => (e as { code?: string }).code === 'GRPC_TLS_FILE');
});

test.run();
