// The OVN side of `alcor-bench vms --baseline ovn`: the same VM scenario on OVN, on freshly started sandboxed
// hosts. One central NB/SB/ovn-northd (test/ovn/sandbox), and on each of the H underlay hosts a real chassis: its
// own ovn-controller on that host's OVS, tunnel endpoint = the host's underlay IP, so cross-host pings go through
// real tunnels. Through the NB (test/ovn/network): a switch, a router port as gateway, OVN's native DHCP; then
// every VM's Logical_Switch_Port at once (one transaction per port, all sent together, as our per-port POSTs).
// ACTIVE on OVN = the port's `up` column (ovn-controller claimed it, installed its flows, northd reflected it),
// polled in the NB. The guests are the very ones of our run (scenario/guest.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type OvsSandbox, type Vm, type VmOptions } from '../test/sandbox';
import { OvnSandbox, startHypervisor, stopHypervisor, type EncapType } from '../test/ovn/sandbox';
import { addVmPort, createRoutedNetwork, deleteVmPort, syncHypervisors, upPorts } from '../test/ovn/network';
import { msSince } from './report/stats';
import { Guest, uptimeSeconds, writeLeaseHook } from './scenario/guest';
import { plugVms, startMeshedHosts } from './scenario/vm-hosts';
import { newTimes, recordGuest, summarizeTimes, vmMac, type VmTimes, type VmsSummary } from './scenario/vm-times';

export interface OvnVmsOptions {
  readonly vms: number;
  readonly hosts: number;
  /** Whole OVN run after the clock starts (ports up and guests pinging), then the delete: each gets this long. */
  readonly timeoutMs: number;
  readonly encap?: EncapType;
  readonly progress?: (line: string) => void;
}

export interface OvnVmsResult extends VmsSummary {
  /** Every port removed from the NB at once, until every chassis reported (hv_cfg) that its flows match; -1 if not. */
  readonly deleteMs: number;
  readonly setupMs: number;
  readonly encap: EncapType;
}

export interface OvnVmsRun {
  readonly result: OvnVmsResult;
  readonly times: readonly VmTimes[];
}

const SWITCH = 'net';
const GATEWAY = { ip: '10.30.0.1', mac: '02:cf:ff:00:00:01' } as const;
const POLL_MS = 25;

/** VM i's fixed address (OVN ports carry theirs; .0.1 is the gateway). */
export const ovnVmIp = (i: number): string => `10.30.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`;

