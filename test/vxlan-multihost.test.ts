// Two sandboxes play two hypervisors joined by an underlay (192.0.2.0/24, TEST-NET-1, only inside our
// namespaces). One flow-based VXLAN port each; flows set tun_id/tun_dst towards the other host and deliver
// tunnelled traffic by dl_dst. Proves userspace (netdev) VXLAN works: ping and TCP between the VMs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from './prereq';
import { OvsSandbox, tcpSend } from './sandbox';
import { run } from './sandbox/exec';

const VNI = 0x64;
const TUNNEL_OFPORT = 100;
const VM_OFPORT = 1;

/** Flows for one host: VM -> tunnel to the other host; tunnel -> VM by destination MAC (and broadcast for ARP). */
function hostFlows(localMac: string, remoteTunnelIp: string): string {
  return [
    `table=0,priority=100,in_port=${VM_OFPORT},actions=set_field:${VNI}->tun_id,set_field:${remoteTunnelIp}->tun_dst,output:${TUNNEL_OFPORT}`,
    `table=0,priority=100,in_port=${TUNNEL_OFPORT},tun_id=${VNI},dl_dst=${localMac},actions=output:${VM_OFPORT}`,
    `table=0,priority=100,in_port=${TUNNEL_OFPORT},tun_id=${VNI},dl_dst=ff:ff:ff:ff:ff:ff,actions=output:${VM_OFPORT}`,
    '',
  ].join('\n');
}

if (requirePrereqs(['root', 'ovs', 'netns', 'busybox'])) {
  test('VXLAN between two sandboxes over the userspace datapath: ping and TCP', async () => {
    const sandboxes: OvsSandbox[] = [];
    try {
      const hostA = await OvsSandbox.start({ name: 'vxa', underlay: { ip: '192.0.2.1/24' } });
      sandboxes.push(hostA);
      const hostB = await OvsSandbox.start({ name: 'vxb', underlay: { ip: '192.0.2.2/24', peer: 'vxa' } });
      sandboxes.push(hostB);
      assert.is(hostA.tunnelIp, '192.0.2.1');
      assert.is(hostB.tunnelIp, '192.0.2.2');

      // 1450 leaves room for the 50-byte VXLAN overhead on the 1500-byte underlay.
      const vmA = await hostA.addVm({
        name: 'vm1',
        mac: '02:00:00:00:0a:01',
        ip: '10.201.0.1/24',
        ofport: VM_OFPORT,
        mtu: 1450,
      });
      const vmB = await hostB.addVm({
        name: 'vm2',
        mac: '02:00:00:00:0b:02',
        ip: '10.201.0.2/24',
        ofport: VM_OFPORT,
        mtu: 1450,
      });
      assert.is(await hostA.addTunnelPort(), TUNNEL_OFPORT);
      assert.is(await hostB.addTunnelPort({ ofport: TUNNEL_OFPORT }), TUNNEL_OFPORT);

      // The userspace tunnel code must know a route to the other endpoint via br-phy.
      const route = (await hostA.appctl(['ovs/route/lookup', '192.0.2.2'])).stdout;
      assert.match(route, /br-phy/);

      await hostA.ofctl(['add-flows', 'br-int', '-'], { input: hostFlows(vmA.mac, '192.0.2.2') });
      await hostB.ofctl(['add-flows', 'br-int', '-'], { input: hostFlows(vmB.mac, '192.0.2.1') });

      const ping = await vmA.exec(['ping', '-c3', '-i0.2', '-W2', vmB.ip]);
      assert.is(ping.code, 0, ping.stdout + ping.stderr);
      assert.is(await tcpSend(vmB, vmA, 5002, 'hello-over-vxlan'), 'hello-over-vxlan\n');

      // The packets really went through the tunnel port.
      const stats = (await hostB.ofctl(['dump-ports', 'br-int', String(TUNNEL_OFPORT)])).stdout;
      assert.match(stats, /rx pkts=[1-9]/);

      // Nothing leaked into the root namespace.
      const rootLinks = await run('ip', ['-o', 'link']);
      assert.not.match(rootLinks.stdout, /\bul-vx[ab]\b/);
    } finally {
      for (const sb of sandboxes.reverse()) await sb.stop();
    }
  });

  test.run();
}
