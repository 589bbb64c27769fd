// `alcor-bench vms` at a tiny size on real parts: 3 sandboxed OVS hosts (a full underlay mesh, which looped before
// br-phy became split horizon), real agents, a control replica process, guests leasing over DHCP and pinging
// their gateway and a VM on another host. Asserts outcomes only; the times are the benchmark's business.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import { runVms } from './vms';

if (requirePrereqs(['root', 'ovs', 'netns', 'busybox'])) {
  test('vms: every VM on 3 hosts gets ACTIVE, a lease and both pings; the report holds the CDF', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-vms-test-'));
    try {
      const r = await runVms({ vms: 6, hosts: 3, out });
      assert.is(r.failed, 0, JSON.stringify(r.errors));
      assert.is(r.up.n, 6);
      assert.is(r.lease.n, 6);
      assert.ok(r.allUpMs > 0 && r.allUpMs >= r.p50UpMs);
      // A guest can lease only after its port is ACTIVE, and ping only after its lease.
      assert.ok(r.lease.maxMs >= r.active.p50Ms && r.up.maxMs >= r.lease.maxMs);
      const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
      assert.ok(html.includes('<svg') && html.includes('pinging'));
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
}

test.run();
