// TLS and mutual TLS on every channel of alcor-control, with certificates made by the openssl CLI: its northbound
// gRPC and its HTTP API refuse plaintext clients and clients without a certificate from the configured CA; the
// bearer token guards mutating HTTP calls; goal states reach an agent that only speaks mutual TLS; a reload serves
// the new certificate to new connections while open ones keep working.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2, HostRequest_ResourceStateRequest, OperationStatus, RequestType } from '../proto';
import { OnDemandClient } from '../agent/ondemand';
import { ReloadableTls } from '../agent/tls';
import { requirePrereqs } from '../test/prereq';
import {
  fingerprintOf,
  grpcCredentials,
  httpsRequest,
  makeTestPki,
  servedFingerprint,
  type TestPki,
} from '../test/tls-pki';
import { ControlConfig, loadRunConfig } from './config';
import { silentLogger } from './log';
import { ControlHandle, startControl } from './server';
import { embeddedConfig, hostIp, makeGoalState, pushGoalStates } from './testing/fixtures';
import { ReplicaProcess } from './testing/replica-process';
import { TestAgent } from './testing/test-agent';

const TOKEN = 's3cret-token-for-tests';

function config(dataDir: string, over: Partial<ControlConfig>): ControlConfig {
  return embeddedConfig(dataDir, { replicaId: 'tls', ...over });
}

/** Resolves with the gRPC error of a push, or null when it succeeded. */
async function pushError(
  port: number,
  creds: grpc.ChannelCredentials,
  gs: GoalStateV2,
): Promise<grpc.ServiceError | null> {
  try {
    await pushGoalStates(`127.0.0.1:${port}`, [GoalStateV2.encode(gs).finish()], 5000, creds);
    return null;
  } catch (e: unknown) {
    return e as grpc.ServiceError;
  }
}

/** True when a request fails at the connection level (TLS refused it), false when it got an HTTP answer. */
async function httpsRefused(p: Promise<unknown>): Promise<boolean> {
  return p.then(
    () => false,
    () => true,
  );
}

