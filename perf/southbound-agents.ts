// Child process of `alcor-bench southbound`: N simulated agents, so their CPU is not counted as the control
// side's. gRPC: the agent's real gRPC server per host (control/testing/test-agent.ts). NATS: the agent's real
// NATS consumer (agent/nats/consumer.ts) per host on the VPC's subject, with a recording applier.
// argv[2] is JSON {transport, hosts, nats?, vpc}; prints one JSON line {ready, ports} once all listen/consume.
// On stdin: `prof-start` starts a V8 CPU profile of this process, `prof-stop FILE` writes it (for --cpu-prof)
// and answers {"profiled":FILE}; the end of stdin stops the agents.
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import { GoalStateOperationReply } from '../proto';
import { parseGoalStateV2 } from '../control/resources';
import { hostIp } from '../control/testing/fixtures';
import { TestAgent, successStatus } from '../control/testing/test-agent';
import { NatsSouthbound } from '../agent/nats/consumer';

interface Args {
  readonly transport: 'grpc' | 'nats';
  readonly hosts: number;
  readonly nats?: string;
  readonly vpc: string;
}

function reply(bytes: Uint8Array): GoalStateOperationReply {
  const gs = parseGoalStateV2(bytes);
  return {
    formatVersion: 0,
    messageTotalOperationTime: 1,
    operationStatuses: [...gs.resources.values()].map(successStatus),
  };
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2] ?? '{}') as Args;
  const stops: Array<() => Promise<void>> = [];
  const ports: number[] = [];
  if (a.transport === 'grpc') {
    for (let i = 0; i < a.hosts; i++) {
      const t = await TestAgent.start(hostIp(i));
      t.recordMessages = false;
      ports.push(t.port);
      stops.push(() => t.stop());
    }
  } else {
    let consuming = 0;
    const log = (_l: string, msg: string): void => {
      if (msg === 'nats southbound consuming') consuming++;
    };
    const applier = {
      applyV1: () => Promise.reject(new Error('v1')),
      applyV2: async (req: { kind: 'raw'; bytes: Buffer } | { kind: 'decoded' }) =>
        reply(req.kind === 'raw' ? req.bytes : new Uint8Array()),
    };
    for (let i = 0; i < a.hosts; i++) {
      const servers = (a.nats ?? '').split(',');
      const s = new NatsSouthbound(
        { servers, hostIp: hostIp(i), vpcs: [a.vpc], hostSubject: false, resumeVpcs: false },
        applier,
        log,
      );
      s.start();
      stops.push(() => s.stop());
    }
    while (consuming < a.hosts) await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write(`${JSON.stringify({ ready: true, ports })}\n`);
  const profiler = new inspector.Session();
  let lines = '';
  process.stdin.on('data', (c: Buffer) => {
    lines += c.toString();
    for (let i = lines.indexOf('\n'); i >= 0; i = lines.indexOf('\n')) {
      onCommand(profiler, lines.slice(0, i));
      lines = lines.slice(i + 1);
    }
  });
  process.stdin.once('end', () => {
    void Promise.all(stops.map((s) => s())).finally(() => process.exit(0));
  });
}

function onCommand(profiler: inspector.Session, line: string): void {
  if (line === 'prof-start') {
    profiler.connect();
    profiler.post('Profiler.enable', () => profiler.post('Profiler.start'));
  } else if (line.startsWith('prof-stop ')) {
    const file = line.slice('prof-stop '.length);
    profiler.post('Profiler.stop', (e, r) => {
      if (e === null) fs.writeFileSync(file, JSON.stringify(r.profile));
      profiler.disconnect();
      process.stdout.write(`${JSON.stringify({ profiled: file })}\n`);
    });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`southbound agents: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
