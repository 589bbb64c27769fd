// The compiled pipeline on real OVS (one host): install compileAll() with ovs-ofctl, then check
// behaviour with real traffic between VM namespaces:
//  - ARP is answered by flows (the VMs resolve each other and the gateway);
//  - the gateway answers ping from flows (the kernel accepts the reply, so checksums are right);
//  - security groups: ingress ICMP only from remote-group members (conjunction), stateful replies;
//  - DVR routing between two subnets of one router;
//  - OVS holds exactly the flows we compiled (count per cookie marker).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../../test/prereq';
import { OvsSandbox } from '../../test/sandbox';
import { formatFlow } from '../openflow/format';
import { compileAll } from './compile';
import { MemoryView } from './memview';
import { ip, port, router, rule, securityGroup, subnet } from './testdata';

function world(): MemoryView {
  const v = new MemoryView({ localTunnelIp: ip('192.0.2.1'), tunnelOfport: 100 });
  v.put(subnet('s1', { cidr: '10.210.1.0/24', vni: 5001, gw: ['10.210.1.1', 'fa:16:3e:00:01:01'] }));
  v.put(subnet('s2', { cidr: '10.210.2.0/24', vni: 5002, gw: ['10.210.2.1', 'fa:16:3e:00:02:01'] }));
  // vm1 only accepts ICMP from members of "friends"; it may send anything.
  v.put(
    securityGroup('friends', [
      rule('in-icmp', { direction: 'ingress', protocol: 'icmp', remoteGroupId: 'friends' }),
      rule('out', { direction: 'egress' }),
    ]),
  );
  v.put(port('p1', { mac: '02:00:00:00:21:01', ips: [['s1', '10.210.1.11']], sgs: ['friends'] }));
  v.put(port('p2', { mac: '02:00:00:00:21:02', ips: [['s1', '10.210.1.12']] }));
  v.put(port('p3', { mac: '02:00:00:00:21:03', ips: [['s2', '10.210.2.13']], sgs: ['friends'] }));
  v.put(router('r1', 'fe:16:11:00:00:00', [{ subnetId: 's1' }, { subnetId: 's2' }]));
  v.ofports.set('p1', 11);
  v.ofports.set('p2', 12);
  v.ofports.set('p3', 13);
  return v;
}

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('compiled pipeline forwards, answers ARP and ping, enforces SGs and routes on OVS', async () => {
    const sb = await OvsSandbox.start({ name: 'pipe1' });
    try {
      const vm1 = await sb.addVm({
        name: 'vm1',
        mac: '02:00:00:00:21:01',
        ip: '10.210.1.11/24',
        ofport: 11,
        gateway: '10.210.1.1',
      });
      const vm2 = await sb.addVm({
        name: 'vm2',
        mac: '02:00:00:00:21:02',
        ip: '10.210.1.12/24',
        ofport: 12,
        gateway: '10.210.1.1',
      });
      const vm3 = await sb.addVm({
        name: 'vm3',
        mac: '02:00:00:00:21:03',
        ip: '10.210.2.13/24',
        ofport: 13,
        gateway: '10.210.2.1',
      });
      assert.is(await sb.addTunnelPort({ ofport: 100 }), 100);
      const v = world();
      const flows = compileAll(v);
      await sb.ofctl(['--bundle', 'add-flows', 'br-int', '-'], {
        input: flows.map((f) => formatFlow(f)).join('\n') + '\n',
      });
      const dump = (await sb.ofctl(['dump-flows', 'br-int', 'cookie=0xa1c0000000000000/0xffff000000000000'])).stdout;
      assert.is(
        dump.split('\n').filter((l) => l.includes('cookie=')).length,
        flows.length,
        'OVS holds exactly our flows',
      );

      const ping = async (from: typeof vm1, to: string): Promise<boolean> =>
        (await from.exec(['ping', '-c2', '-i0.2', '-W2', to])).code === 0;
      assert.ok(await ping(vm1, vm2.ip), 'vm1 -> vm2 (egress allowed, replies are established)');
      assert.not.ok(await ping(vm2, vm1.ip), 'vm2 -> vm1 blocked: vm2 is not in the remote group');
      assert.ok(await ping(vm1, '10.210.1.1'), 'gateway answers ping from flows');
      assert.ok(await ping(vm3, vm1.ip), 'vm3 -> vm1 routed across subnets; vm3 is a remote-group member');
      const neigh = (await vm2.exec(['ip', 'neigh', 'show', vm1.ip])).stdout;
      assert.match(neigh, /02:00:00:00:21:01/, 'ARP for vm1 answered');

      // vm2 joins the group: only p1's rules change, and the ping now passes.
      v.put({ ...(v.port('p2') ?? port('p2', { mac: '0:0:0:0:0:0', ips: [] })), securityGroupIds: ['friends'] });
      const again = compileAll(v);
      await sb.ofctl(['--bundle', 'replace-flows', 'br-int', '-'], {
        input: again.map((f) => formatFlow(f)).join('\n') + '\n',
      });
      assert.ok(await ping(vm2, vm1.ip), 'vm2 -> vm1 allowed once vm2 is a member');
    } finally {
      await sb.stop();
    }
  });

  test.run();
}
