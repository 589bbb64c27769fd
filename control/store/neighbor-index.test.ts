// The on-demand neighbor index: it answers exactly what a scan of every stored neighbor answered, across puts,
// updates and deletes, it is rebuilt when the file store replays its log, and the controller answers
// on-demand requests from it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GoalStateV2,
  HostRequest,
  NeighborState,
  NeighborType,
  OperationStatus,
  OperationType,
  PortState,
  RequestType,
  ResourceType,
} from '../../proto';
import { silentLogger } from '../log';
import { parseGoalStateV2 } from '../resources';
import { startControl } from '../server';
import {
  embeddedConfig,
  fixtureNeighborIp,
  hostIp,
  makeGoalState,
  pushGoalStates,
  requestGoalStates,
} from '../testing/fixtures';
import { TestAgent } from '../testing/test-agent';
import { FileStore } from './file-store';
import { StateCache } from './store';

function neighbor(id: string, ips: ReadonlyArray<readonly [string, number]>): Uint8Array {
  return NeighborState.encode(
    NeighborState.fromPartial({
      operationType: OperationType.CREATE,
      configuration: {
        revisionNumber: 1,
        id,
        macAddress: '02:00:00:00:00:01',
        hostIpAddress: '192.0.2.1',
        fixedIps: ips.map(([ipAddress, tunnelId]) => ({
          neighborType: NeighborType.L2,
          subnetId: 's',
          ipAddress,
          tunnelId,
        })),
      },
    }),
  ).finish();
}

/** What the controller did before the index: decode every stored neighbor and compare. */
function scan(cache: StateCache, ip: string, vni: number): string[] {
  const out: string[] = [];
  for (const [key, r] of cache.resources) {
    if (!key.startsWith('neighbor/')) continue;
    const fixedIps = NeighborState.decode(r.state).configuration?.fixedIps ?? [];
    if (fixedIps.some((f) => f.ipAddress === ip && (vni === 0 || f.tunnelId === 0 || f.tunnelId === vni)))
      out.push(key);
  }
  return out.sort();
}

const lookup = (cache: StateCache, ip: string, vni: number): string[] => cache.neighbors.lookup(ip, vni).sort();

test('lookup by IP and VNI; a tunnel id of 0 on either side matches any', () => {
  const c = new StateCache();
  c.putResource('neighbor/a', neighbor('a', [['10.0.0.5', 21]]));
  c.putResource('neighbor/b', neighbor('b', [['10.0.0.5', 22]]));
  c.putResource('neighbor/c', neighbor('c', [['10.0.0.5', 0]]));
  c.putResource('neighbor/d', neighbor('d', [['10.0.0.6', 21]]));
  assert.equal(lookup(c, '10.0.0.5', 21), ['neighbor/a', 'neighbor/c']);
  assert.equal(lookup(c, '10.0.0.5', 22), ['neighbor/b', 'neighbor/c']);
  assert.equal(lookup(c, '10.0.0.5', 0), ['neighbor/a', 'neighbor/b', 'neighbor/c']);
  assert.equal(lookup(c, '10.0.0.6', 22), []);
  assert.equal(lookup(c, '10.0.0.7', 0), []);
});

test('updates move a neighbor, deletes remove it; other kinds and undecodable states are not indexed', () => {
  const c = new StateCache();
  c.putResource('neighbor/a', neighbor('a', [['10.0.0.5', 21]]));
  c.putResource('neighbor/a', neighbor('a', [['10.0.0.9', 21]]));
  assert.equal(lookup(c, '10.0.0.5', 21), []);
  assert.equal(lookup(c, '10.0.0.9', 21), ['neighbor/a']);
  c.putResource('port/p', PortState.encode(PortState.fromPartial({ configuration: { id: 'p' } })).finish());
  c.putResource('neighbor/bad', Uint8Array.from([0xff, 0xff, 0xff]));
  assert.is(c.neighbors.size, 1);
  c.deleteResource('neighbor/a');
  assert.equal(lookup(c, '10.0.0.9', 21), []);
  assert.is(c.neighbors.size, 0);
  c.deleteResource('neighbor/never-there');
  assert.is(c.neighbors.size, 0);
});

test('the index answers what a full scan answers, through random puts, updates and deletes', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const ip = (): string => `10.0.0.${rand(6)}`;
  const vni = (): number => [0, 21, 22][rand(3)] as number;
  const c = new StateCache();
  for (let step = 0; step < 2000; step++) {
    const key = `neighbor/n${rand(40)}`;
    if (rand(4) === 0) c.deleteResource(key);
    else {
      const ips: Array<[string, number]> = [];
      for (let i = rand(3); i >= 0; i--) ips.push([ip(), vni()]);
      c.putResource(key, neighbor(key, ips));
    }
    const [qIp, qVni] = [ip(), vni()];
    assert.equal(lookup(c, qIp, qVni), scan(c, qIp, qVni), `step ${step}: ${qIp} in ${qVni}`);
  }
});

