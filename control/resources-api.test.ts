// The resource API end to end in embedded mode: real HTTP, the real control path, test agents on the agent's
// own gRPC server. What each agent holds is checked after every step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ControlConfig } from './config';
import { silentLogger } from './log';
import { ControlHandle, startControl } from './server';
import { embeddedConfig as config, hostIp } from './testing/fixtures';
import { TestAgent } from './testing/test-agent';

type Json = Record<string, unknown>;
type Call = (
  m: string,
  p: string,
  b?: unknown,
  headers?: Record<string, string>,
) => Promise<{ status: number; json: Json }>;

async function withApi(
  n: number,
  fn: (call: Call, agents: [TestAgent, TestAgent], ctl: ControlHandle) => Promise<void>,
  over: Partial<ControlConfig> = {},
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-resources-'));
  const agents: TestAgent[] = [];
  let ctl: ControlHandle | null = null;
  try {
    for (let i = 0; i < n; i++) agents.push(await TestAgent.start(hostIp(i + 1)));
    ctl = await startControl(config(dir, over), silentLogger);
    const base = `http://127.0.0.1:${ctl.httpPort}`;
    const call: Call = async (m, p, b, headers = {}) => {
      const res = await fetch(`${base}${p}`, {
        method: m,
        headers: { ...(b === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: b === undefined ? undefined : typeof b === 'string' ? b : JSON.stringify(b),
      });
      const text = await res.text();
      let json: Json;
      try {
        json = JSON.parse(text) as Json;
      } catch {
        json = { text };
      }
      return { status: res.status, json };
    };
    const reg = await call(
      'POST',
      '/v1/hosts',
      agents.map((a) => ({ hostIp: a.hostIp, agent: a.address })),
    );
    assert.is(reg.status, 200);
    await fn(call, [agents[0], agents[1]] as [TestAgent, TestAgent], ctl);
  } finally {
    await ctl?.stop();
    for (const a of agents) await a.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const held = (a: TestAgent, prefix: string): string[] =>
  [...a.applied.keys()].filter((k) => k.startsWith(prefix)).sort();

test('a port per host: each agent gets its port, subnet, VPC, DHCP, and the other port as a neighbor', async () => {
  await withApi(2, async (call, [a, b]) => {
    const vpc = await call('POST', '/v1/vpcs', { id: 'v1', cidr: '10.1.0.0/16' });
    assert.is(vpc.status, 201, JSON.stringify(vpc.json));
    assert.is(vpc.json.revision, 1);
    assert.ok(Number(vpc.json.vni) > 0);
    const sn = await call('POST', '/v1/subnets', { id: 's1', vpc: 'v1', cidr: '10.1.1.0/24' });
    assert.is(sn.status, 201, JSON.stringify(sn.json));
    assert.is(sn.json.gatewayIp, '10.1.1.1');
    const p1 = await call('POST', '/v1/ports?wait=true', { id: 'p1', subnet: 's1', host: a.hostIp });
    assert.is(p1.status, 201, JSON.stringify(p1.json));
    assert.is(p1.json.ip, '10.1.1.2');
    assert.match(String(p1.json.mac), /^fa:16:3e:/);
    assert.is(p1.json.status, 'ACTIVE', JSON.stringify(p1.json));
    const p2 = await call('POST', '/v1/ports?wait=true', { id: 'p2', subnet: 's1', host: b.hostIp, ip: '10.1.1.20' });
    assert.is(p2.json.status, 'ACTIVE', JSON.stringify(p2.json));
    assert.equal(held(a, ''), ['dhcp/p1', 'neighbor/p2', 'port/p1', 'subnet/s1', 'vpc/v1']);
    assert.equal(held(b, ''), ['dhcp/p2', 'neighbor/p1', 'port/p2', 'subnet/s1', 'vpc/v1']);
    const list = await call('GET', `/v1/ports?host=${b.hostIp}`);
    assert.equal(
      (list.json.items as Json[]).map((p) => p.id),
      ['p2'],
    );
    // Delete everything: both agents end empty.
    for (const [k, id] of [
      ['ports', 'p1'],
      ['ports', 'p2'],
      ['subnets', 's1'],
      ['vpcs', 'v1'],
    ] as const) {
      const d = await call('DELETE', `/v1/${k}/${id}?wait=true`);
      assert.is(d.status, 200, JSON.stringify(d.json));
    }
    assert.equal(held(a, ''), []);
    assert.equal(held(b, ''), []);
  });
});

async function network(call: Call): Promise<void> {
  assert.is((await call('POST', '/v1/vpcs', { id: 'v1', cidr: '10.1.0.0/16' })).status, 201);
  assert.is((await call('POST', '/v1/subnets', { id: 's1', vpc: 'v1', cidr: '10.1.1.0/24' })).status, 201);
}

/** Everything stored, for "unchanged" checks. */
async function snapshot(call: Call): Promise<string> {
  const out: unknown[] = [];
  for (const k of ['vpcs', 'subnets', 'ports', 'routers', 'security-groups'])
    out.push((await call('GET', `/v1/${k}`)).json.items);
  return JSON.stringify(out);
}

test('bad input gets its code and field, and changes nothing stored or programmed', async () => {
  await withApi(2, async (call, [a]) => {
    await network(call);
    const p1 = await call('POST', '/v1/ports?wait=true', {
      id: 'p1',
      subnet: 's1',
      host: a.hostIp,
      mac: 'fa:16:3e:00:00:01',
    });
    const used = String(p1.json.ip);
    const before = await snapshot(call);
    const agentBefore = JSON.stringify([...a.applied]);
    const cases: Array<[string, string, unknown, number, string, string?]> = [
      ['POST', '/v1/subnets', { vpc: 'v1', cidr: '10.1.1.128/25' }, 409, 'CIDR_OVERLAP', 'cidr'],
      ['POST', '/v1/subnets', { vpc: 'v1', cidr: '10.2.0.0/24' }, 400, 'CIDR_OUTSIDE_VPC', 'cidr'],
      ['POST', '/v1/subnets', { vpc: 'nope', cidr: '10.1.2.0/24' }, 400, 'UNKNOWN_REFERENCE', 'vpc'],
      ['POST', '/v1/subnets', { vpc: 'v1', cidr: '10.1.2.0/33' }, 400, 'BAD_CIDR', 'cidr'],
      ['POST', '/v1/ports', { subnet: 's1', ip: '10.1.2.5' }, 400, 'IP_OUTSIDE_SUBNET', 'ip'],
      ['POST', '/v1/ports', { subnet: 's1', ip: used }, 409, 'IP_IN_USE', 'ip'],
      ['POST', '/v1/ports', { subnet: 's1', ip: '10.1.1.1' }, 409, 'IP_IN_USE', 'ip'],
      ['POST', '/v1/ports', { subnet: 's1', mac: 'fa:16:3e:00:00:01' }, 409, 'MAC_IN_USE', 'mac'],
      ['POST', '/v1/ports', { subnet: 'nope' }, 400, 'UNKNOWN_REFERENCE', 'subnet'],
      ['POST', '/v1/ports', { subnet: 's1', securityGroups: ['nope'] }, 400, 'UNKNOWN_REFERENCE', 'securityGroups'],
      ['POST', '/v1/ports', { subnet: 's1', host: 'not-an-ip' }, 400, 'BAD_IP', 'host'],
      ['POST', '/v1/ports', { id: 'p1', subnet: 's1' }, 409, 'ID_EXISTS', 'id'],
      ['POST', '/v1/ports', { subnet: 's1', colour: 'red' }, 400, 'UNKNOWN_FIELD', 'colour'],
      ['POST', '/v1/ports', [{ subnet: 's1' }, { subnet: 's1', ip: used }], 409, 'IP_IN_USE', '[1].ip'],
      ['POST', '/v1/ports', 42, 400, 'BAD_BODY'],
      ['POST', '/v1/ports', [], 400, 'BAD_BODY'],
      ['POST', '/v1/ports', '{"subnet": ', 400, 'BAD_JSON'],
      ['POST', '/v1/vpcs', { cidr: 7 }, 400, 'BAD_FIELD', 'cidr'],
      ['POST', '/v1/security-groups', { rules: [{ direction: 'up' }] }, 400, 'BAD_FIELD', 'rules[0].direction'],
      ['POST', '/v1/routers', { subnets: ['nope'] }, 400, 'UNKNOWN_REFERENCE', 'subnets'],
      ['DELETE', '/v1/subnets/s1', undefined, 409, 'SUBNET_IN_USE'],
      ['DELETE', '/v1/vpcs/v1', undefined, 409, 'VPC_IN_USE'],
      ['PATCH', '/v1/ports/p1', { subnet: 'other' }, 400, 'IMMUTABLE_FIELD', 'subnet'],
      ['GET', '/v1/ports/nope', undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/ports?colour=red', undefined, 400, 'BAD_FILTER', 'colour'],
      ['GET', '/v1/ports/%zz', undefined, 400, 'BAD_PATH'],
      ['POST', '/v1/ports?wait=maybe', { subnet: 's1' }, 400, 'BAD_QUERY', 'wait'],
    ];
    for (const [m, p, body, status, code, field] of cases) {
      const r = await call(m, p, body);
      assert.is(r.status, status, `${m} ${p} ${JSON.stringify(body)} -> ${JSON.stringify(r.json)}`);
      assert.is(r.json.code, code, `${m} ${p}: ${JSON.stringify(r.json)}`);
      assert.type(r.json.message, 'string');
      if (field !== undefined) assert.is(r.json.field, field, `${m} ${p}: ${JSON.stringify(r.json)}`);
    }
    // A stale If-Match is refused; the current one works.
    const stale = await call('PATCH', '/v1/ports/p1', { device: 'x' }, { 'if-match': '"7"' });
    assert.is(stale.status, 409);
    assert.is(stale.json.code, 'REVISION_MISMATCH');
    assert.is((await call('DELETE', '/v1/ports/p1', undefined, { 'if-match': '3' })).json.code, 'REVISION_MISMATCH');
    assert.is((await call('PATCH', '/v1/ports/p1', { device: 'x' }, { 'if-match': 'abc' })).json.code, 'BAD_IF_MATCH');
    // A body over the limit: 413, not a reset.
    const big = await call('POST', '/v1/ports', 'x'.repeat(17 * 1024 * 1024));
    assert.is(big.status, 413);
    assert.is(big.json.code, 'BODY_TOO_LARGE');
    assert.is(await snapshot(call), before);
    assert.is(JSON.stringify([...a.applied]), agentBefore);
    const ok = await call('PATCH', '/v1/ports/p1?wait=true', { device: 'tap1' }, { 'if-match': '"1"' });
    assert.is(ok.status, 200, JSON.stringify(ok.json));
    assert.is(ok.json.revision, 2);
  });
});

test('an exhausted pool is refused whole, and a freed address is reused', async () => {
  await withApi(2, async (call) => {
    await call('POST', '/v1/vpcs', { id: 'v1', cidr: '10.1.0.0/16' });
    await call('POST', '/v1/subnets', { id: 'tiny', vpc: 'v1', cidr: '10.1.9.0/29' }); // 6 hosts, 1 gateway
    const five = await call(
      'POST',
      '/v1/ports',
      Array.from({ length: 5 }, (_, i) => ({ id: `t${i}`, subnet: 'tiny' })),
    );
    assert.is(five.status, 201, JSON.stringify(five.json));
    const more = await call('POST', '/v1/ports', [{ subnet: 'tiny' }]);
    assert.is(more.status, 409);
    assert.is(more.json.code, 'POOL_EXHAUSTED');
    assert.is((await call('DELETE', '/v1/ports/t2')).status, 200);
    const again = await call('POST', '/v1/ports', { subnet: 'tiny' });
    assert.is(again.status, 201);
    assert.is(again.json.ip, '10.1.9.4');
  });
});

test('a port moves: new host first, then the others, then the old host; neighbors follow', async () => {
  await withApi(2, async (call, [a, b]) => {
    await network(call);
    await call('POST', '/v1/ports?wait=true', { id: 'p1', subnet: 's1', host: a.hostIp });
    await call('POST', '/v1/ports?wait=true', { id: 'p2', subnet: 's1', host: b.hostIp });
    const order: string[] = [];
    const onA = (): number => order.push('a');
    const onB = (): number => order.push('b');
    a.events.on('message', onA);
    b.events.on('message', onB);
    const moved = await call('PATCH', '/v1/ports/p1?wait=true', { host: b.hostIp });
    a.events.off('message', onA);
    b.events.off('message', onB);
    assert.is(moved.json.status, 'ACTIVE', JSON.stringify(moved.json));
    assert.is(moved.json.host, b.hostIp);
    assert.equal(order, ['b', 'a']);
    assert.equal(held(b, ''), ['dhcp/p1', 'dhcp/p2', 'port/p1', 'port/p2', 'subnet/s1', 'vpc/v1']);
    assert.equal(held(a, ''), []); // its last port left: nothing of the VPC stays
    const back = await call('PATCH', '/v1/ports/p1?wait=true', { host: a.hostIp });
    assert.is(back.json.status, 'ACTIVE');
    assert.equal(held(a, ''), ['dhcp/p1', 'neighbor/p2', 'port/p1', 'subnet/s1', 'vpc/v1']);
    assert.equal(held(b, ''), ['dhcp/p2', 'neighbor/p1', 'port/p2', 'subnet/s1', 'vpc/v1']);
  });
});

test('a router and a second subnet; security groups with remote groups across hosts and IPv6 rules', async () => {
  await withApi(2, async (call, [a, b]) => {
    await network(call);
    await call('POST', '/v1/subnets', { id: 's2', vpc: 'v1', cidr: '10.1.2.0/24' });
    const sg = await call('POST', '/v1/security-groups', {
      id: 'default',
      rules: [
        { direction: 'ingress', ethertype: 'IPv4', remoteGroup: 'default' },
        { direction: 'ingress', ethertype: 'IPv6', remoteGroup: 'default' },
        { direction: 'egress', ethertype: 'IPv4' },
        { direction: 'egress', ethertype: 'IPv6' },
      ],
    });
    assert.is(sg.status, 201, JSON.stringify(sg.json));
    assert.is((sg.json.notProgrammed as unknown[]).length, 2);
    await call('POST', '/v1/ports?wait=true', { id: 'p1', subnet: 's1', host: a.hostIp, securityGroups: ['default'] });
    const p2 = await call('POST', '/v1/ports?wait=true', {
      id: 'p2',
      subnet: 's2',
      host: b.hostIp,
      securityGroups: ['default'],
    });
    assert.is(p2.json.status, 'ACTIVE');
    // Different subnets without a router: neither host is told about the other (nothing routes there).
    assert.ok(held(a, 'neighbor/').includes('neighbor/p2'));
    const r = await call('POST', '/v1/routers?wait=true', { id: 'r1', subnets: ['s1', 's2'] });
    assert.is(r.status, 201, JSON.stringify(r.json));
    assert.equal(held(a, 'router/'), ['router/r1']);
    assert.equal(held(a, 'subnet/'), ['subnet/s1', 'subnet/s2']);
    assert.equal(held(b, 'router/'), ['router/r1']);
    // The remote-group member on the other host is in the group's rules both hosts hold.
    assert.ok(held(a, 'securitygroup/').includes('securitygroup/default'));
    const before = a.messages.length;
    await call('POST', '/v1/ports?wait=true', { id: 'p3', subnet: 's2', host: b.hostIp, securityGroups: ['default'] });
    const got = a.messages.slice(before).flatMap((m) => m.keys);
    assert.ok(got.includes('neighbor/p3'), JSON.stringify(got));
    assert.ok(got.includes('securitygroup/default'), 'a member added on another host updates the group');
    assert.not.ok(got.includes('port/p1'), 'nothing else is re-sent');
    const del = await call('DELETE', '/v1/routers/r1?wait=true');
    assert.is(del.status, 200);
    assert.equal(held(a, 'router/'), []);
  });
});

test("a port's security groups changed in place: its host swaps the groups, and no neighbor is re-sent", async () => {
  await withApi(2, async (call, [a, b]) => {
    await network(call);
    for (const id of ['g1', 'g2']) await call('POST', '/v1/security-groups', { id, rules: [{ direction: 'egress' }] });
    await call('POST', '/v1/ports?wait=true', { id: 'p1', subnet: 's1', host: a.hostIp, securityGroups: ['g1'] });
    await call('POST', '/v1/ports?wait=true', { id: 'p2', subnet: 's1', host: a.hostIp, securityGroups: ['g1'] });
    await call('POST', '/v1/ports?wait=true', { id: 'p3', subnet: 's1', host: b.hostIp });
    assert.equal(held(a, 'securitygroup/'), ['securitygroup/g1']);
    const before = a.messages.length;
    const r = await call('PATCH', '/v1/ports/p1?wait=true', { securityGroups: ['g2'] });
    assert.is(r.json.status, 'ACTIVE');
    // p2 still uses g1: the host keeps it.
    assert.equal(held(a, 'securitygroup/'), ['securitygroup/g1', 'securitygroup/g2']);
    const got = a.messages.slice(before).flatMap((m) => m.keys);
    assert.ok(got.includes('port/p1') && got.includes('securitygroup/g2'), JSON.stringify(got));
    assert.not.ok(
      got.some((k) => k.startsWith('neighbor/')),
      JSON.stringify(got),
    );
    await call('PATCH', '/v1/ports/p2?wait=true', { securityGroups: ['g2'] });
    assert.equal(held(a, 'securitygroup/'), ['securitygroup/g2']);
    assert.equal(held(a, 'neighbor/'), ['neighbor/p3']);
    assert.equal(held(b, 'neighbor/'), ['neighbor/p1', 'neighbor/p2']);
  });
});

/** What the pseudo host of a VPC holds: its ports that are not pushed, for on-demand lookups. */
const onDemand = (ctl: ControlHandle, vpc: string): string[] =>
  [...(ctl.store.cache.hosts.get(`ondemand:${vpc}`)?.keys ?? [])].sort();

/** What RequestGoalStates answers for a port's address (the store's neighbor index). */
async function resolves(call: Call, ctl: ControlHandle, id: string): Promise<boolean> {
  const port = (await call('GET', `/v1/ports/${id}`)).json;
  return ctl.store.cache.neighbors.lookup(String(port.ip), 0).includes(`neighbor/${id}`);
}

test('past the neighbor limit nothing is retracted: later ports are resolved on demand only', async () => {
  await withApi(
    2,
    async (call, [a, b], ctl) => {
      await network(call);
      await call('POST', '/v1/ports?wait=true', { id: 'p1', subnet: 's1', host: a.hostIp });
      await call('POST', '/v1/ports?wait=true', { id: 'p2', subnet: 's1', host: b.hostIp });
      assert.equal(held(a, 'neighbor/'), ['neighbor/p2']);
      const sent = { a: a.received, b: b.received };
      await call('POST', '/v1/ports?wait=true', { id: 'p3', subnet: 's1', host: b.hostIp });
      // The first two stay pushed; p3 reaches no agent but its own.
      assert.equal(held(a, 'neighbor/'), ['neighbor/p2']);
      assert.equal(held(b, 'neighbor/'), ['neighbor/p1']);
      assert.is(a.received, sent.a, 'the other host gets nothing');
      assert.is(b.received - sent.b, 1, 'its own host: its port, no retraction');
      assert.equal(onDemand(ctl, 'v1'), ['neighbor/p3']);
      for (const id of ['p1', 'p2', 'p3']) assert.ok(await resolves(call, ctl, id), `${id} resolvable on demand`);
    },
    { neighborLimit: 2 },
  );
});

test('a pushed port deleted: the oldest on-demand port is pushed in its place to every host', async () => {
  await withApi(
    2,
    async (call, [a, b], ctl) => {
      await network(call);
      for (const [id, h] of [
        ['p1', a],
        ['p2', b],
        ['p3', b],
        ['p4', a],
      ] as const)
        assert.is((await call('POST', '/v1/ports?wait=true', { id, subnet: 's1', host: h.hostIp })).status, 201);
      assert.equal(held(a, 'neighbor/'), ['neighbor/p2']);
      assert.equal(held(b, 'neighbor/'), ['neighbor/p1']);
      assert.equal(onDemand(ctl, 'v1'), ['neighbor/p3', 'neighbor/p4']);
      // An on-demand port deleted moves nothing.
      const sent = a.received;
      await call('DELETE', '/v1/ports/p4?wait=true');
      assert.is(a.received - sent, 1, 'its own host only');
      assert.equal(onDemand(ctl, 'v1'), ['neighbor/p3']);
      await call('POST', '/v1/ports?wait=true', { id: 'p5', subnet: 's1', host: a.hostIp });
      await call('DELETE', '/v1/ports/p2?wait=true');
      // p3, the oldest on demand, takes p2's place; p5 stays on demand.
      assert.equal(held(a, 'neighbor/'), ['neighbor/p3']);
      assert.equal(held(b, 'neighbor/'), ['neighbor/p1']);
      assert.equal(onDemand(ctl, 'v1'), ['neighbor/p5']);
      assert.not.ok(ctl.store.cache.resources.has('neighbor/p2'));
      for (const id of ['p1', 'p3', 'p5']) assert.ok(await resolves(call, ctl, id), `${id} resolvable on demand`);
      // Unbinding a pushed port is leaving too.
      await call('PATCH', '/v1/ports/p1?wait=true', { host: '' });
      assert.equal(held(b, 'neighbor/'), ['neighbor/p5']);
      assert.equal(held(a, 'neighbor/'), ['neighbor/p3']);
      assert.equal(onDemand(ctl, 'v1'), []);
    },
    { neighborLimit: 2 },
  );
});

test('a neighbor pushed and deleted behind a busy agent: none is left pushed', async () => {
  await withApi(
    2,
    async (call, [a, b], ctl) => {
      await network(call);
      assert.is((await call('POST', '/v1/ports?wait=true', { id: 'p0', subnet: 's1', host: a.hostIp })).status, 201);
      // A busy agent: while the message with neighbor p1 waits for its answer, p2 is queued for it, then p2
      // and p3 are deleted (p2's push and retraction can cancel out).
      a.replyDelayMs = 300;
      b.replyDelayMs = 300;
      for (const id of ['p1', 'p2', 'p3'])
        assert.is((await call('POST', '/v1/ports', { id, subnet: 's1', host: b.hostIp })).status, 201);
      for (const id of ['p2', 'p3']) assert.is((await call('DELETE', `/v1/ports/${id}`)).status, 200);
      // Waiting for p4 waits for every change before it (the DPM's batches are acknowledged in order).
      await call('POST', '/v1/ports?wait=true', { id: 'p4', subnet: 's1', host: a.hostIp });
      for (const id of ['p1', 'p4']) assert.is((await call('GET', `/v1/ports/${id}`)).json.status, 'ACTIVE', id);
      assert.equal(held(a, 'neighbor/'), ['neighbor/p1']);
      assert.equal(held(b, 'neighbor/'), ['neighbor/p0']);
      assert.equal(held(a, 'port/'), ['port/p0', 'port/p4']);
      assert.equal(held(b, 'port/'), ['port/p1']);
      // p4 came when p0 and p1 were pushed: on demand only.
      assert.equal(onDemand(ctl, 'v1'), ['neighbor/p4']);
    },
    { neighborLimit: 2 },
  );
});

test('the pushed set survives a control restart: the same ports pushed, the same on demand', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-resources-sticky-'));
  const a = await TestAgent.start(hostIp(1));
  const b = await TestAgent.start(hostIp(2));
  const cfg = config(dir, {
    neighborLimit: 2,
    agents: new Map([
      [a.hostIp, a.address],
      [b.hostIp, b.address],
    ]),
  });
  let ctl = await startControl(cfg, silentLogger);
  try {
    const api = async (m: string, p: string, body?: unknown): Promise<Json> =>
      (await (
        await fetch(`http://127.0.0.1:${(ctl as ControlHandle).httpPort}${p}`, {
          method: m,
          headers: { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        })
      ).json()) as Json;
    await api('POST', '/v1/vpcs', { id: 'v1', cidr: '10.1.0.0/16' });
    await api('POST', '/v1/subnets', { id: 's1', vpc: 'v1', cidr: '10.1.1.0/24' });
    // Created p3 first, bound last: creation order, not binding order, decides.
    await api('POST', '/v1/ports', { id: 'p3', subnet: 's1' });
    for (const [id, h] of [
      ['p1', a],
      ['p2', b],
    ] as const)
      await api('POST', '/v1/ports?wait=true', { id, subnet: 's1', host: h.hostIp });
    await api('PATCH', '/v1/ports/p3?wait=true', { host: b.hostIp });
    // p3 is older than p2: it takes p2's place (one port in, one out).
    assert.equal(held(a, 'neighbor/'), ['neighbor/p3']);
    assert.equal(onDemand(ctl, 'v1'), ['neighbor/p2']);
    // Updated since (a newer mod revision, the same create revision): still pushed.
    await api('PATCH', '/v1/ports/p1?wait=true', { securityGroups: [] });
    const before = { a: held(a, ''), b: held(b, ''), ondemand: onDemand(ctl, 'v1') };
    assert.equal(
      before.b.filter((k) => k.startsWith('neighbor/')),
      ['neighbor/p1'],
    );
    await ctl.stop();
    ctl = await startControl(cfg, silentLogger);
    await api('POST', '/v1/ports?wait=true', { id: 'p4', subnet: 's1', host: a.hostIp });
    assert.equal(held(b, 'neighbor/'), ['neighbor/p1'], 'p4 is on demand after the restart too');
    assert.equal(onDemand(ctl, 'v1'), ['neighbor/p2', 'neighbor/p4']);
    assert.equal(
      held(a, '').filter((k) => k !== 'port/p4' && k !== 'dhcp/p4'),
      before.a,
    );
  } finally {
    await ctl.stop();
    await a.stop();
    await b.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an agent restart gets its full derived state back; a control restart keeps records and addresses', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-resources-restart-'));
  const a = await TestAgent.start(hostIp(1));
  const b = await TestAgent.start(hostIp(2));
  const cfg = config(dir, {
    agents: new Map([
      [a.hostIp, a.address],
      [b.hostIp, b.address],
    ]),
  });
  let ctl = await startControl(cfg, silentLogger);
  try {
    const api = (m: string, p: string, body?: unknown): Promise<Response> =>
      fetch(`http://127.0.0.1:${(ctl as ControlHandle).httpPort}${p}`, {
        method: m,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    await api('POST', '/v1/vpcs', { id: 'v1', cidr: '10.1.0.0/16' });
    await api('POST', '/v1/subnets', { id: 's1', vpc: 'v1', cidr: '10.1.1.0/24' });
    await api('POST', '/v1/ports?wait=true', [
      { id: 'p1', subnet: 's1', host: a.hostIp },
      { id: 'p2', subnet: 's1', host: b.hostIp },
    ]);
    const before = held(a, '');
    assert.equal(before, ['dhcp/p1', 'neighbor/p2', 'port/p1', 'subnet/s1', 'vpc/v1']);
    await a.restart();
    await a.waitFor(() => held(a, '').join() === before.join(), 10000, 'full re-push after the agent restart');
    await ctl.stop();
    ctl = await startControl(cfg, silentLogger);
    const list = (await (await api('GET', '/v1/ports')).json()) as { items: Array<{ id: string; ip: string }> };
    assert.equal(
      list.items.map((p) => p.id),
      ['p1', 'p2'],
    );
    const dup = await api('POST', '/v1/ports', { subnet: 's1', ip: list.items[0]?.ip });
    assert.is(dup.status, 409, 'the address is still taken after the restart');
    assert.equal(held(a, ''), before);
  } finally {
    await ctl.stop();
    await a.stop();
    await b.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('ports created at once: each host gets the changes that came in while it was busy as one message', async () => {
  await withApi(2, async (call, [a, b]) => {
    assert.is((await call('POST', '/v1/vpcs', { id: 'v1', cidr: '10.1.0.0/16' })).status, 201);
    assert.is((await call('POST', '/v1/subnets', { id: 's1', vpc: 'v1', cidr: '10.1.0.0/16' })).status, 201);
    assert.is((await call('POST', '/v1/ports?wait=true', { id: 'first', subnet: 's1', host: a.hostIp })).status, 201);
    // A busy agent: each message takes 200 ms to answer, as a bundle on a loaded switch may.
    a.replyDelayMs = 200;
    b.replyDelayMs = 200;
    const before = { a: a.received, b: b.received };
    const n = 30;
    const created = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        call('POST', '/v1/ports?wait=true', { id: `p${i}`, subnet: 's1', host: (i % 2 === 0 ? a : b).hostIp }),
      ),
    );
    assert.ok(
      created.every((c) => c.status === 201 && c.json.status === 'ACTIVE'),
      JSON.stringify(created.map((c) => c.json.status)),
    );
    // Every port is held where it belongs, and every other port as a neighbor.
    for (const [agent, parity] of [
      [a, 0],
      [b, 1],
    ] as const) {
      const own = Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === parity);
      assert.ok(own.every((i) => agent.applied.has(`port/p${i}`)));
      assert.is(held(agent, 'neighbor/').length, n + 1 - (agent === a ? 16 : 15));
    }
    // 30 changes each: without merging, 30 messages per host (6 s of replies); merged, a handful.
    const messages = { a: a.received - before.a, b: b.received - before.b };
    assert.ok(messages.a < 10 && messages.b < 10, `messages per host: ${JSON.stringify(messages)}`);
  });
});

test.run();
