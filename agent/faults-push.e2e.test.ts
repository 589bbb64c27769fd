// Faults injected in the middle of a large push (issue 14, part 3), on a real OVS: the agent SIGKILLed
// while it streams a 100k-neighbor bundle, and ovs-vswitchd restarted while it does. Each asserts that
// OVS holds either the whole goal state or none of it (a bundle is atomic: no partial bundle stays
// installed), that nothing acknowledged is lost, and that the other ports keep forwarding. Each prints
// its time to converge (a line `{"fault": ..., "convergeMs": ...}`), which is recorded, not asserted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationStatus, type GoalStateOperationReply } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox, type Vm } from '../test/sandbox';
import {
  dumpOurFlows,
  goalState,
  startAgent,
  until,
  type AgentProcess,
  type NeighborSpec,
  type PortSpec,
} from './e2e-helpers';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.57';
const CIDR = '10.64.0.0/10';
const GATEWAY = '10.64.0.1';
const P1: PortSpec = { id: '11111111-fa17-4000-8000-000000000001', mac: '02:00:00:57:00:01', ip: '10.64.0.11' };
const P2: PortSpec = { id: '22222222-fa17-4000-8000-000000000002', mac: '02:00:00:57:00:02', ip: '10.64.0.12' };
const NEIGHBORS = 100_000;

/** 100k remote neighbors in the ports' subnet, on three other hosts. */
function neighbors(n: number): NeighborSpec[] {
  const out: NeighborSpec[] = [];
  for (let i = 0; i < n; i++) {
    const ip = 10 * 2 ** 24 + 65 * 2 ** 16 + i; // from 10.65.0.0, inside 10.64.0.0/10
    const hex = i.toString(16).padStart(8, '0');
    out.push({
      id: `${hex}-fa17-4000-8000-0000000000ee`,
      mac: `02:01:${hex.replace(/(..)(?=.)/g, '$1:')}`,
      ip: [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.'),
      hostIp: `192.0.2.${100 + (i % 3)}`,
    });
  }
  return out;
}

const base = goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GATEWAY, ports: [P1, P2] });
const big = goalState({
  hostIp: HOST_IP,
  cidr: CIDR,
  gatewayIp: GATEWAY,
  ports: [P1, P2],
  neighbors: neighbors(NEIGHBORS),
});

const allSucceeded = (r: GoalStateOperationReply): boolean =>
  r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS);

async function flowCount(sb: OvsSandbox): Promise<number> {
  return (await dumpOurFlows(sb).catch(() => [])).length;
}

async function pings(vm: Vm, ip: string): Promise<boolean> {
  return (await vm.exec(['ping', '-c1', '-W1', ip])).code === 0;
}

/** Resolves once the agent is applying a goal state (its gRPC queue has one running), per /metrics. */
async function untilApplying(agent: AgentProcess, reply: Promise<unknown>): Promise<void> {
  let answered = false;
  void reply.finally(() => (answered = true));
  for (;;) {
    if (answered) throw new Error('the push was answered before the fault could be injected');
    const text = await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    if (/alcor_agent_grpc_queue\{state="running"\} 1/.test(text)) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Scene {
  sb: OvsSandbox;
  vm1: Vm;
  agent: AgentProcess;
  /** Our flows with only the two ports. */
  baseFlows: number;
}

async function scene(name: string): Promise<Scene> {
  const sb = await OvsSandbox.start({ name });
  const vm1 = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/10`, ofport: 1, iface: tapNameFor(P1.id) });
  await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/10`, ofport: 2, iface: tapNameFor(P2.id) });
  const agent = await startAgent(sb, ['--tunnel-ip', HOST_IP, '--metrics', '127.0.0.1:0']);
  const r = await agent.push(base);
  assert.ok(allSucceeded(r), JSON.stringify(r));
  assert.ok(await pings(vm1, P2.ip), 'the two ports ping before the fault');
  return { sb, vm1, agent, baseFlows: await flowCount(sb) };
}

/** The flow count with the whole 100k goal state, measured once on a clean push. */
let fullFlows = 0;

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('the agent SIGKILLed inside a 100k-neighbor bundle: all or nothing in OVS, traffic unaffected, converges on restart', async () => {
    let s: Scene | undefined;
    let agent: AgentProcess | undefined;
    try {
      s = await scene('fltkill');
      agent = s.agent;
      const reply = agent.push(big).then(
        (r) => r,
        () => null,
      );
      await untilApplying(agent, reply);
      await agent.kill9();
      const t0 = Date.now();
      const afterKill = await flowCount(s.sb);
      assert.ok(
        afterKill === s.baseFlows || afterKill > s.baseFlows + NEIGHBORS,
        `OVS holds the old flows or the whole new set, never part of it: ${afterKill} (base ${s.baseFlows})`,
      );
      assert.ok(await pings(s.vm1, P2.ip), 'the other ports forward while the agent is down');

      agent = await startAgent(s.sb, ['--tunnel-ip', HOST_IP, '--metrics', '127.0.0.1:0']);
      const again = await agent.push(big);
      assert.ok(allSucceeded(again), 'the goal state pushed again is applied');
      fullFlows = await flowCount(s.sb);
      assert.ok(fullFlows >= s.baseFlows + 2 * NEIGHBORS, `every neighbor programmed: ${fullFlows}`);
      assert.ok(afterKill === s.baseFlows || afterKill === fullFlows, 'a committed bundle was the whole goal state');
      assert.ok(await pings(s.vm1, P2.ip));
      console.log(JSON.stringify({ fault: 'agent SIGKILL inside a bundle', afterKill, convergeMs: Date.now() - t0 }));
    } finally {
      await agent?.stop();
      await s?.sb.stop();
    }
  });

  test('ovs-vswitchd restarted in the middle of a 100k-neighbor push: an acknowledged push is whole after the restart, a failed one leaves the old state', async () => {
    let s: Scene | undefined;
    try {
      s = await scene('fltovs');
      const { sb, agent } = s;
      const reply = agent.push(big).then(
        (r) => r,
        () => null,
      );
      await untilApplying(agent, reply);
      await sb.stopVswitchd();
      const t0 = Date.now();
      await sb.startVswitchd();
      const r = await reply;
      const acked = r !== null && allSucceeded(r);
      // The userspace datapath restarts empty: whatever OVS holds now, the agent put back.
      const expected = acked ? fullFlows : s.baseFlows;
      await until('the agent reinstalled its state', async () => (await flowCount(sb)) === expected, 60_000);
      const convergeMs = Date.now() - t0;
      await until('ping after the OVS restart', () => pings(s?.vm1 as Vm, P2.ip), 20_000);
      const again = await agent.push(big);
      assert.ok(allSucceeded(again), 'the next push applies');
      assert.is(await flowCount(sb), fullFlows, 'and then the whole goal state is in OVS');
      console.log(JSON.stringify({ fault: 'OVS restart mid-push', acked, convergeMs }));
    } finally {
      await s?.agent.stop();
      await s?.sb.stop();
    }
  });

  test.run();
}
