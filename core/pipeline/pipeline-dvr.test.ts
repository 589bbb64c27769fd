// The compiled pipeline across two hosts (two sandboxes joined by an underlay, one flow-based VXLAN
// port each): L2 between hosts over the tunnel (ARP answered by flows for the remote VM), and DVR
// routing between two subnets of one router where source and destination VMs are on different
// hosts (DVR MAC on the wire, gateway MAC restored by the receiver).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../../test/prereq';
import { OvsSandbox } from '../../test/sandbox';
import { formatFlow } from '../openflow/format';
import { compileAll } from './compile';
import { MemoryView } from './memview';
import { ip, neighbor, port, router, subnet } from './testdata';

const HOST_A = '192.0.2.1';
const HOST_B = '192.0.2.2';
const VM1 = { mac: '02:00:00:00:31:01', ip: '10.211.1.11' };
const VM2 = { mac: '02:00:00:00:31:02', ip: '10.211.1.12' };
const VM3 = { mac: '02:00:00:00:31:03', ip: '10.211.2.13' };

function hostView(localIp: string): MemoryView {
  const v = new MemoryView({ localTunnelIp: ip(localIp), tunnelOfport: 100 });
  v.put(subnet('s1', { cidr: '10.211.1.0/24', vni: 6001, gw: ['10.211.1.1', 'fa:16:3e:00:11:01'] }));
  v.put(subnet('s2', { cidr: '10.211.2.0/24', vni: 6002, gw: ['10.211.2.1', 'fa:16:3e:00:12:01'] }));
  v.put(router('r1', 'fe:16:11:00:00:00', [{ subnetId: 's1' }, { subnetId: 's2' }]));
  return v;
}

function viewA(): MemoryView {
  const v = hostView(HOST_A);
  v.put(port('p1', { mac: VM1.mac, ips: [['s1', VM1.ip]] }));
  v.ofports.set('p1', 1);
  v.put(neighbor('p2', { mac: VM2.mac, host: HOST_B, ips: [{ subnetId: 's1', ip: VM2.ip }] }));
  v.put(neighbor('p3', { mac: VM3.mac, host: HOST_B, ips: [{ subnetId: 's2', ip: VM3.ip, type: 'l3' }] }));
  return v;
}

function viewB(): MemoryView {
  const v = hostView(HOST_B);
  v.put(port('p2', { mac: VM2.mac, ips: [['s1', VM2.ip]] }));
  v.put(port('p3', { mac: VM3.mac, ips: [['s2', VM3.ip]] }));
  v.ofports.set('p2', 2);
  v.ofports.set('p3', 3);
  v.put(neighbor('p1', { mac: VM1.mac, host: HOST_A, ips: [{ subnetId: 's1', ip: VM1.ip, type: 'l3' }] }));
  return v;
}

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('two hosts: L2 over VXLAN and DVR routing between subnets across hosts', async () => {
    const sandboxes: OvsSandbox[] = [];
    try {
      const a = await OvsSandbox.start({ name: 'pipdvra', underlay: { ip: `${HOST_A}/24` } });
      sandboxes.push(a);
      const b = await OvsSandbox.start({ name: 'pipdvrb', underlay: { ip: `${HOST_B}/24`, peer: 'pipdvra' } });
      sandboxes.push(b);
      const vm1 = await a.addVm({
        name: 'vm1',
        mac: VM1.mac,
        ip: `${VM1.ip}/24`,
        ofport: 1,
        gateway: '10.211.1.1',
        mtu: 1450,
      });
      await b.addVm({ name: 'vm2', mac: VM2.mac, ip: `${VM2.ip}/24`, ofport: 2, gateway: '10.211.1.1', mtu: 1450 });
      const vm3 = await b.addVm({
        name: 'vm3',
        mac: VM3.mac,
        ip: `${VM3.ip}/24`,
        ofport: 3,
        gateway: '10.211.2.1',
        mtu: 1450,
      });
      await a.addTunnelPort({ ofport: 100 });
      await b.addTunnelPort({ ofport: 100 });
      const install = async (sb: OvsSandbox, v: MemoryView): Promise<void> => {
        await sb.ofctl(['--bundle', 'add-flows', 'br-int', '-'], {
          input:
            compileAll(v)
              .map((f) => formatFlow(f))
              .join('\n') + '\n',
        });
      };
      await install(a, viewA());
      await install(b, viewB());

      const l2 = await vm1.exec(['ping', '-c2', '-i0.2', '-W2', VM2.ip]);
      assert.is(l2.code, 0, 'vm1 -> vm2 over the tunnel: ' + l2.stdout + l2.stderr);
      const routed = await vm1.exec(['ping', '-c2', '-i0.2', '-W2', VM3.ip]);
      assert.is(routed.code, 0, 'vm1 -> vm3 routed across hosts: ' + routed.stdout + routed.stderr);
      const back = await vm3.exec(['ping', '-c2', '-i0.2', '-W2', VM1.ip]);
      assert.is(back.code, 0, 'vm3 -> vm1 routed back: ' + back.stdout + back.stderr);

      // The DVR restore flow on B matched: routed packets arrived with the DVR MAC.
      const dvr = (await b.ofctl(['dump-flows', 'br-int', 'table=0,dl_src=fe:16:11:00:00:00'])).stdout;
      assert.match(dvr, /n_packets=[1-9]/, dvr);
    } finally {
      for (const sb of sandboxes.reverse()) await sb.stop();
    }
  });

  test.run();
}
