import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NeighborType, OperationType, type NeighborState } from '../../proto';
import { HOST_A, NEIGHBORS_PORT, fullGoalStateV2Bytes } from '../../test/fixtures/goalstates';
import { parseIpv4 } from '../goalstate/addr';
import { BUNDLE_ATOMIC_ORDERED, ByteWriter, OFP14_VERSION, formatFlow, writeBundledFlowMod } from '../openflow';
import type { FlowModCommand } from '../openflow';
import type { Flow } from '../flow';
import { encodeCookie } from '../pipeline';
import { RecordEncoder } from './neighbor-encode';
import { ARP_FAMILY, L2_FAMILY, type NeighborRecord, familyKeyOf, recordFlow } from './neighbor-flows';
import { fastFlowKey } from '../flowtable';
import { type HostFacts, PartitionEngine, type PrepareResult } from './partition';
import type { StoreSnapshot } from '../goalstate';
import { flowModTexts } from '../../test/flowmod-text';
import {
  editNeighbor,
  fixtureNeighbors,
  neighborPartition,
  neighborStatesBytes,
  type NeighborMode,
  type NeighborConfig,
} from '../../test/fixtures/neighbor-edits';

test('record flow-mods from templates are byte-identical to writeBundledFlowMod', () => {
  const enc = new RecordEncoder();
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((seed / 2 ** 31) * n);
  };
  const commands: FlowModCommand[] = ['add', 'modify_strict', 'delete_strict'];
  for (let i = 0; i < 3000; i++) {
    const r: NeighborRecord = {
      id: `n-${rnd(1e9)}`,
      vni: rnd(2 ** 24),
      mac: rnd(2 ** 24) * 2 ** 24 + rnd(2 ** 24),
      ip: rnd(2 ** 32),
      hostIp: rnd(2 ** 32),
      tunnelOfport: 1 + rnd(0xfeff),
    };
    const family = i % 2 === 0 ? L2_FAMILY : ARP_FAMILY;
    const command = commands[i % 3];
    const cookie = encodeCookie('neighbor', r.id);
    const xid = rnd(2 ** 32);
    const bundle = rnd(2 ** 32);
    const want = new ByteWriter(256);
    writeBundledFlowMod(
      want,
      xid,
      OFP14_VERSION,
      bundle,
      recordFlow(r, family, cookie),
      command,
      BUNDLE_ATOMIC_ORDERED,
    );
    const got = new ByteWriter(256);
    enc.write(got, xid, bundle, r, family, command, cookie);
    assert.is(got.view().toString('hex'), want.view().toString('hex'), `record ${JSON.stringify(r)} ${command}`);
  }
});

type Mode = NeighborMode;

function engine(mode: Mode, snapshot?: StoreSnapshot): PartitionEngine {
  return neighborPartition(mode, { snapshot });
}

/** Sorted (flow-mod without header/xid, owner) of a delta. */
function deltaText(e: PartitionEngine, txn: number, bytes: Uint8Array): string[] {
  const out: string[] = [];
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const len = (bytes[at + 2] << 8) | bytes[at + 3];
    out.push(Buffer.from(bytes.subarray(at + 24, at + len)).toString('hex') + ' ' + e.ownerOfMessage(txn, i));
    at += len;
    i++;
  }
  return out.sort();
}

/** Each neighbor entry's (operation, status, reason), whichever way the partition reported it. */
function neighborStatuses(r: PrepareResult): string[] {
  const n = r.neighbors;
  return Array.from(n.codes, (code, i) => {
    const at = n.listed.indexOf(i);
    if (at >= 0) {
      const s = n.listedStatuses[at];
      return `${s.operationType} ${s.status} ${s.reason}`;
    }
    return `${n.operations[i]} ${code} `;
  });
}

function flowsText(flows: readonly Flow[]): string[] {
  return flows.map((f) => formatFlow(f)).sort();
}