interface OvnRig {
  central: OvnSandbox | null;
  readonly hosts: OvsSandbox[];
  readonly vms: Vm[];
  readonly guests: Guest[];
  readonly dir: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function buildOvnRig(o: OvnVmsOptions, rig: OvnRig, encap: EncapType, say: (l: string) => void): Promise<void> {
  const central = await OvnSandbox.start({ name: 'bvoc' });
  rig.central = central;
  await startMeshedHosts('bvo', o.hosts, rig.hosts);
  const vmOptions = (i: number): VmOptions => ({
    name: `vm${i}`,
    mac: vmMac(i),
    ip: '169.254.0.1/16',
    portId: `vp${i}`,
    mtu: 1400,
  });
  rig.vms.push(...(await plugVms(rig.hosts, o.vms, vmOptions)));
  say(`OVN: ${o.hosts} hosts, ${o.vms} VM namespaces plugged`);
  for (const [h, sb] of rig.hosts.entries()) await startHypervisor(sb, central.sbSocket, `hv${h}`, encap);
}

/** Polls the NB for `up` ports: each newly up VM boots, and learns its peer's address once that one is up too. */
async function bringUp(rig: OvnRig, times: VmTimes[], t0: bigint, deadline: number, say: (l: string) => void) {
  const nb = (rig.central as OvnSandbox).nb;
  const n = times.length;
  const active = new Set<number>();
  const peered = new Set<number>();
  let lastSay = Date.now();
  while (active.size < n && Date.now() < deadline) {
    for (const name of await upPorts(nb)) {
      const i = Number(name.slice(2));
      if (!name.startsWith('vp') || active.has(i) || times[i] === undefined) continue;
      (times[i] as VmTimes).activeMs = msSince(t0);
      active.add(i);
      (rig.guests[i] as Guest).go();
    }
    for (const i of active) {
      if (peered.has(i) || !active.has((i + 1) % n)) continue;
      (rig.guests[i] as Guest).peer(ovnVmIp((i + 1) % n));
      peered.add(i);
    }
    if (Date.now() - lastSay > 2000) {
      say(`OVN: ${active.size}/${n} ports up (${Math.round(msSince(t0))} ms)`);
      lastSay = Date.now();
    }
    if (peered.size === n) break;
    await sleep(POLL_MS);
  }
  for (let i = 0; i < n; i++) {
    if (peered.has(i)) continue;
    const t = times[i] as VmTimes;
    t.error ??= active.has(i) ? `vm${i}: peer port never up` : `vm${i}: port not up within the OVN time limit`;
    (rig.guests[i] as Guest).stop();
  }
}

export async function runOvnVms(o: OvnVmsOptions): Promise<OvnVmsRun> {
  const say = o.progress ?? (() => undefined);
  const encap = o.encap ?? 'geneve';
  const setupStart = Date.now();
  const rig: OvnRig = {
    central: null,
    hosts: [],
    vms: [],
    guests: [],
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-bench-vms-ovn-')),
  };
  try {
    await buildOvnRig(o, rig, encap, say);
    const central = rig.central as OvnSandbox;
    const dhcp = await createRoutedNetwork(central.nb, {
      switchName: SWITCH,
      cidr: '10.30.0.0/16',
      gatewayIp: GATEWAY.ip,
      gatewayMac: GATEWAY.mac,
    });
    // Every chassis connected and programmed with the network before the clock, as our agents are.
    // Setup is off the clock: a short --ovn-timeout-s should fail VMs, not the chassis' first sync.
    const setupLimitMs = Math.max(o.timeoutMs, 60_000);
    if (!(await syncHypervisors(central.nb, Date.now() + setupLimitMs))) {
      throw new Error(`the OVN chassis did not catch up with the network within ${setupLimitMs / 1000} s`);
    }
    const hook = writeLeaseHook(rig.dir);
    for (const vm of rig.vms) rig.guests.push(new Guest(vm.netns, hook, GATEWAY.ip));
    const setupMs = Date.now() - setupStart;
    say(`OVN: network ready (${setupMs} ms); creating ${o.vms} logical ports at once`);
    const times = newTimes(o.vms, o.hosts);
    const portUuids: (string | undefined)[] = [];
    const t0 = process.hrtime.bigint();
    const uptime0 = uptimeSeconds();
    const deadline = Date.now() + o.timeoutMs;
    const creates = times.map((t, i) =>
      addVmPort(central.nb, SWITCH, dhcp, { name: `vp${i}`, mac: vmMac(i), ip: ovnVmIp(i) }).then(
        (u) => (portUuids[i] = u),
        (err: unknown) => (t.error = `vm${i}: port create: ${(err as Error).message}`),
      ),
    );
    await bringUp(rig, times, t0, deadline, say);
    await Promise.all(creates);
    // Guests still pinging at the deadline are ended: they count as failed, the run does not hang.
    const timer = setTimeout(() => rig.guests.forEach((g) => g.stop()), Math.max(0, deadline - Date.now()));
    const done = await Promise.all(rig.guests.map((g) => g.done));
    clearTimeout(timer);
    done.forEach((g, i) => {
      const t = times[i] as VmTimes;
      recordGuest(t, i, g, uptime0);
      if (t.upMs === undefined) t.error ??= `vm${i}: not pinging within the OVN time limit`;
    });
    const summary = summarizeTimes(times);
    say(`OVN: ${o.vms - summary.failed}/${o.vms} VMs pinging; deleting every logical port at once`);
    const d0 = process.hrtime.bigint();
    await Promise.all(
      portUuids.map((u) => (u === undefined ? undefined : deleteVmPort(central.nb, SWITCH, u).catch(() => undefined))),
    );
    const synced = await syncHypervisors(central.nb, Date.now() + o.timeoutMs);
    const deleteMs = synced ? Math.round(msSince(d0)) : -1;
    return { result: { ...summary, deleteMs, setupMs, encap }, times };
  } finally {
    for (const g of rig.guests) g.stop();
    for (const sb of rig.hosts) await stopHypervisor(sb).catch(() => undefined);
    for (const sb of rig.hosts) await sb.stop().catch(() => undefined);
    await rig.central?.stop().catch(() => undefined);
    fs.rmSync(rig.dir, { recursive: true, force: true });
  }
}
