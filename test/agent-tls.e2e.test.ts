// `alcor-agent run --tls-cert --tls-key --tls-ca` as a real process on a real OVS sandbox: plaintext clients and
// clients without a certificate from the CA are refused; alcor-control, with --agent-tls-*, pushes a goal state
// to it over mutual TLS and the VMs ping; SIGHUP swaps the certificate for new connections while the agent keeps
// running, its flows stay, and connections opened before keep working.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  GoalState,
  GoalStateOperationReply,
  GoalStateProvisionerService,
  GoalStateV2,
  OperationStatus,
} from '../proto';
import { silentLogger } from '../control/log';
import { startControl, type ControlHandle } from '../control/server';
import { pushGoalStates } from '../control/testing/fixtures';
import { requirePrereqs } from './prereq';
import { OvsSandbox } from './sandbox';
import { fingerprintOf, grpcCredentials, makeTestPki, servedFingerprint, type TestPki } from './tls-pki';
import { dumpOurFlows, goalState, startAgent, until, type AgentProcess, type PortSpec } from '../agent/e2e-helpers';
import { tapNameFor } from '../agent/ovsdb';

const HOST_IP = '192.0.2.57';
const P1: PortSpec = { id: '11111111-eeee-4000-8000-000000000001', mac: '02:00:00:27:00:01', ip: '10.217.0.11' };
const P2: PortSpec = { id: '22222222-eeee-4000-8000-000000000002', mac: '02:00:00:27:00:02', ip: '10.217.0.12' };

/** The gRPC error of one unary call on a fresh channel, or null when the agent answered. */
async function unaryError(port: number, creds: grpc.ChannelCredentials): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(`127.0.0.1:${port}`, creds);
  try {
    await new Promise<GoalStateOperationReply>((resolve, reject) =>
      client.makeUnaryRequest(
        GoalStateProvisionerService.pushNetworkResourceStates.path,
        (b: Buffer) => b,
        (b: Buffer) => GoalStateOperationReply.decode(b),
        Buffer.from(GoalState.encode(GoalState.fromPartial({ formatVersion: 1 })).finish()),
        new grpc.Metadata(),
        { deadline: Date.now() + 10000 },
        (err, reply) => (err || reply === undefined ? reject(err ?? new Error('no reply')) : resolve(reply)),
      ),
    );
    return null;
  } catch (e: unknown) {
    return e as grpc.ServiceError;
  } finally {
    client.close();
  }
}

