import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FlowRemoved, FlowRemovedParse } from '../core/openflow';
import { DIRECT_PATH_COOKIE_BITS } from '../core/zeta/direct-path';
import { DirectPathTracker } from './zeta-direct-paths';

const removed = (cookie: bigint, reasonName: string): FlowRemovedParse => ({
  ok: true,
  value: { cookie, reasonName } as FlowRemoved,
});

test('direct paths: installed is a gauge that FLOW_REMOVED takes down; removals counted by reason', () => {
  const t = new DirectPathTracker();
  const a = DIRECT_PATH_COOKIE_BITS | 1n;
  const b = DIRECT_PATH_COOKIE_BITS | 2n;
  t.installed(a);
  t.installed(a); // the same path injected again: still one flow
  t.installed(b);
  assert.is(t.report().installed, 2);
  t.flowRemoved(removed(a, 'idle_timeout'));
  t.flowRemoved(removed(b, 'delete'));
  t.flowRemoved(removed(b, 'delete')); // a removal the agent did not see installed (an earlier run's)
  assert.equal(t.report(), { installed: 0, expired: 1, removed: { delete: 2, idle_timeout: 1 } });
});

test('direct paths: removals of other flows and malformed bytes are counted apart, not as paths', () => {
  const t = new DirectPathTracker();
  t.installed(DIRECT_PATH_COOKIE_BITS | 1n);
  for (let i = 0; i < 10_000; i++) t.flowRemoved(removed(0xa1c0_0000_0000_0000n | BigInt(i), 'delete'));
  t.flowRemoved({ ok: false, reason: 'short' });
  assert.equal(t.report(), { installed: 1, expired: 0, removed: {} });
  assert.is(t.otherRemoved, 10_000);
  assert.is(t.malformed, 1);
  assert.ok(t.metricsLines().includes('alcor_agent_openflow_flow_removed_ignored_total{why="not_direct_path"} 10000'));
});

test('direct paths: a resync replaces the installed set with what OVS holds', () => {
  const t = new DirectPathTracker();
  t.installed(DIRECT_PATH_COOKIE_BITS | 1n);
  t.resync([DIRECT_PATH_COOKIE_BITS | 5n, DIRECT_PATH_COOKIE_BITS | 6n]);
  assert.is(t.report().installed, 2);
  assert.ok(t.metricsLines().includes('alcor_agent_zeta_direct_paths_installed 2'));
});

test.run();