if (requirePrereqs(['openssl'])) {
  let pki: TestPki;
  let dir: string;
  test.before(() => {
    pki = makeTestPki();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-control-tls-'));
  });
  test.after(() => {
    pki.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('flags and config-file keys: --tls-*, --agent-tls-*, --http-token-file; half a TLS setting is an error', () => {
    const cfg = loadRunConfig(
      ['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-ca', 'ca.pem', '--agent-tls-ca', 'aca.pem'],
      {},
    );
    assert.equal(cfg?.tls, { certFile: 'c.pem', keyFile: 'k.pem', caFile: 'ca.pem' });
    assert.equal(cfg?.agentTls, { caFile: 'aca.pem' });
    const file = path.join(dir, 'control.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        'tls-cert': 'c.pem',
        'tls-key': 'k.pem',
        'agent-tls-cert': 'ac.pem',
        'agent-tls-key': 'ak.pem',
        'agent-tls-ca': 'aca.pem',
        'http-token-file': 'token',
      }),
    );
    const fromFile = loadRunConfig(['--config', file], {});
    assert.equal(fromFile?.tls, { certFile: 'c.pem', keyFile: 'k.pem' });
    assert.equal(fromFile?.agentTls, { caFile: 'aca.pem', certFile: 'ac.pem', keyFile: 'ak.pem' });
    assert.is(fromFile?.httpTokenFile, 'token');
    for (const argv of [
      ['--tls-cert', 'c.pem'],
      ['--tls-ca', 'ca.pem'],
      ['--agent-tls-cert', 'a', '--agent-tls-key', 'b'],
    ]) {
      assert.throws(
        () => loadRunConfig(argv, {}),
        (e: Error) => (e as { code?: string }).code === 'E_CLI_BAD_VALUE',
      );
    }
    const plain = loadRunConfig([], {});
    assert.is(plain?.tls, undefined, 'loopback defaults stay plaintext');
    assert.is(plain?.agentTls, undefined);
  });

  test('exposed listeners without TLS or auth are warned about; loopback defaults are not', async () => {
    const lines: string[] = [];
    const capture = {
      ...silentLogger,
      warn: (msg: string) => {
        lines.push(msg);
      },
    };
    const loopback = await startControl(config(path.join(dir, 'warn-lo'), {}), capture);
    await loopback.stop();
    assert.equal(lines, []);
    const exposed = await startControl(
      config(path.join(dir, 'warn-any'), { listen: '0.0.0.0:0', http: '0.0.0.0:0' }),
      capture,
    );
    await exposed.stop();
    assert.equal(lines, [
      'northbound gRPC listens beyond loopback without TLS',
      'HTTP API listens beyond loopback without TLS',
      'HTTP API accepts mutating calls from anyone who can reach it',
    ]);
  });

  test('bad TLS files stop the start with what to fix', async () => {
    const missing = startControl(
      config(path.join(dir, 'bad1'), { tls: { certFile: pki.server.cert, keyFile: path.join(dir, 'nope.key') } }),
      silentLogger,
    );
    await missing.then(
      () => assert.unreachable('must not start'),
      (e: Error) => {
        assert.is((e as { code?: string }).code, 'TLS_FILE');
        assert.match(e.message, /nope\.key \(--tls-key\): no such file/);
      },
    );
    const mismatch = startControl(
      config(path.join(dir, 'bad2'), { tls: { certFile: pki.server.cert, keyFile: pki.client.key } }),
      silentLogger,
    );
    await mismatch.then(
      () => assert.unreachable('must not start'),
      (e: Error) => {
        assert.is((e as { code?: string }).code, 'TLS_KEY_MISMATCH');
        assert.match(e.message, /does not belong to the certificate/);
      },
    );
  });

  test('mutual TLS everywhere: northbound and HTTP refuse plaintext and foreign certificates; pushes reach a TLS agent', async () => {
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, `${TOKEN}\n`);
    // The agent only speaks mutual TLS and trusts the CA that signed the control's client certificate.
    const agentTls = new ReloadableTls({ certFile: pki.server.cert, keyFile: pki.server.key, caFile: pki.ca });
    const agent = await TestAgent.start(hostIp(1), 0, agentTls);
    let ctl: ControlHandle | null = null;
    try {
      ctl = await startControl(
        config(path.join(dir, 'mtls'), {
          tls: { certFile: pki.server.cert, keyFile: pki.server.key, caFile: pki.ca },
          agentTls: { caFile: pki.ca, certFile: pki.client.cert, keyFile: pki.client.key },
          httpTokenFile: tokenFile,
        }),
        silentLogger,
      );
      const good = { ca: pki.ca, client: pki.client };
      const rogue = { ca: pki.ca, client: pki.rogueClient };
      const noCert = { ca: pki.ca };
      const auth = { authorization: `Bearer ${TOKEN}` };

      // HTTP API: plaintext, a foreign certificate and no certificate are refused at the connection.
      assert.ok(await httpsRefused(fetch(`http://127.0.0.1:${ctl.httpPort}/healthz`)), 'plaintext HTTP refused');
      assert.ok(await httpsRefused(httpsRequest(ctl.httpPort, 'GET', '/healthz', rogue)), 'foreign cert refused');
      assert.ok(await httpsRefused(httpsRequest(ctl.httpPort, 'GET', '/healthz', noCert)), 'no client cert refused');
      assert.is((await httpsRequest(ctl.httpPort, 'GET', '/healthz', good)).status, 200);

      // Token: reads need none; a mutating call without one is 401, with a wrong one 403, with the right one works.
      const register = [{ hostIp: agent.hostIp, agent: agent.address }];
      assert.is((await httpsRequest(ctl.httpPort, 'GET', '/v1/hosts', good)).status, 200);
      const without = await httpsRequest(ctl.httpPort, 'POST', '/v1/hosts', { ...good, body: register });
      assert.is(without.status, 401, without.text);
      assert.match(without.text, /UNAUTHENTICATED/);
      const wrong = await httpsRequest(ctl.httpPort, 'POST', '/v1/hosts', {
        ...good,
        body: register,
        headers: { authorization: 'Bearer not-the-token' },
      });
      assert.is(wrong.status, 403, wrong.text);
      assert.is((await httpsRequest(ctl.httpPort, 'DELETE', `/v1/hosts/${agent.hostIp}`, good)).status, 401);
      const ok = await httpsRequest(ctl.httpPort, 'POST', '/v1/hosts', { ...good, body: register, headers: auth });
      assert.is(ok.status, 200, ok.text);

      // Northbound gRPC: plaintext, foreign certificate and no certificate fail; the CA's client gets through,
      // and the control's mutual-TLS connection carries the goal state to the agent.
      const gs = makeGoalState({ hosts: [agent.hostIp], portsPerHost: 2, sharedNeighbors: 1 });
      for (const [what, creds] of [
        ['plaintext', grpc.credentials.createInsecure()],
        ['foreign certificate', grpcCredentials(rogue)],
        ['no client certificate', grpcCredentials(noCert)],
      ] as const) {
        const err = await pushError(ctl.grpcPort, creds, gs);
        assert.ok(err !== null, `${what} must be refused`);
        assert.is(err.code, grpc.status.UNAVAILABLE, `${what}: ${err.message}`);
      }
      assert.is(agent.applied.size, 0, 'nothing refused reached the agent');
      const [reply] = await pushGoalStates(
        `127.0.0.1:${ctl.grpcPort}`,
        [GoalStateV2.encode(gs).finish()],
        10000,
        grpcCredentials(good),
      );
      assert.ok(reply);
      assert.is(reply.operationStatuses.length, 1 + 1 + 2);
      assert.ok(reply.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS));
      assert.is(agent.applied.size, 4, 'the TLS agent applied the pushed resources');

      // An agent with --tls-ca calls the control's RequestGoalStates with its own certificate (agent/daemon.ts).
      const agentIdentity = new ReloadableTls({ certFile: pki.server.cert, keyFile: pki.server.key, caFile: pki.ca });
      const onDemand = new OnDemandClient(`127.0.0.1:${ctl.grpcPort}`, undefined, agentIdentity.channelCredentials());
      try {
        const answer = await onDemand.request(
          HostRequest_ResourceStateRequest.fromPartial({
            requestType: RequestType.ON_DEMAND,
            tunnelId: 1,
            destinationIp: '10.0.0.1',
          }),
        );
        assert.ok(answer !== undefined, 'the control answered over mutual TLS');
      } finally {
        onDemand.close();
      }
    } finally {
      await ctl?.stop();
      await agent.stop();
    }
  });

  test('an agent that only speaks mutual TLS gets nothing from a control without --agent-tls-*', async () => {
    const agentTls = new ReloadableTls({ certFile: pki.server.cert, keyFile: pki.server.key, caFile: pki.ca });
    const agent = await TestAgent.start(hostIp(2), 0, agentTls);
    let ctl: ControlHandle | null = null;
    try {
      ctl = await startControl(
        config(path.join(dir, 'plain-to-agent'), {
          agents: new Map([[agent.hostIp, agent.address]]),
          resultTimeoutMs: 1500,
        }),
        silentLogger,
      );
      const gs = makeGoalState({ hosts: [agent.hostIp], portsPerHost: 1, sharedNeighbors: 0 });
      const [reply] = await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [GoalStateV2.encode(gs).finish()]);
      assert.ok(reply);
      assert.ok(reply.operationStatuses.every((s) => s.operationStatus !== OperationStatus.SUCCESS));
      assert.is(agent.received, 0);
    } finally {
      await ctl?.stop();
      await agent.stop();
    }
  });

  test('TLS without a CA: plaintext refused, any TLS client served; reload serves the new certificate', async () => {
    const live = { cert: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
    fs.copyFileSync(pki.server.cert, live.cert);
    fs.copyFileSync(pki.server.key, live.key);
    const tokenFile = path.join(dir, 'token2');
    fs.writeFileSync(tokenFile, 'first');
    let ctl: ControlHandle | null = null;
    try {
      ctl = await startControl(
        config(path.join(dir, 'tls'), { tls: { certFile: live.cert, keyFile: live.key }, httpTokenFile: tokenFile }),
        silentLogger,
      );
      const serverOnly = { ca: pki.ca };
      assert.ok(await httpsRefused(fetch(`http://127.0.0.1:${ctl.httpPort}/healthz`)), 'plaintext HTTP refused');
      assert.is((await httpsRequest(ctl.httpPort, 'GET', '/healthz', serverOnly)).status, 200);
      const gs = makeGoalState({ hosts: [hostIp(9)], portsPerHost: 1, sharedNeighbors: 0 });
      const plainErr = await pushError(ctl.grpcPort, grpc.credentials.createInsecure(), gs);
      assert.is(plainErr?.code, grpc.status.UNAVAILABLE, 'plaintext gRPC refused');

      // A northbound connection opened before the reload.
      const before = new grpc.Client(`127.0.0.1:${ctl.grpcPort}`, grpcCredentials(serverOnly));
      await new Promise<void>((resolve, reject) =>
        before.waitForReady(Date.now() + 5000, (e) => (e ? reject(e) : resolve())),
      );
      const first = fingerprintOf(pki.server.cert);
      assert.is(await servedFingerprint(ctl.grpcPort, serverOnly, 'h2'), first);
      assert.is(await servedFingerprint(ctl.httpPort, serverOnly, 'http/1.1'), first);

      // A bad new key (belongs to another certificate): the reload fails and the old certificate stays.
      fs.copyFileSync(pki.server2.cert, live.cert);
      assert.throws(() => ctl?.reloadTls(), /does not belong to the certificate/);
      assert.is(await servedFingerprint(ctl.grpcPort, serverOnly, 'h2'), first);

      fs.copyFileSync(pki.server2.key, live.key);
      fs.writeFileSync(tokenFile, 'second');
      ctl.reloadTls();
      const second = fingerprintOf(pki.server2.cert);
      assert.is.not(second, first);
      assert.is(await servedFingerprint(ctl.grpcPort, serverOnly, 'h2'), second, 'new gRPC connections: new cert');
      assert.is(await servedFingerprint(ctl.httpPort, serverOnly, 'http/1.1'), second, 'new HTTPS: new cert');
      assert.is(before.getChannel().getConnectivityState(false), grpc.connectivityState.READY, 'open one stays');
      before.close();

      const put = (token: string) =>
        httpsRequest(ctl?.httpPort ?? 0, 'PUT', `/v1/hosts/${hostIp(9)}`, {
          ...serverOnly,
          body: { agent: '127.0.0.1:1' },
          headers: { authorization: `Bearer ${token}` },
        });
      assert.is((await put('first')).status, 403, 'the old token is gone after the reload');
      assert.is((await put('second')).status, 200);
    } finally {
      await ctl?.stop();
    }
  });

  test('alcor-control run: --tls-* from the command line, SIGHUP or a file change swaps the certificate of the running process', async () => {
    const live = { cert: path.join(dir, 'proc.crt'), key: path.join(dir, 'proc.key') };
    fs.copyFileSync(pki.server.cert, live.cert);
    fs.copyFileSync(pki.server.key, live.key);
    const replica = await ReplicaProcess.start([
      '--listen',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--data-dir',
      path.join(dir, 'proc-data'),
      '--tls-cert',
      live.cert,
      '--tls-key',
      live.key,
      '--tls-ca',
      pki.ca,
    ]);
    try {
      const good = { ca: pki.ca, client: pki.client };
      const grpcPort = Number(replica.grpcAddress.split(':').pop());
      const httpPort = Number(replica.httpBase.split(':').pop());
      assert.match(replica.logs(), /tls=mutual/);
      assert.is(await servedFingerprint(grpcPort, good, 'h2'), fingerprintOf(pki.server.cert));
      fs.copyFileSync(pki.server2.cert, live.cert);
      fs.copyFileSync(pki.server2.key, live.key);
      replica.proc.kill('SIGHUP');
      await until('reloaded', () => replica.logs().includes('reloaded'));
      assert.is(await servedFingerprint(grpcPort, good, 'h2'), fingerprintOf(pki.server2.cert));
      assert.is(await servedFingerprint(httpPort, good, 'http/1.1'), fingerprintOf(pki.server2.cert));
      assert.is(replica.proc.exitCode, null, 'still running');
      assert.is((await httpsRequest(httpPort, 'GET', '/healthz', good)).status, 200);

      // Rotated on disk with no signal: the running process serves the files' certificate again.
      fs.copyFileSync(pki.server.cert, live.cert);
      fs.copyFileSync(pki.server.key, live.key);
      const original = fingerprintOf(pki.server.cert);
      let served = '';
      await untilAsync('served after a file change', async () => {
        served = await servedFingerprint(grpcPort, good, 'h2');
        return served === original;
      });
      assert.is(await servedFingerprint(httpPort, good, 'http/1.1'), original);
      assert.is(replica.proc.exitCode, null, 'still running');
    } finally {
      await replica.kill('SIGTERM');
    }
  });

  test.run();
}

/** Polls `cond` until it holds; throws after timeoutMs. */
async function untilAsync(what: string, cond: () => Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Polls `cond` every 20 ms until it holds; throws after timeoutMs. */
async function until(what: string, cond: () => boolean, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
