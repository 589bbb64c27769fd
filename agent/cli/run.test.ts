// alcor-agent run: option precedence (flag > environment > --config file > default) and bad values.
import * as os from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultStateDir, runOptions } from './run';

const files = (m: Record<string, string>) => (f: string) =>
  m[f] === undefined ? Promise.reject(new Error('ENOENT')) : Promise.resolve(m[f]);

test('defaults', async () => {
  const o = await runOptions([], {});
  assert.is(o.listen, '127.0.0.1:50001');
  assert.is(o.ovsRundir, '/var/run/openvswitch');
  assert.is(o.bridge, 'br-int');
  assert.is(o.workers, Math.max(1, Math.min(os.availableParallelism(), 16)), 'one worker per core by default');
  assert.is(o.tunnelOfport, 100);
  assert.is(o.maxMessageMb, 256);
  assert.is(o.metrics, undefined);
});

test('OVS_RUNDIR sets --ovs-rundir; the flag wins over it', async () => {
  assert.is((await runOptions([], { OVS_RUNDIR: '/tmp/ovs' })).ovsRundir, '/tmp/ovs');
  assert.is((await runOptions(['--ovs-rundir', '/x'], { OVS_RUNDIR: '/tmp/ovs' })).ovsRundir, '/x');
});

test('--config file values, overridden by flags', async () => {
  const read = files({ 'c.json': JSON.stringify({ bridge: 'br-x', workers: 4, 'tunnel-ip': '192.0.2.7' }) });
  const o = await runOptions(['--config', 'c.json', '--workers', '2'], {}, read);
  assert.is(o.bridge, 'br-x');
  assert.is(o.workers, 2);
  assert.is(o.tunnelIp, '192.0.2.7');
});

test('bad input is a CliError with a code, never a crash', async () => {
  const codeOf = async (p: Promise<unknown>): Promise<unknown> =>
    p.then(
      () => 'no error',
      (e: unknown) => (e as { code?: unknown }).code,
    );
  assert.is(await codeOf(runOptions(['--listen', 'nope'], {})), 'E_CLI_BAD_VALUE');
  assert.is(await codeOf(runOptions(['--config', 'missing.json'], {}, files({}))), 'E_CLI_BAD_CONFIG');
  assert.is(
    await codeOf(runOptions(['--config', 'c.json'], {}, files({ 'c.json': '{"brdge":"x"}' }))),
    'E_CLI_BAD_CONFIG',
  );
  assert.is(await codeOf(runOptions(['extra'], {})), 'E_CLI_BAD_VALUE');
});

test('--dataplane: ovs by default, ebpf|both accepted, the pin dir follows the bridge, anything else refused', async () => {
  const d = await runOptions([], {});
  assert.is(d.dataplane, 'ovs');
  assert.is(d.bpfPinDir, '/sys/fs/bpf/alcor/br-int');
  assert.is(d.xdpNetns, undefined);
  const e = await runOptions(['--dataplane', 'ebpf', '--bridge', 'br-x', '--xdp-netns', 'ovsns'], {});
  assert.is(e.dataplane, 'ebpf');
  assert.is(e.bpfPinDir, '/sys/fs/bpf/alcor/br-x');
  assert.is(e.xdpNetns, 'ovsns');
  assert.is((await runOptions(['--dataplane', 'both', '--bpf-pin-dir', '/p'], {})).bpfPinDir, '/p');
  const err = await runOptions(['--dataplane', 'xdp'], {}).then(
    () => undefined,
    (x: unknown) => (x as { code?: unknown }).code,
  );
  assert.is(err, 'E_CLI_BAD_VALUE');
});

test('--state-dir: a default always, beside a private OVS run dir, /var/lib with the system one; flag and config win', async () => {
  assert.is((await runOptions([], {})).stateDir, '/var/lib/alcor-agent/br-int');
  assert.is((await runOptions(['--ovs-rundir', '/run/openvswitch/'], {})).stateDir, '/var/lib/alcor-agent/br-int');
  assert.is((await runOptions(['--bridge', 'br-x'], {})).stateDir, '/var/lib/alcor-agent/br-x');
  // Sandboxes all use br-int in their own run dirs: never one shared snapshot.
  assert.is((await runOptions(['--ovs-rundir', '/tmp/sb1'], {})).stateDir, '/tmp/sb1/alcor-agent/br-int');
  assert.is((await runOptions([], { OVS_RUNDIR: '/tmp/sb2' })).stateDir, '/tmp/sb2/alcor-agent/br-int');
  assert.is((await runOptions(['--state-dir', '/s'], {})).stateDir, '/s');
  const read = files({ 'c.json': JSON.stringify({ 'state-dir': '/from-config' }) });
  assert.is((await runOptions(['--config', 'c.json'], {}, read)).stateDir, '/from-config');
  assert.is(defaultStateDir('rel/dir', 'br-int').startsWith('/'), true, 'absolute even for a relative run dir');
});

test('a bridge name that is not a plain name is refused (it names the state directory)', async () => {
  const err = await runOptions(['--bridge', '../etc'], {}).then(
    () => undefined,
    (x: unknown) => (x as { code?: unknown }).code,
  );
  assert.is(err, 'E_CLI_BAD_VALUE');
});

test.run();
