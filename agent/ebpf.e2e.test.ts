// End to end: `alcor-agent run --dataplane both` mirrors the engine's ARP answers into the XDP ARP responder's
// pinned map and attaches the responder to the VM port's OVS-side interface (in the sandbox's netns).
//   - arping from the VM for a neighbor gets the neighbor's MAC, and the XDP replied counter moves (so XDP answered:
//     it replies with XDP_TX before OVS sees the frame);
//   - DELETE of the neighbor removes its entry: no reply, the missed counter moves;
//   - kill -9 and restart: pinned map + attached program still answer, and the restarted agent reconciles.
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tapNameFor } from './ovsdb';
import { OperationStatus, OperationType } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import {
  arpAnswerFlows,
  arping,
  goalState,
  startAgent,
  until,
  xdpCounters,
  xdpAgentFlags,
  xdpScenario,
  type AgentProcess,
} from './e2e-helpers';

const S = xdpScenario('agebpf', 12);
const { hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, port: P1, neighbor: N1 } = S;
const { pinDir: PIN_DIR, stateDir: STATE_DIR } = S;

if (requirePrereqs(['root', 'ovs', 'netns', 'bpf', 'clang', 'arping'])) {
  test('--dataplane both: XDP answers ARP for a neighbor, forgets it on DELETE, survives kill -9', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    fs.rmSync(PIN_DIR, { recursive: true, force: true });
    fs.rmSync(STATE_DIR, { recursive: true, force: true });
    try {
      sb = await OvsSandbox.start({ name: 'agebpf' });
      const vm = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      const xdpFlags = xdpAgentFlags(S, 'both', sb.netns);
      agent = await startAgent(sb, xdpFlags);

      const r1 = await agent.push(
        goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, ports: [P1], neighbors: [N1] }),
      );
      assert.ok(
        r1.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r1),
      );
      const a = agent;
      await until('the port is attached and the table holds the neighbor', async () => {
        const c = await xdpCounters(a, P1.id);
        return c.replied === 0 && c.entries >= 2;
      });
      // `both`: OVS answers too (the port and the neighbor; the gateway only with a router), XDP just answers first.
      const answers = await arpAnswerFlows(sb);
      assert.is(answers.length, 2, answers.join('\n'));
      assert.ok(
        answers.some((l) => l.includes(`arp_tpa=${N1.ip}`)),
        answers.join('\n'),
      );
      assert.is(await arping(vm, N1.ip), N1.mac);
      const c1 = await xdpCounters(agent, P1.id);
      assert.ok(c1.replied >= 1, `XDP replied (${JSON.stringify(c1)})`);

      // DELETE the neighbor: its entry leaves the map; XDP misses and nothing answers.
      const del = goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, neighbors: [N1], withNetwork: false });
      for (const n of Object.values(del.neighborStates)) n.operationType = OperationType.DELETE;
      const r2 = await agent.push(del);
      assert.ok(
        r2.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r2),
      );
      await until('the neighbor entry is gone', async () => (await xdpCounters(a, P1.id)).entries === c1.entries - 1);
      assert.is(await arping(vm, N1.ip), null);
      const c2 = await xdpCounters(agent, P1.id);
      assert.ok(c2.missed > c1.missed, `XDP missed (${JSON.stringify(c2)})`);

      // Put it back, then kill -9: the pinned map and the attached program keep answering without the agent.
      await agent.push(goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, neighbors: [N1], withNetwork: false }));
      await until('the neighbor entry is back', async () => (await xdpCounters(a, P1.id)).entries === c1.entries);
      await agent.kill9();
      agent = undefined;
      assert.is(await arping(vm, N1.ip), N1.mac, 'answered with no agent running');
      agent = await startAgent(sb, xdpFlags);
      const b = agent;
      await until(
        'the restarted agent reads the pinned table',
        async () => (await xdpCounters(b, P1.id)).entries === c1.entries,
      );
      assert.is(await arping(vm, N1.ip), N1.mac, 'answered after restart');
    } finally {
      await agent?.stop();
      await sb?.stop();
      fs.rmSync(PIN_DIR, { recursive: true, force: true });
      fs.rmSync(STATE_DIR, { recursive: true, force: true });
    }
  });

  test.run();
}
