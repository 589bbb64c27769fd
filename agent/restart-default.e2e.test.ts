// Restart that never blackholes, with the defaults (issue 14, part 1). An agent started with only
// --listen, --ovs-rundir, --bridge and --tunnel-ip (its state dir at the default) is killed with
// SIGKILL and started again under a `ping -i 0.02` between two VMs: no packet is lost, with and
// without a reachable control service (a real `alcor-control run` process that pushes to the agent;
// the agent itself gets --control only where it must ask, or to a port nothing listens on). A corrupt snapshot
// leads to read-back, not deletion: every installed flow stays, a flow no resource wants included,
// until the full state is known; with --control the agent asks (AGENT_RESTARTED) and then removes
// only that flow. Everything waits for conditions (ping replies, log lines), never for time.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateOperationReply, GoalStateProvisionerClient, GoalStateV2, OperationStatus } from '../proto';
import { freePort } from '../test/local-process';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { defaultStateDir } from './cli/run';
import {
  dumpOurFlows,
  goalState,
  pushOnStream,
  startAgent,
  stateDirHolds,
  until,
  type AgentProcess,
  type PortSpec,
} from './e2e-helpers';
import { Pinger } from './e2e-pinger';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.61';
const P1: PortSpec = { id: '11111111-dddd-4000-8000-000000000001', mac: '02:00:00:61:00:01', ip: '10.214.0.11' };
const P2: PortSpec = { id: '22222222-dddd-4000-8000-000000000002', mac: '02:00:00:61:00:02', ip: '10.214.0.12' };
const GS = goalState({ hostIp: HOST_IP, cidr: '10.214.0.0/24', gatewayIp: '10.214.0.1', ports: [P1, P2] });
/** A flow of ours (neighbor cookie) that no resource of GS wants: what a deleted neighbor leaves behind. */
const STALE = 'cookie=0xa1c003000badf00d,table=0,priority=3,in_port=4093,actions=drop';
const BIN_CONTROL = path.join(__dirname, '..', '..', 'bin', 'alcor-control.js');

/** A real `alcor-control run` (embedded store) on free ports. */
interface Control {
  readonly grpc: string;
  readonly http: string;
  readonly logs: () => string;
  register(hostIp: string, agent: string): Promise<void>;
  push(gs: GoalStateV2): Promise<GoalStateOperationReply>;
  stop(): Promise<void>;
}

