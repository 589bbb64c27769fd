// (d) L2 across two sandbox hosts over VXLAN: each host runs its own `alcor-agent run` with its own
// underlay address; each gets its local port plus a neighbor for the other host's VM (host_ip = the
// other host's underlay address). The VMs ping each other through the agents' flows.
// Host A runs the engine with two worker threads (neighbors partitioned), host B in the main thread.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationStatus } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { goalState, startAgent, type AgentProcess, type PortSpec } from './e2e-helpers';
import { tapNameFor } from './ovsdb';

const HOST_A = '192.0.2.1';
const HOST_B = '192.0.2.2';
const CIDR = '10.213.0.0/24';
const GW = '10.213.0.1';
const P1: PortSpec = { id: '11111111-cccc-4000-8000-000000000001', mac: '02:00:00:23:00:01', ip: '10.213.0.11' };
const P2: PortSpec = { id: '22222222-cccc-4000-8000-000000000002', mac: '02:00:00:23:00:02', ip: '10.213.0.12' };

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('two hosts, one agent each: L2 ping over VXLAN', async () => {
    const sandboxes: OvsSandbox[] = [];
    const agents: AgentProcess[] = [];
    try {
      const a = await OvsSandbox.start({ name: 'agvxa', underlay: { ip: `${HOST_A}/24` } });
      sandboxes.push(a);
      const b = await OvsSandbox.start({ name: 'agvxb', underlay: { ip: `${HOST_B}/24`, peer: 'agvxa' } });
      sandboxes.push(b);
      const vm1 = await a.addVm({
        name: 'vm1',
        mac: P1.mac,
        ip: `${P1.ip}/24`,
        ofport: 1,
        iface: tapNameFor(P1.id),
        mtu: 1450,
      });
      await b.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/24`, ofport: 2, iface: tapNameFor(P2.id), mtu: 1450 });
      const agentA = await startAgent(a, ['--tunnel-ip', HOST_A, '--tunnel-ofport', '100', '--workers', '2']);
      agents.push(agentA);
      const agentB = await startAgent(b, ['--tunnel-ip', HOST_B, '--tunnel-ofport', '100']);
      agents.push(agentB);

      const ra = await agentA.push(
        goalState({ hostIp: HOST_A, cidr: CIDR, gatewayIp: GW, ports: [P1], neighbors: [{ ...P2, hostIp: HOST_B }] }),
      );
      const rb = await agentB.push(
        goalState({ hostIp: HOST_B, cidr: CIDR, gatewayIp: GW, ports: [P2], neighbors: [{ ...P1, hostIp: HOST_A }] }),
      );
      for (const r of [ra, rb]) {
        assert.ok(
          r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
          JSON.stringify(r),
        );
      }
      const ping = await vm1.exec(['ping', '-c3', '-i0.2', '-W2', P2.ip]);
      assert.is(ping.code, 0, ping.stdout + ping.stderr);
      const stats = (await b.ofctl(['dump-ports', 'br-int', '100'])).stdout;
      assert.match(stats, /rx pkts=[1-9]/);
    } finally {
      for (const ag of agents) await ag.stop();
      for (const sb of sandboxes.reverse()) await sb.stop();
    }
  });

  test.run();
}
