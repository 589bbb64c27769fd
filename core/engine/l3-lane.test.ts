// Differential property test of the lane's L3 neighbors (neighbor-lane.ts, lane-step.ts): random goal
// states with routers, ports and subnets coming and going, and L2 and L3 neighbors added, moved
// between subnets and hosts, changed in place, turned from L2 to L3 and back, deleted, asked for,
// sent with old revisions, aborted. A partition with the lane, one with records only and one with the
// FlowTable alone must give the same statuses, the same flow-mods (same flows, cookies, priorities,
// owners), the same desired flows and the same held neighbors at every step; at the end the same
// snapshot, restored, and the same reconcile of a damaged dump.
//
// Seeded: a failure prints the seed; ALCOR_FC_SEED=<seed> replays it, ALCOR_FC_RUNS=<n> sets the runs.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  GoalStateV2,
  NeighborType,
  NetworkType,
  OperationType,
  UpdateType,
  type NeighborState,
  type PortState,
  type RouterState,
  type SubnetState,
} from '../../proto';
import { HOST_A } from '../../test/fixtures/goalstates';
import { parseIpv4 } from '../goalstate/addr';
import type { StoreSnapshot } from '../goalstate';
import { formatFlow } from '../openflow';
import type { Flow } from '../flow';
import { PartitionEngine, type PrepareResult } from './partition';

const VPC = 'vpc-l3';
const PORT = 'port-l3';
const ROUTER = 'router-l3';
const SUBNETS = [
  { id: 'sub-1', cidr: '10.1.0.0/16', vni: 101, n: 1 },
  { id: 'sub-2', cidr: '10.2.0.0/16', vni: 102, n: 2 },
] as const;
/** The last octet of a neighbor's IP: 1 is the gateway's, 5 the local port's (in sub-1), the rest free. */
const OCTETS = [1, 5, 7, 8, 9, 10, 11, 12] as const;
const HOSTS = ['123.0.0.1', '123.0.0.2', HOST_A.ip] as const;

type Mode = 'lane' | 'records' | 'table';

function partition(mode: Mode, snapshot?: StoreSnapshot, tunnelOfport = 100): PartitionEngine {
  return new PartitionEngine({
    index: 0,
    count: 1,
    localTunnelIp: parseIpv4(HOST_A.ip),
    tunnelOfport,
    ofports: new Map([[PORT, 1]]),
    neighborLane: mode === 'lane',
    neighborRecords: mode !== 'table',
    snapshot,
  });
}

function subnetState(s: (typeof SUBNETS)[number], op: OperationType, gatewayMac: number): SubnetState {
  return {
    operationType: op,
    configuration: {
      revisionNumber: 0,
      requestId: '',
      id: s.id,
      updateType: UpdateType.FULL,
      networkType: NetworkType.VXLAN,
      vpcId: VPC,
      name: s.id,
      cidr: s.cidr,
      tunnelId: s.vni,
      gateway: { ipAddress: `10.${s.n}.0.1`, macAddress: `fa:16:3e:00:0${s.n}:0${gatewayMac}` },
      dhcpEnable: false,
      extraDhcpOptions: [],
      dnsEntryList: [],
      availabilityZone: '',
    },
  };
}

function portState(op: OperationType): PortState {
  return {
    operationType: op,
    configuration: {
      revisionNumber: 0,
      requestId: '',
      id: PORT,
      updateType: UpdateType.FULL,
      vpcId: VPC,
      name: PORT,
      deviceId: '',
      deviceOwner: 'compute:nova',
      macAddress: 'fa:16:3e:00:01:05',
      adminStateUp: true,
      hostInfo: { ipAddress: HOST_A.ip, macAddress: HOST_A.mac },
      fixedIps: [{ subnetId: SUBNETS[0].id, ipAddress: '10.1.0.5' }],
      allowAddressPairs: [],
      securityGroupIds: [],
    },
  };
}

