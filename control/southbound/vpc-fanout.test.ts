// A VPC-wide change through a real nats-server: a real control service (`startControl --nats`), N NATS
// agents (the agent's real NatsSouthbound; the applier records instead of programming OVS) and one gRPC
// agent in the same VPC (a mixed fleet). The first neighbor change asks the NATS agents to consume the VPC's
// subject (each gets it on its own subject); the next one is published once, to the VPC subject, counted by
// alcor_control_nats_vpc_publishes_total, and every agent applies it and answers the northbound caller.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GoalStateOperationReply,
  GoalStateV2,
  NeighborState,
  NeighborType,
  OperationStatus,
  OperationType,
  ResourceType,
} from '../../proto';
import { NatsSouthbound } from '../../agent/nats/consumer';
import { requirePrereqs } from '../../test/prereq';
import { NatsServer } from '../../test/nats';
import { embeddedConfig, hostIp, pushGoalStates } from '../testing/fixtures';
import { recordingApplier, TestAgent } from '../testing/test-agent';
import { createLogger } from '../log';
import { startControl, type ControlHandle } from '../server';

const NATS_HOSTS = 6;
const VPC = 'vpc-fan';
const quiet = (): void => undefined;

/** One neighbor of the VPC, created (or re-created at a newer revision) on every host in `hosts`. */
function neighborChange(id: string, revision: number, hosts: readonly string[]): Uint8Array {
  const gs = GoalStateV2.fromPartial({ formatVersion: 102 });
  gs.neighborStates[id] = NeighborState.fromPartial({
    operationType: OperationType.CREATE,
    configuration: {
      revisionNumber: revision,
      id,
      vpcId: VPC,
      macAddress: '02:00:00:00:aa:01',
      hostIpAddress: '192.0.2.250',
      fixedIps: [{ neighborType: NeighborType.L2, subnetId: 'subnet-fan', ipAddress: '10.9.0.5', tunnelId: 77 }],
    },
  });
  for (const h of hosts) gs.hostResources[h] = { resources: [{ type: ResourceType.NEIGHBOR, id }] };
  return GoalStateV2.encode(gs).finish();
}

