// Shared by the agent's end-to-end tests: run `alcor-agent run` as a real child process against a
// sandbox, push goal states through its gRPC server, build small GoalStateV2 messages.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  GoalStateProvisionerClient,
  GoalStateV2,
  NeighborType,
  NetworkType,
  OperationType,
  ResourceType,
  UpdateType,
  GoalStateOperationReply,
} from '../proto';
import type { OvsSandbox, Vm } from '../test/sandbox';

const BIN = path.join(__dirname, '..', '..', 'bin', 'alcor-agent.js');

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly grpcPort: number;
  /** The HTTP (metrics/status/flows) port, when started with --metrics. */
  readonly metricsPort: number | undefined;
  /** Every log line so far (JSON objects). */
  readonly logs: Record<string, unknown>[];
  /** Sends SIGKILL and waits for exit. */
  kill9(): Promise<void>;
  /** Sends SIGTERM and waits for exit. */
  stop(): Promise<void>;
  push(gs: GoalStateV2): Promise<GoalStateOperationReply>;
  /** Sends `bytes` as they are (maybe not a valid message) on PushNetworkResourceStates. */
  pushRawV1(bytes: Uint8Array): Promise<GoalStateOperationReply>;
}

export async function startAgent(
  sb: OvsSandbox,
  extra: readonly string[] = [],
  timeoutMs = 20_000,
  /** How push() connects: plaintext unless given (an agent started with --tls-* needs TLS credentials). */
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<AgentProcess> {
  // Any free port unless the caller fixes one (a test that restarts the agent at the same address).
  const listen = extra.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
  const args = ['run', '--ovs-rundir', sb.rundir, ...listen, ...extra];
  // The executable itself, as an operator runs it: its interpreter line carries the node flags.
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let ready: { grpcPort: number; metricsPort: number | undefined };
  try {
    ready = await untilReady(child, logs, timeoutMs);
  } catch (e: unknown) {
    child.kill('SIGKILL');
    throw e;
  }
  return agentHandle(child, logs, exited, ready.grpcPort, ready.metricsPort, credentials);
}

/** Collects the agent's JSON log lines into `logs` and resolves with its ports at the "agent ready" line. */
function untilReady(
  child: ChildProcess,
  logs: Record<string, unknown>[],
  timeoutMs: number,
): Promise<{ grpcPort: number; metricsPort: number | undefined }> {
  let stderr = '';
  let buf = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`agent not ready in ${timeoutMs} ms: ${stderr}\n${JSON.stringify(logs)}`)),
      timeoutMs,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line) as Record<string, unknown>;
        } catch {
          obj = { raw: line };
        }
        logs.push(obj);
        if (process.env.ALCOR_TEST_VERBOSE) process.stderr.write(`[agent] ${line}\n`);
        if (obj.msg === 'agent ready') {
          clearTimeout(timer);
          const metricsPort = typeof obj.metricsPort === 'number' ? obj.metricsPort : undefined;
          resolve({ grpcPort: Number(obj.grpcPort), metricsPort });
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code} before ready: ${stderr}\n${JSON.stringify(logs)}`));
    });
  });
}

function agentHandle(
  child: ChildProcess,
  logs: Record<string, unknown>[],
  exited: Promise<void>,
  grpcPort: number,
  metricsPort: number | undefined,
  credentials: grpc.ChannelCredentials,
): AgentProcess {
  const client = new GoalStateProvisionerClient(`127.0.0.1:${grpcPort}`, credentials, {
    'grpc.max_send_message_length': 256 * 1024 * 1024,
    'grpc.max_receive_message_length': 256 * 1024 * 1024,
  });
  return {
    child,
    grpcPort,
    metricsPort,
    logs,
    async kill9() {
      client.close();
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      client.close();
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    pushRawV1: (bytes: Uint8Array) => pushRawV1(grpcPort, bytes, credentials),
    push: (gs: GoalStateV2) => pushOnStream(client, gs),
  };
}

/** One GoalStateV2 on a fresh PushGoalStatesStream; resolves with its reply once the stream ends. */
export function pushOnStream(client: GoalStateProvisionerClient, gs: GoalStateV2): Promise<GoalStateOperationReply> {
  return new Promise((resolve, reject) => {
    const call = client.pushGoalStatesStream();
    let reply: GoalStateOperationReply | undefined;
    call.on('data', (r: GoalStateOperationReply) => (reply = r));
    call.on('error', (e: Error) => reject(e));
    call.on('status', () => (reply === undefined ? reject(new Error('no reply')) : resolve(reply)));
    call.write(gs);
    call.end();
  });
}

/**
 * Sends `bytes` as they are as the one message of a PushGoalStatesStream; resolves with its reply,
 * rejects with the gRPC error. Up to 300 MiB (tests of the size limit send more than the agent's).
 */
export function pushRawV2(
  grpcPort: number,
  bytes: Uint8Array,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<GoalStateOperationReply> {
  const raw = new grpc.Client(`127.0.0.1:${grpcPort}`, credentials, {
    'grpc.max_send_message_length': 300 * 1024 * 1024,
  });
  return new Promise<GoalStateOperationReply>((resolve, reject) => {
    const call = raw.makeBidiStreamRequest(
      '/alcor.schema.GoalStateProvisioner/PushGoalStatesStream',
      (b: Buffer) => b,
      (b: Buffer) => GoalStateOperationReply.decode(b),
    );
    let reply: GoalStateOperationReply | undefined;
    call.on('data', (r: GoalStateOperationReply) => (reply = r));
    call.on('error', (e: Error) => {
      raw.close();
      reject(e);
    });
    call.on('status', (st: grpc.StatusObject) => {
      raw.close();
      if (st.code !== grpc.status.OK) return; // 'error' has it
      if (reply === undefined) reject(new Error('no reply'));
      else resolve(reply);
    });
    call.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    call.end();
  });
}

/** `08 00` (field 1, varint 0) repeated to `size` bytes: legal protobuf, no resource, absurd. */
export function repeatedSmallField(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 1 < size; i += 2) b[i] = 0x08;
  return b;
}

function pushRawV1(
  grpcPort: number,
  bytes: Uint8Array,
  credentials: grpc.ChannelCredentials,
): Promise<GoalStateOperationReply> {
  const raw = new grpc.Client(`127.0.0.1:${grpcPort}`, credentials);
  return new Promise<GoalStateOperationReply>((resolve, reject) => {
    raw.makeUnaryRequest(
      '/alcor.schema.GoalStateProvisioner/PushNetworkResourceStates',
      (b: Buffer) => b,
      (b: Buffer) => GoalStateOperationReply.decode(b),
      Buffer.from(bytes),
      (err, reply) => {
        raw.close();
        if (err || reply === undefined) reject(err ?? new Error('no reply'));
        else resolve(reply);
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Goal states

export const VPC_ID = 'e2e-vpc-0000-4000-8000-000000000001';
export const SUBNET_ID = 'e2e-subnet-0000-4000-8000-00000000001';
export const VNI = 1001;

export interface PortSpec {
  readonly id: string;
  readonly mac: string;
  readonly ip: string;
  readonly op?: OperationType;
}

export interface NeighborSpec {
  readonly id: string;
  readonly mac: string;
  readonly ip: string;
  readonly hostIp: string;
}

export interface GoalStateSpec {
  readonly hostIp: string;
  readonly cidr: string;
  readonly gatewayIp: string;
  readonly gatewayMac?: string;
  readonly ports?: readonly PortSpec[];
  readonly neighbors?: readonly NeighborSpec[];
  /** DHCP entries for these ports. */
  readonly dhcp?: readonly PortSpec[];
  /** Include the VPC and subnet (CREATE). Default true. */
  readonly withNetwork?: boolean;
}

type Refs = { type: ResourceType; id: string }[];

export function goalState(s: GoalStateSpec): GoalStateV2 {
  const refs: Refs = [];
  const gs: GoalStateV2 = GoalStateV2.fromPartial({ formatVersion: 102 });
  if (s.withNetwork ?? true) addNetwork(gs, s, refs);
  addPorts(gs, s, refs);
  addNeighbors(gs, s, refs);
  addDhcp(gs, s, refs);
  gs.hostResources[s.hostIp] = { resources: refs };
  return gs;
}

/** The VPC and the subnet (CREATE). */
function addNetwork(gs: GoalStateV2, s: GoalStateSpec, refs: Refs): void {
  gs.vpcStates[VPC_ID] = {
    operationType: OperationType.CREATE,
    configuration: {
      revisionNumber: 1,
      requestId: 'e2e',
      id: VPC_ID,
      updateType: UpdateType.FULL,
      projectId: 'e2e-project',
      name: 'e2e-vpc',
      cidr: '10.0.0.0/8',
      tunnelId: VNI,
      gatewayIds: [],
    },
  };
  gs.subnetStates[SUBNET_ID] = {
    operationType: OperationType.CREATE,
    configuration: {
      revisionNumber: 1,
      requestId: 'e2e',
      id: SUBNET_ID,
      updateType: UpdateType.FULL,
      networkType: NetworkType.VXLAN,
      vpcId: VPC_ID,
      name: 'e2e-subnet',
      cidr: s.cidr,
      tunnelId: VNI,
      gateway: { ipAddress: s.gatewayIp, macAddress: s.gatewayMac ?? 'fa:16:3e:00:00:01' },
      dhcpEnable: true,
      extraDhcpOptions: [],
      dnsEntryList: [],
      availabilityZone: 'az-1',
    },
  };
  refs.push({ type: ResourceType.VPC, id: VPC_ID }, { type: ResourceType.SUBNET, id: SUBNET_ID });
}

function addPorts(gs: GoalStateV2, s: GoalStateSpec, refs: Refs): void {
  for (const p of s.ports ?? []) {
    gs.portStates[p.id] = {
      operationType: p.op ?? OperationType.CREATE,
      configuration: {
        revisionNumber: 1,
        requestId: 'e2e',
        id: p.id,
        updateType: UpdateType.FULL,
        vpcId: VPC_ID,
        name: `port-${p.id.slice(0, 8)}`,
        deviceId: `dev-${p.id.slice(0, 8)}`,
        deviceOwner: 'compute:nova',
        macAddress: p.mac,
        adminStateUp: true,
        hostInfo: { ipAddress: s.hostIp, macAddress: '52:54:00:00:00:01' },
        fixedIps: [{ subnetId: SUBNET_ID, ipAddress: p.ip }],
        allowAddressPairs: [],
        securityGroupIds: [],
      },
    };
    refs.push({ type: ResourceType.PORT, id: p.id });
  }
}

function addNeighbors(gs: GoalStateV2, s: GoalStateSpec, refs: Refs): void {
  for (const n of s.neighbors ?? []) {
    gs.neighborStates[n.id] = {
      operationType: OperationType.CREATE,
      configuration: {
        revisionNumber: 1,
        requestId: 'e2e',
        id: n.id,
        updateType: UpdateType.FULL,
        vpcId: VPC_ID,
        name: `nbr-${n.id.slice(0, 8)}`,
        macAddress: n.mac,
        hostMacAddress: '52:54:00:00:00:02',
        hostIpAddress: n.hostIp,
        fixedIps: [
          { neighborType: NeighborType.L2, subnetId: SUBNET_ID, ipAddress: n.ip, arionGroup: '', tunnelId: VNI },
        ],
        allowAddressPairs: [],
      },
    };
    refs.push({ type: ResourceType.NEIGHBOR, id: n.id });
  }
}

function addDhcp(gs: GoalStateV2, s: GoalStateSpec, refs: Refs): void {
  for (const p of s.dhcp ?? []) {
    const id = `dhcp-${p.id}`;
    gs.dhcpStates[id] = {
      operationType: OperationType.CREATE,
      configuration: {
        revisionNumber: 1,
        requestId: 'e2e',
        id,
        updateType: UpdateType.FULL,
        subnetId: SUBNET_ID,
        macAddress: p.mac,
        ipv4Address: p.ip,
        ipv6Address: '',
        portHostName: `vm-${p.id.slice(0, 4)}`,
      },
    };
    refs.push({ type: ResourceType.DHCP, id });
  }
}

/** ovs-ofctl's selector for the flows the agent owns (our cookie marker, core/pipeline/cookie.ts). */
export const OUR_FLOWS = 'cookie=0xa1c0000000000000/0xffff000000000000';

/** Our flows as sorted ovs-ofctl text (no counters), to compare dumps. */
export async function dumpOurFlows(sb: OvsSandbox): Promise<string[]> {
  const r = await sb.ofctl(['--no-stats', 'dump-flows', 'br-int', OUR_FLOWS]);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('OFPST_FLOW') && !l.startsWith('NXST_FLOW'))
    .sort();
}

/** How many of our flows br-int holds, by aggregate stats: a dump of 200k flows would cost seconds. */
export async function countOurFlows(sb: OvsSandbox): Promise<number> {
  const r = await sb.ofctl(['dump-aggregate', 'br-int', OUR_FLOWS]);
  const m = /flow_count=(\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

/**
 * ArpResponder (table 20) flows that answer ARP (reply out of IN_PORT, docs/pipeline.md), as ovs-ofctl text. The
 * table's other flows (miss, punt, probe and own-IP skips) do not.
 */
export async function arpAnswerFlows(sb: OvsSandbox): Promise<string[]> {
  const r = await sb.ofctl(['--no-stats', 'dump-flows', 'br-int', 'table=20']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /actions=.*IN_PORT/.test(l));
}

/** Runs `alcor-agent <args>` to completion. */
export function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Whether the state dir holds `text` (a resource id) in its snapshot or its goal-state log: what a
 * restart will restore. The log holds a goal state before its reply, the snapshot only after compaction.
 */
export function stateDirHolds(stateDir: string, text: string): boolean {
  let names: string[];
  try {
    names = fs.readdirSync(stateDir);
  } catch {
    return false;
  }
  return names
    .filter((n) => n === 'snapshot.json' || /^goalstates\.\d+\.log$/.test(n))
    .some((n) => fs.readFileSync(path.join(stateDir, n)).includes(text));
}

export async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** What one run of busybox `udhcpc` in a VM got: its exit code, output, and the lease it bound (env of the bound event). */
export interface UdhcpcResult {
  readonly code: number | null;
  readonly output: string;
  /** udhcpc's variables at `bound` (ip, router, serverid, ...); empty when nothing was bound. */
  readonly lease: Readonly<Record<string, string>>;
}

/** Runs busybox udhcpc once on the VM's eth0 (`tries` discovers, one a second) and reads the lease it bound. */
export async function udhcpc(vm: Vm, tries = 3, timeoutMs = 15_000): Promise<UdhcpcResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-udhcpc-'));
  try {
    const out = path.join(dir, 'bound.env');
    const script = path.join(dir, 'script.sh');
    fs.writeFileSync(script, `#!/bin/sh\nif [ "$1" = bound ]; then env > ${out}; fi\nexit 0\n`, { mode: 0o755 });
    const args = ['busybox', 'udhcpc', '-f', '-q', '-n', '-t', String(tries), '-T', '1', '-i', 'eth0', '-s', script];
    const r = await vm.exec(args, { timeoutMs });
    const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
    const lease = Object.fromEntries(
      text
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
    );
    return { code: r.code, output: r.stdout + r.stderr, lease };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The MAC that answered one `arping` from the VM, lowercased; null without a reply. */
