// Faults injected around a running agent (issue 14, part 3), on a real OVS with VMs as namespaces: a
// state directory that is full or unusable, a VM's port removed under the agent, and a packet-in
// storm from one port. Each asserts that nothing acknowledged is lost and that the other ports are
// unaffected, and prints its time to converge (`{"fault": ..., "convergeMs": ...}`), recorded, not asserted.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationStatus, type GoalStateOperationReply } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { run } from '../test/sandbox/exec';
import { OvsSandbox, type Vm } from '../test/sandbox';
import {
  dumpOurFlows,
  goalState,
  startAgent,
  udhcpc,
  until,
  type AgentProcess,
  type NeighborSpec,
  type PortSpec,
} from './e2e-helpers';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.58';
const CIDR = '10.218.0.0/16';
const GATEWAY = '10.218.0.1';
const P1: PortSpec = { id: '11111111-fa18-4000-8000-000000000001', mac: '02:00:00:58:00:01', ip: '10.218.0.11' };
const P2: PortSpec = { id: '22222222-fa18-4000-8000-000000000002', mac: '02:00:00:58:00:02', ip: '10.218.0.12' };
const P3: PortSpec = { id: '33333333-fa18-4000-8000-000000000003', mac: '02:00:00:58:00:03', ip: '10.218.0.13' };

function neighbors(n: number): NeighborSpec[] {
  return Array.from({ length: n }, (_, i) => {
    const hex = i.toString(16).padStart(4, '0');
    return {
      id: `0000${hex}-fa18-4000-8000-0000000000ee`,
      mac: `02:02:00:00:${hex.slice(0, 2)}:${hex.slice(2)}`,
      ip: `10.218.${100 + (i >> 8)}.${i & 255}`,
      hostIp: '192.0.2.101',
    };
  });
}

const allSucceeded = (r: GoalStateOperationReply): boolean =>
  r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS);

async function pings(vm: Vm, ip: string): Promise<boolean> {
  return (await vm.exec(['ping', '-c1', '-W1', ip])).code === 0;
}

interface Scene {
  readonly sb: OvsSandbox;
  readonly vms: Vm[];
}

async function scene(name: string): Promise<Scene> {
  const sb = await OvsSandbox.start({ name });
  const vms: Vm[] = [];
  for (const [i, p] of [P1, P2, P3].entries()) {
    vms.push(
      await sb.addVm({ name: `vm${i + 1}`, mac: p.mac, ip: `${p.ip}/16`, ofport: i + 1, iface: tapNameFor(p.id) }),
    );
  }
  return { sb, vms };
}