function routerState(op: OperationType): RouterState {
  return {
    operationType: op,
    configuration: {
      revisionNumber: 0,
      requestId: '',
      id: ROUTER,
      updateType: UpdateType.FULL,
      hostDvrMacAddress: 'fa:16:3e:d7:f2:02',
      subnetRoutingTables: SUBNETS.map((s) => ({ subnetId: s.id, routingRules: [] })),
    },
  };
}

interface NeighborChange {
  readonly n: number;
  readonly op: OperationType;
  readonly l3: boolean;
  /** 0, 1: SUBNETS; 2: a subnet not held. */
  readonly subnet: number;
  readonly octet: number;
  readonly mac: number;
  readonly host: number;
  /** The fixed IP names its VNI (else the subnet's). */
  readonly ownVni: boolean;
  readonly revision: number;
}

function neighborState(c: NeighborChange): NeighborState {
  const s = c.subnet < 2 ? SUBNETS[c.subnet] : { id: 'sub-9', n: 9, vni: 109 };
  return {
    operationType: c.op,
    configuration: {
      revisionNumber: c.revision,
      requestId: '',
      id: `n${c.n}`,
      updateType: UpdateType.DELTA,
      vpcId: VPC,
      name: `n${c.n}`,
      macAddress: `6c:dd:ee:00:01:0${c.mac}`,
      hostMacAddress: '',
      hostIpAddress: HOSTS[c.host],
      fixedIps: [
        {
          neighborType: c.l3 ? NeighborType.L3 : NeighborType.L2,
          subnetId: s.id,
          ipAddress: `10.${s.n}.0.${OCTETS[c.octet]}`,
          arionGroup: '',
          tunnelId: c.ownVni ? s.vni : 0,
        },
      ],
      allowAddressPairs: [],
    },
  };
}

/** 0: nothing, 1: CREATE (or UPDATE), 2: DELETE. */
const presence = fc.constantFrom(0, 0, 0, 1, 2);

const neighborChange = fc.record({
  n: fc.integer({ min: 1, max: 6 }),
  op: fc.constantFrom(
    OperationType.CREATE,
    OperationType.UPDATE,
    OperationType.UPDATE,
    OperationType.UPDATE,
    OperationType.DELETE,
    OperationType.GET,
  ),
  l3: fc.boolean(),
  subnet: fc.constantFrom(0, 0, 1, 1, 2),
  octet: fc.integer({ min: 0, max: 3 }),
  mac: fc.integer({ min: 1, max: 4 }),
  host: fc.constantFrom(0, 0, 1, 1, 2),
  ownVni: fc.boolean(),
  revision: fc.integer({ min: 1, max: 3 }),
});

const step = fc.record({
  neighbors: fc.array(neighborChange, { minLength: 0, maxLength: 4 }),
  router: presence,
  port: presence,
  /** The second subnet: 1 re-sent with another gateway MAC, 2 deleted. */
  subnet: presence,
  gatewayMac: fc.integer({ min: 1, max: 3 }),
  abort: fc.constantFrom(false, false, false, false, true),
  /** A host fact instead of a goal state: the tunnel port moves. */
  tunnel: fc.constantFrom(0, 0, 0, 0, 0, 0, 0, 200, 300),
});

/** What the reference partition holds: id -> [MAC, IP] strings. */
function heldKeys(e: PartitionEngine): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  for (const n of e.neighbors()) out.set(n.id, [String(n.mac), n.fixedIps.map((f) => f.ip).join(',')]);
  return out;
}

/**
 * The neighbor changes of one goal state, less those whose keys would meet another change's in it:
 * the lane refuses a second claimant within one goal state where the table lets the preferred owner
 * win (neighbor-flows.test.ts tests that apart), and this test is about everything else.
 */
