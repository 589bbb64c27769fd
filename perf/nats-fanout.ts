// The floor under `alcor-bench southbound --transport nats`: what one message fanned out to N NATS connections
// costs nats-server and the clients, with nothing of Alcor's in the clients (they ack and publish a stored
// ack, as an agent does for a VPC-wide change). It tells how much of the southbound bench's broker and agents
// CPU the delivery mode itself takes, and so whether delivering VPC-wide changes another way would pay:
//   core     every client subscribes to the subject by core NATS (the stream still captures it)
//   push     a durable push consumer per client, explicit acks, its state in a file (the agents before)
//   pushmem  the same with the consumer's state in memory (the agents' VPC consumers now)
//   corecore core delivery and acks sent by core NATS to a counting subscriber (nothing stored)
// Everything runs in this process except nats-server (test/nats.ts), so clientsCpuMs includes the publisher
// and the ack counting (a stream-info request every 5 ms). Usage:
//   node dist/perf/nats-fanout.js core|push|pushmem|corecore [clients=1000] [rounds=10]
// Prints one JSON line: means over the rounds of allAckedMs, brokerCpuMs and clientsCpuMs.
import { connect } from '@nats-io/transport-node';
import { headers, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { NatsServer } from '../test/nats';
import { processCpuMs } from './proc-cpu';

type Mode = 'core' | 'push' | 'pushmem' | 'corecore';
const MODES: readonly Mode[] = ['core', 'push', 'pushmem', 'corecore'];
const WARMUP = 2;
const SETTLE_MS = 300;

async function client(
  url: string,
  i: number,
  mode: Mode,
  add: (name: string) => Promise<void>,
): Promise<NatsConnection> {
  const nc = await connect({ servers: url });
  const onMsg = (id: string): void => {
    if (mode === 'corecore') {
      nc.publish(`b.${id}`, `h${i}`);
      return;
    }
    const h = headers();
    h.set('Nats-Msg-Id', `${id}.${i}`);
    nc.publish(`a.${id}`, `h${i}`, { headers: h });
  };
  if (mode === 'core' || mode === 'corecore') {
    nc.subscribe('g.vpc', { callback: (_e: Error | null, m: Msg) => onMsg(m.headers?.get('Id') ?? '') });
    return nc;
  }
  await add(`c${i}`);
  const msgs = await (await jetstream(nc).consumers.getPushConsumer('G', `c${i}`)).consume();
  void (async () => {
    for await (const m of msgs) {
      m.ack();
      onMsg(m.headers?.get('Id') ?? '');
    }
  })();
  return nc;
}

async function main(): Promise<void> {
  const mode = process.argv[2] as Mode;
  if (!MODES.includes(mode)) throw new Error(`mode: one of ${MODES.join(', ')}`);
  const n = Number(process.argv[3] ?? 1000);
  const rounds = Number(process.argv[4] ?? 10);
  const srv = await NatsServer.start();
  const conns: NatsConnection[] = [];
  try {
    const nc0 = await connect({ servers: srv.url });
    conns.push(nc0);
    const jsm = await jetstreamManager(nc0);
    await jsm.streams.add({ name: 'G', subjects: ['g.>'] });
    await jsm.streams.add({ name: 'A', subjects: ['a.>'], storage: StorageType.Memory, duplicate_window: 60e9 });
    const add = async (name: string): Promise<void> => {
      await jsm.consumers.add('G', {
        durable_name: name,
        filter_subject: 'g.vpc',
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        max_ack_pending: 64,
        deliver_subject: `d.${name}`,
        mem_storage: mode === 'pushmem',
      });
    };
    for (let i = 0; i < n; i++) conns.push(await client(srv.url, i, mode, add));
    const core = new Map<string, number>();
    nc0.subscribe('b.>', {
      callback: (_e: Error | null, m: Msg) => core.set(m.subject, (core.get(m.subject) ?? 0) + 1),
    });
    const count = async (id: string): Promise<number> => {
      if (mode === 'corecore') {
        await nc0.flush();
        return core.get(`b.${id}`) ?? 0;
      }
      const info = await jsm.streams.info('A', { subjects_filter: `a.${id}` });
      return info.state.subjects?.[`a.${id}`] ?? 0;
    };
    const js = jetstream(nc0);
    const res: Array<{ ms: number; broker: number; clients: number }> = [];
    for (let r = 0; r < rounds + WARMUP; r++) {
      await new Promise((ok) => setTimeout(ok, SETTLE_MS));
      const b0 = processCpuMs(srv.pid);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const h = headers();
      h.set('Id', `r${r}`);
      await js.publish('g.vpc', new Uint8Array(175), { headers: h });
      while ((await count(`r${r}`)) < n) await new Promise((ok) => setTimeout(ok, 5));
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (r >= WARMUP) res.push({ ms, broker: processCpuMs(srv.pid) - b0, clients: (c.user + c.system) / 1000 });
    }
    const mean = (k: 'ms' | 'broker' | 'clients'): number =>
      Math.round(res.reduce((a, x) => a + x[k], 0) / Math.max(1, res.length));
    process.stdout.write(
      `${JSON.stringify({ bench: 'nats-fanout', mode, clients: n, rounds, allAckedMs: mean('ms'), brokerCpuMs: mean('broker'), clientsCpuMs: mean('clients') })}\n`,
    );
  } finally {
    for (const c of conns) await c.close().catch(() => undefined);
    await srv.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`nats-fanout: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