export async function arping(vm: Vm, ip: string): Promise<string | null> {
  const r = await vm.exec(['arping', '-c1', '-w1', '-I', 'eth0', ip]);
  const m = /reply from [\d.]+ \[([0-9A-Fa-f:]{17})\]/.exec(r.stdout);
  return m === null ? null : (m[1] as string).toLowerCase();
}

/** A port's XDP ARP counters and the arp_table size, from the agent's /metrics (NaN until attached). */
export async function xdpCounters(
  agent: AgentProcess,
  portId: string,
): Promise<{ replied: number; missed: number; entries: number; capacity: number }> {
  const prom = await fetch(`http://127.0.0.1:${agent.metricsPort ?? 0}/metrics`).then((r) => r.text());
  const get = (re: RegExp): number => Number(re.exec(prom)?.[1] ?? NaN);
  const outcome = (o: string): RegExp =>
    new RegExp(`alcor_agent_xdp_arp_total\\{port="${portId}",[^}]*outcome="${o}"\\} (\\d+)`);
  return {
    replied: get(outcome('replied')),
    missed: get(outcome('missed')),
    entries: get(/alcor_agent_xdp_arp_entries (\d+)/),
    capacity: get(/alcor_agent_xdp_arp_capacity (\d+)/),
  };
}

