// The README's demo is a test too: two hosts, router, security groups, DHCP, all through the agents.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import { runDemo } from './demo';

if (requirePrereqs(['root', 'ovs', 'netns', 'busybox'])) {
  test('npm run demo: leases, pings across hosts and subnets, the locked VM stays blocked', async () => {
    assert.is(await runDemo(false), 0);
  });
  test.run();
}
