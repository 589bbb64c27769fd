// Child process of `alcor-bench vms --simulated-hosts`: simulated hosts that each run the agent's real gRPC
// server (agent/grpc/server.ts, raw mode, as `alcor-agent run` serves) and the agent's real engine
// (core/engine: decode, plan, compile, diff, encode the flow-mods, commit), but no OVS: the flow-mods are
// counted and dropped, as if OVS accepted every bundle at once. Every goal state goes through a serial queue,
// as in the daemon (agent/serial-queue.ts), and is answered with the daemon's reply (agent/apply-replies.ts).
// Each engine runs inline (`workers: 0`): a hundred hosts with a worker pool each would be a thousand threads
// on two cores. The VMs' interfaces are plugged before the ports exist (as Nova does), so the engine knows
// their ofports from the start and answers SUCCESS, not PENDING.
// argv[2] is JSON {hosts: [{ip, ports}]}; prints one JSON line {ready, ports} once every server listens, and
// on stdin's end one line {flowMods, goalStates} before exiting.
import { Engine } from '../core/engine/engine';
import { parseIpv4 } from '../core/goalstate/addr';
import { GoalStateV2, type GoalStateOperationReply } from '../proto';
import { GoalStateServer, type GoalStateApplier, type GoalStateRequest } from '../agent/grpc/server';
import { SerialQueue } from '../agent/serial-queue';
import { replyOf } from '../agent/apply-replies';

export interface EngineHostSpec {
  readonly ip: string;
  /** Port ids whose interfaces are plugged on this host (ofports 1, 2, ... in this order). */
  readonly ports: readonly string[];
}

export interface EngineAgentsArgs {
  readonly hosts: readonly EngineHostSpec[];
}

/** The tunnel port's ofport on every simulated host (what `--tunnel-ofport 100` gives a real agent). */
const TUNNEL_OFPORT = 100;

interface Counters {
  flowMods: number;
  goalStates: number;
}

function applierFor(engine: Engine, counters: Counters): GoalStateApplier {
  const queue = new SerialQueue();
  const apply = async (bytes: Uint8Array): Promise<GoalStateOperationReply> => {
    const t0 = process.hrtime.bigint();
    const prepared = await engine.prepare(bytes, 2, {
      // Where the daemon streams each chunk into an OVS bundle: nothing to send, the memory goes back at once.
      onDelta: (_delta, _bundle, release) => release(),
    });
    counters.flowMods += prepared.add + prepared.modify + prepared.delete;
    counters.goalStates++;
    await engine.commit(prepared.txns);
    return replyOf(prepared.statuses, 0, t0);
  };
  return {
    applyV1: () => Promise.reject(new Error('the simulated agent only speaks GoalStateV2')),
    applyV2: (req: GoalStateRequest<GoalStateV2>) =>
      queue.run(() => apply(req.kind === 'raw' ? req.bytes : GoalStateV2.encode(req.message).finish())),
  };
}

async function startHost(h: EngineHostSpec, counters: Counters): Promise<{ port: number; stop: () => Promise<void> }> {
  const engine = await Engine.create({
    workers: 0,
    localTunnelIp: parseIpv4(h.ip),
    tunnelOfport: TUNNEL_OFPORT,
    ofports: new Map(h.ports.map((id, i) => [id, i + 1])),
  });
  const server = new GoalStateServer(applierFor(engine, counters), { address: '127.0.0.1:0', requestMode: 'raw' });
  const port = await server.start();
  return {
    port,
    stop: async () => {
      await server.stop(0);
      await engine.close();
    },
  };
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2] ?? '{}') as EngineAgentsArgs;
  const counters: Counters = { flowMods: 0, goalStates: 0 };
  const hosts = await Promise.all(a.hosts.map((h) => startHost(h, counters)));
  process.stdout.write(`${JSON.stringify({ ready: true, ports: hosts.map((h) => h.port) })}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => {
    process.stdout.write(`${JSON.stringify(counters)}\n`);
    void Promise.all(hosts.map((h) => h.stop())).finally(() => process.exit(0));
  });
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`engine agents: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