type Step =
  | { kind: 'gs'; bytes: Uint8Array; abort?: boolean }
  | { kind: 'tunnel'; ofport: number; abort?: boolean }
  | { kind: 'tunnelIp'; ip: string; abort?: boolean };

function facts(step: Step): HostFacts {
  if (step.kind === 'tunnel') return { tunnelOfport: step.ofport };
  if (step.kind === 'tunnelIp') return { localTunnelIp: parseIpv4(step.ip) };
  return {};
}

/** The most neighbors the lane engine of the last sameAsTable held after a step. */
let laneHeldMost = 0;

/**
 * Runs the steps on an engine per mode (the lane, records without the lane) and on one with the
 * FlowTable alone; each must agree with the table at every step.
 */
function sameAsTable(steps: readonly Step[], modes: readonly Mode[] = ['lane', 'records']): Map<Mode, PartitionEngine> {
  const out = new Map<Mode, PartitionEngine>();
  laneHeldMost = 0;
  for (const mode of modes) {
    const a = engine(mode);
    const b = engine('table');
    let bundleId = 1;
    for (const [n, step] of steps.entries()) {
      const enc = { bundleId: bundleId++, firstXid: 1 };
      const ra = step.kind === 'gs' ? a.prepareGoalState(step.bytes, 2, enc) : a.prepareHostFacts(facts(step), enc);
      const rb = step.kind === 'gs' ? b.prepareGoalState(step.bytes, 2, enc) : b.prepareHostFacts(facts(step), enc);
      assert.equal(
        deltaText(a, ra.txn, ra.delta.bytes),
        deltaText(b, rb.txn, rb.delta.bytes),
        `${mode} step ${n} delta`,
      );
      if ('neighbors' in ra && 'neighbors' in rb) {
        assert.equal(neighborStatuses(ra), neighborStatuses(rb), `${mode} step ${n} neighbor statuses`);
        assert.equal(ra.statuses, rb.statuses, `${mode} step ${n} other statuses`);
      }
      if (step.abort === true) {
        a.abort(ra.txn);
        b.abort(rb.txn);
      } else {
        a.commit(ra.txn);
        b.commit(rb.txn);
      }
      assert.equal(flowsText(a.desiredFlows()), flowsText(b.desiredFlows()), `${mode} step ${n} desired`);
      assert.is(a.flowCount, b.flowCount, `${mode} step ${n} count`);
      if (mode === 'lane') laneHeldMost = Math.max(laneHeldMost, a.lane.size);
      assert.equal(
        [...a.neighbors()].map((x) => JSON.stringify(x)).sort(),
        [...b.neighbors()].map((x) => JSON.stringify(x)).sort(),
        `${mode} step ${n} held neighbors`,
      );
    }
    out.set(mode, a);
  }
  return out;
}

const base = fixtureNeighbors(1, 20);
const first = base['nbr-1'];
const ip = (s: NeighborState): string => (s.configuration as NeighborConfig).fixedIps[0].ipAddress;
const mac = (s: NeighborState): string => (s.configuration as NeighborConfig).macAddress;

