// A VPC with a ZETA gateway on a real OVS sandbox, driven through `alcor-agent run`: the VM's
// broadcast (ARP for an unknown address) and unknown unicast reach the Zeta gateway node through the
// VXLAN tunnel (captured on the node), while the broadcast still reaches the host's other VM unchanged;
// an OAM injection sends the next packets straight to the node it names, rewritten (captured there),
// and a deletion or the idle timeout sends them back through the gateway (each counted from OVS's
// FLOW_REMOVED); a second destination modifies the select group in place (two buckets, same group
// id); a group of the agent's id range that no gateway wants is deleted after a restart; removing the
// gateway from the VPC restores exactly the flows of before.
// The node is a namespace on the host's underlay bridge (br-phy): a VXLAN endpoint, seen by tcpdump.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GatewayType, GoalStateV2, OperationStatus, OperationType, ResourceType } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox, type Vm } from '../test/sandbox';
import {
  VPC_ID,
  VNI,
  dumpOurFlows,
  goalState,
  runCli,
  startAgent,
  until,
  type AgentProcess,
  type PortSpec,
} from './e2e-helpers';
import { tapNameFor } from './ovsdb';
import { encodeOam, type OamInjection } from '../core/zeta/oam';

const HOST = '192.0.2.1';
const NODES = [
  { ip: '192.0.2.50', mac: '02:00:00:5e:00:50' },
  { ip: '192.0.2.51', mac: '02:00:00:5e:00:51' },
];
const GW_ID = 'zeta-gw-0000-4000-8000-000000000001';
/** The gateway's OAM port: one other agents on this machine are unlikely to hold. */
const OAM_PORT = 18000 + (process.pid % 1000);
const DIRECT_PATHS = 'cookie=0xa1c1000000000000/0xffff000000000000';
const INJECTION: OamInjection = {
  op: 'inject',
  srcIp: 0x0adb000b, // 10.219.0.11 (vm1)
  dstIp: 0x0adb0062, // 10.219.0.98 (the unknown destination)
  srcPort: 0,
  dstPort: 0,
  proto: 1,
  vni: 1001,
  instIp: 0x0adb0063, // 10.219.0.99: the instance's real address
  instMac: 0x020000190063,
  nodeIp: 0xc0000233, // 192.0.2.51: node2
  nodeMac: 0x02000005e0051,
  idleTimeout: 60,
};
const CIDR = '10.219.0.0/24';
const P1: PortSpec = { id: '19191919-cccc-4000-8000-000000000001', mac: '02:00:00:19:00:01', ip: '10.219.0.11' };
const P2: PortSpec = { id: '29292929-cccc-4000-8000-000000000002', mac: '02:00:00:19:00:02', ip: '10.219.0.12' };

/** A goal state that (re)states the VPC with `gatewayIds`, and the gateway with `nodes` when given. */
function gatewayGoalState(
  revision: number,
  gatewayIds: string[],
  nodes?: readonly (typeof NODES)[number][],
): GoalStateV2 {
  const base = goalState({ hostIp: HOST, cidr: CIDR, gatewayIp: '10.219.0.1' });
  const vpc = base.vpcStates[VPC_ID];
  const gs = GoalStateV2.fromPartial({ formatVersion: 102 });
  if (vpc?.configuration === undefined) throw new Error('goalState() gave no VPC');
  gs.vpcStates[VPC_ID] = {
    operationType: OperationType.UPDATE,
    configuration: { ...vpc.configuration, revisionNumber: revision, gatewayIds },
  };
  const refs = [{ type: ResourceType.VPC, id: VPC_ID }];
  if (nodes !== undefined) {
    gs.gatewayStates[GW_ID] = {
      operationType: OperationType.UPDATE,
      configuration: {
        revisionNumber: revision,
        requestId: 'e2e',
        id: GW_ID,
        gatewayType: GatewayType.ZETA,
        destinations: nodes.map((n) => ({ ipAddress: n.ip, macAddress: n.mac })),
        extraInfo: { $case: 'zetaInfo', zetaInfo: { portInbandOperation: OAM_PORT } },
      },
    };
    refs.push({ type: ResourceType.GATEWAY, id: GW_ID });
  }
  gs.hostResources[HOST] = { resources: refs };
  return gs;
}

