// (e) DHCP through the agent: the pipeline punts a VM's DHCP request to the agent (PACKET_IN), the
// agent answers from the goal state's DHCP entry and subnet (PACKET_OUT to the in_port), and busybox
// udhcpc in the VM namespace gets its lease.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationStatus } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { goalState, startAgent, udhcpc, type AgentProcess, type PortSpec } from './e2e-helpers';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.52';
const P1: PortSpec = { id: '11111111-dddd-4000-8000-000000000001', mac: '02:00:00:24:00:01', ip: '10.214.0.11' };

if (requirePrereqs(['root', 'ovs', 'netns', 'busybox'])) {
  test('udhcpc in a VM gets its lease from the agent', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'agdhcp' });
      // A link-local placeholder address: the VM has no lease yet.
      const vm = await sb.addVm({
        name: 'vm1',
        mac: P1.mac,
        ip: '169.254.24.1/16',
        ofport: 1,
        iface: tapNameFor(P1.id),
      });
      agent = await startAgent(sb, ['--tunnel-ip', HOST_IP]);
      const r = await agent.push(
        goalState({ hostIp: HOST_IP, cidr: '10.214.0.0/24', gatewayIp: '10.214.0.1', ports: [P1], dhcp: [P1] }),
      );
      assert.ok(
        r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r),
      );

      const u = await udhcpc(vm);
      assert.is(u.code, 0, `udhcpc failed: ${u.output}\n${JSON.stringify(agent.logs.slice(-5))}`);
      const env = u.lease;
      assert.is(env.ip, P1.ip);
      assert.is(env.router?.trim(), '10.214.0.1');
      assert.is(env.serverid, '10.214.0.1');
      assert.ok(
        agent.logs.some((l) => l.msg === 'dhcp reply' && l.type === 'ACK'),
        'the agent sent the ACK',
      );
    } finally {
      await agent?.stop();
      await sb?.stop();
    }
  });

  test.run();
}
