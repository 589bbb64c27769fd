// Issue 13, "validation gaps": values that are syntactically fine but that no network can use are
// refused with INVALID_ARG and a reason naming the field (addr.ts documents each decision).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationStatus } from '../../proto';
import { fromGoalStateV2 } from './normalize';
import { ResourceStore } from './store';
import type { ApplyPlan } from './store';
import { dhcp, gateway, neighbor, port, router, subnet, v2, vpc } from './testkit';
import type { Entry } from './testkit';

function plan(entries: Entry[], store = new ResourceStore()): ApplyPlan {
  return store.plan(fromGoalStateV2(v2(entries)));
}

/** The status and reason of resource `id` when `entries` are planned on an empty store. */
function outcome(id: string, entries: Entry[]): { status: string; reason: string } {
  const s = plan(entries).statuses.find((x) => x.resourceId === id);
  assert.ok(s, `a status for ${id}`);
  return { status: OperationStatus[s.status] ?? String(s.status), reason: s.reason };
}

function refused(id: string, entries: Entry[], reasonPart: string): void {
  const o = outcome(id, entries);
  assert.is(o.status, 'INVALID_ARG', `${id}: ${o.reason}`);
  assert.match(o.reason, reasonPart);
}

function accepted(id: string, entries: Entry[]): void {
  const o = outcome(id, entries);
  assert.is(o.status, 'SUCCESS', `${id}: ${o.reason}`);
}

const NO_GATEWAY = { gateway: { ipAddress: '', macAddress: '' } };

test('issue 13: broadcast, multicast and all-zero neighbor MACs are refused (the broadcast MAC used to become a tunnel flow to 0.0.0.0)', () => {
  const sn = subnet('sn1');
  refused(
    'n1',
    [sn, neighbor('n1', { macAddress: 'ff:ff:ff:ff:ff:ff' })],
    'mac_address ff:ff:ff:ff:ff:ff is the broadcast MAC',
  );
  refused(
    'n1',
    [sn, neighbor('n1', { macAddress: '01:00:5e:00:00:01' })],
    'mac_address 01:00:5e:00:00:01 is a multicast',
  );
  refused('n1', [sn, neighbor('n1', { macAddress: '33:33:00:00:00:01' })], 'multicast (group) MAC');
  refused(
    'n1',
    [sn, neighbor('n1', { macAddress: '00:00:00:00:00:00' })],
    'mac_address 00:00:00:00:00:00 is not a usable MAC',
  );
  refused('n1', [sn, neighbor('n1', { hostMacAddress: 'ff:ff:ff:ff:ff:ff' })], 'host_mac_address');
  accepted('n1', [sn, neighbor('n1', { macAddress: 'fa:16:3e:12:34:56' })]);
  accepted('n1', [sn, neighbor('n1', { macAddress: '02:00:00:00:00:01' })]);
});

test('issue 13: every endpoint MAC is unicast (port, gateway, dhcp, router DVR, subnet gateway, address pairs)', () => {
  const sn = subnet('sn1');
  refused('p1', [sn, port('p1', { macAddress: 'ff:ff:ff:ff:ff:ff' })], 'mac_address ff:ff:ff:ff:ff:ff');
  refused('p1', [sn, port('p1', { macAddress: '00:00:00:00:00:00' })], 'mac_address 00:00:00:00:00:00');
  refused(
    'p1',
    [sn, port('p1', { allowAddressPairs: [{ ipAddress: '10.0.1.100', macAddress: '01:00:00:00:00:01' }] })],
    'allow_address_pairs[0].mac_address',
  );
  refused('d1', [sn, dhcp('d1', { macAddress: '01:02:03:04:05:06' })], 'mac_address 01:02:03:04:05:06');
  refused('r1', [sn, router('r1', { hostDvrMacAddress: 'ff:ff:ff:ff:ff:ff' })], 'host_dvr_mac_address');
  refused(
    'sn1',
    [subnet('sn1', { gateway: { ipAddress: '10.0.1.1', macAddress: 'ff:ff:ff:ff:ff:ff' } })],
    'gateway.mac_address',
  );
  refused(
    'g1',
    [gateway('g1', { destinations: [{ ipAddress: '192.0.2.9', macAddress: '00:00:00:00:00:00' }] })],
    'destinations[0].mac_address',
  );
});

test('issue 13: host IPs 0.0.0.0 and 255.255.255.255 (and loopback, multicast, reserved) are refused', () => {
  const sn = subnet('sn1');
  refused(
    'n1',
    [sn, neighbor('n1', { hostIpAddress: '0.0.0.0' })],
    'host_ip_address 0.0.0.0 is the unspecified address',
  );
  refused(
    'n1',
    [sn, neighbor('n1', { hostIpAddress: '255.255.255.255' })],
    'host_ip_address 255.255.255.255 is the broadcast address',
  );
  refused('n1', [sn, neighbor('n1', { hostIpAddress: '0.1.2.3' })], "0.0.0.0/8 ('this network')");
  refused('n1', [sn, neighbor('n1', { hostIpAddress: '127.0.0.1' })], 'loopback');
  refused('n1', [sn, neighbor('n1', { hostIpAddress: '239.1.1.1' })], 'multicast address');
  refused('n1', [sn, neighbor('n1', { hostIpAddress: '240.0.0.1' })], 'reserved range');
  refused(
    'p1',
    [sn, port('p1', { hostInfo: { ipAddress: '255.255.255.255', macAddress: '' } })],
    'host_info.ip_address',
  );
  refused(
    'g1',
    [gateway('g1', { destinations: [{ ipAddress: '0.0.0.0', macAddress: '02:00:00:00:00:09' }] })],
    'destinations[0].ip_address 0.0.0.0',
  );
  // Ranges real clouds and test beds use stay allowed.
  for (const ip of ['10.1.2.3', '172.17.111.222', '192.0.2.1', '100.64.0.1', '169.254.1.1', '123.0.0.1']) {
    accepted('n1', [sn, neighbor('n1', { hostIpAddress: ip })]);
  }
});

