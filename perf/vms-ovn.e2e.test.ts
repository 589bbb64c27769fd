// `alcor-bench vms --baseline ovn` at a tiny size: 4 VMs on 2 hosts on our agents, then the same VMs on OVN
// (a real ovn-controller per host, geneve between the hosts, OVN's native DHCP). Both systems must bring every VM
// to a lease and both pings (the peer is always on the other host, so OVN's tunnels carry it), and the report
// must plot both. Outcomes only; the times are the benchmark's business.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import { runVms } from './vms';

if (requirePrereqs(['root', 'ovs', 'ovn', 'netns', 'busybox'])) {
  test('vms --baseline ovn: both systems bring every VM up; the report plots both', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-vms-ovn-test-'));
    try {
      const r = await runVms({ vms: 4, hosts: 2, out, baseline: 'ovn', ovnTimeoutMs: 40_000 });
      assert.is(r.failed, 0, JSON.stringify(r.errors));
      assert.ok(r.ovn, `no OVN result: ${r.ovnNote}`);
      assert.is(r.ovn.failed, 0, JSON.stringify(r.ovn.errors));
      assert.is(r.ovnNote, null);
      assert.is(r.ovn.up.n, 4);
      assert.is(r.ovn.lease.n, 4);
      assert.ok(r.ovn.deleteMs >= 0, 'every chassis caught up with the delete');
      const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
      assert.ok(html.includes('alcor pinging') && html.includes('OVN pinging'));
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
}

test.run();
