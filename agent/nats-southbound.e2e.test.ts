// Goal states to a real agent on OVS through NATS JetStream (issue 17): a real `alcor-control run --nats`, a
// real nats-server, a real agent with --southbound. The host is registered with transport "nats" and its
// gRPC address (the fallback). Checked: ping between two VMs after the goal state came through the broker
// (and the control service's reply carries the agent's statuses); an agent SIGKILLed while a change is
// published gets it after its restart (durable consumer); the broker SIGKILLed: the next change reaches
// the agent over gRPC and the fallback is counted; the broker back: changes go through it again.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateOperationReply, GoalStateProvisionerClient, GoalStateV2, OperationStatus } from '../proto';
import { requirePrereqs } from '../test/prereq';
import { freePort } from '../test/local-process';
import { NatsServer } from '../test/nats';
import { OvsSandbox } from '../test/sandbox';
import {
  dumpOurFlows,
  goalState,
  pushOnStream,
  startAgent,
  until,
  type AgentProcess,
  type PortSpec,
} from './e2e-helpers';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.71';
const P1: PortSpec = { id: '11111111-eeee-4000-8000-000000000001', mac: '02:00:00:71:00:01', ip: '10.215.0.11' };
const P2: PortSpec = { id: '22222222-eeee-4000-8000-000000000002', mac: '02:00:00:71:00:02', ip: '10.215.0.12' };
const NET = { hostIp: HOST_IP, cidr: '10.215.0.0/16', gatewayIp: '10.215.0.1' };
const neighbor = (n: number): { id: string; mac: string; ip: string; hostIp: string } => ({
  id: `33333333-eeee-4000-8000-${String(n).padStart(12, '0')}`,
  mac: `02:00:00:72:00:${n.toString(16).padStart(2, '0')}`,
  ip: `10.215.0.${100 + n}`,
  hostIp: `192.0.2.${200 + n}`,
});
const BIN_CONTROL = path.join(__dirname, '..', '..', 'bin', 'alcor-control.js');