/** tcpdump in a namespace: resolves with the lines once `want` holds, after it listens (`ready`). */
function capture(
  node: Vm,
  filter: readonly string[],
  want: (lines: string[]) => boolean,
): { ready: Promise<void>; done: Promise<string[]> } {
  const child = spawn(
    'ip',
    ['netns', 'exec', node.netns, 'timeout', '20', 'tcpdump', '-i', 'eth0', '-nn', '-e', '-l', ...filter],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  child.stderr.on('data', (c: Buffer) => {
    if (c.toString().includes('listening on')) onReady();
  });
  const done = new Promise<string[]>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      lines.push(...c.toString().split('\n').filter(Boolean));
      if (want(lines)) {
        child.kill('SIGTERM');
        resolve(lines);
      }
    });
    child.once('exit', () => (want(lines) ? resolve(lines) : reject(new Error(`capture ended: ${lines.join('\n')}`))));
  });
  return { ready, done };
}

async function pushOk(agent: AgentProcess, gs: GoalStateV2): Promise<void> {
  const r = await agent.push(gs);
  assert.ok(
    r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
    JSON.stringify(r.operationStatuses),
  );
}

interface FlowsReport {
  readonly inSync: boolean;
  readonly desired: number;
  readonly installed: number;
  readonly groups: string[];
  readonly staleGroups: string[];
  readonly zetaDirectPaths: { installed: number; expired: number; removed: Record<string, number> };
}

async function flowsReport(agent: AgentProcess): Promise<FlowsReport> {
  const r = await runCli(['flows', '--metrics', `127.0.0.1:${agent.metricsPort ?? 0}`]);
  return JSON.parse(r.stdout) as FlowsReport;
}

function sendOam(bytes: Uint8Array): Promise<void> {
  const s = dgram.createSocket('udp4');
  return new Promise<void>((resolve, reject) =>
    s.send(bytes, OAM_PORT, '127.0.0.1', (e) => {
      s.close();
      if (e) reject(e);
      else resolve();
    }),
  );
}

async function directPaths(sb: OvsSandbox): Promise<string[]> {
  const out = (await sb.ofctl(['--no-stats', 'dump-flows', 'br-int', DIRECT_PATHS])).stdout;
  return out.split('\n').filter((l) => l.includes('cookie=0xa1c1'));
}

async function groups(sb: OvsSandbox): Promise<string[]> {
  const out = (await sb.ofctl(['dump-groups', 'br-int'])).stdout;
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('group_id='));
}

interface World {
  readonly sb: OvsSandbox;
  readonly agent: AgentProcess;
  readonly vm: Vm;
  readonly vm2: Vm;
  readonly node: Vm;
}

const seen = (l: string[], what: RegExp): boolean => l.some((x) => what.test(x));

/** vm1 pings 10.219.0.98, whose MAC (static in vm1) no flow knows; resolves once `at` captured it. */
async function pingUnknown(w: World, at: Vm, want: RegExp): Promise<string[]> {
  const cap = capture(at, ['udp', 'port', '4789'], (l) => seen(l, want));
  await cap.ready;
  await w.vm.exec(['ping', '-c1', '-W1', '10.219.0.98']);
  return cap.done;
}

/** Broadcast (ARP for an address nobody has) and unknown unicast reach the node; the local flood still runs. */
async function checkFlooding(w: World): Promise<void> {
  // tcpdump prints the outer frame (VXLAN, vni) and the inner one on lines of their own.
  const local = capture(w.vm2, ['arp'], (l) => seen(l, /ff:ff:ff:ff:ff:ff.*who-has 10\.219\.0\.99/));
  const cap = capture(
    w.node,
    ['udp', 'port', '4789'],
    (l) =>
      seen(l, new RegExp(`vni ${VNI}`)) &&
      seen(l, /who-has 10\.219\.0\.99/) &&
      seen(l, /10\.219\.0\.11 > 10\.219\.0\.98: ICMP echo request/),
  );
  await cap.ready;
  await local.ready;
  await w.vm.exec(['arping', '-c1', '-w1', '-I', 'eth0', '10.219.0.99']);
  const neigh = ['10.219.0.98', 'lladdr', '02:00:00:19:00:98', 'dev', 'eth0', 'nud', 'permanent'];
  await w.vm.exec(['ip', 'neigh', 'replace', ...neigh]);
  await w.vm.exec(['ping', '-c1', '-W1', '10.219.0.98']);
  const lines = await cap.done;
  await local.done;
  assert.ok(
    lines.some((l) => l.includes(`> ${NODES[0].ip}.4789`)),
    'tunnelled to the node',
  );
  assert.ok(
    lines.some((l) => l.includes(`> ${NODES[0].mac}`)),
    "inner frames carry the node's MAC",
  );
}

