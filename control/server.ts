// Assembles one alcor-control replica: store + membership + controller + gRPC + HTTP.
// Used by `alcor-control run`, the integration tests and the benchmark (in-process or as a child process).
import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import * as os from 'node:os';
import { ControlConfig } from './config';
import { Controller } from './controller';
import { createApi } from './http/api';
import { createLogger, Logger } from './log';
import { ControlMetrics } from './metrics';
import { startGrpcServer } from './northbound/grpc';
import type { PeerLivenessOptions } from './sharding/etcd-membership';
import { Membership, StaticMembership } from './sharding/membership';
import { DEFAULT_STREAM_OPTIONS } from './southbound/agent-stream';
import { FileStore } from './store/file-store';
import { ControlStore } from './store/store';
import { splitHostPort } from '../core/net/hostport';
import { AGENT_MAX_MESSAGE_BYTES } from './northbound/validate';

export interface ControlHandle {
  readonly controller: Controller;
  readonly store: ControlStore;
  readonly membership: Membership;
  readonly metrics: ControlMetrics;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Graceful: releases the lease first so the hosts move at once, then closes everything. */
  stop(): Promise<void>;
}

/** Where the peer-liveness listener binds: --peer-listen, else the gRPC listen host on any free port. */
function peerLivenessOf(cfg: ControlConfig): PeerLivenessOptions | null {
  if (cfg.peerListen === null) return null;
  const { host, port } = splitHostPort(cfg.peerListen ?? `${cfg.listen.slice(0, cfg.listen.lastIndexOf(':'))}:0`);
  return { listenHost: host, listenPort: port, advertise: cfg.peerAdvertise ?? null };
}

export async function startControl(
  cfg: ControlConfig,
  log: Logger = createLogger(cfg.logLevel, 'control'),
): Promise<ControlHandle> {
  const replicaId = cfg.replicaId ?? `${os.hostname()}-${process.pid}`;
  const metrics = new ControlMetrics();
  let store: ControlStore;
  let membership: Membership;
  if (cfg.etcd === null) {
    store = new FileStore(cfg.dataDir);
    membership = new StaticMembership(replicaId);
  } else {
    const { EtcdStore } = await import('./store/etcd-store');
    const { EtcdMembership } = await import('./sharding/etcd-membership');
    const etcdStore = new EtcdStore({ endpoints: cfg.etcd, prefix: cfg.prefix, replicaId, log });
    store = etcdStore;
    membership = new EtcdMembership({
      client: etcdStore.client,
      prefix: cfg.prefix,
      replicaId,
      leaseTtlSec: cfg.leaseTtlSec,
      log,
      metrics,
      peerLiveness: peerLivenessOf(cfg),
    });
  }
  await store.start();
  if (cfg.agents.size > 0) await store.putAgents([...cfg.agents]);
  const controller = new Controller({
    store,
    membership,
    ackMode: cfg.ackMode,
    resultTimeoutMs: cfg.resultTimeoutMs,
    maxMessageBytes: cfg.maxMessageBytes,
    streamOptions: { ...DEFAULT_STREAM_OPTIONS, replyTimeoutMs: cfg.replyTimeoutMs, backoffMaxMs: cfg.backoffMaxMs },
    log,
    metrics,
  });
  await controller.start();
  await membership.start();
  controller.reconcile();
  let grpcServer: grpc.Server;
  let grpcPort: number;
  try {
    ({ server: grpcServer, port: grpcPort } = await startGrpcServer(
      controller,
      cfg.listen,
      log,
      cfg.maxMessageBytes ?? AGENT_MAX_MESSAGE_BYTES,
    ));
  } catch (err: unknown) {
    await controller.stop();
    await membership.stop();
    await store.close();
    throw err;
  }
  const api = createApi({ controller, store, metrics, log });
  const { host, port } = splitHostPort(cfg.http);
  const httpPort = await new Promise<number>((resolve, reject) => {
    api.once('error', reject);
    api.listen(port, host, () => resolve((api.address() as { port: number }).port));
  });
  log.notice('ready', {
    replica: replicaId,
    mode: cfg.etcd === null ? 'embedded' : 'etcd',
    grpc: `${splitHostPort(cfg.listen).host}:${grpcPort}`,
    http: `${host}:${httpPort}`,
    hosts: store.cache.agents.size,
    ...(cfg.etcd === null ? {} : { peer: membership.describe()['peerListen'] ?? 'off' }),
  });
  let stopping: Promise<void> | null = null;
  return {
    controller,
    store,
    membership,
    metrics,
    grpcPort,
    httpPort,
    stop: () => {
      if (stopping === null) {
        stopping = (async () => {
          await membership.stop(); // lease released: the other replicas take the hosts now
          await controller.stop();
          grpcServer.forceShutdown();
          await new Promise<void>((r) => (api as http.Server).close(() => r()));
          api.closeAllConnections();
          await store.close();
          log.notice('stopped', { replica: replicaId });
        })();
      }
      return stopping;
    },
  };
}