test('familyKeyOf names the key of a record flow exactly when the keys are equal', () => {
  // The definition: a flow has a family key when its key is a record flow's key with its VNI and MAC or IP.
  const byKeys = (f: Flow): ReturnType<typeof familyKeyOf> => {
    for (const family of [L2_FAMILY, ARP_FAMILY] as const) {
      const vni = f.match[family === L2_FAMILY ? 1 : 0]?.value ?? 0;
      const value = f.match[family === L2_FAMILY ? 2 : 3]?.value ?? 0;
      const probe: NeighborRecord = { id: '', vni, mac: value, ip: value, hostIp: 0, tunnelOfport: 0 };
      if (fastFlowKey(recordFlow(probe, family, 0n)) === fastFlowKey(f)) return { family, vni, value };
    }
    return undefined;
  };
  const r: NeighborRecord = {
    id: 'n',
    vni: 7,
    mac: 0x0200_0000_0001,
    ip: parseIpv4('10.0.0.5'),
    hostIp: 9,
    tunnelOfport: 3,
  };
  const flows: Flow[] = [];
  for (const family of [L2_FAMILY, ARP_FAMILY] as const) {
    const f = recordFlow(r, family, 5n);
    flows.push(f);
    f.match.forEach((m, i) => {
      const with_ = (x: object): Flow => ({ ...f, match: f.match.map((y, j) => (j === i ? { ...y, ...x } : y)) });
      flows.push(with_({ value: m.value + 1 }), with_({ mask: 0xff }), with_({ field: 'ip_dst' }));
    });
    flows.push({ ...f, match: [...f.match].reverse() }, { ...f, priority: f.priority + 1 }, { ...f, table: 3 });
  }
  for (const f of flows) assert.equal(familyKeyOf(f), byKeys(f), formatFlow(f));
});

test('plain neighbors: creates, moves, modifies and deletes match the FlowTable', () => {
  const ip7 = (base['nbr-7'].configuration as NeighborConfig).hostIpAddress;
  const a = sameAsTable([
    { kind: 'gs', bytes: neighborStatesBytes(base, true) },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        'nbr-2': editNeighbor(base['nbr-2'], 'nbr-2', () => ({ hostIpAddress: '123.9.9.9' })),
      }),
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        'nbr-3': editNeighbor(base['nbr-3'], 'nbr-3', () => ({ macAddress: '6c:dd:ee:99:99:99' })),
      }),
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        'nbr-4': editNeighbor(base['nbr-4'], 'nbr-4', (c) => ({
          fixedIps: [{ ...c.fixedIps[0], ipAddress: '10.99.99.99' }],
        })),
      }),
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({ 'nbr-5': editNeighbor(base['nbr-5'], 'nbr-5', () => ({}), OperationType.DELETE) }),
    },
    { kind: 'tunnel', ofport: 300, abort: true },
    { kind: 'tunnel', ofport: 200 },
    // nbr-7's host becomes ours (aborted, then for real): it is not remote any more.
    { kind: 'tunnelIp', ip: ip7, abort: true },
    { kind: 'tunnelIp', ip: ip7 },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        'nbr-6': editNeighbor(base['nbr-6'], 'nbr-6', () => ({ hostIpAddress: HOST_A.ip })),
      }),
    },
    { kind: 'gs', bytes: neighborStatesBytes(fixtureNeighbors(21, 5)) },
  ]);
  const records = a.get('records');
  assert.ok(records?.neighborFlows.enabled && records.neighborFlows.size > 20, 'held as records throughout');
  const lane = a.get('lane');
  // The tunnel change rewrote the lane's flows in place; the neighbor moved onto this host left it.
  assert.ok(lane !== undefined && lane.lane.size > 20 && lane.neighborFlows.size === 0, 'held in the lane throughout');
});

test('two neighbors claiming one MAC or one IP get the FlowTable semantics', () => {
  const a = sameAsTable([
    { kind: 'gs', bytes: neighborStatesBytes(base, true) },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        dupmac: editNeighbor(first, 'dupmac', (c) => ({ fixedIps: [{ ...c.fixedIps[0], ipAddress: '10.50.0.1' }] })),
      }),
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({ dupip: editNeighbor(first, 'dupip', () => ({ macAddress: '6c:dd:ee:77:77:77' })) }),
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({ 'nbr-1': editNeighbor(first, 'nbr-1', () => ({}), OperationType.DELETE) }),
    },
    { kind: 'gs', bytes: neighborStatesBytes(fixtureNeighbors(30, 3)) },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({ dupmac: editNeighbor(first, 'dupmac', () => ({}), OperationType.DELETE) }),
    },
  ]);
  assert.not.ok(a.get('records')?.neighborFlows.enabled, 'the contest moved the records into the table');
  // Contest inside one goal state (the lane refuses the second claimant: see the next test), and a
  // swap of MACs between two neighbors.
  const b2 = base['nbr-2'];
  sameAsTable(
    [
      {
        kind: 'gs',
        bytes: neighborStatesBytes(
          { ...base, x: editNeighbor(b2, 'x', (c) => ({ fixedIps: [{ ...c.fixedIps[0], ipAddress: '10.60.0.1' }] })) },
          true,
        ),
      },
    ],
    ['records'],
  );
  sameAsTable([
    { kind: 'gs', bytes: neighborStatesBytes(base, true) },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        'nbr-1': editNeighbor(first, 'nbr-1', () => ({ macAddress: mac(b2) })),
        'nbr-2': editNeighbor(b2, 'nbr-2', () => ({ macAddress: mac(first) })),
      }),
    },
  ]);
});

