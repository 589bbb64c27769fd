// The NATS harness itself: real nats-server processes with JetStream, one node and a 3-node cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { requirePrereqs } from './prereq';
import { NatsCluster, NatsServer } from './nats';

if (requirePrereqs(['nats'])) {
  test('single node: JetStream keeps a message across a SIGKILL and restart', async () => {
    const s = await NatsServer.start();
    try {
      let nc = await connect({ servers: s.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'T', subjects: ['t.>'] });
      const ack = await jetstream(nc).publish('t.a', 'hello');
      assert.is(ack.seq, 1);
      await nc.close();
      await s.restart();
      nc = await connect({ servers: s.url });
      const m = await (await jetstreamManager(nc)).streams.getMessage('T', { seq: 1 });
      assert.is(m?.string(), 'hello');
      await nc.close();
    } finally {
      await s.stop();
    }
  });

  test('3-node cluster: an R3 stream keeps acknowledged messages when a node is SIGKILLed', async () => {
    const c = await NatsCluster.start(3);
    try {
      const nc = await connect({ servers: c.urls.split(',') });
      // Right after start the meta leader may still change hands, and a request (the manager's account-info
      // check, then the stream's creation) can go unanswered: retry both until JetStream answers.
      let jsm: JetStreamManager | undefined;
      for (let attempt = 1; jsm === undefined; attempt++) {
        try {
          const m = await jetstreamManager(nc, { timeout: 10000 });
          await m.streams.add({ name: 'T', subjects: ['t.>'], num_replicas: 3 });
          jsm = m;
        } catch (e: unknown) {
          if (attempt >= 10 || !/leader|timeout|unavailable|no responders/i.test(String(e))) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      const js = jetstream(nc, { timeout: 10000 });
      for (let i = 0; i < 10; i++) await js.publish('t.a', `m${i}`);
      await (c.nodes[0] as NatsServer).kill();
      let seen = 0;
      for (;;) {
        try {
          seen = (await (jsm as JetStreamManager).streams.info('T')).state.messages;
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.is(seen, 10);
      await nc.close();
    } finally {
      await c.stop();
    }
  });

  test.run();
}