function goalState(neighbors: Record<string, string>, op = OperationType.CREATE): Uint8Array {
  const gs = GoalStateV2.fromPartial({
    formatVersion: 102,
    hostResources: {
      '192.0.2.7': { resources: Object.keys(neighbors).map((id) => ({ type: ResourceType.NEIGHBOR, id })) },
    },
  });
  for (const [id, ip] of Object.entries(neighbors)) {
    gs.neighborStates[id] = { ...NeighborState.decode(neighbor(id, [[ip, 21]])), operationType: op };
  }
  return GoalStateV2.encode(gs).finish();
}

test('the file store keeps the index through commits, deletes and a restart (log replay)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-nbr-index-'));
  try {
    let store = new FileStore(dir);
    await store.start();
    await store.commit(parseGoalStateV2(goalState({ n1: '10.1.0.1', n2: '10.1.0.2', n3: '10.1.0.3' })), 'r');
    await store.commit(parseGoalStateV2(goalState({ n2: '10.1.0.22' })), 'r');
    await store.commit(parseGoalStateV2(goalState({ n3: '10.1.0.3' }, OperationType.DELETE)), 'r');
    const want = (s: FileStore): void => {
      assert.equal(lookup(s.cache, '10.1.0.1', 21), ['neighbor/n1']);
      assert.equal(lookup(s.cache, '10.1.0.2', 21), []);
      assert.equal(lookup(s.cache, '10.1.0.22', 21), ['neighbor/n2']);
      assert.equal(lookup(s.cache, '10.1.0.3', 21), []);
      assert.is(s.cache.neighbors.size, s.cache.resources.size);
    };
    want(store);
    await store.close();
    store = new FileStore(dir);
    await store.start();
    want(store);
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the controller answers on-demand requests from the index, never by scanning the stored resources', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-nbr-index-'));
  const a = await TestAgent.start(hostIp(1));
  const b = await TestAgent.start(hostIp(2));
  const ctl = await startControl(
    embeddedConfig(dir, {
      agents: new Map([
        [a.hostIp, a.address],
        [b.hostIp, b.address],
      ]),
    }),
    silentLogger,
  );
  try {
    const grpcAddr = `127.0.0.1:${ctl.grpcPort}`;
    const gs = makeGoalState({ hosts: [a.hostIp], portsPerHost: 1, sharedNeighbors: 3 });
    await pushGoalStates(grpcAddr, [GoalStateV2.encode(gs).finish()]);
    const cache = ctl.store.cache;
    const lookups: string[] = [];
    const real = cache.neighbors.lookup.bind(cache.neighbors);
    cache.neighbors.lookup = (ip, vni) => {
      lookups.push(`${ip}@${vni}`);
      return real(ip, vni);
    };
    // A scan would iterate the stored resources; make that fail loudly while the requests run.
    const stored = cache.resources as Map<string, unknown>;
    const scanned = (): never => {
      throw new Error('on-demand lookup scanned the stored resources');
    };
    const saved = { iter: stored[Symbol.iterator], entries: stored.entries, values: stored.values };
    Object.assign(stored, { [Symbol.iterator]: scanned, entries: scanned, values: scanned });
    const ask = (ip: string) =>
      requestGoalStates(
        grpcAddr,
        HostRequest.fromPartial({
          formatVersion: 1,
          stateRequests: [{ requestType: RequestType.ON_DEMAND, requestId: ip, tunnelId: 21, destinationIp: ip }],
        }),
        b.hostIp,
      );
    try {
      const hit = await ask(fixtureNeighborIp(1));
      const miss = await ask(fixtureNeighborIp(9999));
      assert.is(hit.operationStatuses[0]?.operationStatus, OperationStatus.SUCCESS);
      assert.is(miss.operationStatuses[0]?.operationStatus, OperationStatus.FAILURE);
    } finally {
      Object.assign(stored, { [Symbol.iterator]: saved.iter, entries: saved.entries, values: saved.values });
    }
    assert.equal(lookups, [`${fixtureNeighborIp(1)}@21`, `${fixtureNeighborIp(9999)}@21`]);
    await b.waitFor(() => b.applied.has('neighbor/nbr-a-1'), 3000, 'on-demand neighbor');
  } finally {
    await ctl.stop();
    await a.stop();
    await b.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