function distinctClaims(changes: readonly NeighborChange[], held: Map<string, [string, string]>): NeighborChange[] {
  const taken = new Set<string>();
  const touched = new Map<string, [string, string] | undefined>();
  const out: NeighborChange[] = [];
  const keysOf = (c: NeighborChange): [string, string] => {
    const s = neighborState(c).configuration?.fixedIps[0];
    return [String(parseMac(`6c:dd:ee:00:01:0${c.mac}`)), String(parseIpv4(s?.ipAddress ?? ''))];
  };
  for (const c of changes) {
    const id = `n${c.n}`;
    if (touched.has(id)) continue;
    const mine = held.get(id);
    const upsert = c.op === OperationType.CREATE || c.op === OperationType.UPDATE;
    const want = upsert ? keysOf(c) : undefined;
    const others = [...touched.values()].filter((k) => k !== undefined).flat();
    if (want !== undefined && (want.some((k) => taken.has(k)) || want.some((k) => others.includes(k)))) continue;
    if (mine !== undefined && mine.some((k) => taken.has(k))) continue;
    touched.set(id, mine);
    for (const k of want ?? []) taken.add(k);
    out.push(c);
  }
  return out;
}

function parseMac(s: string): number {
  return parseInt(s.replace(/:/g, ''), 16);
}

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

function goalStateBytes(s: Step, held: Map<string, [string, string]>): Uint8Array {
  const op = (p: number): OperationType => (p === 2 ? OperationType.DELETE : OperationType.CREATE);
  const neighborStates: Record<string, NeighborState> = {};
  for (const c of distinctClaims(s.neighbors, held)) neighborStates[`n${c.n}`] = neighborState(c);
  return GoalStateV2.encode({
    formatVersion: 102,
    hostResources: {},
    vpcStates: {},
    subnetStates: s.subnet === 0 ? {} : { [SUBNETS[1].id]: subnetState(SUBNETS[1], op(s.subnet), s.gatewayMac) },
    portStates: s.port === 0 ? {} : { [PORT]: portState(op(s.port)) },
    dhcpStates: {},
    neighborStates,
    securityGroupStates: {},
    routerStates: s.router === 0 ? {} : { [ROUTER]: routerState(op(s.router)) },
    gatewayStates: {},
  }).finish();
}

function contextBytes(): Uint8Array {
  return GoalStateV2.encode({
    formatVersion: 102,
    hostResources: {},
    vpcStates: {
      [VPC]: {
        operationType: OperationType.CREATE,
        configuration: {
          revisionNumber: 0,
          requestId: '',
          id: VPC,
          updateType: UpdateType.FULL,
          projectId: 'p',
          name: VPC,
          cidr: '10.0.0.0/8',
          tunnelId: 100,
          gatewayIds: [],
        },
      },
    },
    subnetStates: Object.fromEntries(SUBNETS.map((s) => [s.id, subnetState(s, OperationType.CREATE, 1)])),
    portStates: { [PORT]: portState(OperationType.CREATE) },
    dhcpStates: {},
    neighborStates: {},
    securityGroupStates: {},
    routerStates: { [ROUTER]: routerState(OperationType.CREATE) },
    gatewayStates: {},
  }).finish();
}

/** Sorted (flow-mod without header and xid, owner) of a delta. */
function deltaText(e: PartitionEngine, txn: number, bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const len = (bytes[at + 2] << 8) | bytes[at + 3];
    out.push(`${Buffer.from(bytes.subarray(at + 24, at + len)).toString('hex')} ${e.ownerOfMessage(txn, i)}`);
    at += len;
  }
  return out.sort();
}

/** Each neighbor entry's (operation, status, reason), whichever way the partition reported it, and the others'. */
function statusesText(r: PrepareResult): string[] {
  const n = r.neighbors;
  const each = Array.from(n.codes, (code, i) => {
    const at = n.listed.indexOf(i);
    if (at < 0) return `${n.operations[i]} ${code} `;
    const s = n.listedStatuses[at];
    return `${s.operationType} ${s.status} ${s.reason}`;
  });
  return [...each, JSON.stringify(r.statuses)];
}

