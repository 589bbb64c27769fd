// OVS refuses a goal state's bundle: table 60 (L2Forwarding) is made full (Flow_Table flow_limit with
// overflow_policy=refuse), so the neighbor's flow-mod fails at commit. The agent answers FAILURE for the
// neighbor, the installed flows are exactly what they were (atomic bundle), and the engine rolled back:
// once the table has room, the same goal state succeeds and installs the neighbor's flows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { OperationStatus, ResourceType } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { dumpOurFlows, goalState, startAgent, type AgentProcess, type PortSpec } from './e2e-helpers';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.55';
const CIDR = '10.217.0.0/24';
const GW = '10.217.0.1';
const P1: PortSpec = { id: '11111111-abab-4000-8000-000000000001', mac: '02:00:00:27:00:01', ip: '10.217.0.11' };
const N1 = {
  id: '99999999-abab-4000-8000-000000000009',
  mac: '02:00:00:27:00:09',
  ip: '10.217.0.19',
  hostIp: '192.0.2.99',
};
const L2_TABLE = 60;

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('OVS rejects the bundle: FAILURE, flows unchanged, engine rolled back', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'agreject' });
      await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      agent = await startAgent(sb, ['--tunnel-ip', HOST_IP]);
      const r1 = await agent.push(goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, ports: [P1] }));
      assert.ok(
        r1.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r1),
      );

      const inTable = (await sb.ofctl(['--no-stats', 'dump-flows', 'br-int', `table=${L2_TABLE}`])).stdout
        .split('\n')
        .filter((l) => l.includes('priority')).length;
      await sb.vsctl([
        '--',
        '--id=@ft',
        'create',
        'Flow_Table',
        `flow_limit=${inTable}`,
        'overflow_policy=refuse',
        '--',
        'set',
        'bridge',
        'br-int',
        `flow_tables:${L2_TABLE}=@ft`,
      ]);
      const before = await dumpOurFlows(sb);
      const gs = goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, neighbors: [N1], withNetwork: false });
      const r2 = await agent.push(gs);
      const n = r2.operationStatuses.find((s) => s.resourceId === N1.id);
      assert.is(n?.resourceType, ResourceType.NEIGHBOR);
      assert.is(n?.operationStatus, OperationStatus.FAILURE, JSON.stringify(r2));
      assert.equal(await dumpOurFlows(sb), before, 'nothing of the rejected bundle is installed');
      const logged = agent.logs.find((l) => l.msg === 'OVS rejected the goal state; dataplane unchanged');
      assert.ok(logged !== undefined && JSON.stringify(logged).includes('TABLE_FULL'), JSON.stringify(logged));

      // Bytes that are no goal state at all: refused with INVALID_ARGUMENT (issue 13: an OK reply with
      // no status looked like a valid empty goal state), nothing touched, agent alive.
      const garbage = await agent.pushRawV1(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])).then(
        (reply) => ({ code: grpc.status.OK, reply }),
        (e: grpc.ServiceError) => ({ code: e.code, reply: e.details }),
      );
      assert.is(garbage.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(garbage));
      assert.equal(await dumpOurFlows(sb), before);

      await sb.vsctl(['clear', 'bridge', 'br-int', 'flow_tables']);
      const r3 = await agent.push(gs);
      assert.is(r3.operationStatuses.find((s) => s.resourceId === N1.id)?.operationStatus, OperationStatus.SUCCESS);
      const after = await dumpOurFlows(sb);
      assert.ok(
        after.some((l) => l.includes(N1.mac)),
        'the neighbor is programmed on the retry',
      );
    } finally {
      await agent?.stop();
      await sb?.stop();
    }
  });

  test.run();
}
