// Fault injected in the middle of a large push (issue 14, part 3), on a real OVS: ovs-vswitchd restarted
// while the agent pushes a 100k-neighbor bundle. The userspace datapath restarts empty; the agent puts
// back what it holds by itself: the whole goal state if it was acknowledged, the previous state if not,
// never part of a bundle. The other ports forward again and the next push applies. Prints its time to
// converge (`{"fault": ..., "convergeMs": ...}`), recorded, not asserted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import type { Vm } from '../test/sandbox';
import { NEIGHBORS, P2, allSucceeded, big, flowCount, pings, scene, untilApplying, type Scene } from './e2e-big-push';
import { until } from './e2e-helpers';

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('ovs-vswitchd restarted in the middle of a 100k-neighbor push: an acknowledged push is whole after the restart, a failed one leaves the old state', async () => {
    let s: Scene | undefined;
    try {
      s = await scene('fltovs');
      const { sb, agent } = s;
      const reply = agent.push(big).then(
        (r) => r,
        () => null,
      );
      await untilApplying(agent, reply);
      await sb.stopVswitchd();
      const t0 = Date.now();
      await sb.startVswitchd();
      const r = await reply;
      const acked = r !== null && allSucceeded(r);
      // The userspace datapath restarts empty: whatever OVS holds now, the agent put back.
      // Acknowledged: at least every neighbor's two flows; not: exactly the previous state.
      const base = s.baseFlows;
      const reinstalled = async (): Promise<boolean> => {
        const n = await flowCount(sb);
        return acked ? n >= base + 2 * NEIGHBORS : n === base;
      };
      await until('the agent reinstalled its state', reinstalled, 120_000);
      const afterRestart = await flowCount(sb);
      const convergeMs = Date.now() - t0;
      await until('ping after the OVS restart', () => pings(s?.vm1 as Vm, P2.ip), 20_000);
      const again = await agent.push(big);
      assert.ok(allSucceeded(again), 'the next push applies');
      const full = await flowCount(sb);
      assert.ok(full >= base + 2 * NEIGHBORS, 'and then the whole goal state is in OVS');
      if (acked) assert.is(afterRestart, full, 'an acknowledged push was reinstalled whole');
      console.log(JSON.stringify({ fault: 'OVS restart mid-push', acked, convergeMs }));
    } finally {
      await s?.agent.stop();
      await s?.sb.stop();
    }
  });

  test.run();
}