async function startControl(dataDir: string): Promise<Control> {
  const child = spawn(
    process.execPath,
    [
      BIN_CONTROL,
      'run',
      '--listen',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--backoff-max',
      '300',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
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
    grpc: grpcAddr,
    http: httpAddr,
    logs: () => out,
    async register(hostIp, agent) {
      const r = await fetch(`http://${httpAddr}/v1/hosts/${hostIp}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent }),
      });
      if (!r.ok) throw new Error(`register: ${r.status} ${await r.text()}`);
    },
    push: (gs) => pushOnStream(client, gs),
    async stop() {
      client.close();
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const allSuccess = (r: GoalStateOperationReply): boolean =>
  r.operationStatuses.length > 0 && r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS);

const hasLog = (a: AgentProcess, msg: string): boolean => a.logs.some((l) => l.msg === msg);

interface Scenario {
  /**
   * 'none': no control service, goal states pushed straight to the agent. 'pushes': a control service
   * pushes to the agent, which has only the four flags. 'asked': the same, and the agent has
   * --control to ask it. 'unreachable': no control service, but the agent has --control (to a port
   * nothing listens on).
   */
  readonly control: 'none' | 'pushes' | 'asked' | 'unreachable';
  readonly corruptSnapshot: boolean;
}

/**
 * Two VMs on one host, the goal state pushed (through the control service or straight to the agent),
 * then ping across kill -9 + restart. Returns what the test asserts on.
 */
async function run(name: string, s: Scenario, check: (r: RunResult) => Promise<void>): Promise<void> {
  let sb: OvsSandbox | undefined;
  let agent: AgentProcess | undefined;
  let control: Control | undefined;
  let pinger: Pinger | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-control-data-'));
  try {
    sb = await OvsSandbox.start({ name });
    const vm1 = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
    await sb.addVm({ name: 'vm2', mac: P2.mac, ip: `${P2.ip}/24`, ofport: 2, iface: tapNameFor(P2.id) });
    // Only --listen, --ovs-rundir (startAgent), --bridge and --tunnel-ip (and --control when asked): the state dir is the default.
    const port = await freePort();
    const args = ['--listen', `127.0.0.1:${port}`, '--bridge', 'br-int', '--tunnel-ip', HOST_IP];
    if (s.control === 'pushes' || s.control === 'asked') control = await startControl(dataDir);
    if (s.control === 'asked' && control !== undefined) args.push('--control', control.grpc);
    if (s.control === 'unreachable') args.push('--control', `127.0.0.1:${await freePort()}`);
    agent = await startAgent(sb, args);
    if (control !== undefined) {
      await control.register(HOST_IP, `127.0.0.1:${port}`);
      const r = await control.push(GS);
      assert.ok(allSuccess(r), JSON.stringify(r));
    } else {
      assert.ok(allSuccess(await agent.push(GS)));
    }
    const stateDir = defaultStateDir(sb.rundir, 'br-int');
    const snapFile = path.join(stateDir, 'snapshot.json');
    await until('state saved in the default state dir', async () => stateDirHolds(stateDir, P2.id));
    const warm = await vm1.exec(['ping', '-c1', '-W2', P2.ip]);
    assert.is(warm.code, 0, warm.stdout + warm.stderr);
    await sb.ofctl(['add-flow', 'br-int', STALE]);
    const before = await dumpOurFlows(sb);

    pinger = new Pinger(vm1, P2.ip, 0.02);
    await pinger.more(25, 'before the kill');
    await agent.kill9();
    agent = undefined;
    if (s.corruptSnapshot) fs.writeFileSync(snapFile, '{"format":"alcor-agent-store/1","resources":{"port":[{"id"');
    await pinger.more(5, 'while no agent runs');
    agent = await startAgent(sb, args);
    const restarted = agent;
    if (s.control === 'asked' && s.corruptSnapshot) {
      await until(
        'the full state known and the sweep done',
        async () => hasLog(restarted, 'full state known: flows no resource wants were removed'),
        30_000,
      );
    } else if (s.control === 'unreachable') {
      await until('AGENT_RESTARTED tried', async () => hasLog(restarted, 'AGENT_RESTARTED not answered; asking again'));
    } else if (control !== undefined) {
      // The control service re-pushes the full state on its new stream to the restarted agent.
      await until('the re-push applied', async () => hasLog(restarted, 'goal state applied'), 30_000);
    }
    await pinger.more(50, 'after the restart');
    const ping = await pinger.stop();
    pinger = undefined;
    const box = sb;
    await check({
      sb,
      agent,
      before,
      ping,
      stateDir,
      control,
      restart: async () => {
        await agent?.kill9();
        agent = undefined;
        agent = await startAgent(box, args);
        return agent;
      },
    });
  } catch (e: unknown) {
    if (control !== undefined && process.env.ALCOR_TEST_VERBOSE) process.stderr.write(control.logs());
    throw e;
  } finally {
    await pinger?.stop();
    await agent?.stop();
    await control?.stop();
    await sb?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

interface RunResult {
  readonly sb: OvsSandbox;
  readonly agent: AgentProcess;
  readonly before: string[];
  readonly ping: { readonly sent: number; readonly lost: number[] };
  readonly stateDir: string;
  readonly control: Control | undefined;
  /** kill -9 and start the agent again with the same flags. */
  readonly restart: () => Promise<AgentProcess>;
}

function assertNoLoss(ping: RunResult['ping']): void {
  assert.ok(ping.sent >= 80, `only ${ping.sent} pings`);
  assert.equal(ping.lost, [], `lost ${ping.lost.length} of ${ping.sent} pings across kill -9 + restart`);
}

const ready = (a: AgentProcess): Record<string, unknown> | undefined => a.logs.find((l) => l.msg === 'agent ready');

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('defaults, no control service: kill -9 + restart under ping -i 0.02 loses nothing', async () => {
    await run('rsdefnc', { control: 'none', corruptSnapshot: false }, async (r) => {
      assertNoLoss(r.ping);
      assert.is(ready(r.agent)?.convergeFlowMods, 1, 'the restored snapshot: only the flow no resource wants goes');
      assert.equal(
        await dumpOurFlows(r.sb),
        r.before.filter((l) => !l.includes('in_port=4093')),
      );
    });
  });

  test('defaults, with a control service: kill -9 + restart under ping -i 0.02 loses nothing', async () => {
    await run('rsdefwc', { control: 'pushes', corruptSnapshot: false }, async (r) => {
      assertNoLoss(r.ping);
      assert.is(ready(r.agent)?.convergeFlowMods, 1);
      assert.equal(
        await dumpOurFlows(r.sb),
        r.before.filter((l) => !l.includes('in_port=4093')),
      );
    });
  });

  test('corrupt snapshot, no control service: read back, nothing deleted, not even a stale flow', async () => {
    await run('rscornc', { control: 'none', corruptSnapshot: true }, async (r) => {
      assertNoLoss(r.ping);
      const rd = ready(r.agent);
      assert.is(rd?.convergeFlowMods, 0, 'no flow-mod at start-up');
      assert.is(rd?.readBack, r.before.length, 'every installed flow read back');
      assert.ok(fs.existsSync(path.join(r.stateDir, 'snapshot.json.unusable')), 'the corrupt file is set aside');
      assert.ok(fs.existsSync(path.join(r.stateDir, 'read-back')), 'the state dir says the snapshot is partial');
      // A goal state (full or not: the agent cannot tell) changes nothing and deletes nothing.
      assert.ok(allSuccess(await r.agent.push(GS)));
      assert.equal(await dumpOurFlows(r.sb), r.before);
      // Its snapshot holds only what was pushed since the read-back: a second kill -9 must not trust it.
      await until('the partial state saved', async () => stateDirHolds(r.stateDir, P2.id));
      const again = await r.restart();
      assert.is(ready(again)?.convergeFlowMods, 0, 'the partial snapshot is restored, but nothing deleted');
      assert.is(ready(again)?.readBack, r.before.length);
      assert.equal(await dumpOurFlows(r.sb), r.before);
    });
  });

  test('corrupt snapshot, with a control service: AGENT_RESTARTED, full state, then only the stale flow goes', async () => {
    await run('rscorwc', { control: 'asked', corruptSnapshot: true }, async (r) => {
      assertNoLoss(r.ping);
      const rd = ready(r.agent);
      assert.is(rd?.convergeFlowMods, 0);
      assert.is(rd?.readBack, r.before.length);
      assert.equal(
        await dumpOurFlows(r.sb),
        r.before.filter((l) => !l.includes('in_port=4093')),
      );
      assert.not.ok(fs.existsSync(path.join(r.stateDir, 'read-back')), 'the snapshot is a full state again');
    });
  });

  test('corrupt snapshot, --control unreachable: read back, nothing deleted while it keeps asking', async () => {
    await run('rscorun', { control: 'unreachable', corruptSnapshot: true }, async (r) => {
      assertNoLoss(r.ping);
      assert.is(ready(r.agent)?.convergeFlowMods, 0);
      assert.is(ready(r.agent)?.readBack, r.before.length);
      assert.equal(await dumpOurFlows(r.sb), r.before);
    });
  });

  test.run();
}