async function metricsText(w: World): Promise<string> {
  return fetch(`http://127.0.0.1:${w.agent.metricsPort ?? 0}/metrics`).then((r) => r.text());
}

/** Garbage is dropped and counted; an injection sends the flow to node2, rewritten; a deletion or the idle timeout sends it back. */
async function checkDirectPath(w: World): Promise<void> {
  const node2 = await w.sb.addVm({ name: 'node2', mac: NODES[1].mac, ip: `${NODES[1].ip}/24`, bridge: 'br-phy' });
  await w.sb.appctl(['tnl/neigh/set', 'br-phy', NODES[1].ip, NODES[1].mac]);
  await until('the OAM port is bound', async () => /alcor_agent_zeta_oam_ports 1/.test(await metricsText(w)));
  await sendOam(new Uint8Array([1, 2, 3]));
  await sendOam(encodeOam(INJECTION));
  await until('the direct path is installed', async () => (await directPaths(w.sb)).length === 1);
  const path = (await directPaths(w.sb))[0];
  assert.match(path, /idle_timeout=60/);
  assert.match(path, /priority=50,icmp/);
  const direct = await pingUnknown(
    w,
    node2,
    /02:00:00:19:00:01 > 02:00:00:19:00:63.*10\.219\.0\.11 > 10\.219\.0\.99: ICMP echo request/,
  );
  assert.ok(
    direct.some((l) => l.includes(`> ${NODES[1].ip}.4789`)),
    direct.join('\n'),
  );
  const metrics = await metricsText(w);
  assert.match(metrics, /alcor_agent_zeta_oam_messages_total\{outcome="inject"\} 1/);
  assert.match(metrics, /alcor_agent_zeta_oam_messages_total\{outcome="truncated"\} 1/);
  const flows = await runCli(['flows', '--metrics', `127.0.0.1:${w.agent.metricsPort ?? 0}`]);
  assert.is(flows.code, 0, `the reconcile does not count direct paths: ${flows.stdout}`);

  const viaGateway = /10\.219\.0\.11 > 10\.219\.0\.98: ICMP echo request/;
  assert.match(metrics, /alcor_agent_zeta_direct_paths_installed 1/);
  await sendOam(encodeOam({ ...INJECTION, op: 'delete' }));
  await until('the direct path is deleted', async () => (await directPaths(w.sb)).length === 0);
  // OVS reports the deletion (FLOW_REMOVED, reason delete): not an expiry.
  await until('the agent saw it go', async () => (await flowsReport(w.agent)).zetaDirectPaths.removed.delete === 1);
  await pingUnknown(w, w.node, viaGateway);

  await sendOam(encodeOam({ ...INJECTION, idleTimeout: 1 }));
  await until('the short-lived direct path is installed', async () => (await directPaths(w.sb)).length === 1);
  await until('OVS expires it', async () => (await directPaths(w.sb)).length === 0, 15_000);
  await until('the agent counts the expiry', async () => (await flowsReport(w.agent)).zetaDirectPaths.expired === 1);
  assert.equal((await flowsReport(w.agent)).zetaDirectPaths, {
    installed: 0,
    expired: 1,
    removed: { delete: 1, idle_timeout: 1 },
  });
  await pingUnknown(w, w.node, viaGateway);
  await checkOtherRemoval(w);
}

/** A FLOW_REMOVED for a flow that is not a direct path (someone else's, with send_flow_rem) is counted apart. */
async function checkOtherRemoval(w: World): Promise<void> {
  const other = 'cookie=0x1234,table=0,priority=1,hard_timeout=1,send_flow_rem,udp,tp_dst=9,actions=drop';
  await w.sb.ofctl(['add-flow', 'br-int', other]);
  await until('OVS removed the other flow and told the agent', async () =>
    /flow_removed_ignored_total\{why="not_direct_path"\} 1/.test(await metricsText(w)),
  );
  const metrics = await metricsText(w);
  assert.match(metrics, /alcor_agent_zeta_direct_paths_removed_total\{reason="idle_timeout"\} 1/);
  assert.match(metrics, /alcor_agent_zeta_direct_paths_installed 0/);
}

