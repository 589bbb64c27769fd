// (f) Hitless restart: a ping every 50 ms keeps running while the agent is killed with SIGKILL and
// started again from its local snapshot. No packet is lost (the flows never leave OVS: the mgmt socket
// is a service connection, and the restarted agent converges by diff, flushing nothing), the
// restarted agent sends zero flow-mods, and the flow table is the same before and after.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationStatus } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import {
  dumpOurFlows,
  goalState,
  startAgent,
  stateDirHolds,
  until,
  type AgentProcess,
  type PortSpec,
} from './e2e-helpers';
import { Pinger } from './e2e-pinger';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.51';
const P1: PortSpec = { id: '11111111-bbbb-4000-8000-000000000001', mac: '02:00:00:22:00:01', ip: '10.212.0.11' };
const P2: PortSpec = { id: '22222222-bbbb-4000-8000-000000000002', mac: '02:00:00:22:00:02', ip: '10.212.0.12' };

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('kill -9 and restart under a 50 ms ping: zero loss, zero flow-mods, same flows', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-agent-state-'));
    try {
      sb = await OvsSandbox.start({ name: 'agrestart' });
      const vm1 = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/24`, ofport: 2, iface: tapNameFor(P2.id) });
      const args = ['--tunnel-ip', HOST_IP, '--state-dir', stateDir];
      agent = await startAgent(sb, args);
      const r = await agent.push(
        goalState({ hostIp: HOST_IP, cidr: '10.212.0.0/24', gatewayIp: '10.212.0.1', ports: [P1, P2] }),
      );
      assert.ok(
        r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r),
      );
      await until('state saved', async () => stateDirHolds(stateDir, P2.id));
      const warm = await vm1.exec(['ping', '-c1', '-W2', P2.ip]);
      assert.is(warm.code, 0, warm.stdout + warm.stderr);
      const before = await dumpOurFlows(sb);

      // A reply still in flight when the ping is stopped is not a loss: replies are counted by icmp_seq.
      const ping = new Pinger(vm1, P2.ip, 0.05);
      await ping.more(10, 'before the kill');
      await agent.kill9();
      agent = undefined;
      await ping.more(4, 'while no agent runs');
      agent = await startAgent(sb, args);
      await ping.more(14, 'after the restart');
      const { sent, lost } = await ping.stop();
      assert.ok(sent >= 28, `only ${sent} pings answered`);
      assert.equal(lost, [], `lost ${lost.length} of ${sent} pings across the restart`);

      const ready = agent.logs.find((l) => l.msg === 'agent ready');
      assert.is(ready?.convergeFlowMods, 0, 'the restarted agent found every flow in place');
      assert.equal(await dumpOurFlows(sb), before);
    } finally {
      await agent?.stop();
      await sb?.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('a trusted start matches OVS by count, serves, then checks each flow: one changed under the agent is put back', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-agent-state-'));
    try {
      sb = await OvsSandbox.start({ name: 'agverify' });
      await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      const args = ['--tunnel-ip', HOST_IP, '--state-dir', stateDir];
      agent = await startAgent(sb, args);
      await agent.push(goalState({ hostIp: HOST_IP, cidr: '10.212.0.0/24', gatewayIp: '10.212.0.1', ports: [P1, P2] }));
      const before = await dumpOurFlows(sb);
      await agent.kill9();
      agent = undefined;
      // Same count, other actions: what only a flow-by-flow check can see.
      const victim = before.find((l) => !l.includes('actions=drop'));
      assert.ok(victim !== undefined);
      await sb.ofctl(['--strict', 'mod-flows', 'br-int', victim.replace(/ actions=.*$/, ' actions=drop')]);
      assert.not.equal(await dumpOurFlows(sb), before);

      agent = await startAgent(sb, args);
      const a = agent;
      assert.is(a.logs.find((l) => l.msg === 'agent ready')?.convergeFlowMods, 0, 'ready before any flow-mod');
      assert.ok(a.logs.some((l) => String(l.msg).startsWith('installed flows match the restored state')));
      await until('the background check', async () => a.logs.some((l) => l.msg === 'restored flows verified'));
      const verified = a.logs.find((l) => l.msg === 'restored flows verified');
      assert.ok(Number(verified?.flowMods) >= 1, JSON.stringify(verified));
      assert.equal(await dumpOurFlows(sb), before, 'the changed flow is put back');
    } finally {
      await agent?.stop();
      await sb?.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test.run();
}