/** One VM port and one remote neighbor in their own /24, for the XDP (--dataplane ebpf|both) tests. */
export interface XdpScenario {
  readonly hostIp: string;
  readonly cidr: string;
  readonly gatewayIp: string;
  readonly gatewayMac: string;
  readonly port: PortSpec;
  readonly neighbor: { readonly id: string; readonly mac: string; readonly ip: string; readonly hostIp: string };
  readonly pinDir: string;
  readonly stateDir: string;
}

/** A scenario whose addresses and ids are unique per `net` (1..99) and whose pin/state dirs are named after `name`. */
export function xdpScenario(name: string, net: number): XdpScenario {
  const hex = net.toString(16).padStart(2, '0');
  const subnet = `10.${200 + net}.0`;
  return {
    hostIp: `192.0.2.${100 + 2 * net}`,
    cidr: `${subnet}.0/24`,
    gatewayIp: `${subnet}.1`,
    gatewayMac: `fa:16:3e:00:${hex}:01`,
    port: { id: `11111111-eb${hex}-4000-8000-000000000001`, mac: `02:00:00:${hex}:00:01`, ip: `${subnet}.11` },
    neighbor: {
      id: `aaaaaaaa-eb${hex}-4000-8000-000000000001`,
      mac: `02:00:00:${hex}:00:99`,
      ip: `${subnet}.99`,
      hostIp: `192.0.2.${101 + 2 * net}`,
    },
    pinDir: `/sys/fs/bpf/alcor-e2e-${name}`,
    stateDir: `/tmp/alcor-e2e-${name}-state`,
  };
}

/** `alcor-agent run` flags for a scenario: XDP in the sandbox's namespace, pinned maps, a state dir, metrics. */
export function xdpAgentFlags(s: XdpScenario, dataplane: 'ebpf' | 'both', netns: string): string[] {
  return [
    '--tunnel-ip',
    s.hostIp,
    '--metrics',
    '127.0.0.1:0',
    '--dataplane',
    dataplane,
    '--xdp-netns',
    netns,
    '--bpf-pin-dir',
    s.pinDir,
    '--state-dir',
    s.stateDir,
  ];
}
