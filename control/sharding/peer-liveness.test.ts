// Crash evidence between replicas, against a real etcd and real sockets: which peer-connection failures make
// a replica revoke a peer's lease (a refused reconnect: the process is gone) and which do not (a dropped
// connection that reconnects, a reconnect that times out, a stopped process), and that a replica whose lease
// is revoked while it is alive fences itself and rejoins.
//
// The peer under observation advertises a TCP relay in front of its listener, so the test can play the
// network: drop the connections (the peer still answers), black-hole new ones (accepted, never answered), or
// close the relay's port (connections refused, as when the process is gone).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import * as net from 'node:net';
import { EtcdServer } from '../../test/etcd';
import { requirePrereqs } from '../../test/prereq';
import { createLogger, Logger, silentLogger } from '../log';
import { ControlMetrics } from '../metrics';
import { ReplicaProcess } from '../testing/replica-process';
import { eventually, replicaArgs } from '../testing/sharded';
import { EtcdMembership } from './etcd-membership';

const TTL_SEC = 10; // long: anything that happens within a second or two is evidence at work, not expiry
const log: Logger = process.env.PEER_TEST_LOG === '1' ? createLogger('debug', 'peer-test') : silentLogger;

/** A TCP relay: forwards to `upstreamPort` unless told to black-hole; can drop everything or close its port. */
class Relay {
  private readonly pairs = new Set<net.Socket>();
  blackhole = false;
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(upstreamPort: number): Promise<Relay> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const relay = new Relay(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (down) => relay.accept(down, upstreamPort));
    return relay;
  }

  private accept(down: net.Socket, upstreamPort: number): void {
    down.on('error', () => undefined);
    this.pairs.add(down);
    down.on('close', () => this.pairs.delete(down));
    if (this.blackhole) return; // accepted by the kernel, never answered: a hung peer
    const up = net.connect(upstreamPort, '127.0.0.1');
    up.on('error', () => undefined);
    this.pairs.add(up);
    up.on('close', () => {
      this.pairs.delete(up);
      down.destroy();
    });
    down.on('close', () => up.destroy());
    up.pipe(down);
    down.pipe(up);
  }

  /** Closes every relayed connection; new ones are still accepted. */
  drop(): void {
    for (const s of this.pairs) s.destroy();
  }

  /** Closes the port: connects are refused from now on. */
  async close(): Promise<void> {
    this.drop();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

interface Cluster {
  readonly etcd: EtcdServer;
  readonly clients: Etcd3[];
  readonly stopAll: Array<() => Promise<void>>;
}

function member(
  c: Cluster,
  id: string,
  prefix: string,
  extra: { advertise?: string | null; metrics?: ControlMetrics; connectTimeoutMs?: number } = {},
): EtcdMembership {
  const client = new Etcd3({ hosts: c.etcd.url });
  c.clients.push(client);
  const m = new EtcdMembership({
    client,
    prefix,
    replicaId: id,
    leaseTtlSec: TTL_SEC,
    log,
    joinGraceMs: 50,
    metrics: extra.metrics,
    peerLiveness: {
      listenHost: '127.0.0.1',
      listenPort: 0,
      advertise: extra.advertise ?? null,
      // generous (a loaded machine must not turn a false alarm into a timeout) unless a test wants timeouts
      monitor: { connectTimeoutMs: extra.connectTimeoutMs ?? 2000, retryInitialMs: 50, retryMaxMs: 200 },
    },
  });
  c.stopAll.push(() => m.stop());
  return m;
}

function peerState(observer: EtcdMembership, peer: string): string | undefined {
  const peers = observer.describe()['peers'] as Record<string, { state: string }> | null;
  return peers?.[peer]?.state;
}

/** An observer and a peer behind a relay, both members, the observer connected to the peer through the relay. */
async function observerAndRelayedPeer(
  c: Cluster,
  prefix: string,
  connectTimeoutMs?: number,
): Promise<{ observer: EtcdMembership; peer: EtcdMembership; relay: Relay; metrics: ControlMetrics }> {
  // The peer's listener port is known only after start, and the relay must be advertised at start: relay to
  // a port reserved first.
  const reserve = net.createServer();
  await new Promise<void>((r) => reserve.listen(0, '127.0.0.1', () => r()));
  const peerPort = (reserve.address() as net.AddressInfo).port;
  await new Promise<void>((r) => reserve.close(() => r()));
  const relay = await Relay.start(peerPort);
  c.stopAll.push(() => relay.close());
  const peer = new EtcdMembership({
    client: (() => {
      const cl = new Etcd3({ hosts: c.etcd.url });
      c.clients.push(cl);
      return cl;
    })(),
    prefix,
    replicaId: 'peer',
    leaseTtlSec: TTL_SEC,
    log,
    joinGraceMs: 50,
    peerLiveness: { listenHost: '127.0.0.1', listenPort: peerPort, advertise: `127.0.0.1:${relay.port}` },
  });
  c.stopAll.push(() => peer.stop());
  await peer.start();
  const metrics = new ControlMetrics();
  const observer = member(c, 'observer', prefix, { metrics, connectTimeoutMs });
  await observer.start();
  await eventually('observer connected to the peer', 5000, () => peerState(observer, 'peer') === 'alive');
  assert.equal(observer.members(), ['observer', 'peer']);
  return { observer, peer, relay, metrics };
}

async function withCluster(fn: (c: Cluster) => Promise<void>): Promise<void> {
  const c: Cluster = { etcd: await EtcdServer.start(), clients: [], stopAll: [] };
  try {
    await fn(c);
  } finally {
    for (const stop of c.stopAll.reverse()) await stop().catch(() => undefined);
    for (const cl of c.clients) cl.close();
    await c.etcd.stop();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (requirePrereqs(['etcd'])) {
  test('a false alarm (connection dropped, the peer answers again) does not revoke', () =>
    withCluster(async (c) => {
      const { observer, peer, relay, metrics } = await observerAndRelayedPeer(c, '/pl-alarm/');
      relay.drop();
      await eventually('reconnected', 3000, () => metrics.peerDisconnects.get({ outcome: 'reconnected' }) === 1);
      await sleep(500);
      assert.is(peerState(observer, 'peer'), 'alive');
      assert.equal(observer.members(), ['observer', 'peer']);
      assert.ok(peer.active());
      assert.is(metrics.peerRevocations.get(), 0);
    }));

  test('a reconnect that times out does not revoke; the peer is watched again once it answers', () =>
    withCluster(async (c) => {
      const { observer, peer, relay, metrics } = await observerAndRelayedPeer(c, '/pl-timeout/', 300);
      relay.blackhole = true;
      relay.drop();
      await eventually('timed out', 3000, () => metrics.peerDisconnects.get({ outcome: 'timeout' }) === 1);
      await sleep(1000); // several more (timed-out) attempts
      assert.equal(observer.members(), ['observer', 'peer']);
      assert.ok(peer.active());
      assert.is(metrics.peerRevocations.get(), 0);
      relay.blackhole = false;
      await eventually('alive again', 3000, () => peerState(observer, 'peer') === 'alive');
      assert.is(metrics.peerRevocations.get(), 0);
    }));

  test('a refused reconnect revokes the lease at once; the (alive) revoked replica fences itself and rejoins', () =>
    withCluster(async (c) => {
      const { observer, peer, relay, metrics } = await observerAndRelayedPeer(c, '/pl-refused/');
      const leaseBefore = peer.describe()['lease'];
      let fencedSeen = false;
      peer.events.on('change', () => {
        if (!peer.active()) fencedSeen = true;
      });
      let leftAtMs = 0; // the peer rejoins within ms, so watch the observer's view rather than poll it
      observer.events.on('change', () => {
        if (leftAtMs === 0 && !observer.members().includes('peer')) leftAtMs = Date.now();
      });
      const closedAtMs = Date.now();
      await relay.close(); // the relay plays a dead process: connections closed, port refuses
      await eventually('peer left the members', 3000, () => leftAtMs !== 0);
      const ms = leftAtMs - closedAtMs;
      assert.ok(ms < 2000, `revoked after ${ms} ms (TTL ${TTL_SEC} s)`);
      assert.is(metrics.peerRevocations.get(), 1);
      assert.is(metrics.peerDisconnects.get({ outcome: 'gone' }), 1);
      // The peer is alive (only the relay died): it saw its key deleted, stopped pushing and rejoined.
      await eventually('peer rejoined', 5000, () => peer.active() && observer.members().includes('peer'));
      assert.ok(fencedSeen, 'the revoked replica was inactive (fenced) before rejoining');
      assert.is.not(peer.describe()['lease'], leaseBefore);
      // The rejoined peer (a new registration, still unreachable through the relay) is never verified, so it
      // cannot be revoked again.
      await sleep(1000);
      assert.is(peerState(observer, 'peer'), 'connecting');
      assert.ok(peer.active());
      assert.is(metrics.peerRevocations.get(), 1);
    }));

  test('a SIGKILLed replica process is revoked at once; a SIGSTOPped one is not', () =>
    withCluster(async (c) => {
      const prefix = '/alcor-control/'; // replicaArgs' default prefix
      const stopped = await ReplicaProcess.start(replicaArgs(c.etcd, 'stopped', TTL_SEC));
      const killed = await ReplicaProcess.start(replicaArgs(c.etcd, 'killed', TTL_SEC));
      c.stopAll.push(async () => {
        stopped.proc.kill('SIGCONT');
        await stopped.kill('SIGKILL');
        await killed.kill('SIGKILL');
      });
      const metrics = new ControlMetrics();
      const observer = member(c, 'observer', prefix, { metrics });
      await observer.start();
      await eventually(
        'observer connected to both',
        5000,
        () => peerState(observer, 'stopped') === 'alive' && peerState(observer, 'killed') === 'alive',
      );
      stopped.proc.kill('SIGSTOP'); // hung: the kernel keeps its sockets; no evidence
      await killed.kill('SIGKILL');
      const killedAt = Date.now();
      await eventually('killed replica left', 3000, () => !observer.members().includes('killed'));
      const ms = Date.now() - killedAt;
      assert.ok(ms < 2000, `revoked after ${ms} ms (TTL ${TTL_SEC} s)`);
      await sleep(500);
      assert.ok(observer.members().includes('stopped'), 'a stopped process is left to its lease TTL');
      assert.is(peerState(observer, 'stopped'), 'alive');
      assert.is(metrics.peerRevocations.get(), 1);
      stopped.proc.kill('SIGCONT');
    }));

  // The etcd3 client can keep retry timers alive for a while after close(); do not let them hold the run.
  test.after(() => {
    setTimeout(() => process.exit(), 200);
  });
  test.run();
}
