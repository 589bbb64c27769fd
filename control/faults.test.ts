// etcd SIGKILLed and restarted in the middle of resource changes (issue 14, part 3): ports are created
// through the resource API, eight at a time, while etcd goes down and comes back. Every create that was
// acknowledged (201) survives: a new replica started on the same etcd lists it, and its host's agent has
// it. A create that could not be made durable is refused with 503, never acknowledged. The time from
// etcd's return to the first acknowledged create is printed, not asserted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdServer } from '../test/etcd';
import { requirePrereqs } from '../test/prereq';
import { ControlConfig } from './config';
import { silentLogger } from './log';
import { ControlHandle, startControl } from './server';
import { etcdConfig, hostIp } from './testing/fixtures';
import { TestAgent } from './testing/test-agent';

function config(etcd: EtcdServer, agents: readonly TestAgent[], id: string): ControlConfig {
  return etcdConfig(etcd.url, id, '/faults/', { agents: new Map(agents.map((a) => [a.hostIp, a.address])) });
}

async function call(ctl: ControlHandle, method: string, path: string, body?: unknown): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${ctl.httpPort}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return -1; // no answer: not acknowledged
  }
}

if (requirePrereqs(['etcd'])) {
  test('etcd killed and restarted during resource changes: every acknowledged create survives, none is half-made', async () => {
    const etcd = await EtcdServer.start();
    const agents = await Promise.all([1, 2].map((i) => TestAgent.start(hostIp(i))));
    let ctl: ControlHandle | undefined = await startControl(config(etcd, agents, 'f1'), silentLogger);
    let again: ControlHandle | undefined;
    try {
      assert.is(await call(ctl, 'POST', '/v1/vpcs', { id: 'v', cidr: '10.9.0.0/16' }), 201);
      assert.is(await call(ctl, 'POST', '/v1/subnets', { id: 's', vpc: 'v', cidr: '10.9.0.0/20' }), 201);

      const statuses = new Map<string, number>();
      let next = 0;
      let etcdBackAt = 0;
      let firstAfterBack = 0;
      let sinceBack = 0;
      const createdSinceBack = (): number => sinceBack;
      const c = ctl;
      const deadline = Date.now() + 60_000;
      // Until 40 creates are acknowledged after etcd is back (the outage's refusals come on top).
      const worker = async (): Promise<void> => {
        while ((etcdBackAt === 0 || createdSinceBack() < 40) && Date.now() < deadline) {
          const i = next++;
          const host = (agents[i % agents.length] as TestAgent).hostIp;
          const status = await call(c, 'POST', '/v1/ports', { id: `p${i}`, subnet: 's', host });
          statuses.set(`p${i}`, status);
          if (status === 201 && etcdBackAt > 0) {
            if (firstAfterBack === 0) firstAfterBack = Date.now();
            sinceBack++;
          }
        }
      };
      const workers = Array.from({ length: 8 }, () => worker());
      const created = (): number => [...statuses.values()].filter((s) => s === 201).length;
      const refused = (): number => [...statuses.values()].filter((s) => s !== 201).length;
      await until('40 ports created', () => created() >= 40);
      await etcd.kill();
      await until('creates refused while etcd is down', () => refused() >= 8);
      await etcd.restart();
      etcdBackAt = Date.now();
      await Promise.all(workers);

      const acked = [...statuses].filter(([, s]) => s === 201).map(([id]) => id);
      const other = [...statuses].filter(([, s]) => s !== 201);
      assert.ok(sinceBack >= 40, `creates acknowledged after etcd returned: ${sinceBack}`);
      assert.ok(other.length >= 8, 'the outage was seen');
      assert.ok(
        other.every(([, s]) => s === 503 || s === -1),
        `a create that is not acknowledged is refused as unavailable: ${JSON.stringify(other.slice(0, 5))}`,
      );

      // A new replica on the same etcd: nothing acknowledged is lost, and the agents have every such port.
      await ctl.stop();
      ctl = undefined;
      again = await startControl(config(etcd, agents, 'f2'), silentLogger);
      const res = await fetch(`http://127.0.0.1:${again.httpPort}/v1/ports`);
      const listed = new Set(((await res.json()) as { items: { id: string }[] }).items.map((p) => p.id));
      const lost = acked.filter((id) => !listed.has(id));
      assert.equal(lost, [], 'every acknowledged port is in the store');
      for (const id of acked) {
        const agent = agents[Number(id.slice(1)) % agents.length] as TestAgent;
        await agent.waitFor(
          () => [...agent.applied.keys()].some((k) => k.includes(id)),
          20_000,
          `agent has port ${id}`,
        );
      }
      console.log(
        JSON.stringify({
          fault: 'etcd SIGKILL during resource changes',
          acknowledged: acked.length,
          refused: other.length,
          convergeMs: firstAfterBack === 0 ? null : firstAfterBack - etcdBackAt,
        }),
      );
    } finally {
      await ctl?.stop();
      await again?.stop();
      for (const a of agents) await a.stop();
      await etcd.stop();
    }
  });

  test.run();
}

async function until(what: string, cond: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > 30_000) throw new Error(`${what}: not within 30 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
