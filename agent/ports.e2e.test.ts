// End to end through `alcor-agent run` (a child process) on a sandboxed OVS: goal states pushed over gRPC
// program real flows; VMs (namespaces) ping through them.
//   (a) two ports CREATE -> SUCCESS, ping; delete one -> its flows are gone, ping fails
//   (b) a port whose interface appears later -> PENDING, then programmed by itself when the VM shows up
//   (c) a bad goal state (bad MAC) -> INVALID_ARG, installed flows unchanged
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tapNameFor } from './ovsdb';
import { OperationStatus, OperationType, ResourceType } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { dumpOurFlows, goalState, runCli, startAgent, until, type AgentProcess, type PortSpec } from './e2e-helpers';

const HOST_IP = '192.0.2.50';
const CIDR = '10.210.0.0/24';
const GW = '10.210.0.1';
const P1: PortSpec = { id: '11111111-aaaa-4000-8000-000000000001', mac: '02:00:00:21:00:01', ip: '10.210.0.11' };
const P2: PortSpec = { id: '22222222-aaaa-4000-8000-000000000002', mac: '02:00:00:21:00:02', ip: '10.210.0.12' };
const P3: PortSpec = { id: '33333333-aaaa-4000-8000-000000000003', mac: '02:00:00:21:00:03', ip: '10.210.0.13' };

function statusOf(
  reply: { operationStatuses: { resourceId: string; operationStatus: OperationStatus }[] },
  id: string,
) {
  return reply.operationStatuses.find((s) => s.resourceId === id)?.operationStatus;
}

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('ports: create -> ping; pending port bound later; bad goal state leaves flows alone; delete -> no ping', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'agports' });
      const vm1 = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/24`, ofport: 2, iface: tapNameFor(P2.id) });
      agent = await startAgent(sb, ['--tunnel-ip', HOST_IP, '--metrics', '127.0.0.1:0']);

      // (a) create
      const r1 = await agent.push(goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, ports: [P1, P2] }));
      assert.is(statusOf(r1, P1.id), OperationStatus.SUCCESS, JSON.stringify(r1));
      assert.is(statusOf(r1, P2.id), OperationStatus.SUCCESS, JSON.stringify(r1));
      assert.ok(
        r1.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r1),
      );
      const ping12 = await vm1.exec(['ping', '-c2', '-i0.2', '-W2', P2.ip]);
      assert.is(ping12.code, 0, ping12.stdout + ping12.stderr);

      // (b) port whose interface is not there yet
      const r2 = await agent.push(
        goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, ports: [P3], withNetwork: false }),
      );
      assert.is(statusOf(r2, P3.id), OperationStatus.PENDING, JSON.stringify(r2));
      const vm3 = await sb.addVm({ name: 'vm3', mac: P3.mac, ip: `${P3.ip}/24`, ofport: 3, iface: tapNameFor(P3.id) });
      await until('vm3 reaches vm1 without another push', async () => {
        const p = await vm3.exec(['ping', '-c1', '-W1', P1.ip]);
        return p.code === 0;
      });

      // (c) bad MAC: INVALID_ARG, and the flows dumped before == after
      const before = await dumpOurFlows(sb);
      const bad = goalState({
        hostIp: HOST_IP,
        cidr: CIDR,
        gatewayIp: GW,
        ports: [{ id: '44444444-aaaa-4000-8000-000000000004', mac: 'zz:00:00:21:00:04', ip: '10.210.0.14' }],
        withNetwork: false,
      });
      const r3 = await agent.push(bad);
      assert.is(statusOf(r3, '44444444-aaaa-4000-8000-000000000004'), OperationStatus.INVALID_ARG, JSON.stringify(r3));
      const after = await dumpOurFlows(sb);
      assert.equal(after, before);

      // (a) delete P2: its flows go, vm1 can no longer reach it
      const cookieHex = (await dumpOurFlows(sb)).filter((l) => l.includes(P2.mac)).length;
      assert.ok(cookieHex > 0, 'P2 has flows before the delete');
      const r4 = await agent.push(
        goalState({
          hostIp: HOST_IP,
          cidr: CIDR,
          gatewayIp: GW,
          ports: [{ ...P2, op: OperationType.DELETE }],
          withNetwork: false,
        }),
      );
      const del = r4.operationStatuses.find((s) => s.resourceId === P2.id);
      assert.is(del?.operationStatus, OperationStatus.SUCCESS, JSON.stringify(r4));
      assert.is(del?.resourceType, ResourceType.PORT);
      assert.is((await dumpOurFlows(sb)).filter((l) => l.includes(P2.mac)).length, 0, 'no flow mentions P2 any more');
      const ping12b = await vm1.exec(['ping', '-c2', '-i0.2', '-W1', P2.ip]);
      assert.is.not(ping12b.code, 0, 'ping to the deleted port must fail');
      const ping13 = await vm1.exec(['ping', '-c1', '-W2', P3.ip]);
      assert.is(ping13.code, 0, ping13.stdout + ping13.stderr);

      // alcor-agent status / flows against the running agent
      const metrics = `127.0.0.1:${agent.metricsPort ?? 0}`;
      const st = await runCli(['status', '--metrics', metrics]);
      assert.is(st.code, 0, st.stderr);
      const status = JSON.parse(st.stdout) as { openflow: string; ports: Record<string, number | null> };
      assert.is(status.openflow, 'ready');
      assert.is(status.ports[P3.id], 3);
      const fl = await runCli(['flows', '--metrics', metrics]);
      assert.is(fl.code, 0, fl.stdout + fl.stderr);
      const flows = JSON.parse(fl.stdout) as { inSync: boolean; desired: number; installed: number };
      assert.ok(flows.inSync && flows.desired > 0 && flows.desired === flows.installed, fl.stdout);
      const prom = await fetch(`http://${metrics}/metrics`).then((r) => r.text());
      assert.match(prom, /alcor_agent_goal_states_total\{result="success"\} 4/);

      // SIGTERM: the agent goes, its flows stay (graceful shutdown deletes nothing).
      const installed = await dumpOurFlows(sb);
      await agent.stop();
      agent = undefined;
      assert.equal(await dumpOurFlows(sb), installed);
      const still = await vm1.exec(['ping', '-c1', '-W2', P3.ip]);
      assert.is(still.code, 0, 'forwarding continues without the agent');
    } finally {
      await agent?.stop();
      await sb?.stop();
    }
  });

  test.run();
}
