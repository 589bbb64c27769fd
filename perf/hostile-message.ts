// Issue 13 targets, measured on a real `alcor-agent run` on a sandboxed OVS; prints one JSON line.
// - absurd: a 250 MiB GoalStateV2 of one small field repeated (`08 00` ...) is refused with
//   INVALID_ARGUMENT. refuseMs is from the first byte sent to the refusal (loopback transfer of
//   250 MiB included); the agent's peak RSS (VmHWM, /proc/<pid>/status) is read after it.
//   Targets: refuseMs < 2000, peak RSS < 1 GiB, the agent alive and serving.
// - partial: `streams` HTTP/2 streams each declare a `partialMb` message and send all of it but the
//   last byte, then are cancelled; reported: how many were refused by the receive budget, the
//   agent's RSS while they are held and after they are cancelled.
// Run: ALCOR_SANDBOX_TAG=x node dist/perf/hostile-message.js [partialMb=200] [streams=8]
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { goalState, pushRawV2, repeatedSmallField, startAgent, type AgentProcess } from '../agent/e2e-helpers';
import { OvsSandbox } from '../test/sandbox';
import { processMemoryMB } from './proc-memory';

const MiB = 1024 * 1024;

function memOf(pid: number): { rssMb: number; hwmMb: number } {
  const m = processMemoryMB(pid);
  return { rssMb: m.rssMB, hwmMb: m.peakMB };
}

async function absurd(agent: AgentProcess, pid: number): Promise<Record<string, unknown>> {
  const bytes = repeatedSmallField(250 * MiB);
  const rssBefore = memOf(pid).rssMb;
  let peakSampled = 0;
  const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, memOf(pid).rssMb)), 20);
  const t0 = process.hrtime.bigint();
  const code = await pushRawV2(agent.grpcPort, bytes).then(
    () => grpc.status.OK,
    (e: grpc.ServiceError) => e.code,
  );
  const refuseMs = Number(process.hrtime.bigint() - t0) / 1e6;
  clearInterval(sampler);
  const t1 = process.hrtime.bigint();
  const after = await agent.push(goalState({ hostIp: '192.0.2.57', cidr: '10.219.0.0/24', gatewayIp: '10.219.0.1' }));
  return {
    code: grpc.status[code],
    refuseMs: Math.round(refuseMs),
    rssBeforeMb: rssBefore,
    peakRssSampledMb: peakSampled,
    vmHwmMb: memOf(pid).hwmMb,
    nextPushMs: Math.round(Number(process.hrtime.bigint() - t1) / 1e6),
    nextPushStatuses: after.operationStatuses.length,
    alive: agent.child.exitCode === null,
  };
}

async function partial(agent: AgentProcess, pid: number, partialMb: number, streams: number): Promise<object> {
  const size = partialMb * MiB;
  // One unknown length-delimited field (99) filling the message: legal, and few fields.
  const body = Buffer.alloc(size - 1);
  body.set([0x9a, 0x06, 0x80 | ((size - 7) % 128), 0x80 | (Math.floor((size - 7) / 128) % 128)], 0);
  body.set([0x80 | (Math.floor((size - 7) / 16384) % 128), Math.floor((size - 7) / 2097152)], 4);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(size, 1);
  const codes: (number | null)[] = [];
  // One connection each, as separate senders would (HTTP/2 flow control shares a connection's window).
  const sessions = Array.from({ length: streams }, () => {
    // Node's default client session memory (10 MB) would reset our own streams.
    const session = http2.connect(`http://127.0.0.1:${agent.grpcPort}`, { maxSessionMemory: 4096 });
    session.on('error', () => undefined);
    return session;
  });
  const calls = sessions.map((session, i) => {
    const s = session.request({
      ':method': 'POST',
      ':path': '/alcor.schema.GoalStateProvisioner/PushGoalStatesStream',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    codes[i] = null;
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) codes[i] = Number(h['grpc-status']);
    };
    s.on('response', take);
    s.on('trailers', take);
    s.on('error', () => undefined);
    s.resume();
    const written = new Promise<void>((resolve) => {
      s.write(header);
      s.write(body, () => resolve());
      s.once('close', () => resolve());
    });
    return { s, written };
  });
  await Promise.all(calls.map((c) => c.written));
  // A write callback means our side buffered it; wait until the agent's RSS stops growing (1 s).
  let last = memOf(pid).rssMb;
  for (let still = 0, i = 0; still < 5 && i < 150; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = memOf(pid).rssMb;
    still = now > last + 2 ? 0 : still + 1;
    last = Math.max(last, now);
  }
  const held = memOf(pid);
  for (const c of calls) c.s.close(http2.constants.NGHTTP2_CANCEL);
  for (const session of sessions) session.destroy();
  // RSS after the cancel, once the agent has had a few GC-prone seconds (a push allocates).
  await agent.push(goalState({ hostIp: '192.0.2.57', cidr: '10.219.0.0/24', gatewayIp: '10.219.0.1' }));
  await new Promise((r) => setTimeout(r, 3000));
  return {
    partialMb,
    streams,
    refusedByBudget: codes.filter((c) => c === grpc.status.RESOURCE_EXHAUSTED).length,
    heldRssMb: held.rssMb,
    afterCancelRssMb: memOf(pid).rssMb,
    vmHwmMb: memOf(pid).hwmMb,
    alive: agent.child.exitCode === null,
  };
}

async function main(): Promise<void> {
  const partialMb = Number(process.argv[2] ?? 200);
  const streams = Number(process.argv[3] ?? 8);
  const sb = await OvsSandbox.start({ name: 'bhostile' });
  let agent: AgentProcess | undefined;
  try {
    agent = await startAgent(sb, ['--tunnel-ip', '192.0.2.57']);
    const pid = agent.child.pid ?? 0;
    const a = await absurd(agent, pid);
    const p = await partial(agent, pid, partialMb, streams);
    process.stdout.write(`${JSON.stringify({ bench: 'hostile-message', absurd: a, partial: p })}\n`);
  } finally {
    await agent?.stop();
    await sb.stop();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
