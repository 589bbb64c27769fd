// How a VPC-wide message's acks are counted (nats-acks.ts), against a real nats-server and the agent's real
// NATS consumer: every host acked settles every host from one count; a host whose apply failed answers on
// its reply subject and still gets its statuses; a host that never answers does not hold the others back;
// an agent that acks the same message twice is counted once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { GoalStateOperationReply, GoalStateV2, OperationStatus } from '../../proto';
import { NatsSouthbound } from '../../agent/nats/consumer';
import type { GoalStateApplier } from '../../agent/grpc/server';
import { ackMsgId, ackSubject, durableName, HOSTS_STREAM, STREAM, vpcSubject } from '../../core/southbound/nats-wire';
import { requirePrereqs } from '../../test/prereq';
import { NatsServer } from '../../test/nats';
import { hostIp, makeGoalState } from '../testing/fixtures';
import { successStatus } from '../testing/test-agent';
import { parseGoalStateV2 } from '../resources';
import { createLogger } from '../log';
import { ControlMetrics } from '../metrics';
import { ackCount, firstAckPollMs, nextAckPollMs, ACK_POLL_MAX_MS, ACK_POLL_MS, FIRST_POLL_MAX_MS } from './nats-acks';
import { ALL_SUCCEEDED, NatsLink } from './nats-link';

const VPC = 'vpc-acks';

test('the next count comes when the rest should be in, never later than a quarter of the wait so far', () => {
  assert.is(nextAckPollMs(0, 0, 1000, 0), ACK_POLL_MS);
  assert.is(nextAckPollMs(200, 0, 1000, 0), 50);
  assert.is(nextAckPollMs(10_000, 0, 1000, 0), ACK_POLL_MAX_MS);
  // 900 of 1000 in, 10 a millisecond: the rest in ~10 ms
  assert.is(nextAckPollMs(200, 900, 1000, 10), ACK_POLL_MS);
  // 100 of 1000 in, 1 a millisecond: 900 ms to go, but not later than 50 ms from now
  assert.is(nextAckPollMs(200, 100, 1000, 1), 50);
  assert.is(firstAckPollMs(1000, null), ACK_POLL_MS);
  assert.is(firstAckPollMs(1000, { total: 1000, ms: 80, counts: 2 }), 64);
  assert.is(
    firstAckPollMs(1000, { total: 1000, ms: 80, counts: 1 }),
    48,
    'all in at the first count: maybe long before',
  );
  assert.is(
    firstAckPollMs(1000, { total: 10, ms: 80, counts: 2 }),
    ACK_POLL_MS,
    'not learnt from a much smaller fleet',
  );
  assert.is(firstAckPollMs(1000, { total: 1000, ms: 5000, counts: 2 }), FIRST_POLL_MAX_MS);
});

/** Applies everything; with `fail`, reports every resource failed (so the agent replies instead of acking). */
function applier(fail: boolean): GoalStateApplier {
  return {
    applyV1: () => Promise.reject(new Error('v1 not expected')),
    applyV2: async (req) => {
      const gs = parseGoalStateV2(req.kind === 'raw' ? req.bytes : GoalStateV2.encode(req.message).finish());
      const statuses = [...gs.resources.values()].map(successStatus);
      if (fail) for (const s of statuses) s.operationStatus = OperationStatus.FAILURE;
      return GoalStateOperationReply.fromPartial({ formatVersion: 102, operationStatuses: statuses });
    },
  };
}

/** Counts each agent's applies in `applied[i]`. */
function counted(a: GoalStateApplier, applied: number[] | undefined, i: number): GoalStateApplier {
  if (applied === undefined) return a;
  applied[i] = 0;
  return {
    applyV1: (req, ctx) => a.applyV1(req, ctx),
    applyV2: (req, ctx) => {
      applied[i] = (applied[i] as number) + 1;
      return a.applyV2(req, ctx);
    },
  };
}

async function withAgents(
  url: string,
  fails: readonly boolean[],
  fn: (hosts: string[]) => Promise<void>,
  applied?: number[],
): Promise<void> {
  let consuming = 0;
  const log = (_l: string, msg: string): void => {
    if (msg === 'nats southbound consuming') consuming++;
  };
  const hosts = fails.map((_, i) => hostIp(i));
  const agents = hosts.map(
    (h, i) =>
      new NatsSouthbound(
        { servers: [url], hostIp: h, vpcs: [VPC], hostSubject: false, resumeVpcs: false },
        counted(applier(fails[i] as boolean), applied, i),
        log,
      ),
  );
  for (const a of agents) a.start();
  try {
    while (consuming < agents.length) await new Promise((r) => setTimeout(r, 20));
    await fn(hosts);
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
  }
}

const change = (tag: string): Buffer =>
  Buffer.from(GoalStateV2.encode(makeGoalState({ hosts: [], portsPerHost: 0, sharedNeighbors: 1, tag })).finish());

