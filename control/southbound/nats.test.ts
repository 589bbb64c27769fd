// The NATS southbound between the control service's NatsLink and the agent's NatsSouthbound, through real
// nats-server processes (the agent's applier here records what it gets instead of programming OVS; the
// OVS side is agent/nats-southbound.e2e.test.ts). Checked: a 20 MB goal state (20x the server's
// max_payload) arrives intact and is answered; in a 3-node cluster with one node SIGKILLed during a push,
// every message JetStream acknowledged reaches the agent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { GoalStateOperationReply } from '../../proto';
import { hostSubject, sha256Hex } from '../../core/southbound/nats-wire';
import { NatsSouthbound } from '../../agent/nats/consumer';
import type { GoalStateApplier } from '../../agent/grpc/server';
import { requirePrereqs } from '../../test/prereq';
import { NatsCluster, NatsServer } from '../../test/nats';
import { createLogger } from '../log';
import { ControlMetrics } from '../metrics';
import { ALL_SUCCEEDED, NatsLink } from './nats-link';

const HOST = '192.0.2.81';
const quiet = (): void => undefined;

function recordingApplier(got: Buffer[]): GoalStateApplier {
  const reply = async (bytes: Buffer): Promise<GoalStateOperationReply> => {
    got.push(bytes);
    return GoalStateOperationReply.fromPartial({ formatVersion: got.length });
  };
  return {
    applyV1: () => Promise.reject(new Error('v1 not expected')),
    applyV2: (req) => reply(req.kind === 'raw' ? req.bytes : Buffer.alloc(0)),
  };
}

async function until(what: string, fn: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

if (requirePrereqs(['nats'])) {
  test('a 20 MB goal state is chunked below max_payload, reassembled intact and answered', async () => {
    const server = await NatsServer.start();
    const link = new NatsLink({ servers: [server.url] }, createLogger('error', 'test', quiet), new ControlMetrics());
    const got: Buffer[] = [];
    const agent = new NatsSouthbound({ servers: [server.url], hostIp: HOST }, recordingApplier(got), quiet);
    try {
      link.start();
      assert.ok(await link.waitUp(10_000), 'link up');
      agent.start();
      const big = randomBytes(20 * 1024 * 1024);
      assert.ok(big.length > 10 * link.maxPayload());
      const reply = await link.send(hostSubject(HOST), big, 30_000);
      assert.is(reply, ALL_SUCCEEDED, 'answered: everything in it applied');
      assert.is(got.length, 1);
      assert.is(sha256Hex(got[0] as Buffer), sha256Hex(big));
    } finally {
      await agent.stop();
      await link.close();
      await server.stop();
    }
  });

  /** Sends refused while the cluster recovers from the kill, at most (with a pause after each). */
  const MAX_FAILED_SENDS = 600;
  const RETRY_PAUSE_MS = 50;

  test('3-node cluster, one node SIGKILLed during a push: every acknowledged message arrives', async () => {
    const cluster = await NatsCluster.start(3);
    const servers = cluster.urls.split(',');
    const link = new NatsLink({ servers }, createLogger('error', 'test', quiet), new ControlMetrics());
    const got: Buffer[] = [];
    const agent = new NatsSouthbound({ servers, hostIp: HOST }, recordingApplier(got), quiet);
    try {
      link.start();
      assert.ok(await link.waitUp(20_000), 'link up');
      agent.start();
      const acked: string[] = [];
      let failed = 0;
      // Until 60 are acknowledged: while the survivors elect a new stream leader, sends fail (the
      // control service would push those again); how long that takes is the cluster's business.
      for (let i = 0; acked.length < 60 && failed < MAX_FAILED_SENDS; i++) {
        if (i === 20) void (cluster.nodes[0] as NatsServer).kill();
        const body = Buffer.from(`message-${i}`);
        try {
          await link.send(hostSubject(HOST), body, null);
          acked.push(body.toString());
        } catch {
          failed++; // not acknowledged: nothing is promised for it
          await link.waitUp(10_000);
          await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
        }
      }
      assert.is(acked.length, 60, `acknowledged ${acked.length}, failed ${failed}: the survivors never took over`);
      await until('every acknowledged message at the agent', () => {
        const seen = new Set(got.map((b) => b.toString()));
        return acked.every((a) => seen.has(a));
      });
    } finally {
      await agent.stop();
      await link.close();
      await cluster.stop();
    }
  });

  test.run();
}