const ports = { hostIp: HOST_IP, cidr: CIDR, gatewayIp: GATEWAY, ports: [P1, P2, P3], dhcp: [P1, P2, P3] };

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('a full state directory: pushes still succeed, and a restart keeps every acknowledged flow', async () => {
    let s: Scene | undefined;
    let agent: AgentProcess | undefined;
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-full-'));
    let mounted = false;
    try {
      s = await scene('fltfull');
      // Room for the small snapshot, not for one with 3,000 neighbors.
      const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', stateDir]);
      assert.is(m.code, 0, m.stderr);
      mounted = true;
      const args = ['--tunnel-ip', HOST_IP, '--state-dir', stateDir];
      agent = await startAgent(s.sb, args);
      assert.ok(allSucceeded(await agent.push(goalState(ports))));
      const snapFile = path.join(stateDir, 'snapshot.json');
      await until('the small snapshot written', async () => fs.existsSync(snapFile));
      const big = await agent.push(goalState({ ...ports, neighbors: neighbors(3000), withNetwork: false }));
      assert.ok(allSucceeded(big), 'a push is acknowledged although its snapshot cannot be written');
      const a = agent;
      await until('the failed snapshot write logged', async () =>
        a.logs.some((l) => l.msg === 'post-commit bookkeeping failed'),
      );
      const acked = await dumpOurFlows(s.sb);
      assert.ok(JSON.parse(fs.readFileSync(snapFile, 'utf8')), 'the previous snapshot is intact');

      await agent.kill9();
      const t0 = Date.now();
      agent = await startAgent(s.sb, args);
      const b = agent;
      await until('the restart saw the snapshot behind', async () =>
        b.logs.some((l) => String(l.msg).startsWith('snapshot may lack goal states')),
      );
      assert.equal(await dumpOurFlows(s.sb), acked, 'every acknowledged flow is still installed after the restart');
      assert.ok(await pings(s.vms[0] as Vm, P2.ip));
      console.log(JSON.stringify({ fault: 'state directory full, then kill -9', convergeMs: Date.now() - t0 }));
    } finally {
      await agent?.stop();
      await s?.sb.stop();
      if (mounted) await run('umount', [stateDir]);
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('an unusable state directory (a file in its place): the agent starts, serves and warns', async () => {
    let s: Scene | undefined;
    let agent: AgentProcess | undefined;
    const notADir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-notdir-')), 'state');
    fs.writeFileSync(notADir, 'not a directory');
    try {
      s = await scene('fltnodir');
      agent = await startAgent(s.sb, ['--tunnel-ip', HOST_IP, '--state-dir', notADir]);
      const r = await agent.push(goalState(ports));
      assert.ok(allSucceeded(r), JSON.stringify(r));
      assert.ok(await pings(s.vms[0] as Vm, P2.ip));
      assert.ok(
        agent.logs.some((l) => l.msg === 'state directory not writable' || l.msg === 'post-commit bookkeeping failed'),
        'the operator is told',
      );
    } finally {
      await agent?.stop();
      await s?.sb.stop();
      fs.rmSync(path.dirname(notADir), { recursive: true, force: true });
    }
  });

  test("a VM's port removed under the agent: the others keep forwarding; put back, it forwards again", async () => {
    let s: Scene | undefined;
    let agent: AgentProcess | undefined;
    try {
      s = await scene('fltport');
      const [vm1, vm2] = s.vms as [Vm, Vm, Vm];
      agent = await startAgent(s.sb, ['--tunnel-ip', HOST_IP]);
      assert.ok(allSucceeded(await agent.push(goalState(ports))));
      assert.ok(await pings(vm1, P2.ip));
      const iface = tapNameFor(P1.id);
      await s.sb.vsctl(['del-port', 'br-int', iface]);
      const a = agent;
      await until('the agent saw the port go', async () =>
        a.logs.some((l) => l.msg === 'port unbound' && l.portId === P1.id),
      );
      assert.ok(await pings(vm2, P3.ip), 'the other ports are unaffected');
      const r = await agent.push(goalState(ports));
      const p1 = r.operationStatuses.find((x) => x.resourceId === P1.id);
      assert.is(p1?.operationStatus, OperationStatus.PENDING, 'the removed port waits for its interface');
      assert.ok(
        r.operationStatuses.every((x) => x === p1 || x.operationStatus === OperationStatus.SUCCESS),
        'everything else is applied',
      );

      const t0 = Date.now();
      await s.sb.vsctl(['add-port', 'br-int', iface, '--', 'set', 'Interface', iface, 'ofport_request=1']);
      await until('the port forwards again', () => pings(vm1, P2.ip), 20_000);
      console.log(JSON.stringify({ fault: 'VM port removed and put back', convergeMs: Date.now() - t0 }));
    } finally {
      await agent?.stop();
      await s?.sb.stop();
    }
  });

  test('a packet-in storm from one port: rate-limited; other ports get DHCP, ping, and pushes apply', async () => {
    let s: Scene | undefined;
    let agent: AgentProcess | undefined;
    let storm: ReturnType<typeof spawn> | undefined;
    try {
      s = await scene('fltstorm');
      const [vm1, vm2] = s.vms as [Vm, Vm, Vm];
      agent = await startAgent(s.sb, ['--tunnel-ip', HOST_IP, '--metrics', '127.0.0.1:0']);
      assert.ok(allSucceeded(await agent.push(goalState(ports))));
      storm = spawn(
        'ip',
        ['netns', 'exec', vm1.netns, process.execPath, '-e', STORM_SCRIPT, P1.mac, '10.218.255.255'],
        {
          stdio: 'ignore',
        },
      );
      const metricsUrl = `http://127.0.0.1:${agent.metricsPort}/metrics`;
      const rateLimited = async (): Promise<number> => {
        const text = await fetch(metricsUrl).then((r) => r.text());
        return Number(/alcor_agent_punts_total\{outcome="rate_limited"\} (\d+)/.exec(text)?.[1] ?? 0);
      };
      await until('the storm is being rate-limited', async () => (await rateLimited()) > 1000, 20_000);

      const t0 = Date.now();
      const u = await udhcpc(vm2, 5, 20_000);
      assert.is(u.code, 0, `another port gets its lease during the storm: ${u.output}`);
      assert.is(u.lease.ip, P2.ip);
      assert.ok(await pings(vm2, P3.ip), 'other ports forward during the storm');
      const r = await agent.push(goalState({ ...ports, neighbors: neighbors(100), withNetwork: false }));
      assert.ok(allSucceeded(r), 'a push applies during the storm');
      const convergeMs = Date.now() - t0;
      assert.ok((await rateLimited()) > 1000);
      console.log(
        JSON.stringify({ fault: 'packet-in storm from one port', rateLimited: await rateLimited(), convergeMs }),
      );
    } finally {
      storm?.kill('SIGKILL');
      await agent?.stop();
      await s?.sb.stop();
    }
  });

  test.run();
}

/**
 * Sends DHCPDISCOVERs for MAC argv[1] to broadcast address argv[2], as fast as the socket takes them,
 * until killed: each one is punted to the agent.
 */
const STORM_SCRIPT = `
const dgram = require('node:dgram');
const [mac, bcast] = process.argv.slice(1);
const m = Buffer.alloc(244);
m[0] = 1; m[1] = 1; m[2] = 6;
m.writeUInt32BE(0x5a5a0001, 4);
Buffer.from(mac.replace(/:/g, ''), 'hex').copy(m, 28);
m.writeUInt32BE(0x63825363, 236);
m[240] = 53; m[241] = 1; m[242] = 1; m[243] = 255;
const s = dgram.createSocket('udp4');
s.bind(68, () => {
  s.setBroadcast(true);
  const burst = () => { let n = 0; const one = () => { if (++n < 64) s.send(m, 67, bcast, one); else setImmediate(burst); }; one(); };
  burst();
});
`;
