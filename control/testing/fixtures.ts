// Goal-state fixtures and a northbound client for tests and benchmarks.
import * as grpc from '@grpc/grpc-js';
import {
  GoalStateOperationReply,
  GoalStateProvisionerService,
  GoalStateV2,
  NeighborState,
  NeighborType,
  OperationType,
  PortState,
  ResourceType,
  SubnetState,
  UpdateType,
  NetworkType,
  HostRequest,
  HostRequestReply,
} from '../../proto';
import { formatIpv4, formatMac } from '../../core/goalstate/addr';
import type { ControlConfig } from '../config';

export function hostIp(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/**
 * The fixture subnet holds 4M addresses, so that 1,000 hosts x 100 ports and their neighbors all get valid, distinct
 * host addresses (a real agent refuses a port on the network address or a neighbor outside its subnet).
 */
const SUBNET_CIDR = '10.64.0.0/10';
const PORT_BASE = 0x0a_40_00_01; // 10.64.0.1: the first host address
const NEIGHBOR_BASE = 0x0a_60_00_00; // 10.96.0.0: the subnet's upper half, clear of the ports

/** The address `makeGoalState` gives shared neighbor n (for on-demand lookups in tests). */
export function fixtureNeighborIp(n: number): string {
  return formatIpv4(NEIGHBOR_BASE + n);
}

/** The address `makeGoalState` gives port n (counted across hosts, in host order). */
export function fixturePortIp(n: number): string {
  return formatIpv4(PORT_BASE + n);
}

/** A locally administered MAC (02:...) numbered n. */
function mac(n: number): string {
  return formatMac(0x02_00_00_00_00_00 + n);
}

export interface FixtureOptions {
  readonly hosts: readonly string[];
  readonly portsPerHost: number;
  /** Neighbors every host gets (shared: stored once). */
  readonly sharedNeighbors?: number;
  readonly operation?: OperationType;
  /** Distinguishes resource ids between rounds. */
  readonly tag?: string;
}

/** One GoalStateV2 with a subnet, `portsPerHost` ports per host and shared neighbors, like Alcor's DPM sends. */
export function makeGoalState(o: FixtureOptions): GoalStateV2 {
  const tag = o.tag ?? 'a';
  const op = o.operation ?? OperationType.CREATE;
  const subnetId = `subnet-${tag}`;
  const gs: GoalStateV2 = {
    formatVersion: 102,
    hostResources: {},
    vpcStates: {},
    subnetStates: {},
    portStates: {},
    dhcpStates: {},
    neighborStates: {},
    securityGroupStates: {},
    routerStates: {},
    gatewayStates: {},
  };
  gs.subnetStates[subnetId] = SubnetState.fromPartial({
    operationType: OperationType.INFO,
    configuration: {
      revisionNumber: 1,
      id: subnetId,
      vpcId: 'vpc-1',
      cidr: SUBNET_CIDR,
      tunnelId: 21,
      networkType: NetworkType.VXLAN,
    },
  });
  const shared: string[] = [];
  for (let n = 0; n < (o.sharedNeighbors ?? 0); n++) {
    const id = `nbr-${tag}-${n}`;
    shared.push(id);
    gs.neighborStates[id] = NeighborState.fromPartial({
      operationType: op,
      configuration: {
        revisionNumber: 1,
        id,
        vpcId: 'vpc-1',
        macAddress: mac(0xff00000000 + n),
        hostIpAddress: '192.0.2.250',
        fixedIps: [{ neighborType: NeighborType.L2, subnetId, ipAddress: fixtureNeighborIp(n), tunnelId: 21 }],
      },
    });
  }
  let portNo = 0;
  o.hosts.forEach((host) => {
    const resources = [
      { type: ResourceType.SUBNET, id: subnetId },
      ...shared.map((id) => ({ type: ResourceType.NEIGHBOR, id })),
    ];
    for (let p = 0; p < o.portsPerHost; p++) {
      const id = `port-${tag}-${host}-${p}`;
      const n = portNo++;
      gs.portStates[id] = PortState.fromPartial({
        operationType: op,
        configuration: {
          revisionNumber: 1,
          id,
          updateType: UpdateType.FULL,
          vpcId: 'vpc-1',
          name: `p${n}`,
          macAddress: mac(n + 1),
          adminStateUp: true,
          hostInfo: { ipAddress: host },
          fixedIps: [{ subnetId, ipAddress: fixturePortIp(n) }],
        },
      });
      resources.push({ type: ResourceType.PORT, id });
    }
    gs.hostResources[host] = { resources };
  });
  return gs;
}

/** A northbound caller (what Alcor's DPM does): one stream, N messages, N replies. */
/** A northbound client, connected (a benchmark times a push, not the connection it opens first). */
export async function connectNorthbound(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<grpc.Client> {
  const client = new grpc.Client(address, credentials, {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 30000, (err) => (err === undefined || err === null ? resolve() : reject(err))),
  );
  return client;
}

/** `to`: an address (a client is made and closed for these messages) or a client of connectNorthbound (kept). */
export async function pushGoalStates(
  to: string | grpc.Client,
  messages: readonly Uint8Array[],
  deadlineMs = 60000,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<GoalStateOperationReply[]> {
  const client =
    typeof to === 'string'
      ? new grpc.Client(to, credentials, {
          'grpc.max_receive_message_length': -1,
          'grpc.max_send_message_length': -1,
        })
      : to;
  try {
    return await new Promise<GoalStateOperationReply[]>((resolve, reject) => {
      const call = client.makeBidiStreamRequest(
        GoalStateProvisionerService.pushGoalStatesStream.path,
        (b: Buffer) => b,
        (b: Buffer) => GoalStateOperationReply.decode(b),
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
      );
      const replies: GoalStateOperationReply[] = [];
      call.on('data', (r: GoalStateOperationReply) => replies.push(r));
      call.on('error', reject);
      call.on('end', () => resolve(replies));
      for (const m of messages) call.write(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
      call.end();
    });
  } finally {
    if (typeof to === 'string') client.close();
  }
}

/** What an agent does on-demand / after a restart. */
export async function requestGoalStates(
  address: string,
  req: HostRequest,
  hostIpHeader?: string,
): Promise<HostRequestReply> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  if (hostIpHeader !== undefined) md.set('x-alcor-host-ip', hostIpHeader);
  try {
    return await new Promise<HostRequestReply>((resolve, reject) =>
      client.makeUnaryRequest(
        GoalStateProvisionerService.requestGoalStates.path,
        (r: HostRequest) => Buffer.from(HostRequest.encode(r).finish()),
        (b: Buffer) => HostRequestReply.decode(b),
        req,
        md,
        (err, res) => (err || res === undefined ? reject(err ?? new Error('no reply')) : resolve(res)),
      ),
    );
  } finally {
    client.close();
  }
}

export async function httpJson(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // metrics are text
  }
  return { status: res.status, json };
}

/** An embedded (file store, no etcd) control service on free ports, for tests. */
export function embeddedConfig(dataDir: string, over: Partial<ControlConfig> = {}): ControlConfig {
  return {
    listen: '127.0.0.1:0',
    http: '127.0.0.1:0',
    etcd: null,
    dataDir,
    replicaId: 'solo',
    prefix: '/t/',
    leaseTtlSec: 5,
    ackMode: 'agents',
    resultTimeoutMs: 5000,
    replyTimeoutMs: 5000,
    backoffMaxMs: 200,
    logLevel: 'warn',
    agents: new Map(),
    ...over,
  };
}

/** A replica on a real etcd (tests' EtcdServer.url) on free ports, 3 s lease TTL, acknowledged by agents. */
export function etcdConfig(
  etcdUrl: string,
  replicaId: string,
  prefix: string,
  over: Partial<ControlConfig> = {},
): ControlConfig {
  return embeddedConfig('/nonexistent', {
    etcd: [etcdUrl],
    replicaId,
    prefix,
    leaseTtlSec: 3,
    resultTimeoutMs: 10000,
    replyTimeoutMs: 10000,
    backoffMaxMs: 300,
    ...over,
  });
}
