// The OVN harness against real OVN: ovn-controller programs 3 flows per remote port on the sandbox's br-int (plus
// the segment's 2 multicast remote outputs), and stop() leaves no daemon, namespace or directory behind.
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../prereq';
import { run } from '../sandbox/exec';
import { OvnSandbox } from './sandbox';
import {
  expectedFlows,
  addRemotePorts,
  createSegment,
  fakeChassis,
  remotePort,
  settledFlowCount,
  waitForFlows,
} from './segment';

const REMOTE_PORTS = 10;

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

if (requirePrereqs(['root', 'ovs', 'ovn', 'netns'])) {
  test('ovn-controller installs 3 flows per remote port; stop() leaves nothing', async () => {
    const ovn = await OvnSandbox.start({ name: 'ovntest' });
    let pids: number[] = [];
    try {
      const chassis = fakeChassis(3);
      await createSegment(ovn, chassis);
      await ovn.startController();
      const deadline = Date.now() + 40_000;
      const base = await settledFlowCount(ovn, deadline);
      const ports = Array.from({ length: REMOTE_PORTS }, (_, i) => remotePort(i + 1));
      await addRemotePorts(ovn, ports, chassis, deadline);
      const target = expectedFlows(base, REMOTE_PORTS);
      const reached = await waitForFlows(ovn, target, performance.now(), deadline);
      assert.ok(reached.ms !== null, `br-int reached ${reached.flows} flows, wanted ${target} (base ${base})`);
      // Exactly 3 per port once everything is processed, not merely at least.
      assert.is(await settledFlowCount(ovn, deadline, 5), target);
      pids = ovn.pids();
      assert.is(pids.length, 6, 'NB, SB, northd, ovn-controller, ovsdb-server, ovs-vswitchd');
    } finally {
      await ovn.stop();
    }
    for (const pid of pids) assert.not.ok(alive(pid), `pid ${pid} still runs after stop()`);
    assert.not.ok(fs.existsSync(ovn.dir), `${ovn.dir} is still there`);
    const ns = await run('ip', ['netns', 'list']);
    assert.not.ok(ns.stdout.includes(`${ovn.ovs.netns}`), `${ovn.ovs.netns} is still there`);
  });

  test.run();
}
