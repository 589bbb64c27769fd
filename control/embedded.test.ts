// Embedded mode end to end: real gRPC northbound, real (test) agent gRPC servers, local file store.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GoalStateV2, OperationStatus, OperationType, RequestType, EtherType, Protocol } from '../proto';
import { silentLogger } from './log';
import { ControlHandle, startControl } from './server';
import {
  embeddedConfig as config,
  fixtureNeighborIp,
  fixturePortIp,
  hostIp,
  httpJson,
  makeGoalState,
  pushGoalStates,
  requestGoalStates,
} from './testing/fixtures';
import { TestAgent } from './testing/test-agent';

async function withSetup(
  n: number,
  fn: (ctl: ControlHandle, agents: TestAgent[], dir: string) => Promise<void>,
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-control-'));
  const agents: TestAgent[] = [];
  let ctl: ControlHandle | null = null;
  try {
    for (let i = 0; i < n; i++) agents.push(await TestAgent.start(hostIp(i + 1)));
    ctl = await startControl(config(dir), silentLogger);
    const base = `http://127.0.0.1:${ctl.httpPort}`;
    const reg = await httpJson(
      base,
      'POST',
      '/v1/hosts',
      agents.map((a) => ({ hostIp: a.hostIp, agent: a.address })),
    );
    assert.is(reg.status, 200);
    await fn(ctl, agents, dir);
  } finally {
    await ctl?.stop();
    for (const a of agents) await a.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("a goal state is split per host, pushed, and answered with the agents' statuses", async () => {
  await withSetup(3, async (ctl, agents) => {
    const gs = makeGoalState({ hosts: agents.map((a) => a.hostIp), portsPerHost: 4, sharedNeighbors: 2 });
    const [reply] = await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [GoalStateV2.encode(gs).finish()]);
    assert.ok(reply);
    // per host: 1 subnet + 2 neighbors + 4 ports = 7 statuses
    assert.is(reply.operationStatuses.length, 21);
    assert.ok(reply.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS));
    for (const a of agents) {
      assert.is(a.applied.size, 7);
      assert.ok(a.applied.has('neighbor/nbr-a-0'));
      assert.ok([...a.applied.keys()].filter((k) => k.startsWith('port/')).every((k) => k.includes(a.hostIp)));
    }
    // a shared neighbor is stored once
    assert.is(ctl.store.cache.resources.size, 1 + 2 + 12);
    const hosts = await httpJson(`http://127.0.0.1:${ctl.httpPort}`, 'GET', '/v1/hosts');
    const list = (hosts.json as { hosts: Array<{ hostIp: string; resources: number; lastResult: unknown }> }).hosts;
    assert.is(list.length, 3);
    assert.ok(list.every((h) => h.resources === 7 && h.lastResult !== null));
  });
});

test('DELETE removes a resource from the host and from the store once unreferenced', async () => {
  await withSetup(2, async (ctl, agents) => {
    const hosts = agents.map((a) => a.hostIp);
    const addr = `127.0.0.1:${ctl.grpcPort}`;
    await pushGoalStates(addr, [
      GoalStateV2.encode(makeGoalState({ hosts, portsPerHost: 2, sharedNeighbors: 1 })).finish(),
    ]);
    const del = makeGoalState({
      hosts: [hosts[0] as string],
      portsPerHost: 2,
      sharedNeighbors: 0,
      operation: OperationType.DELETE,
    });
    delete del.subnetStates['subnet-a'];
    const hr = del.hostResources[hosts[0] as string];
    if (hr) hr.resources = hr.resources.filter((r) => r.id.startsWith('port-'));
    const [reply] = await pushGoalStates(addr, [GoalStateV2.encode(del).finish()]);
    assert.is(reply?.operationStatuses.length, 2);
    assert.ok(reply?.operationStatuses.every((s) => s.operationType === OperationType.DELETE));
    assert.is((agents[0] as TestAgent).applied.size, 2); // subnet + neighbor left
    assert.is((agents[1] as TestAgent).applied.size, 4);
    assert.not.ok(ctl.store.cache.resources.has(`port/port-a-${hosts[0]}-0`));
  });
});

test('several messages on one stream get one reply each, in order; the HTTP JSON path works too', async () => {
  await withSetup(2, async (ctl, agents) => {
    const hosts = agents.map((a) => a.hostIp);
    const msgs = [1, 2, 3].map((i) =>
      GoalStateV2.encode(makeGoalState({ hosts, portsPerHost: i, tag: `r${i}` })).finish(),
    );
    const replies = await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, msgs);
    assert.equal(
      replies.map((r) => r.operationStatuses.length),
      [4, 6, 8],
    );
    const json = GoalStateV2.toJSON(makeGoalState({ hosts, portsPerHost: 1, tag: 'j' }));
    const res = await httpJson(`http://127.0.0.1:${ctl.httpPort}`, 'POST', '/v1/goalstates', json);
    assert.is(res.status, 200);
    assert.is((res.json as { operationStatuses: unknown[] }).operationStatuses.length, 4);
    const bad = await httpJson(`http://127.0.0.1:${ctl.httpPort}`, 'POST', '/v1/goalstates', 'nope');
    assert.is(bad.status, 400);
    const metrics = await httpJson(`http://127.0.0.1:${ctl.httpPort}`, 'GET', '/metrics');
    assert.match(String(metrics.json), /alcor_control_hosts_owned 2/);
  });
});