const flowsText = (flows: readonly Flow[]): string[] => flows.map((f) => formatFlow(f)).sort();
const neighborsText = (e: PartitionEngine): string[] => [...e.neighbors()].map((n) => JSON.stringify(n)).sort();

/** Coverage: the most L3 rows the lane held, and steps where it held L3 rows. */
let mostL3 = 0;

function runSequence(steps: readonly Step[]): void {
  const modes: Mode[] = ['lane', 'records', 'table'];
  const engines = modes.map((m) => partition(m));
  const ref = engines[2];
  let bundleId = 1;
  let tunnelOfport = 100;
  const apply = (
    prepare: (e: PartitionEngine) => { txn: number; delta: { bytes: Uint8Array } },
    abort: boolean,
    where: string,
  ): PrepareResult[] => {
    const results = engines.map((e) => prepare(e));
    const want = deltaText(ref, results[2].txn, results[2].delta.bytes);
    for (let m = 0; m < 2; m++)
      assert.equal(deltaText(engines[m], results[m].txn, results[m].delta.bytes), want, `${modes[m]} ${where} delta`);
    engines.forEach((e, m) => (abort ? e.abort(results[m].txn) : e.commit(results[m].txn)));
    return results as PrepareResult[];
  };
  apply((e) => e.prepareGoalState(contextBytes(), 2, { bundleId, firstXid: 1 }), false, 'context');
  for (const [i, s] of steps.entries()) {
    bundleId++;
    const where = `step ${i}`;
    if (s.tunnel !== 0) {
      apply((e) => e.prepareHostFacts({ tunnelOfport: s.tunnel }, { bundleId, firstXid: 1 }), s.abort, where);
      if (!s.abort) tunnelOfport = s.tunnel;
    } else {
      const bytes = goalStateBytes(s, heldKeys(ref));
      const results = apply((e) => e.prepareGoalState(bytes, 2, { bundleId, firstXid: 1 }), s.abort, where);
      const want = statusesText(results[2]);
      for (let m = 0; m < 2; m++) assert.equal(statusesText(results[m]), want, `${modes[m]} ${where} statuses`);
    }
    const desired = flowsText(ref.desiredFlows());
    const held = neighborsText(ref);
    for (let m = 0; m < 2; m++) {
      assert.equal(flowsText(engines[m].desiredFlows()), desired, `${modes[m]} ${where} desired flows`);
      assert.is(engines[m].flowCount, ref.flowCount, `${modes[m]} ${where} flow count`);
      assert.equal(neighborsText(engines[m]), held, `${modes[m]} ${where} held neighbors`);
    }
    mostL3 = Math.max(mostL3, engines[0].lane.l3Size);
  }
  // Saved and read back as the agent does (JSON), each restores to the same flows, in sync.
  const desired = ref.desiredFlows();
  for (let m = 0; m < 2; m++) {
    const snapshot = JSON.parse(JSON.stringify(engines[m].snapshot())) as StoreSnapshot;
    const restored = partition(modes[m], snapshot, tunnelOfport);
    assert.equal(flowsText(restored.desiredFlows()), flowsText(desired), `${modes[m]} restored flows`);
    assert.is(
      restored.reconcile(desired, { bundleId: 1, firstXid: 1 }).bytes.length,
      0,
      `${modes[m]} restored in sync`,
    );
    assert.equal(neighborsText(restored), neighborsText(ref), `${modes[m]} restored neighbors`);
  }
  // A dump that misses some flows, has others changed or stale, and one foreign to the table.
  const dump: Flow[] = desired.flatMap((f, i): Flow[] => {
    if (i % 5 === 0) return [];
    if (i % 5 === 1) return [{ ...f, actions: [] }];
    if (i % 5 === 2) return [{ ...f, cookie: f.cookie ^ 1n }];
    return [f];
  });
  const want = reconcileText(ref, dump);
  for (let m = 0; m < 2; m++) assert.equal(reconcileText(engines[m], dump), want, `${modes[m]} reconcile`);
}