/**
 * Groups are not in flow dumps: a group with an id in the agent's range (1..0x7ffffffe) that no
 * gateway wants, added while the agent was down, must be deleted by the converge after its restart;
 * a group above the range is not the agent's and must stay. This stops the agent and adds both.
 */
async function addGroupsWhileStopped(w: World): Promise<void> {
  await w.agent.stop();
  await w.sb.ofctl(['add-group', 'br-int', 'group_id=12345,type=select,bucket=actions=output:100']);
  await w.sb.ofctl(['add-group', 'br-int', 'group_id=4000000000,type=select,bucket=actions=output:100']);
}

async function checkStaleGroupGone(w: World, wanted: readonly string[]): Promise<void> {
  await until('the stale group is deleted', async () => !(await groups(w.sb)).some((g) => /group_id=12345,/.test(g)));
  const after = await groups(w.sb);
  assert.equal(
    after.filter((g) => !g.startsWith('group_id=4000000000,')),
    wanted,
  );
  assert.ok(
    after.some((g) => g.startsWith('group_id=4000000000,')),
    'a group outside our range stays',
  );
  await w.sb.ofctl(['del-groups', 'br-int', 'group_id=4000000000']);
  const report = await flowsReport(w.agent);
  assert.ok(report.inSync && report.staleGroups.length === 0, JSON.stringify(report));
}

if (requirePrereqs(['root', 'ovs', 'netns', 'arping', 'tcpdump'])) {
  test('ZETA gateway: flooding and direct paths through the tunnel; group modified in place; removable', async () => {
    const sb = await OvsSandbox.start({ name: 'zeta1', underlay: { ip: `${HOST}/24` } });
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-zeta-e2e-'));
    const flags = ['--tunnel-ip', HOST, '--tunnel-ofport', '100', '--metrics', '127.0.0.1:0', '--state-dir', stateDir];
    let agent: AgentProcess | undefined;
    try {
      const vm = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, iface: tapNameFor(P1.id), mtu: 1450 });
      const vm2 = await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/24`, iface: tapNameFor(P2.id), mtu: 1450 });
      const node = await sb.addVm({ name: 'node1', mac: NODES[0].mac, ip: `${NODES[0].ip}/24`, bridge: 'br-phy' });
      await sb.appctl(['tnl/neigh/set', 'br-phy', NODES[0].ip, NODES[0].mac]);
      agent = await startAgent(sb, flags);
      await pushOk(agent, goalState({ hostIp: HOST, cidr: CIDR, gatewayIp: '10.219.0.1', ports: [P1, P2] }));
      const before = await dumpOurFlows(sb);

      await pushOk(agent, gatewayGoalState(2, [GW_ID], [NODES[0]]));
      const one = await groups(sb);
      assert.is(one.length, 1, one.join('\n'));
      assert.match(one[0], new RegExp(`set_field:${NODES[0].ip}->tun_dst`));
      const report = await flowsReport(agent);
      assert.ok(report.inSync && report.desired === report.installed, JSON.stringify(report));
      assert.equal(report.groups, one, '`alcor-agent flows` lists the group as OVS does');

      const w: World = { sb, agent, vm, vm2, node };
      await checkFlooding(w);
      await checkDirectPath(w);

      // A second node: the same group, now with two buckets.
      await pushOk(agent, gatewayGoalState(3, [GW_ID], NODES));
      const two = await groups(sb);
      assert.is(two.length, 1);
      assert.is(two[0].split(',')[0], one[0].split(',')[0], 'same group id: modified in place');
      assert.is(two[0].split('bucket=').length - 1, 2, two[0]);

      // OVS restarts empty: the agent's reconcile sends the group back with the flows that use it.
      const withGateway = await dumpOurFlows(sb);
      await sb.stopVswitchd();
      await sb.startVswitchd();
      await until(
        'the group and the flows are back',
        async () => (await groups(sb)).length === 1 && (await dumpOurFlows(sb)).length === withGateway.length,
        30_000,
      );
      assert.equal(await groups(sb), two);

      await addGroupsWhileStopped(w);
      agent = await startAgent(sb, flags);
      await checkStaleGroupGone({ ...w, agent }, two);

      // The VPC leaves the gateway: no group, and exactly the flows of before.
      await pushOk(agent, gatewayGoalState(4, []));
      await until('the group is gone', async () => (await groups(sb)).length === 0);
      assert.equal(await dumpOurFlows(sb), before);
    } finally {
      await agent?.stop();
      await sb.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test.run();
}