test('a restarted agent gets its full state again (stream reconnect, and AGENT_RESTARTED)', async () => {
  await withSetup(2, async (ctl, agents) => {
    const hosts = agents.map((a) => a.hostIp);
    await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [
      GoalStateV2.encode(makeGoalState({ hosts, portsPerHost: 3 })).finish(),
    ]);
    const a = agents[0] as TestAgent;
    assert.is(a.applied.size, 4);
    await a.restart(50);
    assert.is(a.applied.size, 0);
    await a.waitFor(() => a.applied.size === 4, 5000, 'full re-push after restart');
    // AGENT_RESTARTED asks for it explicitly
    const before = a.messages.length;
    const r = await requestGoalStates(
      `127.0.0.1:${ctl.grpcPort}`,
      {
        formatVersion: 1,
        stateRequests: [
          {
            requestType: RequestType.AGENT_RESTARTED,
            requestId: 'r1',
            tunnelId: 0,
            sourceIp: '',
            sourcePort: 0,
            destinationIp: '',
            destinationPort: 0,
            ethertype: EtherType.IPV4,
            protocol: Protocol.TCP,
          },
        ],
      },
      a.hostIp,
    );
    assert.is(r.operationStatuses[0]?.operationStatus, OperationStatus.SUCCESS);
    await a.waitFor(
      () => a.messages.length > before && (a.messages[a.messages.length - 1]?.keys.length ?? 0) === 4,
      5000,
      'AGENT_RESTARTED re-push',
    );
  });
});

test('on-demand: a neighbor is found by IP and pushed to the asking host', async () => {
  await withSetup(2, async (ctl, agents) => {
    const [a, b] = agents as [TestAgent, TestAgent];
    const gs = makeGoalState({ hosts: [a.hostIp], portsPerHost: 1, sharedNeighbors: 3 });
    await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [GoalStateV2.encode(gs).finish()]);
    const ask = (ip: string) =>
      requestGoalStates(
        `127.0.0.1:${ctl.grpcPort}`,
        {
          formatVersion: 1,
          stateRequests: [
            {
              requestType: RequestType.ON_DEMAND,
              requestId: ip,
              tunnelId: 21,
              sourceIp: fixturePortIp(0),
              sourcePort: 0,
              destinationIp: ip,
              destinationPort: 0,
              ethertype: EtherType.IPV4,
              protocol: Protocol.ARP,
            },
          ],
        },
        b.hostIp,
      );
    const ok = await ask(fixtureNeighborIp(2));
    assert.is(ok.operationStatuses[0]?.operationStatus, OperationStatus.SUCCESS);
    await b.waitFor(() => b.applied.has('neighbor/nbr-a-2'), 3000, 'on-demand neighbor');
    const miss = await ask('10.99.99.99');
    assert.is(miss.operationStatuses[0]?.operationStatus, OperationStatus.FAILURE);
  });
});

test('desired state survives a restart of the embedded control plane', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-control-'));
  const a = await TestAgent.start(hostIp(9));
  try {
    let ctl = await startControl(
      config(dir, { ackMode: 'durable', agents: new Map([[a.hostIp, a.address]]) }),
      silentLogger,
    );
    const [reply] = await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [
      GoalStateV2.encode(makeGoalState({ hosts: [a.hostIp], portsPerHost: 5 })).finish(),
    ]);
    assert.is(reply?.formatVersion, 100);
    assert.is(reply?.operationStatuses.length, 6);
    await a.waitFor(() => a.applied.size === 6, 3000, 'initial push');
    await ctl.stop();
    await a.restart();
    ctl = await startControl(config(dir, { agents: new Map() }), silentLogger);
    try {
      await a.waitFor(() => a.applied.size === 6, 5000, 'state from the file store');
    } finally {
      await ctl.stop();
    }
  } finally {
    await a.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a merged message the agent refuses is sent again one change at a time: only the bad goal state fails', async () => {
  await withSetup(1, async (ctl, [a]) => {
    const addr = `127.0.0.1:${ctl.grpcPort}`;
    const hosts = [(a as TestAgent).hostIp];
    const gsOf = (tag: string): Uint8Array =>
      GoalStateV2.encode(makeGoalState({ hosts, portsPerHost: 1, sharedNeighbors: 1, tag })).finish();
    await pushGoalStates(addr, [gsOf('first')]);
    (a as TestAgent).replyDelayMs = 200;
    // The agent will never take a message holding subnet-bad; what queues up behind a message in flight is merged.
    (a as TestAgent).refuse = (keys) => (keys.includes('subnet/subnet-bad') ? 'subnet-bad: unsupported' : null);
    const tags = ['ok0', 'ok1', 'bad', 'ok2', 'ok3'];
    const replies = await Promise.all(tags.map(async (t) => (await pushGoalStates(addr, [gsOf(t)]))[0]));
    const ok = Object.fromEntries(
      replies.map((r, i) => [
        tags[i],
        r !== undefined && r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
      ]),
    );
    assert.equal(ok, { ok0: true, ok1: true, bad: false, ok2: true, ok3: true });
    assert.ok(['ok0', 'ok1', 'ok2', 'ok3'].every((t) => (a as TestAgent).applied.has(`subnet/subnet-${t}`)));
    assert.not.ok((a as TestAgent).applied.has('subnet/subnet-bad'));
  });
});

test.run();
