// Shared by the big-push fault tests (agent/fault-*.e2e.test.ts): two VMs on a sandboxed OVS under a
// real agent, a 100k-neighbor goal state, our flow count by aggregate stats, and a wait for the moment
// the agent is applying a goal state (the point at which the faults are injected).
import * as assert from 'uvu/assert';
import { OperationStatus, type GoalStateOperationReply } from '../proto';
import { OvsSandbox, type Vm } from '../test/sandbox';
import {
  countOurFlows,
  goalState,
  startAgent,
  type AgentProcess,
  type NeighborSpec,
  type PortSpec,
} from './e2e-helpers';
import { tapNameFor } from './ovsdb';

export const HOST_IP = '192.0.2.57';
const CIDR = '10.64.0.0/10';
const GATEWAY = '10.64.0.1';
export const P1: PortSpec = { id: '11111111-fa17-4000-8000-000000000001', mac: '02:00:00:57:00:01', ip: '10.64.0.11' };
export const P2: PortSpec = { id: '22222222-fa17-4000-8000-000000000002', mac: '02:00:00:57:00:02', ip: '10.64.0.12' };
export const NEIGHBORS = 100_000;

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

export const base = goalState({ hostIp: HOST_IP, cidr: CIDR, gatewayIp: GATEWAY, ports: [P1, P2] });
export const big = goalState({
  hostIp: HOST_IP,
  cidr: CIDR,
  gatewayIp: GATEWAY,
  ports: [P1, P2],
  neighbors: neighbors(NEIGHBORS),
});

export const allSucceeded = (r: GoalStateOperationReply): boolean =>
  r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS);

/** Our flows in OVS (countOurFlows); -1 while OVS is away. */
export function flowCount(sb: OvsSandbox): Promise<number> {
  return countOurFlows(sb).catch(() => -1);
}

export async function pings(vm: Vm, ip: string): Promise<boolean> {
  return (await vm.exec(['ping', '-c1', '-W1', ip])).code === 0;
}

/** Resolves once the agent is applying a goal state (its gRPC queue has one running), per /metrics. */
export async function untilApplying(agent: AgentProcess, reply: Promise<unknown>): Promise<void> {
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

export interface Scene {
  sb: OvsSandbox;
  vm1: Vm;
  agent: AgentProcess;
  /** Our flows with only the two ports. */
  baseFlows: number;
}

export async function scene(name: string): Promise<Scene> {
  const sb = await OvsSandbox.start({ name });
  const vm1 = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/10`, ofport: 1, iface: tapNameFor(P1.id) });
  await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/10`, ofport: 2, iface: tapNameFor(P2.id) });
  const agent = await startAgent(sb, ['--tunnel-ip', HOST_IP, '--metrics', '127.0.0.1:0']);
  const r = await agent.push(base);
  assert.ok(allSucceeded(r), JSON.stringify(r));
  assert.ok(await pings(vm1, P2.ip), 'the two ports ping before the fault');
  return { sb, vm1, agent, baseFlows: await flowCount(sb) };
}