test('the lane refuses a second neighbor claiming a key in the same goal state, and says why', () => {
  const e = engine('lane');
  const b2 = base['nbr-2'];
  const x = editNeighbor(b2, 'x', (c) => ({ fixedIps: [{ ...c.fixedIps[0], ipAddress: '10.60.0.1' }] }));
  const r = e.prepareGoalState(neighborStatesBytes({ ...base, x }, true), 2, { bundleId: 1, firstXid: 1 });
  const at = r.neighbors.listedStatuses.findIndex((s) => s.resourceId === 'x');
  assert.ok(at >= 0, 'x has a listed status');
  assert.is(r.neighbors.listedStatuses[at].status, 1 /* FAILURE */);
  assert.match(
    r.neighbors.listedStatuses[at].reason,
    /MAC 6c:dd:ee:.* is already taken by neighbor 'nbr-2' in this goal state/,
  );
  e.commit(r.txn);
  assert.is(e.lane.size, 20, 'the others are held');
  assert.is(e.lane.findId('x'), -1);
});

test('a neighbor claiming a local port IP, multi-IP and L3 neighbors, and the full goal state', () => {
  sameAsTable([
    { kind: 'gs', bytes: neighborStatesBytes(base, true) },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        multi: editNeighbor(first, 'multi', (c) => ({
          macAddress: '6c:dd:ee:55:55:55',
          fixedIps: [
            { ...c.fixedIps[0], ipAddress: '10.55.0.1' },
            { ...c.fixedIps[0], ipAddress: '10.55.0.2' },
          ],
        })),
        l3: editNeighbor(first, 'l3', (c) => ({
          macAddress: '6c:dd:ee:56:56:56',
          fixedIps: [{ ...c.fixedIps[0], ipAddress: '10.56.0.1', neighborType: NeighborType.L3 }],
        })),
      }),
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        multi: editNeighbor(first, 'multi', (c) => ({
          macAddress: '6c:dd:ee:55:55:55',
          fixedIps: [{ ...c.fixedIps[0], ipAddress: '10.55.0.1' }],
        })),
      }),
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        portip: editNeighbor(first, 'portip', (c) => ({
          macAddress: '6c:dd:ee:57:57:57',
          fixedIps: [{ ...c.fixedIps[0], ipAddress: NEIGHBORS_PORT.ip }],
        })),
      }),
    },
    { kind: 'gs', bytes: fullGoalStateV2Bytes() },
  ]);
});