test("issue 13: a subnet's network and broadcast addresses are refused as fixed IPs (ports, neighbors, dhcp)", () => {
  const sn = subnet('sn1'); // 10.0.1.0/24
  const nbr = (ip: string): Entry =>
    neighbor('n1', { fixedIps: [{ neighborType: 0, subnetId: 'sn1', ipAddress: ip, tunnelId: 0 }] });
  refused('n1', [sn, nbr('10.0.1.0')], 'fixed_ips[0].ip_address 10.0.1.0 is the network address of 10.0.1.0/24');
  refused('n1', [sn, nbr('10.0.1.255')], 'fixed_ips[0].ip_address 10.0.1.255 is the broadcast address of 10.0.1.0/24');
  refused('n1', [sn, nbr('10.0.2.7')], 'outside subnet');
  accepted('n1', [sn, nbr('10.0.1.254')]);
  refused('p1', [sn, port('p1', { fixedIps: [{ subnetId: 'sn1', ipAddress: '10.0.1.255' }] })], 'broadcast address');
  refused('d1', [sn, dhcp('d1', { ipv4Address: '10.0.1.0' })], 'ipv4_address 10.0.1.0 is the network address');
  // The subnet's own gateway address too.
  refused(
    'sn1',
    [subnet('sn1', { gateway: { ipAddress: '10.0.1.255', macAddress: 'fa:16:3e:00:01:01' } })],
    'gateway.ip_address 10.0.1.255 is the broadcast address',
  );
});

test('issue 13: /31 and /32 subnets: every address is a host (RFC 3021), nothing outside is', () => {
  const p31 = subnet('sn1', { cidr: '10.0.1.8/31', ...NO_GATEWAY });
  const nbr = (ip: string): Entry =>
    neighbor('n1', { fixedIps: [{ neighborType: 0, subnetId: 'sn1', ipAddress: ip, tunnelId: 0 }] });
  accepted('n1', [p31, nbr('10.0.1.8')]);
  accepted('n1', [p31, nbr('10.0.1.9')]);
  refused('n1', [p31, nbr('10.0.1.10')], 'outside subnet');
  const p32 = subnet('sn1', { cidr: '10.0.1.8/32', ...NO_GATEWAY });
  accepted('n1', [p32, nbr('10.0.1.8')]);
  refused('n1', [p32, nbr('10.0.1.9')], 'outside subnet');
  // A /30 has two hosts: .9 and .10 of 10.0.1.8/30.
  const p30 = subnet('sn1', { cidr: '10.0.1.8/30', ...NO_GATEWAY });
  accepted('n1', [p30, nbr('10.0.1.9')]);
  accepted('n1', [p30, nbr('10.0.1.10')]);
  refused('n1', [p30, nbr('10.0.1.8')], 'network address');
  refused('n1', [p30, nbr('10.0.1.11')], 'broadcast address');
});

test('issue 13: subnet CIDRs with host bits set or a /0 are refused; prefixes /8 to /32 are allowed', () => {
  refused(
    'sn1',
    [subnet('sn1', { cidr: '10.0.1.77/24' })],
    "cidr '10.0.1.77/24' has host bits set (the network is 10.0.1.0/24",
  );
  refused('sn1', [subnet('sn1', { cidr: '0.0.0.0/0', ...NO_GATEWAY })], "cidr '0.0.0.0/0' has prefix /0");
  refused('sn1', [subnet('sn1', { cidr: '10.0.0.0/7', ...NO_GATEWAY })], "a network's prefix is /8 to /32");
  refused('sn1', [subnet('sn1', { cidr: '127.0.0.0/8', ...NO_GATEWAY })], 'not a usable network');
  refused('sn1', [subnet('sn1', { cidr: '224.0.0.0/24', ...NO_GATEWAY })], 'not a usable network');
  refused('vpc1', [vpc('vpc1', { cidr: '10.0.0.1/16' })], 'has host bits set');
  refused('vpc1', [vpc('vpc1', { cidr: '0.0.0.0/0' })], 'has prefix /0');
  accepted('sn1', [subnet('sn1', { cidr: '10.0.0.0/8' })]);
  accepted('sn1', [subnet('sn1', { cidr: '10.0.1.8/32', ...NO_GATEWAY })]);
  accepted('vpc1', [vpc('vpc1', { cidr: '10.0.0.0/16' })]);
});

test('issue 13: a refused value changes nothing already held', () => {
  const store = new ResourceStore();
  const first = plan([subnet('sn1'), neighbor('n1')], store);
  store.commit(first);
  const bad = plan([neighbor('n1', { macAddress: 'ff:ff:ff:ff:ff:ff' })], store);
  assert.is(bad.statuses[0]?.status, OperationStatus.INVALID_ARG);
  assert.is(bad.changes.length, 0);
});

test.run();