interface Control {
  readonly http: string;
  push(gs: GoalStateV2): Promise<GoalStateOperationReply>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

async function startControl(dataDir: string, nats: string): Promise<Control> {
  const args = ['run', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dataDir, '--nats', nats];
  const child = spawn(process.execPath, [BIN_CONTROL, ...args, '--backoff-max', '300', '--result-timeout', '20000'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  await until('control ready', async () => /ready .*grpc=\S+ http=\S+/.test(out) || child.exitCode !== null, 20_000);
  const m = /ready .*grpc=(\S+) http=(\S+)/.exec(out);
  if (m === null) throw new Error(`control did not start:\n${out}`);
  const [, grpcAddr, httpAddr] = m as unknown as [string, string, string];
  const client = new GoalStateProvisionerClient(grpcAddr, grpc.credentials.createInsecure());
  return {
    http: httpAddr,
    push: (gs) => pushOnStream(client, gs),
    metrics: async () => (await fetch(`http://${httpAddr}/metrics`)).text(),
    async stop() {
      client.close();
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function register(http: string, body: Record<string, unknown>): Promise<void> {
  const r = await fetch(`http://${http}/v1/hosts/${HOST_IP}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`register: ${r.status} ${await r.text()}`);
}

const allSuccess = (r: GoalStateOperationReply): boolean =>
  r.operationStatuses.length > 0 && r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS);

const flowsMention = async (sb: OvsSandbox, text: string): Promise<boolean> =>
  (await dumpOurFlows(sb)).some((f) => f.includes(text));

/** Pushes 1 port + 10k neighbors (set `set`: 0 or 1, distinct ids and addresses); ms until the reply. */
async function push10k(control: Control, set: number): Promise<number> {
  const many = Array.from({ length: 10_000 }, (_, i) => ({
    id: `44444444-eeee-4000-800${set}-${String(i).padStart(12, '0')}`,
    mac: `02:00:0${set + 1}:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    ip: `10.215.${1 + set * 50 + Math.floor(i / 250)}.${(i % 250) + 2}`,
    hostIp: '192.0.2.250',
  }));
  const t0 = performance.now();
  const r = await control.push(goalState({ ...NET, ports: [P1], neighbors: many, withNetwork: false }));
  const ms = Math.round(performance.now() - t0);
  assert.ok(allSuccess(r), 'the 10k-neighbor goal state is applied');
  return ms;
}

if (requirePrereqs(['root', 'ovs', 'netns', 'nats'])) {
  test('goal states through NATS: ping, agent restart, broker down -> gRPC fallback', async () => {
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    let control: Control | undefined;
    const nats = await NatsServer.start();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-control-nats-'));
    try {
      sb = await OvsSandbox.start({ name: 'natsgs' });
      const vm1 = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/24`, ofport: 2, iface: tapNameFor(P2.id) });
      const port = await freePort();
      const agentArgs = [
        '--listen',
        `127.0.0.1:${port}`,
        '--tunnel-ip',
        HOST_IP,
        '--southbound',
        nats.url,
        '--metrics',
        '127.0.0.1:0',
      ];
      agent = await startAgent(sb, agentArgs);
      control = await startControl(dataDir, nats.url);
      await register(control.http, { transport: 'nats', agent: `127.0.0.1:${port}` });

      // 1. Through the broker: the reply carries the agent's statuses, and the VMs reach each other.
      const r1 = await control.push(goalState({ ...NET, ports: [P1, P2] }));
      assert.ok(allSuccess(r1), JSON.stringify(r1));
      assert.ok((await vm1.exec(['ping', '-c1', '-W2', P2.ip])).code === 0, 'ping vm1 -> vm2');
      assert.ok(agent.logs.some((l) => l.msg === 'nats southbound consuming'));
      assert.match(await control.metrics(), /alcor_control_nats_publish_latency_ms_count [1-9]/);
      const agentMetrics = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
      assert.match(agentMetrics, /alcor_agent_nats_applied_total [1-9]/);
      assert.match(agentMetrics, /alcor_agent_nats_pending 0/);

      // 2. Agent SIGKILLed; a change published meanwhile is waiting in its durable consumer after the restart.
      await agent.kill9();
      const pending = control.push(goalState({ ...NET, ports: [P1, P2], neighbors: [neighbor(1)] }));
      agent = await startAgent(sb, agentArgs);
      assert.ok(allSuccess(await pending), 'the change made while the agent was down is acknowledged');
      await until('neighbor 1 flows', () => flowsMention(sb as OvsSandbox, neighbor(1).ip));

      // The seed notes' "one port, ten thousand neighbors" (500-600 ms through Pulsar): printed, not asserted.
      const viaNats = await push10k(control, 0);
      console.log(`1 port + 10k neighbors through NATS into OVS, northbound push to reply: ${viaNats} ms`);
      assert.not.match(await control.metrics(), /alcor_control_nats_fallbacks_total [1-9]/, 'no gRPC so far');

      // 3. Broker SIGKILLed: the next change goes over gRPC, and the fallback is counted.
      await nats.kill();
      const r3 = await control.push(goalState({ ...NET, ports: [P1, P2], neighbors: [neighbor(1), neighbor(2)] }));
      assert.ok(allSuccess(r3), JSON.stringify(r3));
      await until('neighbor 2 flows', () => flowsMention(sb as OvsSandbox, neighbor(2).ip));
      assert.match(await control.metrics(), /alcor_control_nats_fallbacks_total [1-9]/);
      assert.ok((await vm1.exec(['ping', '-c1', '-W2', P2.ip])).code === 0, 'ping still works');
      const viaGrpc = await push10k(control, 1);
      console.log(`1 port + 10k other neighbors over the gRPC fallback, same path otherwise: ${viaGrpc} ms`);

      // 4. Broker back (same store): changes go through NATS again and the agent's consumer resumes.
      const c = control;
      const published = async (): Promise<number> =>
        Number(/alcor_control_nats_publish_latency_ms_count (\d+)/.exec(await c.metrics())?.[1] ?? 0);
      const before = await published();
      await nats.restart();
      await until('control sees the broker', async () => /alcor_control_nats_up 1/.test(await c.metrics()));
      const r4 = await control.push(goalState({ ...NET, ports: [P1, P2], neighbors: [neighbor(3)] }));
      assert.ok(allSuccess(r4), JSON.stringify(r4));
      await until('neighbor 3 flows', () => flowsMention(sb as OvsSandbox, neighbor(3).ip));
      assert.ok((await published()) > before, 'published through NATS again');
    } finally {
      await control?.stop();
      await agent?.stop().catch(() => undefined);
      await sb?.stop();
      await nats.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test.run();
}