test('abort puts the records back, also after a contest', () => {
  sameAsTable([
    { kind: 'gs', bytes: neighborStatesBytes(base, true) },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        'nbr-3': editNeighbor(base['nbr-3'], 'nbr-3', () => ({ macAddress: '6c:dd:ee:99:99:99' })),
      }),
      abort: true,
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({ 'nbr-7': editNeighbor(base['nbr-7'], 'nbr-7', () => ({}), OperationType.DELETE) }),
      abort: true,
    },
    { kind: 'gs', bytes: neighborStatesBytes(fixtureNeighbors(40, 4)), abort: true },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        'nbr-8': editNeighbor(base['nbr-8'], 'nbr-8', (c) => ({
          fixedIps: [c.fixedIps[0], { ...c.fixedIps[0], ipAddress: '10.88.0.1' }],
        })),
      }),
      abort: true,
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        'nbr-3': editNeighbor(base['nbr-3'], 'nbr-3', () => ({ macAddress: '6c:dd:ee:99:99:99' })),
      }),
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({
        dupmac: editNeighbor(first, 'dupmac', (c) => ({ fixedIps: [{ ...c.fixedIps[0], ipAddress: '10.50.0.1' }] })),
      }),
      abort: true,
    },
    {
      kind: 'gs',
      bytes: neighborStatesBytes({ 'nbr-9': editNeighbor(base['nbr-9'], 'nbr-9', () => ({}), OperationType.DELETE) }),
    },
  ]);
  assert.ok(ip(first).length > 0);
});

test('random edits, contests across goal states and aborts: the lane and records match the FlowTable', () => {
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((seed / 2 ** 31) * n);
  };
  // Not many more MACs and IPs than ids, so neighbors keep contesting keys held since earlier goal states.
  const macs = Array.from({ length: 16 }, (_, i) => `6c:dd:ee:00:01:${(i + 16).toString(16)}`);
  const ips = Array.from({ length: 16 }, (_, i) => `10.0.1.${i + 1}`);
  const held = new Map<string, { mac: string; ip: string }>();
  const steps: Step[] = [{ kind: 'gs', bytes: neighborStatesBytes(fixtureNeighbors(1, 3), true) }];
  for (let n = 0; n < 60; n++) {
    const states: Record<string, NeighborState> = {};
    // Within one goal state no two edited neighbors end on one key or take one another's (the lane
    // refuses such a message's second claimant: see the test above).
    const taken = new Set<string>();
    const touched = new Set<string>();
    const next = new Map(held);
    for (let k = 0, edits = 1 + rnd(4); k < edits; k++) {
      const id = `r-${rnd(12)}`;
      if (touched.has(id)) continue;
      const mac = macs[rnd(macs.length)];
      const ip = ips[rnd(ips.length)];
      const del = held.has(id) && rnd(4) === 0;
      const clash = [...touched].some((t) => {
        const h = held.get(t);
        return h !== undefined && (h.mac === mac || h.ip === ip);
      });
      if (!del && (taken.has(mac) || taken.has(ip) || clash)) continue;
      const mine = held.get(id);
      if (mine !== undefined && [...touched].some((t) => next.get(t)?.mac === mine.mac || next.get(t)?.ip === mine.ip))
        continue;
      touched.add(id);
      // Revisions go up and down, so some ops are OUT_OF_ORDER; some are GETs.
      const revisionNumber = 1 + rnd(3);
      if (del) {
        states[id] = editNeighbor(first, id, () => ({ revisionNumber }), OperationType.DELETE);
        next.delete(id);
        continue;
      }
      if (rnd(8) === 0) {
        states[id] = editNeighbor(first, id, () => ({ revisionNumber }), OperationType.GET);
        continue;
      }
      taken.add(mac);
      taken.add(ip);
      next.set(id, { mac, ip });
      states[id] = editNeighbor(first, id, (c) => ({
        revisionNumber,
        macAddress: mac,
        hostIpAddress: `123.0.0.${1 + rnd(3)}`,
        fixedIps: [{ ...c.fixedIps[0], ipAddress: ip }],
      }));
    }
    const abort = rnd(5) === 0;
    steps.push({ kind: 'gs', bytes: neighborStatesBytes(states), abort });
    if (!abort) {
      held.clear();
      for (const [k, v] of next) held.set(k, v);
    }
  }
  const lane = sameAsTable(steps).get('lane');
  // Both paths were exercised: neighbors were held in the lane, and contests moved them out of it
  // (a neighbor the ordinary path holds stays there).
  const ordinary = lane?.store.size('neighbor') ?? 0;
  assert.ok(laneHeldMost > 3 && ordinary > 3, `lane held up to ${laneHeldMost}, ordinary path ${ordinary}`);
});

