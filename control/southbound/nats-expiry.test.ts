// An agent whose stream position has expired gets its full state (real nats-server, real control service).
// The stream keeps 2 messages (a tiny max_msgs); the agent goes offline (its process stays: a partition),
// three changes are published for its host, the oldest is dropped by the stream. Back online, the agent
// sees the numbering of its host's messages jump (Alcor-Seq), asks for its full state (a resync record on
// its reply subject), and the control service pushes it: the change that was dropped arrives that way.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GoalStateV2, NeighborState, NeighborType, OperationType, ResourceType } from '../../proto';
import { NatsSouthbound } from '../../agent/nats/consumer';
import { requirePrereqs } from '../../test/prereq';
import { NatsServer } from '../../test/nats';
import { embeddedConfig, hostIp, pushGoalStates } from '../testing/fixtures';
import { recordingApplier } from '../testing/test-agent';
import { createLogger } from '../log';
import { startControl, type ControlHandle } from '../server';

const HOST = hostIp(0);
const quiet = (): void => undefined;

function neighborFor(host: string, id: string): Uint8Array {
  const gs = GoalStateV2.fromPartial({ formatVersion: 102 });
  gs.neighborStates[id] = NeighborState.fromPartial({
    operationType: OperationType.CREATE,
    configuration: {
      revisionNumber: 1,
      id,
      vpcId: 'vpc-x',
      macAddress: '02:00:00:00:bb:01',
      hostIpAddress: '192.0.2.251',
      fixedIps: [{ neighborType: NeighborType.L2, subnetId: 'subnet-x', ipAddress: '10.8.0.5', tunnelId: 78 }],
    },
  });
  gs.hostResources[host] = { resources: [{ type: ResourceType.NEIGHBOR, id }] };
  return GoalStateV2.encode(gs).finish();
}

async function until(what: string, fn: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

if (requirePrereqs(['nats'])) {
  test('messages expired from the stream before the agent consumed them: it gets its full state', async () => {
    const server = await NatsServer.start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-expiry-'));
    const got: string[][] = [];
    const agent = new NatsSouthbound({ servers: [server.url], hostIp: HOST }, recordingApplier(got), quiet);
    let ctl: ControlHandle | undefined;
    try {
      ctl = await startControl(
        embeddedConfig(dir, {
          ackMode: 'durable', // the northbound does not wait for the offline agent
          nats: { servers: [server.url], maxMsgs: 2 },
          agents: new Map([[HOST, 'nats']]),
        }),
        createLogger('error', 'test', quiet),
      );
      const address = `127.0.0.1:${ctl.grpcPort}`;
      agent.start();
      await until('the first full push applied', () => got.length >= 1);
      await agent.stop(); // offline

      for (const id of ['nbr-1', 'nbr-2', 'nbr-3']) await pushGoalStates(address, [neighborFor(HOST, id)]);
      // nbr-1's message is gone from the stream (max_msgs 2), never consumed.
      const has = (key: string): boolean => got.some((keys) => keys.includes(key));
      assert.not.ok(has('neighbor/nbr-1'));

      agent.start(); // back online, same process
      await until('the agent asked for its full state and got it', () => has('neighbor/nbr-1'));
      assert.ok(agent.resyncs >= 1, 'the agent saw the gap');
      assert.ok(ctl.metrics.natsResyncs.get() >= 1, 'the control service pushed the full state for it');
      const full = got.find((keys) => keys.includes('neighbor/nbr-1')) ?? [];
      assert.ok(
        ['neighbor/nbr-2', 'neighbor/nbr-3'].every((k) => full.includes(k)),
        'a full state, not one change',
      );
    } finally {
      await agent.stop();
      await ctl?.stop();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.run();
}
