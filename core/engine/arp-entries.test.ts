// Engine.arpEntries: the (VNI, IP) -> MAC answers for the XDP ARP responder, the same however many partitions hold them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2 } from '../../proto';
import { neighborsGoalStateV2, NEIGHBORS_PORT, HOST_A } from '../../test/fixtures/goalstates';
import { fromGoalStateV2 } from '../goalstate';
import { parseIpv4 } from '../goalstate/addr';
import { Engine } from './engine';
import type { ArpTriple } from './arp-entries';

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

test.run();
