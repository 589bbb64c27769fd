// Fault injected in the middle of a large push (issue 14, part 3), on a real OVS: the agent SIGKILLed
// while it streams a 100k-neighbor bundle. OVS holds either the whole goal state or none of it (a
// bundle is atomic: no partial bundle stays installed), the other ports keep forwarding, and the
// restarted agent applies the goal state pushed again. Prints its time to converge
// (`{"fault": ..., "convergeMs": ...}`), recorded, not asserted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import {
  HOST_IP,
  NEIGHBORS,
  P2,
  allSucceeded,
  big,
  flowCount,
  pings,
  scene,
  untilApplying,
  type Scene,
} from './e2e-big-push';
import { startAgent, type AgentProcess } from './e2e-helpers';

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('the agent SIGKILLed inside a 100k-neighbor bundle: all or nothing in OVS, traffic unaffected, converges on restart', async () => {
    let s: Scene | undefined;
    let agent: AgentProcess | undefined;
    try {
      s = await scene('fltkill');
      agent = s.agent;
      const reply = agent.push(big).then(
        (r) => r,
        () => null,
      );
      await untilApplying(agent, reply);
      await agent.kill9();
      const t0 = Date.now();
      const afterKill = await flowCount(s.sb);
      assert.ok(
        afterKill === s.baseFlows || afterKill > s.baseFlows + NEIGHBORS,
        `OVS holds the old flows or the whole new set, never part of it: ${afterKill} (base ${s.baseFlows})`,
      );
      assert.ok(await pings(s.vm1, P2.ip), 'the other ports forward while the agent is down');

      agent = await startAgent(s.sb, ['--tunnel-ip', HOST_IP, '--metrics', '127.0.0.1:0']);
      const again = await agent.push(big);
      assert.ok(allSucceeded(again), 'the goal state pushed again is applied');
      const fullFlows = await flowCount(s.sb);
      assert.ok(fullFlows >= s.baseFlows + 2 * NEIGHBORS, `every neighbor programmed: ${fullFlows}`);
      assert.ok(afterKill === s.baseFlows || afterKill === fullFlows, 'a committed bundle was the whole goal state');
      assert.ok(await pings(s.vm1, P2.ip));
      console.log(JSON.stringify({ fault: 'agent SIGKILL inside a bundle', afterKill, convergeMs: Date.now() - t0 }));
    } finally {
      await agent?.stop();
      await s?.sb.stop();
    }
  });

  test.run();
}
