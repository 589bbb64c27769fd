// One L2 segment on OVN, the shape of alcor-bench's neighbors fixture: a logical switch with one port on the local
// hypervisor (a VM namespace whose OVS interface carries external_ids:iface-id) and remote ports bound to fake
// chassis. Flows are counted on br-int: OVN installs exactly 3 per remote port (ARP responder, L2 lookup, remote
// output; shared/reference/ovn-baseline.md), so "done" is the count before the remote ports plus 3 per port (plus
// SEGMENT_REMOTE_FLOWS once).
import { neighborAddresses, NEIGHBORS_PORT } from '../fixtures/goalstates';
import {
  NB_DB,
  SB_DB,
  addChassis,
  addPorts,
  bindPorts,
  chassisUuids,
  createSwitch,
  syncSb,
  unboundBindings,
  type FakeChassis,
  type LogicalPort,
} from './db';
import type { OvnSandbox } from './sandbox';

export const SWITCH = 'ls0';
export const FLOWS_PER_REMOTE_PORT = 3;
/**
 * Flows per segment, not per port, that appear with the first remote port: the remote output (to every chassis
 * with a port in the switch) of its two multicast groups, flood (0x8000) and flood_l2 (0x8004).
 */
export const SEGMENT_REMOTE_FLOWS = 2;

/** br-int's flow count once `remotePorts` remote ports are programmed, given the count without any. */
export function expectedFlows(base: number, remotePorts: number): number {
  return remotePorts === 0 ? base : base + SEGMENT_REMOTE_FLOWS + FLOWS_PER_REMOTE_PORT * remotePorts;
}
export const LOCAL_PORT: LogicalPort = { name: 'local', mac: NEIGHBORS_PORT.mac, ip: NEIGHBORS_PORT.ip };

/** Remote port i (1-based): the same MAC and IP as the agent benchmark's neighbor i. */
export function remotePort(i: number): LogicalPort {
  const a = neighborAddresses(i);
  return { name: `r${i}`, mac: a.mac, ip: a.ip };
}

/** Fake chassis hv2 .. hv<count+1> with tunnel endpoints in 198.18.0.0/15 (benchmarking space, never routed). */
export function fakeChassis(count: number): FakeChassis[] {
  return Array.from({ length: count }, (_, k) => ({
    name: `hv${k + 2}`,
    ip: `198.18.${Math.floor((k + 2) / 256)}.${(k + 2) % 256}`,
  }));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Creates the switch, the fake chassis and the local port (logical port + VM on br-int). */
export async function createSegment(ovn: OvnSandbox, chassis: readonly FakeChassis[]): Promise<void> {
  await addChassis(ovn.sb, chassis);
  await createSwitch(ovn.nb, SWITCH);
  await addPorts(ovn.nb, SWITCH, [LOCAL_PORT]);
  await ovn.ovs.addVm({ name: 'vm1', mac: LOCAL_PORT.mac, ip: `${LOCAL_PORT.ip}/8`, portId: LOCAL_PORT.name });
}

/**
 * Adds remote ports to the NB (BATCH per transaction) and binds each to a fake chassis as soon as ovn-northd has
 * made its Port_Binding row, as the remote ovn-controllers would. Resolves once all are bound; throws at deadline.
 */
export async function addRemotePorts(
  ovn: OvnSandbox,
  ports: readonly LogicalPort[],
  chassis: readonly FakeChassis[],
  deadline: number,
): Promise<void> {
  await addPorts(ovn.nb, SWITCH, ports);
  await bindRemotePorts(ovn, ports, chassis, deadline);
}

/** Binds port i to chassis i mod count, as its Port_Binding rows appear; ports already bound are left alone. */
export async function bindRemotePorts(
  ovn: OvnSandbox,
  ports: readonly LogicalPort[],
  chassis: readonly FakeChassis[],
  deadline: number,
): Promise<void> {
  const uuids = await chassisUuids(ovn.sb);
  const want = new Map(
    ports.map((p, i) => [p.name, uuids.get(chassis[i % chassis.length]?.name ?? '') ?? ''] as const),
  );
  for (;;) {
    const unbound = await unboundBindings(ovn.sb);
    const now: { bindingUuid: string; chassisUuid: string }[] = [];
    for (const [name, chassisUuid] of want) {
      const bindingUuid = unbound.get(name);
      if (bindingUuid === undefined) continue;
      now.push({ bindingUuid, chassisUuid });
      want.delete(name);
    }
    if (now.length > 0) await bindPorts(ovn.sb, now);
    if (want.size === 0) return;
    if (now.length > 0) continue;
    // The rest are not unbound: either northd has not made their rows yet, or an earlier pass bound them.
    if (await allBound(ovn, want)) return;
    if (Date.now() > deadline) throw new Error(`ovn-northd made no Port_Binding for ${want.size} ports in time`);
    await sleep(50);
  }
}

/** True when every named port has a Port_Binding with a chassis (bound in an earlier pass). */
async function allBound(ovn: OvnSandbox, names: ReadonlyMap<string, string>): Promise<boolean> {
  const [sel] = await ovn.sb.transact(SB_DB, [
    { op: 'select', table: 'Port_Binding', where: [], columns: ['logical_port', 'chassis'] },
  ]);
  let bound = 0;
  for (const r of sel?.rows ?? []) {
    if (names.has(String(r.logical_port)) && !(Array.isArray(r.chassis) && r.chassis[0] === 'set')) bound++;
  }
  return bound === names.size;
}

/**
 * Waits until ovn-controller has caught up with everything: the local port claimed and up, northd synced, and the
 * flow count unchanged over `quietPolls` polls. Returns that count.
 */
export async function settledFlowCount(ovn: OvnSandbox, deadline: number, quietPolls = 10): Promise<number> {
  for (;;) {
    const [sel] = await ovn.sb.transact(SB_DB, [
      { op: 'select', table: 'Port_Binding', where: [['logical_port', '==', LOCAL_PORT.name]], columns: ['up'] },
    ]);
    if (sel?.rows?.[0]?.up === true) break;
    if (Date.now() > deadline) throw new Error('ovn-controller did not claim the local port in time');
    await sleep(50);
  }
  await syncSb(ovn.nb, Math.max(1, deadline - Date.now()));
  let last = -1;
  let same = 0;
  for (;;) {
    const n = await ovn.flowCount();
    same = n === last ? same + 1 : 0;
    last = n;
    if (same >= quietPolls) return n;
    if (Date.now() > deadline) throw new Error(`br-int flow count did not settle in time (last ${n})`);
    await sleep(100);
  }
}

/** Polls br-int until it holds at least `target` flows: the time it took in ms, or null at the deadline. */
export async function waitForFlows(
  ovn: OvnSandbox,
  target: number,
  startedAt: number,
  deadline: number,
  pollMs = 50,
): Promise<{ readonly ms: number | null; readonly flows: number }> {
  for (;;) {
    const flows = await ovn.flowCount().catch(() => -1);
    if (flows >= target) return { ms: performance.now() - startedAt, flows };
    if (Date.now() > deadline) return { ms: null, flows };
    await sleep(pollMs);
  }
}

export { NB_DB, SB_DB };
