// Issue 13, "the control service trusts what it forwards" and "rejected input looks accepted": the
// northbound refuses what an agent would refuse whole (undecodable, invalid resources, over the
// agents' size limit) with a gRPC error and stores nothing; an agent's refusal reaches the caller
// and /v1/hosts/<ip>/result and is not retried forever.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  GoalStateOperationReply,
  GoalStateProvisionerService,
  GoalStateV2,
  NeighborState,
  OperationStatus,
} from '../proto';
import type { ControlConfig } from './config';
import { silentLogger } from './log';
import { parseGoalStateV2 } from './resources';
import { ControlHandle, startControl } from './server';
import { embeddedConfig, hostIp, httpJson, makeGoalState, pushGoalStates } from './testing/fixtures';

async function withControl(
  over: Partial<ControlConfig>,
  agents: ReadonlyArray<{ hostIp: string; agent: string }>,
  fn: (ctl: ControlHandle, base: string) => Promise<void>,
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-control-valid-'));
  let ctl: ControlHandle | null = null;
  try {
    ctl = await startControl(embeddedConfig(dir, over), silentLogger);
    const base = `http://127.0.0.1:${ctl.httpPort}`;
    if (agents.length > 0) assert.is((await httpJson(base, 'POST', '/v1/hosts', agents)).status, 200);
    await fn(ctl, base);
  } finally {
    await ctl?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The gRPC status a push ends with (OK when it was answered). */
async function pushStatus(ctl: ControlHandle, msg: Uint8Array): Promise<{ code: grpc.status; details: string }> {
  try {
    await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [msg]);
    return { code: grpc.status.OK, details: '' };
  } catch (err: unknown) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
}

function encode(gs: GoalStateV2): Uint8Array {
  return GoalStateV2.encode(gs).finish();
}

test('issue 13: undecodable bytes on the northbound get INVALID_ARGUMENT, not OK with an empty reply', async () => {
  await withControl({}, [], async (ctl) => {
    for (const bytes of [
      [0x0a, 0x05, 0x01], // a length-delimited field cut short
      [0x08], // a tag without its value
      [0x0f, 0x01], // wire type 7
    ]) {
      const st = await pushStatus(ctl, Uint8Array.from(bytes));
      assert.is(grpc.status[st.code], 'INVALID_ARGUMENT', `${bytes.join(',')}: ${st.details}`);
    }
    assert.is(ctl.store.cache.resources.size, 0);
  });
});

test('issue 13: a neighbor with truncated inner bytes is refused whole and nothing is stored', async () => {
  await withControl({}, [], async (ctl) => {
    const gs = makeGoalState({ hosts: [hostIp(1)], portsPerHost: 2, sharedNeighbors: 2 });
    // Re-encode with neighbor nbr-a-1's state cut short: its top level still splits, its inside does not decode.
    const good = NeighborState.encode(gs.neighborStates['nbr-a-1'] as NeighborState).finish();
    const parsed = parseGoalStateV2(encode(gs));
    assert.ok(parsed.resources.has('neighbor/nbr-a-1'));
    const truncated = good.subarray(0, good.length - 3);
    const raw = Buffer.from(encode(gs));
    const at = raw.indexOf(Buffer.from(good));
    assert.ok(at > 0);
    // Same length so the outer framing stays intact: the last 3 bytes of the state become an unfinished field.
    const mutated = Buffer.from(raw);
    Buffer.from(truncated).copy(mutated, at);
    mutated.set([0x12, 0x05, 0x00], at + truncated.length); // field 2, length 5, only 1 byte left
    assert.ok(parseGoalStateV2(mutated).resources.has('neighbor/nbr-a-1'), 'the splitter still takes it');
    const st = await pushStatus(ctl, mutated);
    assert.is(grpc.status[st.code], 'INVALID_ARGUMENT', st.details);
    assert.match(st.details, 'BAD_GOAL_STATE');
    assert.is(ctl.store.cache.resources.size, 0, 'nothing stored');
  });
});

test('issue 13: a resource no agent would accept (broadcast neighbor MAC) is refused up front with its reason', async () => {
  await withControl({}, [], async (ctl) => {
    const gs = makeGoalState({ hosts: [hostIp(1)], portsPerHost: 1, sharedNeighbors: 2 });
    const n = gs.neighborStates['nbr-a-0'] as NeighborState;
    const c = n.configuration;
    assert.ok(c);
    gs.neighborStates['nbr-a-0'] = { ...n, configuration: { ...c, macAddress: 'ff:ff:ff:ff:ff:ff' } };
    const st = await pushStatus(ctl, encode(gs));
    assert.is(grpc.status[st.code], 'INVALID_ARGUMENT', st.details);
    assert.match(st.details, "BAD_RESOURCE: neighbor 'nbr-a-0': mac_address ff:ff:ff:ff:ff:ff is the broadcast MAC");
    assert.is(ctl.store.cache.resources.size, 0, 'nothing stored');
  });
});

test("issue 13: the agents' size limit is enforced on the northbound, for the message and per host", async () => {
  const limit = 64 * 1024;
  await withControl({ maxMessageBytes: limit }, [], async (ctl) => {
    // The whole message over the limit: refused by the gRPC layer itself.
    const big = makeGoalState({ hosts: [hostIp(1)], portsPerHost: 1200, tag: 'big' });
    assert.ok(encode(big).length > limit);
    const st = await pushStatus(ctl, encode(big));
    assert.is(grpc.status[st.code], 'RESOURCE_EXHAUSTED', st.details);
    assert.is(ctl.store.cache.resources.size, 0);

    // Each message fits, but together they would make one host's message too big: the one that
    // would cross the limit is refused naming the host, and the host keeps what it had.
    let accepted = 0;
    let refused: { code: grpc.status; details: string } | undefined;
    for (let round = 0; round < 20 && refused === undefined; round++) {
      const gs = makeGoalState({ hosts: [hostIp(1)], portsPerHost: 150, tag: `r${round}` });
      assert.ok(encode(gs).length < limit);
      const s = await pushStatus(ctl, encode(gs));
      if (s.code === grpc.status.OK) accepted++;
      else refused = s;
    }
    assert.ok(refused, 'a round is refused');
    assert.ok(accepted >= 1);
    assert.is(grpc.status[refused.code], 'RESOURCE_EXHAUSTED', refused.details);
    assert.match(refused.details, `host ${hostIp(1)}'s goal state would be over ${limit} bytes`);
    assert.is(ctl.store.cache.hosts.get(hostIp(1))?.keys.size, accepted * 151, 'the refused round stored nothing');
  });
});

/** An agent that refuses every message with a gRPC error while `refusing`, else answers SUCCESS. */
async function refusingAgent(): Promise<{
  address: string;
  received: () => number;
  accept: () => void;
  stop: () => void;
}> {
  let refusing = true;
  let received = 0;
  const server = new grpc.Server();
  const def = {
    pushGoalStatesStream: {
      ...GoalStateProvisionerService.pushGoalStatesStream,
      requestDeserialize: (b: Buffer): Buffer => b,
    },
  } as unknown as grpc.ServiceDefinition;
  server.addService(def, {
    pushGoalStatesStream: (call: grpc.ServerDuplexStream<Buffer, GoalStateOperationReply>) => {
      call.on('data', (msg: Buffer) => {
        received++;
        if (refusing) {
          call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'test agent: undecodable goal state' });
          return;
        }
        const gs = parseGoalStateV2(msg);
        call.write({
          formatVersion: 0,
          messageTotalOperationTime: 0,
          operationStatuses: [...gs.resources.values()].map((r) => ({
            resourceId: r.id,
            resourceType: r.type,
            operationType: r.operation,
            operationStatus: OperationStatus.SUCCESS,
            dataplaneProgrammingTime: 0,
            networkConfigurationTime: 0,
            stateElapseTime: 0,
          })),
        });
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    received: () => received,
    accept: () => (refusing = false),
    stop: () => server.forceShutdown(),
  };
}

test("issue 13: an agent's refusal reaches the caller and /v1/hosts/<ip>/result, and is not retried forever", async () => {
  const agent = await refusingAgent();
  const host = hostIp(7);
  try {
    await withControl({}, [{ hostIp: host, agent: agent.address }], async (ctl, base) => {
      const gs = makeGoalState({ hosts: [host], portsPerHost: 2, tag: 'x' });
      const [reply] = await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [encode(gs)]);
      assert.ok(reply);
      assert.is(reply.operationStatuses.length, 3);
      for (const s of reply.operationStatuses) {
        assert.is(OperationStatus[s.operationStatus], 'INVALID_ARG', 'refused, not PENDING nor SUCCESS');
      }
      const res = await httpJson(base, 'GET', `/v1/hosts/${host}/result`);
      assert.is(res.status, 200);
      const r = res.json as { ok: boolean; error: string; statuses: Array<{ operationStatus: number }> };
      assert.is(r.ok, false);
      assert.match(r.error, 'refused');
      assert.match(r.error, 'INVALID_ARGUMENT');
      // The host is not stuck: its next push is sent and answered (no PENDING), and nothing refused
      // was sent again in between (one initial full push + two deltas).
      agent.accept();
      const [next] = await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [
        encode(makeGoalState({ hosts: [host], portsPerHost: 1, tag: 'y' })),
      ]);
      assert.ok(next);
      assert.ok(next.operationStatuses.length > 0);
      for (const s of next.operationStatuses) assert.is(OperationStatus[s.operationStatus], 'SUCCESS');
      assert.is(agent.received(), 3, 'refused messages were not retried');
      const view = (await httpJson(base, 'GET', `/v1/hosts/${host}`)).json as { stream: string };
      assert.is(view.stream, 'connected');
    });
  } finally {
    agent.stop();
  }
});

test.run();
