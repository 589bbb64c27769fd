// End to end: `alcor-agent run --dataplane ebpf` leaves ARP to the XDP responder alone.
//   - OVS gets no ArpResponder answer flow (ports, neighbors, gateways), only the table's miss, punt and skip flows;
//   - arping from the VM for a neighbor and for the gateway is answered, and the port's XDP replied counter moves;
//   - with the program detached while the agent is down (kill -9), nothing answers: OVS has no answer flow to
//     fall back on. A restart with --state-dir re-attaches the restored port during start-up, so it answers as soon
//     as the agent is ready, before any goal state is pushed.
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tapNameFor } from './ovsdb';
import { OperationStatus } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { check } from '../test/sandbox/exec';
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

const S = xdpScenario('agebpfonly', 13);
const { hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, gatewayMac: GW_MAC, port: P1, neighbor: N1 } = S;
const { pinDir: PIN_DIR, stateDir: STATE_DIR } = S;

if (requirePrereqs(['root', 'ovs', 'netns', 'bpf', 'clang', 'arping'])) {
  test('--dataplane ebpf: no OVS ARP answer flows; XDP answers, also right after a restart from --state-dir', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    fs.rmSync(PIN_DIR, { recursive: true, force: true });
    fs.rmSync(STATE_DIR, { recursive: true, force: true });
    try {
      sb = await OvsSandbox.start({ name: 'agebpfonly' });
      const tap = tapNameFor(P1.id);
      const vm = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tap });
      const flags = xdpAgentFlags(S, 'ebpf', sb.netns);
      agent = await startAgent(sb, flags);

      const r1 = await agent.push(
        goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GW, gatewayMac: GW_MAC, ports: [P1], neighbors: [N1] }),
      );
      assert.ok(
        r1.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r1),
      );
      const a = agent;
      // Gateway, port and neighbor.
      await until('the port is attached and the table holds its answers', async () => {
        const c = await xdpCounters(a, P1.id);
        return c.replied === 0 && c.entries === 3;
      });

      // OVS: the neighbor is programmed (its tunnel flow), the ArpResponder table has no answer flow.
      const l2 = await sb.ofctl(['dump-flows', 'br-int', 'table=60']);
      assert.match(l2.stdout, `dl_dst=${N1.mac}`, 'the neighbor L2 flow is installed');
      const table20 = (await sb.ofctl(['--no-stats', 'dump-flows', 'br-int', 'table=20'])).stdout;
      assert.equal(await arpAnswerFlows(sb), [], table20);
      assert.match(table20, 'actions=CONTROLLER', 'the punt flow stays');
      assert.match(table20, `arp_tpa=${P1.ip}`, 'the own-IP skip stays');

      assert.is(await arping(vm, N1.ip), N1.mac);
      assert.is(await arping(vm, GW), GW_MAC);
      const c1 = await xdpCounters(agent, P1.id);
      assert.ok(c1.replied >= 2, `XDP replied (${JSON.stringify(c1)})`);

      // kill -9, and take the program off the port while the agent is down (as if the interface had been
      // recreated): with no answer flows in OVS nothing answers now.
      await agent.kill9();
      agent = undefined;
      await check('ip', ['-n', sb.netns, 'link', 'set', 'dev', tap, 'xdpgeneric', 'off']);
      assert.is(await arping(vm, N1.ip), null, 'no XDP, no OVS answer flow: no reply');

      // Restart from the snapshot: the port is attached during start-up, before "agent ready".
      agent = await startAgent(sb, flags);
      const logs = agent.logs.map((l) => l.msg);
      const attachedAt = logs.indexOf('xdp attached');
      assert.ok(attachedAt >= 0 && attachedAt < logs.indexOf('agent ready'), JSON.stringify(logs));
      assert.is(await arping(vm, N1.ip), N1.mac, 'answered after restart, no goal state pushed');
      const c2 = await xdpCounters(agent, P1.id);
      assert.ok(c2.replied > c1.replied, `XDP replied after restart (${JSON.stringify(c2)} vs ${JSON.stringify(c1)})`);
      assert.is(c2.entries, 3);
      assert.equal(await arpAnswerFlows(sb), [], 'the start-up converge added no answer flow');
    } finally {
      await agent?.stop();
      await sb?.stop();
      fs.rmSync(PIN_DIR, { recursive: true, force: true });
      fs.rmSync(STATE_DIR, { recursive: true, force: true });
    }
  });

  test.run();
}
