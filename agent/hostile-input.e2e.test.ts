// Issue 13, against a real `alcor-agent run` on an OVS sandbox: hostile and careless goal states
// are refused with an honest gRPC status, the agent stays up, keeps its OpenFlow session, still
// serves a normal push afterwards, and nothing programmed changes.
// (perf/hostile-message.ts measures the time and the agent's memory for the 250 MiB case.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { OperationStatus } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import {
  dumpOurFlows,
  goalState,
  pushRawV2,
  repeatedSmallField,
  startAgent,
  type AgentProcess,
  type PortSpec,
} from './e2e-helpers';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.56';
const CIDR = '10.218.0.0/24';
const GW = '10.218.0.1';
const P1: PortSpec = { id: '11111111-abcd-4000-8000-000000000001', mac: '02:00:00:28:00:01', ip: '10.218.0.11' };
const MiB = 1024 * 1024;

/** The gRPC error a push ends with (fails the test when the push succeeds). */
async function refusal(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    const reply = await p;
    throw new Error(`expected a gRPC error, got OK: ${JSON.stringify(reply)}`);
  } catch (e: unknown) {
    if ((e as Partial<grpc.ServiceError>).code === undefined) throw e;
    return e as grpc.ServiceError;
  }
}

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('issue 13: undecodable, absurd and oversized goal states get INVALID_ARGUMENT / RESOURCE_EXHAUSTED; the agent lives on, flows unchanged', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'aghostile' });
      await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      agent = await startAgent(sb, ['--tunnel-ip', HOST_IP]);
      const gs = goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, ports: [P1] });
      const r1 = await agent.push(gs);
      assert.ok(
        r1.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r1),
      );
      const before = await dumpOurFlows(sb);
      const port = agent.grpcPort;

      // Issue 13 defect "rejected input looks accepted": undecodable bytes, v1 unary and v2 stream.
      const garbage = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]);
      const v1 = await refusal(agent.pushRawV1(garbage));
      assert.is(v1.code, grpc.status.INVALID_ARGUMENT, v1.details);
      assert.match(v1.details, /byte \d+/);
      const v2 = await refusal(pushRawV2(port, garbage));
      assert.is(v2.code, grpc.status.INVALID_ARGUMENT, v2.details);
      assert.match(v2.details, /byte \d+/);

      // Issue 13 defect "one message kills the agent": 250 MiB of one small field repeated.
      const absurd = await refusal(pushRawV2(port, repeatedSmallField(250 * MiB)));
      assert.is(absurd.code, grpc.status.INVALID_ARGUMENT, absurd.details);
      assert.match(absurd.details, 'top-level fields');

      // Over --max-message-mb (256): refused before it is read.
      const big = await refusal(pushRawV2(port, repeatedSmallField(257 * MiB)));
      assert.is(big.code, grpc.status.RESOURCE_EXHAUSTED, big.details);

      assert.is(agent.child.exitCode, null, 'the agent is alive');
      assert.equal(await dumpOurFlows(sb), before, 'nothing programmed changed');
      assert.ok(
        !agent.logs.some((l) => l.msg === 'openflow session down' || l.level === 'fatal'),
        JSON.stringify(agent.logs.filter((l) => l.level !== 'info')),
      );
      // A normal push is still served.
      const r2 = await agent.push(gs);
      assert.ok(
        r2.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r2),
      );
      assert.equal(await dumpOurFlows(sb), before);
    } finally {
      await agent?.stop();
      await sb?.stop();
    }
  });

  test.run();
}
