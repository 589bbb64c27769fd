// Engine.arpEntries: the (VNI, IP) -> MAC answers for the XDP ARP responder, the same however many partitions hold them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2, OperationType } from '../../proto';
import {
  neighborsGoalStateV2,
  neighborsGoalStateV2Bytes,
  NEIGHBORS_PORT,
  HOST_A,
} from '../../test/fixtures/goalstates';
import { fromGoalStateV2 } from '../goalstate';
import { parseIpv4 } from '../goalstate/addr';
import { Engine } from './engine';
import type { ArpChange, ArpTriple } from './arp-entries';

const text = (ts: readonly ArpTriple[]): string[] => ts.map((t) => t.join('/')).sort();

async function entriesWith(workers: number, bytes: Uint8Array): Promise<ArpTriple[]> {
  const e = await Engine.create({
    workers,
    localTunnelIp: parseIpv4(HOST_A.ip),
    tunnelOfport: 100,
    ofports: new Map([[NEIGHBORS_PORT.id, 1]]),
  });
  try {
    const p = await e.prepare(bytes, 2);
    await e.commit(p.txns);
    const r = await e.arpEntries();
    assert.ok(r.portVnis.has(NEIGHBORS_PORT.id), 'the local port has a VNI');
    return r.entries;
  } finally {
    await e.close();
  }
}

test('ports, neighbors and subnet gateways, scoped by VNI, identical with 0 and 2 workers', async () => {
  const gs = neighborsGoalStateV2(20);
  const bytes = GoalStateV2.encode(gs).finish();
  const model = fromGoalStateV2(GoalStateV2.decode(bytes));
  const resources = model.ops.flatMap((op) => (op.resource === undefined ? [] : [op.resource]));
  const subnets = new Map<string, number>();
  const want: string[] = [];
  for (const r of resources) if (r.kind === 'subnet') subnets.set(r.id, r.tunnelId);
  for (const r of resources) {
    if (r.kind === 'subnet' && r.gateway !== undefined) want.push([r.tunnelId, r.gateway.ip, r.gateway.mac].join('/'));
    if (r.kind === 'port') for (const f of r.fixedIps) want.push([subnets.get(f.subnetId), f.ip, r.mac].join('/'));
    if (r.kind === 'neighbor')
      for (const f of r.fixedIps)
        want.push([f.tunnelId !== 0 ? f.tunnelId : subnets.get(f.subnetId), f.ip, r.mac].join('/'));
  }
  assert.ok(want.length >= 21, `fixture has ports and neighbors (${want.length})`);
  const inline = await entriesWith(0, bytes);
  assert.equal(text(inline), [...new Set(want)].sort());
  assert.equal(text(await entriesWith(2, bytes)), text(inline));
});

/** Folds reported changes into a multiset, as the agent's XDP side does, and lists what is present. */
function folded(into: Map<string, number>, changes: readonly ArpChange[]): string[] {
  for (const [vni, ip, mac, d] of changes) {
    const k = [vni, ip, mac].join('/');
    const n = (into.get(k) ?? 0) + d;
    assert.ok(n >= 0, `count of ${k} stays non-negative`);
    if (n === 0) into.delete(k);
    else into.set(k, n);
  }
  return [...into.keys()].sort();
}

for (const workers of [0, 2]) {
  test(`arpChanges, folded, always equal arpEntries; only what moved crosses (${workers} workers)`, async () => {
    const e = await Engine.create({
      workers,
      localTunnelIp: parseIpv4(HOST_A.ip),
      tunnelOfport: 100,
      ofports: new Map([[NEIGHBORS_PORT.id, 1]]),
    });
    const push = async (bytes: Uint8Array): Promise<void> => {
      const p = await e.prepare(bytes, 2);
      await e.commit(p.txns);
    };
    try {
      const held = new Map<string, number>();
      await push(neighborsGoalStateV2Bytes(30));
      const first = await e.arpChanges();
      assert.is(first.full, true);
      assert.equal(folded(held, first.changes), text((await e.arpEntries()).entries));

      const idle = await e.arpChanges();
      assert.equal([idle.full, idle.changes.length], [false, 0], 'nothing committed: nothing to report');

      await push(neighborsGoalStateV2Bytes(5, { startIndex: 31, hostResources: false }));
      const added = await e.arpChanges();
      assert.equal([added.full, added.changes.length], [false, 5]);
      assert.equal(folded(held, added.changes), text((await e.arpEntries()).entries));

      await push(
        neighborsGoalStateV2Bytes(10, { startIndex: 1, hostResources: false, operationType: OperationType.DELETE }),
      );
      const removed = await e.arpChanges();
      assert.ok(removed.changes.every((c) => c[3] < 0));
      assert.equal(folded(held, removed.changes), text((await e.arpEntries()).entries));

      const again = await e.arpChanges(true);
      assert.is(again.full, true, 'reset: every answer again');
      assert.equal(folded(new Map(), again.changes), text((await e.arpEntries()).entries));
    } finally {
      await e.close();
    }
  });
}

test.run();
