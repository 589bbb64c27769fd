// OVS restarts under the agent: ovs-vswitchd exits (the userspace datapath keeps no flows) and comes
// back. The OpenFlow session notices, reconnects with backoff, and converges by dump + reconcile:
// every flow is back and the VMs ping again, with no new goal state pushed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationStatus } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { dumpOurFlows, goalState, startAgent, until, type AgentProcess, type PortSpec } from './e2e-helpers';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.54';
const P1: PortSpec = { id: '11111111-ffff-4000-8000-000000000001', mac: '02:00:00:26:00:01', ip: '10.216.0.11' };
const P2: PortSpec = { id: '22222222-ffff-4000-8000-000000000002', mac: '02:00:00:26:00:02', ip: '10.216.0.12' };

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('ovs-vswitchd restart: the agent reconnects and reinstalls every flow by itself', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'agovsrst' });
      const vm1 = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/24`, ofport: 2, iface: tapNameFor(P2.id) });
      agent = await startAgent(sb, ['--tunnel-ip', HOST_IP]);
      const r = await agent.push(
        goalState({ hostIp: HOST_IP, cidr: '10.216.0.0/24', gatewayIp: '10.216.0.1', ports: [P1, P2] }),
      );
      assert.ok(
        r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r),
      );
      const before = await dumpOurFlows(sb);
      assert.ok(before.length > 0);

      await sb.stopVswitchd();
      await sb.startVswitchd();
      const sandbox = sb;
      await until(
        'flows reinstalled',
        async () => (await dumpOurFlows(sandbox).catch(() => [])).length === before.length,
        15000,
      );
      assert.equal(await dumpOurFlows(sb), before);
      await until(
        'ping after the OVS restart',
        async () => (await vm1.exec(['ping', '-c1', '-W1', P2.ip])).code === 0,
        10000,
      );
      assert.ok(agent.logs.some((l) => l.msg === 'converged' && l.why === 'reconnect'));
    } finally {
      await agent?.stop();
      await sb?.stop();
    }
  });

  test.run();
}
