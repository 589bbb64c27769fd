// `alcor-agent compile` end to end: a goal state file -> flow text -> `ovs-ofctl --bundle add-flows`
// into a sandbox bridge -> a working dataplane with no agent running (ARP answered by flows, L2 between
// two VMs, and a port the goal state does not know stays cut off).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2 } from '../../proto';
import { port, subnet, v2, vpc } from '../../core/goalstate/testkit';
import { requirePrereqs } from '../../test/prereq';
import { OvsSandbox } from '../../test/sandbox';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'alcor-agent.js');

const P1 = 'c0ffee01-aaaa-4bbb-8ccc-000000000001';
const P2 = 'c0ffee02-aaaa-4bbb-8ccc-000000000002';
/** A port whose VM is not running here: its IP is still answered by an ARP flow. */
const P3 = 'c0ffee03-aaaa-4bbb-8ccc-000000000003';

function goalState(): Uint8Array {
  return GoalStateV2.encode(
    v2([
      vpc('vpc1'),
      subnet('sn1', {
        cidr: '10.211.0.0/24',
        tunnelId: 4242,
        gateway: { ipAddress: '10.211.0.1', macAddress: 'fa:16:3e:21:10:01' },
      }),
      port(P1, {
        macAddress: '02:00:00:21:10:0b',
        fixedIps: [{ subnetId: 'sn1', ipAddress: '10.211.0.11' }],
        allowAddressPairs: [],
        securityGroupIds: [],
      }),
      port(P2, {
        macAddress: '02:00:00:21:10:0c',
        fixedIps: [{ subnetId: 'sn1', ipAddress: '10.211.0.12' }],
        allowAddressPairs: [],
        securityGroupIds: [],
      }),
      port(P3, {
        macAddress: '02:00:00:21:10:0e',
        fixedIps: [{ subnetId: 'sn1', ipAddress: '10.211.0.14' }],
        allowAddressPairs: [],
        securityGroupIds: [],
      }),
    ]),
  ).finish();
}

test('compile prints add-flows text with interface names, and --ofport numbers', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'alcor-compile-'));
  try {
    const file = path.join(dir, 'gs.bin');
    await fs.writeFile(file, goalState());
    const byName = await run('node', [BIN, 'compile', file]);
    assert.match(byName.stdout, /in_port=tapc0ffee01-aa/);
    assert.match(byName.stdout, /^cookie=0x[0-9a-f]+, table=\d+, priority=\d+/m);
    const byNumber = await run('node', [
      BIN,
      'compile',
      file,
      ...[P1, P2, P3].flatMap((id, i) => ['--ofport', `tap${id.slice(0, 11)}=${7 + i}`]),
    ]);
    assert.not.match(byNumber.stdout, /tapc0ffee0/);
    assert.match(byNumber.stdout, /in_port=7\b/);
    const bad = await run('node', [BIN, 'compile', file, '--ofport', 'nonsense']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.is((bad as { code: number }).code, 2);
    assert.match((bad as { stderr: string }).stderr, /NAME=N/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

if (requirePrereqs(['root', 'ovs', 'netns', 'arping'])) {
  test('flows from compile, loaded with ovs-ofctl --bundle, give a working dataplane without an agent', async () => {
    const sb = await OvsSandbox.start({ name: 'compile1' });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'alcor-compile-'));
    try {
      const vm1 = await sb.addVm({
        name: 'vm1',
        mac: '02:00:00:21:10:0b',
        ip: '10.211.0.11/24',
        ofport: 11,
        iface: `tap${P1.slice(0, 11)}`,
      });
      const vm2 = await sb.addVm({
        name: 'vm2',
        mac: '02:00:00:21:10:0c',
        ip: '10.211.0.12/24',
        ofport: 12,
        iface: `tap${P2.slice(0, 11)}`,
      });
      // A VM the goal state does not know: it must stay cut off.
      const stranger = await sb.addVm({ name: 'vm3', mac: '02:00:00:21:10:0d', ip: '10.211.0.13/24', ofport: 13 });
      await sb.addTunnelPort({ ofport: 100 });
      const file = path.join(dir, 'gs.bin');
      await fs.writeFile(file, goalState());
      // P3 has no interface on this bridge: give it a number so ovs-ofctl need not resolve its name.
      const { stdout } = await run('node', [
        BIN,
        'compile',
        file,
        '--tunnel-ofport',
        '100',
        '--ofport',
        `tap${P3.slice(0, 11)}=33`,
      ]);
      const flowsFile = path.join(dir, 'flows.txt');
      await fs.writeFile(flowsFile, stdout);
      await sb.ofctl(['--bundle', 'add-flows', 'br-int', flowsFile]);
      // ARP for P3's address (no such VM exists here) is answered by a flow.
      const arp = await vm1.exec(['arping', '-c1', '-w2', '-I', 'eth0', '10.211.0.14']);
      assert.is(arp.code, 0, arp.stdout + arp.stderr);
      assert.match(arp.stdout.toLowerCase(), /02:00:00:21:10:0e/);
      const ping = await vm1.exec(['ping', '-c2', '-i0.2', '-W2', vm2.ip]);
      assert.is(ping.code, 0, ping.stdout);
      const cut = await stranger.exec(['ping', '-c2', '-i0.2', '-W1', vm1.ip]);
      assert.is.not(cut.code, 0, 'a port unknown to the goal state gets nothing through');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
      await sb.stop();
    }
  });
}

test.run();
