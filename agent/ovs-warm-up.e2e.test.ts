// The switch warm-up at start (ovs-warm-up.ts): a fresh agent installs its warm-up flows into an
// unused table and deletes them before it serves. Nothing of them stays installed, the bridge holds
// only the agent's own flows, and traffic through those flows is as before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tapNameFor } from './ovsdb';
import { OperationStatus } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { goalState, startAgent, type AgentProcess, type PortSpec } from './e2e-helpers';
import { WARM_UP_FLOWS, WARM_UP_TABLE } from './ovs-warm-up';

const HOST_IP = '192.0.2.66';
const CIDR = '10.216.0.0/24';
const P1: PortSpec = { id: '11111111-eeee-4000-8000-000000000001', mac: '02:00:00:66:00:01', ip: '10.216.0.11' };
const P2: PortSpec = { id: '22222222-eeee-4000-8000-000000000002', mac: '02:00:00:66:00:02', ip: '10.216.0.12' };

/** Every flow on br-int, as ovs-ofctl text. */
async function allFlows(sb: OvsSandbox): Promise<string[]> {
  const r = await sb.ofctl(['-O', 'OpenFlow14', '--no-stats', 'dump-flows', 'br-int']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('OFPST_FLOW') && !l.startsWith('NXST_FLOW'));
}

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('switch warm-up: done before ready, nothing left installed, traffic unaffected', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'agwarm' });
      const vm1 = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/24`, ofport: 2, iface: tapNameFor(P2.id) });
      agent = await startAgent(sb, ['--tunnel-ip', HOST_IP]);
      const warmed = agent.logs.find((l) => l.msg === 'switch warmed');
      assert.ok(warmed !== undefined, JSON.stringify(agent.logs));
      assert.is(warmed.flows, WARM_UP_FLOWS);
      const ready = agent.logs.findIndex((l) => l.msg === 'agent ready');
      assert.ok(agent.logs.indexOf(warmed) < ready, 'warmed before ready');

      const before = await allFlows(sb);
      assert.ok(before.length > 0, 'the start-up flows are there');
      assert.equal(
        before.filter((l) => !l.includes('cookie=0xa1c0')),
        [],
        'only the agent flows: no warm-up flow stayed',
      );
      const warmTable = await sb.ofctl(['-O', 'OpenFlow14', 'dump-flows', 'br-int', `table=${WARM_UP_TABLE}`]);
      assert.not.match(warmTable.stdout, /cookie=/, warmTable.stdout);

      const r = await agent.push(goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: '10.216.0.1', ports: [P1, P2] }));
      assert.ok(
        r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r),
      );
      const ping = await vm1.exec(['ping', '-c2', '-i0.2', '-W2', P2.ip]);
      assert.is(ping.code, 0, ping.stdout + ping.stderr);
    } finally {
      await agent?.stop();
      await sb?.stop();
    }
  });
}

test.run();
