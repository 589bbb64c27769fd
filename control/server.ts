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
import { NatsLink } from './southbound/nats-link';

const NATS_FIRST_CONNECT_MS = 3000;
import { FileStore } from './store/file-store';
import { ControlStore } from './store/store';
import { splitHostPort } from '../core/net/hostport';
import { DEFAULT_NEIGHBOR_LIMIT, Dpm } from './dpm/dpm';
import { FileRecordStore } from './resources/file-record-store';
import { RecordStore } from './resources/record-store';
import { ResourceService } from './resources/service';
import { AGENT_CLIENT_TLS_FLAGS, isLoopbackHost, ReloadableTls } from '../agent/tls';
import { BearerTokenAuth } from './http/auth';
import { AGENT_MAX_MESSAGE_BYTES } from './northbound/validate';

export interface ControlHandle {
  readonly controller: Controller;
  readonly store: ControlStore;
  readonly membership: Membership;
  readonly metrics: ControlMetrics;
  /** The resource API's managers and DPM (control/resources, control/dpm). */
  readonly resources: ResourceService;
  readonly dpm: Dpm;
  readonly grpcPort: number;
  readonly httpPort: number;
  /**
   * Re-reads the TLS files and the HTTP token (SIGHUP). New connections get the new material; open ones and
   * the agents' streams stay. Throws on a bad file, and then everything keeps the previous material.
   */
  reloadTls(): void;
  /** Graceful: releases the lease first so the hosts move at once, then closes everything. */
  stop(): Promise<void>;
}

interface Security {
  readonly serverTls: ReloadableTls | null;
  readonly agentTls: ReloadableTls | null;
  readonly auth: BearerTokenAuth | null;
}

/** Loads every TLS file and the token now, so a bad one fails before anything starts. */
function loadSecurity(cfg: ControlConfig): Security {
  return {
    serverTls: cfg.tls === undefined ? null : new ReloadableTls(cfg.tls),
    agentTls: cfg.agentTls === undefined ? null : new ReloadableTls(cfg.agentTls, AGENT_CLIENT_TLS_FLAGS),
    auth: cfg.httpTokenFile === undefined ? null : new BearerTokenAuth(cfg.httpTokenFile),
  };
}

