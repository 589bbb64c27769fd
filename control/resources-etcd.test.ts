// Two replicas on a real etcd: allocation that replicas cannot break (no duplicate address under 1,000
// concurrent allocations through both; releases through either), and racing migrations of one port that
// end with every agent on the last accepted binding.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NeighborState } from '../proto';
import { EtcdServer } from '../test/etcd';
import { requirePrereqs } from '../test/prereq';
import { ControlConfig } from './config';
import { silentLogger } from './log';
import { ControlHandle, startControl } from './server';
import { etcdConfig, hostIp } from './testing/fixtures';
import { TestAgent } from './testing/test-agent';

function config(etcd: EtcdServer, id: string, prefix: string): ControlConfig {
  return etcdConfig(etcd.url, id, prefix);
}

type Json = Record<string, unknown>;

async function call(
  ctl: ControlHandle,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const res = await fetch(`http://127.0.0.1:${ctl.httpPort}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Json };
}

async function eventually(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

if (requirePrereqs(['etcd'])) {
  test('two replicas: 1,000 concurrent allocations from a /22, no duplicate; releases through either replica', async () => {
    const etcd = await EtcdServer.start();
    const r1 = await startControl(config(etcd, 'r1', '/alloc/'), silentLogger);
    const r2 = await startControl(config(etcd, 'r2', '/alloc/'), silentLogger);
    try {
      assert.is((await call(r1, 'POST', '/v1/vpcs', { id: 'v', cidr: '10.8.0.0/16' })).status, 201);
      assert.is((await call(r2, 'POST', '/v1/subnets', { id: 's', vpc: 'v', cidr: '10.8.0.0/22' })).status, 201);
      const t0 = Date.now();
      const created = await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          call(i % 2 === 0 ? r1 : r2, 'POST', '/v1/ports', { id: `p${i}`, subnet: 's' }),
        ),
      );
      const ms = Date.now() - t0;
      const bad = created.filter((r) => r.status !== 201);
      assert.is(bad.length, 0, JSON.stringify(bad.slice(0, 3)));
      const ips = created.map((r) => String(r.json.ip));
      assert.is(new Set(ips).size, 1000, 'no address handed out twice');
      const macs = created.map((r) => String(r.json.mac));
      assert.is(new Set(macs).size, 1000, 'no MAC handed out twice');
      process.stdout.write(`  1,000 allocations through 2 replicas: ${ms} ms\n`);
      // Each replica sees the same 1,000 ports.
      await eventually('both replicas see every port', 10000, async () => {
        const a = (await call(r1, 'GET', '/v1/ports')).json.items as Json[];
        const b = (await call(r2, 'GET', '/v1/ports')).json.items as Json[];
        return a.length === 1000 && b.length === 1000;
      });
      // Release through the replica that did NOT allocate: every delete works.
      const deleted = await Promise.all(
        Array.from({ length: 500 }, (_, i) => call(i % 2 === 0 ? r2 : r1, 'DELETE', `/v1/ports/p${i}`)),
      );
      assert.ok(
        deleted.every((r) => r.status === 200),
        JSON.stringify(deleted.find((r) => r.status !== 200)),
      );
      const left = (await call(r1, 'GET', '/v1/ports')).json.items as Json[];
      assert.is(left.length, 500);
      const ipKeys = [...r2.resources.store.view.keys()].filter((k) => k.startsWith('ip/s/'));
      assert.is(ipKeys.length, 500, 'each release freed its address key');
      // Freed addresses are allocatable again, through either replica; the pool ends exactly full.
      const refill = await Promise.all(
        Array.from({ length: 521 }, (_, i) => call(i % 2 === 0 ? r2 : r1, 'POST', '/v1/ports', { subnet: 's' })),
      );
      assert.ok(
        refill.every((r) => r.status === 201),
        JSON.stringify(refill.find((r) => r.status !== 201)),
      );
      const full = await call(r1, 'POST', '/v1/ports', { subnet: 's' });
      assert.is(full.status, 409);
      assert.is(full.json.code, 'POOL_EXHAUSTED');
      const all = (await call(r2, 'GET', '/v1/ports')).json.items as Json[];
      assert.is(new Set(all.map((p) => p.ip)).size, 1021);
    } finally {
      await r1.stop();
      await r2.stop();
      await etcd.stop();
    }
  });

  test('racing migrations of one port through two replicas: every agent ends on the last accepted binding', async () => {
    const etcd = await EtcdServer.start();
    const agents = await Promise.all([1, 2, 3, 4].map((i) => TestAgent.start(hostIp(i))));
    const hosts = new Map(agents.map((a) => [a.hostIp, a.address]));
    const r1 = await startControl({ ...config(etcd, 'm1', '/mig/'), agents: hosts }, silentLogger);
    const r2 = await startControl({ ...config(etcd, 'm2', '/mig/'), agents: hosts }, silentLogger);
    try {
      await call(r1, 'POST', '/v1/vpcs', { id: 'v', cidr: '10.9.0.0/16' });
      await call(r1, 'POST', '/v1/subnets', { id: 's', vpc: 'v', cidr: '10.9.0.0/24' });
      // One port per host keeps every host in the VPC (so each holds the moving port as port or neighbor).
      for (const a of agents) {
        const r = await call(r1, 'POST', '/v1/ports?wait=true', {
          id: `anchor-${a.hostIp}`,
          subnet: 's',
          host: a.hostIp,
        });
        assert.is(r.status, 201);
      }
      await call(r2, 'POST', '/v1/ports?wait=true', { id: 'vm', subnet: 's', host: hostIp(1) });
      // etcd's create revision: what orders a VPC's ports for the pushed neighbor set, the same on every replica.
      const created = r2.resources.store.view.get('port/vm')?.createRev ?? 0;
      assert.ok(created > 0);
      for (let round = 0; round < 5; round++) {
        const [x, y] = await Promise.all([
          call(r1, 'PATCH', '/v1/ports/vm', { host: hostIp(2 + (round % 3)) }),
          call(r2, 'PATCH', '/v1/ports/vm', { host: hostIp(2 + ((round + 1) % 3)) }),
        ]);
        assert.is(x.status, 200);
        assert.is(y.status, 200);
      }
      const final = (await call(r1, 'GET', '/v1/ports/vm')).json;
      const last = String(final.host);
      const rev = Math.max(r1.resources.store.revision(), r2.resources.store.revision());
      await r1.dpm.settled(rev);
      await r2.dpm.settled(rev);
      await eventually('every agent on the last binding', 15000, () =>
        agents.every((a) =>
          a.hostIp === last
            ? a.applied.has('port/vm') && !a.applied.has('neighbor/vm')
            : !a.applied.has('port/vm') && a.applied.has('neighbor/vm'),
        ),
      );
      for (const r of [r1, r2]) {
        const n = NeighborState.decode(r.store.cache.resources.get('neighbor/vm')?.state ?? new Uint8Array());
        assert.is(n.configuration?.hostIpAddress, last, 'the stored neighbor points at the last binding');
      }
      assert.is(((await call(r2, 'GET', '/v1/ports/vm')).json as Json).host, last);
      for (const r of [r1, r2]) {
        const e = r.resources.store.view.get('port/vm');
        assert.is(e?.createRev, created, 'updates keep the create revision, on both replicas');
        assert.ok((e?.modRev ?? 0) > created);
      }
    } finally {
      await r1.stop();
      await r2.stop();
      for (const a of agents) await a.stop();
      await etcd.stop();
    }
  });
}

test.run();