if (requirePrereqs(['nats'])) {
  test('a neighbor change to a VPC of N NATS hosts costs one publish, and every agent applies it', async () => {
    const server = await NatsServer.start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-fanout-'));
    const natsHosts = Array.from({ length: NATS_HOSTS }, (_, i) => hostIp(i));
    const grpcAgent = await TestAgent.start(hostIp(NATS_HOSTS));
    const hosts = [...natsHosts, grpcAgent.hostIp];
    const got = natsHosts.map((): string[][] => []);
    const agents = natsHosts.map(
      (h, i) => new NatsSouthbound({ servers: [server.url], hostIp: h }, recordingApplier(got[i] as string[][]), quiet),
    );
    let ctl: ControlHandle | undefined;
    try {
      const registry = new Map<string, string>(natsHosts.map((h) => [h, 'nats']));
      registry.set(grpcAgent.hostIp, grpcAgent.address);
      ctl = await startControl(
        embeddedConfig(dir, { nats: { servers: [server.url] }, agents: registry }),
        createLogger('error', 'test', quiet),
      );
      for (const a of agents) a.start();
      const address = `127.0.0.1:${ctl.grpcPort}`;
      const allOk = (r: GoalStateOperationReply | undefined): boolean =>
        r?.operationStatuses.length === hosts.length &&
        r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS);

      // First change of the VPC: one message per host, each asking its agent to consume the VPC's subject.
      const [first] = await pushGoalStates(address, [neighborChange('nbr-1', 1, hosts)]);
      assert.ok(allOk(first), `first change answered by every agent: ${JSON.stringify(first)}`);
      assert.is(ctl.metrics.natsVpcPublishes.get(), 0);

      const publishes = ctl.metrics.natsPublishes.get();
      const [second] = await pushGoalStates(address, [neighborChange('nbr-2', 1, hosts)]);
      assert.ok(allOk(second), `VPC-wide change answered by every agent: ${JSON.stringify(second)}`);
      assert.is(ctl.metrics.natsVpcPublishes.get(), 1, 'one VPC publish');
      assert.is(ctl.metrics.natsVpcHosts.get(), NATS_HOSTS, 'carrying every NATS host');
      assert.is(ctl.metrics.natsPublishes.get() - publishes, 1, 'and no per-host publish');
      for (const g of got)
        assert.ok(
          g.some((keys) => keys.includes('neighbor/nbr-2')),
          'each NATS agent applied it',
        );
      assert.ok(grpcAgent.applied.has('neighbor/nbr-2'), 'the gRPC host got its own push');
      // Every NATS host answered every message sent to it: no lag on /metrics.
      const text = ctl.metrics.registry.render();
      for (const h of natsHosts) {
        assert.match(text, `alcor_control_nats_host_lag{host="${h}"} 0`);
        assert.ok(ctl.metrics.natsHostLag.lag(h.replace(/\./g, '_')) === 0);
      }

      // A change for some of the VPC's hosts only: the others ack it unapplied (the hosts header).
      const some = natsHosts.slice(0, 3);
      const before = got.map((g) => g.length);
      const [third] = await pushGoalStates(address, [neighborChange('nbr-3', 1, some)]);
      assert.is(third?.operationStatuses.length, some.length);
      assert.is(ctl.metrics.natsVpcPublishes.get(), 2);
      got.forEach((g, i) => {
        const applied = g.slice(before[i]).some((keys) => keys.includes('neighbor/nbr-3'));
        assert.is(applied, i < some.length, `host ${i} applied nbr-3: ${applied}`);
      });
    } finally {
      for (const a of agents) await a.stop();
      await ctl?.stop();
      await grpcAgent.stop();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('resource API: a port added to a VPC reaches the other NATS hosts as one VPC publish', async () => {
    const server = await NatsServer.start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-fanout-api-'));
    const hosts = Array.from({ length: 4 }, (_, i) => hostIp(i));
    const got = hosts.map((): string[][] => []);
    const agents = hosts.map(
      (h, i) => new NatsSouthbound({ servers: [server.url], hostIp: h }, recordingApplier(got[i] as string[][]), quiet),
    );
    let ctl: ControlHandle | undefined;
    try {
      ctl = await startControl(
        embeddedConfig(dir, { nats: { servers: [server.url] }, agents: new Map(hosts.map((h) => [h, 'nats'])) }),
        createLogger('error', 'test', quiet),
      );
      for (const a of agents) a.start();
      const base = `http://127.0.0.1:${ctl.httpPort}`;
      const post = async (p: string, body: unknown): Promise<number> => {
        const res = await fetch(`${base}${p}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        await res.text();
        return res.status;
      };
      assert.is(await post('/v1/vpcs', { id: 'v1', cidr: '10.1.0.0/16' }), 201);
      assert.is(await post('/v1/subnets', { id: 's1', vpc: 'v1', cidr: '10.1.1.0/24' }), 201);
      // One port per host, one at a time: each host's neighbors of v1 come as neighbor-only changes, the
      // first of which asks its agent to consume v1's subject.
      for (const [i, h] of hosts.entries())
        assert.is(await post('/v1/ports?wait=true', { id: `p${i}`, subnet: 's1', host: h }), 201);
      const before = ctl.metrics.natsVpcPublishes.get();
      assert.is(await post('/v1/ports?wait=true', { id: 'pnew', subnet: 's1', host: hosts[0] }), 201);
      assert.is(ctl.metrics.natsVpcPublishes.get() - before, 1, 'the other three hosts: one publish');
      assert.is(ctl.metrics.natsVpcHosts.get() >= 3, true);
      for (const i of [1, 2, 3])
        assert.ok(
          (got[i] as string[][]).some((keys) => keys.includes('neighbor/pnew')),
          `host ${i} applied the new neighbor`,
        );
    } finally {
      for (const a of agents) await a.stop();
      await ctl?.stop();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.run();
}