/** Says so when a listener is reachable from other machines without TLS (or the HTTP API without any check). */
function warnExposed(cfg: ControlConfig, sec: Security, log: Logger): void {
  const exposed = (hostPort: string): boolean => !isLoopbackHost(splitHostPort(hostPort).host);
  if (sec.serverTls === null && exposed(cfg.listen)) {
    log.warn('northbound gRPC listens beyond loopback without TLS', {
      listen: cfg.listen,
      hint: 'anyone who can reach it can push goal states; set --tls-cert, --tls-key and --tls-ca',
    });
  }
  if (exposed(cfg.http)) {
    if (sec.serverTls === null) {
      log.warn('HTTP API listens beyond loopback without TLS', {
        http: cfg.http,
        hint: 'requests and tokens travel in clear; set --tls-cert and --tls-key',
      });
    }
    if (sec.auth === null && sec.serverTls?.mutual !== true) {
      log.warn('HTTP API accepts mutating calls from anyone who can reach it', {
        http: cfg.http,
        hint: 'set --http-token-file, or --tls-ca to require client certificates',
      });
    }
  }
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
  const sec = loadSecurity(cfg);
  warnExposed(cfg, sec, log);
  const metrics = new ControlMetrics();
  let store: ControlStore;
  let membership: Membership;
  let records: RecordStore;
  if (cfg.etcd === null) {
    store = new FileStore(cfg.dataDir);
    membership = new StaticMembership(replicaId);
    records = new FileRecordStore(cfg.dataDir);
  } else {
    const { EtcdStore } = await import('./store/etcd-store');
    const { EtcdMembership } = await import('./sharding/etcd-membership');
    const etcdStore = new EtcdStore({ endpoints: cfg.etcd, prefix: cfg.prefix, replicaId, log });
    store = etcdStore;
    const { EtcdRecordStore } = await import('./resources/etcd-record-store');
    records = new EtcdRecordStore(etcdStore.client, cfg.prefix);
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
  const nats = cfg.nats === undefined ? undefined : new NatsLink(cfg.nats, log, metrics);
  if (nats !== undefined) {
    nats.start();
    // Hosts taken before the broker answered would start on their gRPC fallback; give it a moment.
    if (!(await nats.waitUp(NATS_FIRST_CONNECT_MS)))
      log.warn('NATS broker not reachable yet; its hosts with an agent address use gRPC until it is', {
        servers: cfg.nats?.servers.join(','),
      });
  }
  const controller = new Controller({
    store,
    membership,
    ackMode: cfg.ackMode,
    resultTimeoutMs: cfg.resultTimeoutMs,
    maxMessageBytes: cfg.maxMessageBytes,
    streamOptions: {
      ...DEFAULT_STREAM_OPTIONS,
      replyTimeoutMs: cfg.replyTimeoutMs,
      backoffMaxMs: cfg.backoffMaxMs,
      ...(sec.agentTls === null ? {} : { channelCredentials: sec.agentTls.channelCredentials() }),
    },
    log,
    metrics,
    ...(nats === undefined ? {} : { nats }),
  });
  await controller.start();
  await records.start();
  const resources = new ResourceService(records);
  const dpm = new Dpm(records, store, controller, (id, st) => resources.recordStatus(id, st), {
    neighborLimit: cfg.neighborLimit ?? DEFAULT_NEIGHBOR_LIMIT,
    log,
  });
  dpm.start();
  await membership.start();
  controller.reconcile();
  let grpcServer: grpc.Server;
  let grpcPort: number;
  try {
    ({ server: grpcServer, port: grpcPort } = await startGrpcServer(
      controller,
      cfg.listen,
      log,
      sec.serverTls?.serverCredentials(),
      cfg.maxMessageBytes ?? AGENT_MAX_MESSAGE_BYTES,
    ));
  } catch (err: unknown) {
    dpm.stop();
    await controller.stop();
    await nats?.close();
    await membership.stop();
    await records.close();
    await store.close();
    throw err;
  }
  const api = createApi({
    controller,
    store,
    metrics,
    log,
    resources: { service: resources, dpm },
    ...(sec.serverTls === null ? {} : { tls: sec.serverTls }),
    ...(sec.auth === null ? {} : { auth: sec.auth }),
  });
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
    tls: sec.serverTls === null ? 'off' : sec.serverTls.mutual ? 'mutual' : 'on',
    agentTls: sec.agentTls === null ? 'off' : sec.agentTls.material.cert === null ? 'on' : 'mutual',
    hosts: store.cache.agents.size,
    nats: nats === undefined ? 'off' : nats.up() ? 'up' : 'unreachable',
    ...(cfg.etcd === null ? {} : { peer: membership.describe()['peerListen'] ?? 'off' }),
  });
  let stopping: Promise<void> | null = null;
  return {
    controller,
    store,
    membership,
    metrics,
    resources,
    dpm,
    grpcPort,
    httpPort,
    reloadTls: () => {
      // Each set reloads on its own and keeps its previous material when its files are bad; every failure is
      // reported, and the sets that were good are in use.
      const failures: string[] = [];
      for (const reload of [() => sec.serverTls?.reload(), () => sec.agentTls?.reload(), () => sec.auth?.reload()]) {
        try {
          reload();
        } catch (e: unknown) {
          failures.push((e as Error).message);
        }
      }
      if (failures.length > 0) throw new Error(failures.join('; '));
    },
    stop: () => {
      if (stopping === null) {
        stopping = (async () => {
          await membership.stop(); // lease released: the other replicas take the hosts now
          dpm.stop();
          await controller.stop();
          await nats?.close();
          grpcServer.forceShutdown();
          await new Promise<void>((r) => (api as http.Server).close(() => r()));
          api.closeAllConnections();
          await records.close();
          await store.close();
          log.notice('stopped', { replica: replicaId });
        })();
      }
      return stopping;
    },
  };
}
