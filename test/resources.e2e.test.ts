// The resource API end to end on real OVS: two sandboxed hypervisors, one real `alcor-agent run` each, an
// embedded `alcor-control` driven ONLY through /v1/vpcs, /v1/subnets, /v1/ports, /v1/routers and
// /v1/security-groups. The VMs get DHCP leases from their agents and ping each other, across subnets through
// the router; a security group blocks and then allows; a port moves host; everything deleted leaves both
// bridges exactly as they were before the first resource.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requirePrereqs } from './prereq';
import { OvsSandbox, type Vm } from './sandbox';
import { ControlHandle, startControl } from '../control/server';
import { silentLogger } from '../control/log';
import { startAgent, type AgentProcess } from '../agent/e2e-helpers';
import { tapNameFor } from '../agent/ovsdb';

const HOSTS = { a: '192.0.2.1', b: '192.0.2.2' } as const;
type Json = Record<string, unknown>;

async function lease(vm: Vm, dir: string): Promise<Record<string, string>> {
  const out = path.join(dir, `${vm.name}.env`);
  const script = path.join(dir, `${vm.name}.sh`);
  fs.rmSync(out, { force: true });
  fs.writeFileSync(
    script,
    `#!/bin/sh\nif [ "$1" = bound ]; then env > ${out}; ip addr flush dev eth0; ip addr add $ip/$mask dev eth0; ip route replace default via $router; fi\nexit 0\n`,
    { mode: 0o755 },
  );
  const r = await vm.exec(['busybox', 'udhcpc', '-f', '-q', '-n', '-t', '4', '-T', '1', '-i', 'eth0', '-s', script], {
    timeoutMs: 20_000,
  });
  if (r.code !== 0 || !fs.existsSync(out))
    throw new Error(`${vm.name}: no DHCP lease (${r.stderr.trim() || r.stdout.trim()})`);
  return Object.fromEntries(
    fs
      .readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

async function ping(from: Vm, to: string): Promise<boolean> {
  return (await from.exec(['ping', '-c2', '-i0.2', '-W1', to])).code === 0;
}

async function flows(sb: OvsSandbox): Promise<string> {
  const r = await sb.ofctl(['--no-stats', 'dump-flows', 'br-int']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('NXST') && !l.startsWith('OFPST'))
    .sort()
    .join('\n');
}

if (requirePrereqs(['root', 'ovs', 'netns', 'busybox'])) {
  test('resource API on real OVS: DHCP, ping, routing, security groups, a port move, and back to empty', async () => {
    const sandboxes: OvsSandbox[] = [];
    const agents: AgentProcess[] = [];
    let ctl: ControlHandle | null = null;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-res-e2e-'));
    try {
      const a = await OvsSandbox.start({ name: 'resa', underlay: { ip: `${HOSTS.a}/24` } });
      sandboxes.push(a);
      const b = await OvsSandbox.start({ name: 'resb', underlay: { ip: `${HOSTS.b}/24`, peer: 'resa' } });
      sandboxes.push(b);
      // VM interfaces exist before any resource (as Nova plugs them), bound by iface-id = port id.
      const vmSpec = [
        { name: 'vm1', sb: a, port: 'p1', mac: '02:ce:00:00:00:01' },
        { name: 'vm2', sb: b, port: 'p2', mac: '02:ce:00:00:00:02' },
        { name: 'vm3', sb: b, port: 'p3', mac: '02:ce:00:00:00:03' },
        { name: 'vm4', sb: b, port: 'p4', mac: '02:ce:00:00:00:04' },
        { name: 'vm1b', sb: b, port: 'p1', mac: '02:ce:00:00:00:01' }, // where vm1 lands after its move
      ];
      const vms = new Map<string, Vm>();
      for (const v of vmSpec) {
        vms.set(
          v.name,
          await v.sb.addVm({
            name: v.name,
            mac: v.mac,
            ip: '169.254.0.1/16',
            iface: tapNameFor(v.port),
            portId: v.port,
            mtu: 1450,
          }),
        );
      }
      const vm = (n: string): Vm => vms.get(n) as Vm;
      for (const sb of [a, b]) {
        const ip = sb === a ? HOSTS.a : HOSTS.b;
        agents.push(await startAgent(sb, ['--tunnel-ip', ip, '--tunnel-ofport', '100', '--workers', '1']));
      }
      const [agentA, agentB] = agents as [AgentProcess, AgentProcess];
      const emptyA = await flows(a);
      const emptyB = await flows(b);

      ctl = await startControl(
        {
          listen: '127.0.0.1:0',
          http: '127.0.0.1:0',
          etcd: null,
          dataDir: path.join(dir, 'control'),
          replicaId: 'e2e',
          prefix: '/e2e/',
          leaseTtlSec: 5,
          ackMode: 'agents',
          resultTimeoutMs: 15000,
          replyTimeoutMs: 15000,
          backoffMaxMs: 300,
          logLevel: 'warn',
          agents: new Map([
            [HOSTS.a, `127.0.0.1:${agentA.grpcPort}`],
            [HOSTS.b, `127.0.0.1:${agentB.grpcPort}`],
          ]),
        },
        silentLogger,
      );
      const base = `http://127.0.0.1:${ctl.httpPort}`;
      const api = async (method: string, p: string, body?: unknown): Promise<Json> => {
        const res = await fetch(`${base}${p}`, {
          method,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const json = (await res.json()) as Json;
        assert.ok(res.status < 300, `${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
        return json;
      };

      // 1. VPC, subnet, a port on each host: DHCP from the agents, then ping across hosts.
      await api('POST', '/v1/vpcs', { id: 'vpc', cidr: '10.30.0.0/16' });
      await api('POST', '/v1/subnets', { id: 's1', vpc: 'vpc', cidr: '10.30.1.0/24', dnsServers: ['10.30.0.53'] });
      await api('POST', '/v1/security-groups', {
        id: 'open',
        rules: [
          { direction: 'ingress', remoteCidr: '10.30.0.0/16' },
          { direction: 'egress' },
          { direction: 'ingress', ethertype: 'IPv6' },
        ],
      });
      await api('POST', '/v1/security-groups', { id: 'locked', rules: [{ direction: 'egress' }] });
      const ports = (
        await api('POST', '/v1/ports?wait=true', [
          { id: 'p1', subnet: 's1', host: HOSTS.a, mac: '02:ce:00:00:00:01', securityGroups: ['open'] },
          { id: 'p2', subnet: 's1', host: HOSTS.b, mac: '02:ce:00:00:00:02', securityGroups: ['open'] },
        ])
      ).items as Json[];
      for (const p of ports) assert.is(p.status, 'ACTIVE', JSON.stringify(p));
      const [p1, p2] = ports as [Json, Json];
      const l1 = await lease(vm('vm1'), dir);
      const l2 = await lease(vm('vm2'), dir);
      assert.is(l1.ip, p1.ip);
      assert.is(l2.ip, p2.ip);
      assert.is(l1.router, '10.30.1.1');
      assert.is(l1.dns, '10.30.0.53');
      assert.ok(await ping(vm('vm1'), String(p2.ip)), 'vm1 (host a) -> vm2 (host b)');
      assert.ok(await ping(vm('vm2'), String(p1.ip)), 'vm2 -> vm1');

      // 2. A second subnet and a router: routed ping.
      await api('POST', '/v1/subnets', { id: 's2', vpc: 'vpc', cidr: '10.30.2.0/24' });
      const p3 = await api('POST', '/v1/ports?wait=true', {
        id: 'p3',
        subnet: 's2',
        host: HOSTS.b,
        mac: '02:ce:00:00:00:03',
        securityGroups: ['open'],
      });
      assert.is(p3.status, 'ACTIVE');
      await api('POST', '/v1/routers?wait=true', { id: 'r1', subnets: ['s1', 's2'] });
      assert.is((await lease(vm('vm3'), dir)).ip, p3.ip);
      assert.ok(await ping(vm('vm1'), String(p3.ip)), 'vm1 (s1, host a) -> vm3 (s2, host b) through the router');
      assert.ok(await ping(vm('vm3'), String(p1.ip)), 'and back');

      // 3. Security group: a locked port is unreachable, then its group changes and it is reachable.
      const p4 = await api('POST', '/v1/ports?wait=true', {
        id: 'p4',
        subnet: 's1',
        host: HOSTS.b,
        mac: '02:ce:00:00:00:04',
        securityGroups: ['locked'],
      });
      assert.is((await lease(vm('vm4'), dir)).ip, p4.ip);
      assert.not.ok(await ping(vm('vm1'), String(p4.ip)), 'vm1 -> vm4: denied by its group');
      assert.ok(await ping(vm('vm4'), String(p1.ip)), 'vm4 -> vm1: it may talk out (stateful reply)');
      await api('PATCH', '/v1/ports/p4?wait=true', { securityGroups: ['open'] });
      assert.ok(await ping(vm('vm1'), String(p4.ip)), 'vm1 -> vm4: allowed now');

      // 4. p1 moves from host a to host b: ping resumes there, host a is back to its empty flows.
      const moved = await api('PATCH', '/v1/ports/p1?wait=true', { host: HOSTS.b });
      assert.is(moved.status, 'ACTIVE', JSON.stringify(moved));
      const l1b = await lease(vm('vm1b'), dir);
      assert.is(l1b.ip, p1.ip);
      assert.ok(await ping(vm('vm1b'), String(p2.ip)), 'moved vm1 -> vm2');
      assert.ok(await ping(vm('vm1b'), String(p3.ip)), 'moved vm1 -> vm3 (routed)');
      assert.is(await flows(a), emptyA, "host a's flows for the moved port are gone");

      // 5. Everything deleted: both bridges are back to the empty-state dump.
      for (const p of ['/v1/ports/p1', '/v1/ports/p2', '/v1/ports/p3', '/v1/ports/p4', '/v1/routers/r1']) {
        await api('DELETE', `${p}?wait=true`);
      }
      for (const p of [
        '/v1/subnets/s1',
        '/v1/subnets/s2',
        '/v1/security-groups/open',
        '/v1/security-groups/locked',
        '/v1/vpcs/vpc',
      ]) {
        await api('DELETE', `${p}?wait=true`);
      }
      assert.is(await flows(a), emptyA);
      assert.is(await flows(b), emptyB);
    } finally {
      await ctl?.stop();
      for (const ag of agents) await ag.stop().catch(() => undefined);
      for (const sb of sandboxes.reverse()) await sb.stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
