// NATS with TLS and credentials, on a real nats-server that serves TLS only, verifies client certificates
// and wants a user and password (certificates made by the openssl CLI, test/tls-pki.ts). The control
// service's NatsLink and the agent's NatsSouthbound, given the CA, a client certificate and the password,
// carry a goal state end to end; a link given another CA, or a wrong password, stays down and says why.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { GoalStateOperationReply } from '../../proto';
import { hostSubject } from '../../core/southbound/nats-wire';
import type { NatsSecurity } from '../../core/southbound/nats-security';
import { NatsSouthbound } from '../../agent/nats/consumer';
import type { GoalStateApplier } from '../../agent/grpc/server';
import { requirePrereqs } from '../../test/prereq';
import { NatsServer } from '../../test/nats';
import { makeTestPki } from '../../test/tls-pki';
import { createLogger } from '../log';
import { ControlMetrics } from '../metrics';
import { ALL_SUCCEEDED, NatsLink } from './nats-link';

const HOST = '192.0.2.91';
const quiet = (): void => undefined;

const applier = (got: Buffer[]): GoalStateApplier => ({
  applyV1: () => Promise.reject(new Error('v1 not expected')),
  applyV2: async (req) => {
    got.push(req.kind === 'raw' ? req.bytes : Buffer.alloc(0));
    return GoalStateOperationReply.fromPartial({});
  },
});

async function until(what: string, fn: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

if (requirePrereqs(['nats', 'openssl'])) {
  test('TLS-only nats-server with client certificates and a password: end to end; a wrong CA is refused', async () => {
    const pki = makeTestPki('alcor-nats-tls-');
    const server = await NatsServer.start({
      tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca },
      auth: { user: 'alcor', password: 's3cret' },
    });
    const good: NatsSecurity = {
      ca: pki.ca,
      cert: pki.client.cert,
      key: pki.client.key,
      user: 'alcor',
      password: 's3cret',
    };
    const metrics = new ControlMetrics();
    const link = new NatsLink({ servers: [server.url], security: good }, createLogger('error', 't', quiet), metrics);
    const wrongCa = new NatsLink(
      { servers: [server.url], security: { ...good, ca: pki.otherCa } },
      createLogger('error', 't', quiet),
      new ControlMetrics(),
    );
    const wrongPassword = new NatsLink(
      { servers: [server.url], security: { ...good, password: 'guess' } },
      createLogger('error', 't', quiet),
      new ControlMetrics(),
    );
    const got: Buffer[] = [];
    const agent = new NatsSouthbound({ servers: [server.url], hostIp: HOST, security: good }, applier(got), quiet);
    try {
      link.start();
      assert.ok(await link.waitUp(15_000), `link up over TLS: ${link.lastError()}`);
      agent.start();
      const reply = await link.send(hostSubject(HOST), Buffer.from('over tls'), 15_000);
      assert.is(reply, ALL_SUCCEEDED);
      assert.is(got[0]?.toString(), 'over tls');

      wrongCa.start();
      wrongPassword.start();
      await until('the wrong CA refused', () => wrongCa.lastError() !== '');
      assert.not.ok(wrongCa.up());
      assert.match(wrongCa.lastError(), `not trusted by ${pki.otherCa}`);
      await until('the wrong password refused', () => wrongPassword.lastError() !== '');
      assert.not.ok(wrongPassword.up());
      assert.match(wrongPassword.lastError(), /refused the credentials/);
    } finally {
      await agent.stop();
      await Promise.all([link.close(), wrongCa.close(), wrongPassword.close()]);
      await server.stop();
      fs.rmSync(pki.dir, { recursive: true, force: true });
    }
  });

  test.run();
}
