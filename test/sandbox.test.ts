// The OVS sandbox itself: two VMs on one br-int forward with NORMAL (ICMP and TCP), and teardown leaves nothing.
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from './prereq';
import { OvsSandbox, SANDBOX_ROOT, tcpSend } from './sandbox';
import { run } from './sandbox/exec';

if (requirePrereqs(['root', 'ovs', 'netns', 'busybox'])) {
  test('two VMs on br-int with actions=normal: ping and TCP', async () => {
    const sb = await OvsSandbox.start({ name: 'sbtest' });
    try {
      const vm1 = await sb.addVm({
        name: 'vm1',
        mac: '02:00:00:00:00:01',
        ip: '10.200.0.1/24',
        ofport: 1,
        portId: 'port-1',
      });
      const vm2 = await sb.addVm({
        name: 'vm2',
        mac: '02:00:00:00:00:02',
        ip: '10.200.0.2/24',
        ofport: 2,
        iface: 'tapabcdef01234',
      });
      assert.is(vm1.ofport, 1);
      assert.is(vm2.ofport, 2);
      assert.is(vm1.iface, 'v-vm1');
      const ifaceId = (await sb.vsctl(['get', 'interface', 'v-vm1', 'external_ids:iface-id'])).stdout.trim();
      assert.is(ifaceId.replace(/"/g, ''), 'port-1');
      const bridge = (await sb.vsctl(['get', 'bridge', 'br-int', 'datapath_type', 'fail_mode', 'protocols'])).stdout;
      assert.match(bridge, /netdev/);
      assert.match(bridge, /secure/);
      assert.match(bridge, /OpenFlow10.*OpenFlow15/);

      // fail-mode=secure: without flows nothing is forwarded.
      const blocked = await vm1.exec(['ping', '-c1', '-W1', vm2.ip]);
      assert.is.not(blocked.code, 0, 'no flows, no traffic');

      await sb.ofctl(['add-flow', 'br-int', 'priority=0,actions=normal']);
      const ping = await vm1.exec(['ping', '-c2', '-i0.2', '-W2', vm2.ip]);
      assert.is(ping.code, 0, ping.stdout + ping.stderr);
      assert.is(await tcpSend(vm1, vm2, 5001, 'hello-over-ovs'), 'hello-over-ovs\n');
    } finally {
      await sb.stop();
    }
    const netns = await run('ip', ['netns', 'list']);
    assert.not.match(netns.stdout, /alc-sbtest-/);
    assert.not.ok(fs.existsSync(`${SANDBOX_ROOT}/sbtest`));
  });

  test('bad names are clear errors, not crashes', async () => {
    try {
      await OvsSandbox.start({ name: 'Bad-Name' });
      assert.unreachable('should have thrown');
    } catch (err: unknown) {
      assert.instance(err, Error);
      assert.is((err as { code?: unknown }).code, 'SANDBOX_BAD_NAME');
    }
  });

  test.run();
}