if (requirePrereqs(['nats'])) {
  test('acks of a VPC-wide message: counted, replied, missing and repeated', async () => {
    const server = await NatsServer.start();
    const link = new NatsLink({ servers: [server.url] }, createLogger('error', 'test'), new ControlMetrics());
    link.start();
    try {
      assert.ok(await link.waitUp(20_000), 'link up');
      // Every host applied everything: each settles as all-succeeded, from the count alone.
      await withAgents(server.url, [false, false, false], async (hosts) => {
        const replies = link.sendShared(vpcSubject(VPC), change('all'), hosts, 60_000);
        for (const h of hosts) assert.is(await replies.get(h), ALL_SUCCEEDED, h);
      });
      // Host 1 failed (it replies with its statuses), host 3 has no agent: hosts 0 and 2 are settled
      // while host 3 still waits; host 3 fails only when the link goes.
      await withAgents(server.url, [false, true, false], async (hosts) => {
        const all = [...hosts, hostIp(3)];
        const replies = link.sendShared(vpcSubject(VPC), change('some'), all, 600_000);
        let missingSettled = false;
        replies.get(hostIp(3))?.then(
          () => (missingSettled = true),
          () => (missingSettled = true),
        );
        assert.is(await replies.get(hosts[0] as string), ALL_SUCCEEDED);
        assert.is(await replies.get(hosts[2] as string), ALL_SUCCEEDED);
        const failed = (await replies.get(hosts[1] as string)) as GoalStateOperationReply;
        assert.ok(failed.operationStatuses.length > 0);
        assert.ok(failed.operationStatuses.every((s) => s.operationStatus === OperationStatus.FAILURE));
        assert.not.ok(missingSettled, 'the host without an agent is still waited for');
        await link.close();
        await replies.get(hostIp(3))?.then(
          () => assert.unreachable('no agent, no reply'),
          (e: Error) => assert.match(e.message, /closed/),
        );
      });
      // A host that applies a message twice (a redelivery) is counted once.
      const nc = await connect({ servers: [server.url] });
      try {
        // As the agent publishes them, but waiting for JetStream's answer so the count below is final.
        const js = jetstream(nc);
        const first = await js.publish(ackSubject('m-twice'), 'x', { msgID: ackMsgId('m-twice', hostIp(0)) });
        const again = await js.publish(ackSubject('m-twice'), 'x', { msgID: ackMsgId('m-twice', hostIp(0)) });
        await js.publish(ackSubject('m-twice'), 'y', { msgID: ackMsgId('m-twice', hostIp(1)) });
        assert.not.ok(first.duplicate);
        assert.ok(again.duplicate);
        assert.is(await ackCount(nc, ackSubject('m-twice')), 2);
      } finally {
        await nc.close();
      }
    } finally {
      await link.close();
      await server.stop();
    }
  });

  test('host lists by reference: fetched once per list, other consumers skip; a lost list still reaches its hosts', async () => {
    const server = await NatsServer.start();
    const link = new NatsLink(
      { servers: [server.url], inlineHostsMax: 0 },
      createLogger('error', 'test'),
      new ControlMetrics(),
    );
    link.start();
    const nc = await connect({ servers: [server.url] });
    try {
      assert.ok(await link.waitUp(20_000), 'link up');
      const jsm = await jetstreamManager(nc);
      const applied: number[] = [];
      await withAgents(
        server.url,
        [false, false, false, false],
        async (hosts) => {
          const two = hosts.slice(0, 2);
          for (const tag of ['ref-1', 'ref-2']) {
            const replies = link.sendShared(vpcSubject(VPC), change(tag), two, 60_000);
            for (const h of two) assert.is(await replies.get(h), ALL_SUCCEEDED, h);
          }
          assert.is((await jsm.streams.info(HOSTS_STREAM)).state.messages, 1, 'the list stored once');
          // Hosts 2 and 3 have acked both unapplied once their consumers are empty.
          for (const h of hosts.slice(2))
            for (;;) {
              const ci = await jsm.consumers.info(STREAM, durableName(h, VPC));
              if (ci.num_pending + ci.num_ack_pending === 0) break;
              await new Promise((r) => setTimeout(r, 20));
            }
          assert.equal(applied, [2, 2, 0, 0]);
        },
        applied,
      );
      // The lists are gone (purged) and these agents never saw this one: each consumer applies the change and
      // answers on its reply subject, which settles the hosts it was for.
      await jsm.streams.purge(HOSTS_STREAM);
      await withAgents(
        server.url,
        [false, false, false],
        async (hosts) => {
          const replies = link.sendShared(vpcSubject(VPC), change('ref-lost'), hosts.slice(0, 2), 60_000);
          for (const h of hosts.slice(0, 2)) assert.is(await replies.get(h), ALL_SUCCEEDED, h);
        },
        applied,
      );
    } finally {
      await nc.close();
      await link.close();
      await server.stop();
    }
  });
}

test.run();