function reconcileText(e: PartitionEngine, dump: readonly Flow[]): string[] {
  const d = e.reconcile(dump, { bundleId: 9, firstXid: 1 });
  const out: string[] = [];
  for (let at = 0; at < d.bytes.length;) {
    const len = (d.bytes[at + 2] << 8) | d.bytes[at + 3];
    out.push(Buffer.from(d.bytes.subarray(at + 24, at + len)).toString('hex'));
    at += len;
  }
  return out.sort();
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : Number(v);
}

test('L3 neighbors in the lane: the same statuses, flow-mods, flows and snapshot as the ordinary path', () => {
  const seed =
    envInt('ALCOR_FC_SEED') ?? (process.env.CI === 'true' ? 20261203 : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0);
  const numRuns = envInt('ALCOR_FC_RUNS') ?? 200;
  const result = fc.check(
    fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => runSequence(steps)),
    { seed, numRuns },
  );
  if (result.failed) {
    const e = result.errorInstance;
    assert.unreachable(
      `${fc.defaultReportMessage(result)}\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n` +
        `Replay: ALCOR_FC_SEED=${seed} node dist/core/engine/l3-lane.test.js`,
    );
  }
  assert.ok(mostL3 >= 1, `the lane held L3 neighbors (up to ${mostL3})`);
});

test('an L3 neighbor in the lane through a router coming and going, a new MAC, host and IP, and a delete', () => {
  const lane = partition('lane');
  const table = partition('table');
  /** Neighbors n1..n3 in sub-2 at IPs 10.2.0.{7,8,9} shifted by `ip`, MACs shifted by `mac`. */
  const ns = (l3: boolean, revision: number, mac = 0, host = 0, ip = 0, op = OperationType.UPDATE): Uint8Array =>
    goalStateBytes(
      {
        neighbors: [1, 2, 3].map((n) => ({
          n,
          op,
          l3,
          subnet: 1,
          octet: n + 1 + ip,
          mac: n + mac,
          host,
          ownVni: false,
          revision,
        })) as Step['neighbors'],
        router: 0,
        port: 0,
        subnet: 0,
        gatewayMac: 1,
        abort: false,
        tunnel: 0,
      },
      new Map(),
    );
  const steps: [Uint8Array, number, string][] = [
    [contextBytes(), -1, 'context'],
    [ns(false, 1, 0, 0, 0, OperationType.CREATE), 6, 'L2 created: two flows each'],
    [ns(true, 2), 3, 'L2 -> L3 (a router came): one resolve flow added each'],
    [ns(true, 3, 4), 12, 'new MAC: L2 deleted and added, ARP and resolve modified'],
    [ns(true, 4, 4, 1), 3, 'new host: L2 modified'],
    [ns(true, 5, 4, 1, 3), 12, 'new IP: ARP and resolve deleted and added'],
    [ns(true, 6, 4, 1, 3), 0, 'the same again'],
    [ns(false, 7, 4, 1, 3), 3, 'L3 -> L2 (the router went): the resolve flow deleted'],
    [ns(true, 8, 4, 1, 3), 3, 'and back'],
    [ns(true, 9, 4, 1, 3, OperationType.DELETE), 9, 'deleted: three flows each'],
  ];
  for (const [i, [bytes, count, what]] of steps.entries()) {
    const [ra, rb] = [lane, table].map((e) => e.prepareGoalState(bytes, 2, { bundleId: i + 1, firstXid: 1 }));
    const a = deltaText(lane, ra.txn, ra.delta.bytes);
    assert.equal(a, deltaText(table, rb.txn, rb.delta.bytes), what);
    if (count >= 0) assert.is(a.length, count, what);
    lane.commit(ra.txn);
    table.commit(rb.txn);
    if (i > 1 && i < 9 && i !== 7) assert.is(lane.lane.l3Size, 3, `${what}: held in the lane as L3`);
    assert.equal(flowsText(lane.desiredFlows()), flowsText(table.desiredFlows()), what);
  }
  assert.is(lane.lane.size, 0);
});

test.run();