test('a restored snapshot puts simple neighbors back into the lane, with the flows records give', () => {
  const before = engine('lane');
  const multi = editNeighbor(first, 'multi', (c) => ({
    macAddress: '6c:dd:ee:55:55:55',
    fixedIps: [
      { ...c.fixedIps[0], ipAddress: '10.55.0.1' },
      { ...c.fixedIps[0], ipAddress: '10.55.0.2' },
    ],
  }));
  for (const bytes of [neighborStatesBytes(base, true), neighborStatesBytes({ multi })]) {
    before.commit(before.prepareGoalState(bytes, 2, { bundleId: 1, firstXid: 1 }).txn);
  }
  // As the agent saves and reads it: JSON.
  const snapshot = JSON.parse(JSON.stringify(before.snapshot())) as StoreSnapshot;
  const lane = engine('lane', snapshot);
  // (The table mode drains records before anything is held: with a snapshot, records are the reference.)
  const table = engine('records', snapshot);
  assert.is(lane.lane.size, 20, 'the 20 simple neighbors are in the lane');
  assert.is(lane.store.size('neighbor'), 1, 'the multi-IP one is not');
  assert.equal(flowsText(lane.desiredFlows()), flowsText(table.desiredFlows()));
  assert.is(lane.reconcile(table.desiredFlows(), { bundleId: 2, firstXid: 1 }).bytes.length, 0, 'in sync');
  assert.equal(
    [...lane.neighbors()].map((n) => JSON.stringify(n)).sort(),
    [...table.neighbors()].map((n) => JSON.stringify(n)).sort(),
  );
  // And they go on as usual.
  const step = neighborStatesBytes({
    'nbr-3': editNeighbor(base['nbr-3'], 'nbr-3', () => ({ macAddress: '6c:dd:ee:99:99:99' })),
    'nbr-4': editNeighbor(base['nbr-4'], 'nbr-4', () => ({}), OperationType.DELETE),
  });
  const ra = lane.prepareGoalState(step, 2, { bundleId: 3, firstXid: 1 });
  const rb = table.prepareGoalState(step, 2, { bundleId: 3, firstXid: 1 });
  assert.equal(deltaText(lane, ra.txn, ra.delta.bytes), deltaText(table, rb.txn, rb.delta.bytes));
});

test('reconcile against a dump that misses, changes and adds neighbor flows', () => {
  const a = engine('lane');
  const b = engine('table');
  for (const e of [a, b]) {
    const r = e.prepareGoalState(neighborStatesBytes(base, true), 2, { bundleId: 1, firstXid: 1 });
    e.commit(r.txn);
  }
  const desired = b.desiredFlows();
  const nbrFlows = desired.filter(
    (f) => f.cookie === encodeCookie('neighbor', 'nbr-4') || f.cookie === encodeCookie('neighbor', 'nbr-5'),
  );
  const installed: Flow[] = desired.filter((f) => !nbrFlows.includes(f));
  installed.push({ ...nbrFlows[0], actions: [] });
  installed.push({ ...nbrFlows[1], cookie: encodeCookie('neighbor', 'stale') });
  installed.push({ ...nbrFlows[0], priority: 3 });
  const enc = { bundleId: 2, firstXid: 1 };
  const text = (bytes: Uint8Array): string[] => flowModTexts([bytes]);
  const da = a.reconcile(installed, enc);
  const db = b.reconcile(installed, enc);
  assert.equal(text(da.bytes), text(db.bytes));
  assert.is(da.add + da.modify + da.delete, db.add + db.modify + db.delete);
  assert.ok(da.add + da.modify + da.delete >= 4);
});

test.run();