if (requirePrereqs(['root', 'ovs', 'netns', 'openssl'])) {
  test('agent over mutual TLS: refuses plaintext and foreign certificates, takes goal states from a TLS control, reloads on SIGHUP and on file change', async () => {
    let pki: TestPki | undefined;
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    let ctl: ControlHandle | undefined;
    try {
      pki = makeTestPki('alcor-agent-tls-');
      const live = { cert: path.join(pki.dir, 'live.crt'), key: path.join(pki.dir, 'live.key') };
      fs.copyFileSync(pki.server.cert, live.cert);
      fs.copyFileSync(pki.server.key, live.key);
      const good = { ca: pki.ca, client: pki.client };

      sb = await OvsSandbox.start({ name: 'agtls' });
      const vm1 = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/24`, ofport: 2, iface: tapNameFor(P2.id) });
      agent = await startAgent(
        sb,
        ['--tunnel-ip', HOST_IP, '--tls-cert', live.cert, '--tls-key', live.key, '--tls-ca', pki.ca],
        20_000,
        grpcCredentials(good),
      );
      assert.not.ok(
        agent.logs.some((l) => l.level === 'warn' && /without TLS/.test(String(l.msg))),
        'TLS on: no plaintext warning',
      );

      for (const [what, creds] of [
        ['plaintext', grpc.credentials.createInsecure()],
        ['a certificate from another CA', grpcCredentials({ ca: pki.ca, client: pki.rogueClient })],
        ['no client certificate', grpcCredentials({ ca: pki.ca })],
      ] as const) {
        const err = await unaryError(agent.grpcPort, creds);
        assert.ok(err !== null, `${what} must be refused`);
        assert.is(err.code, grpc.status.UNAVAILABLE, `${what}: ${err.message}`);
      }
      assert.is(await unaryError(agent.grpcPort, grpcCredentials(good)), null, 'a client of the CA is served');

      // alcor-control (plaintext loopback northbound) pushes to the agent over mutual TLS.
      ctl = await startControl(
        {
          listen: '127.0.0.1:0',
          http: '127.0.0.1:0',
          etcd: null,
          dataDir: path.join(pki.dir, 'control-data'),
          replicaId: 'agtls',
          prefix: '/t/',
          leaseTtlSec: 5,
          ackMode: 'agents',
          resultTimeoutMs: 15000,
          replyTimeoutMs: 15000,
          backoffMaxMs: 200,
          logLevel: 'warn',
          agents: new Map([[HOST_IP, `127.0.0.1:${agent.grpcPort}`]]),
          agentTls: { caFile: pki.ca, certFile: pki.client.cert, keyFile: pki.client.key },
        },
        silentLogger,
      );
      const gs = goalState({ hostIp: HOST_IP, cidr: '10.217.0.0/24', gatewayIp: '10.217.0.1', ports: [P1, P2] });
      const [reply] = await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [GoalStateV2.encode(gs).finish()], 30000);
      assert.ok(reply);
      assert.ok(reply.operationStatuses.length > 0);
      assert.ok(
        reply.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(reply),
      );
      const flows = await dumpOurFlows(sb);
      assert.ok(flows.length > 0, 'the goal state pushed through the control is installed');
      assert.is((await vm1.exec(['ping', '-c1', '-W2', P2.ip])).code, 0);

      // SIGHUP with a new certificate in place: new connections get it, everything else carries on.
      assert.is(await servedFingerprint(agent.grpcPort, good, 'h2'), fingerprintOf(pki.server.cert));
      fs.copyFileSync(pki.server2.cert, live.cert);
      fs.copyFileSync(pki.server2.key, live.key);
      const pid = agent.child.pid;
      agent.child.kill('SIGHUP');
      const a = agent;
      await until('TLS reloaded', () =>
        Promise.resolve(a.logs.some((l) => l.msg === 'TLS certificates reloaded' && l.changed === true)),
      );
      assert.is(await servedFingerprint(agent.grpcPort, good, 'h2'), fingerprintOf(pki.server2.cert));
      assert.is(agent.child.exitCode, null, 'the agent kept running');
      assert.is(agent.child.pid, pid);
      assert.equal(await dumpOurFlows(sb), flows, 'the flows are untouched');
      const again = await agent.push(gs); // on the connection opened before the reload
      assert.ok(again.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS));
      const [viaControl] = await pushGoalStates(`127.0.0.1:${ctl.grpcPort}`, [GoalStateV2.encode(gs).finish()], 30000);
      assert.ok(viaControl?.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS));
      assert.is((await vm1.exec(['ping', '-c1', '-W2', P2.ip])).code, 0);

      // A rotation on disk, with no signal: written beside and renamed over, as rotation tools do.
      for (const [from, to] of [
        [pki.server.cert, live.cert],
        [pki.server.key, live.key],
      ] as const) {
        fs.copyFileSync(from, `${to}.new`);
        fs.renameSync(`${to}.new`, to);
      }
      const original = fingerprintOf(pki.server.cert);
      await until('the rotated certificate served without SIGHUP', async () => {
        return (await servedFingerprint(a.grpcPort, good, 'h2')) === original;
      });
      assert.equal(await dumpOurFlows(sb), flows, 'the flows are untouched by the file-change reload');
      assert.is(agent.child.pid, pid);
    } finally {
      await ctl?.stop();
      await agent?.stop();
      await sb?.stop();
      pki?.remove();
    }
  });

  test('a plaintext gRPC server beyond loopback is started with a warning; on loopback without one', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'agtlsw' });
      const warned = (a: AgentProcess): boolean =>
        a.logs.some((l) => l.level === 'warn' && l.msg === 'gRPC server listens beyond loopback without TLS');
      agent = await startAgent(sb, ['--tunnel-ip', HOST_IP]);
      assert.not.ok(warned(agent), 'loopback default: no warning');
      await agent.stop();
      agent = await startAgent(sb, ['--tunnel-ip', HOST_IP, '--listen', '0.0.0.0:0']);
      assert.ok(warned(agent), JSON.stringify(agent.logs.slice(0, 3)));
    } finally {
      await agent?.stop();
      await sb?.stop();
    }
  });

  test.run();
}
