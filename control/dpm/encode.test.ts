import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EtherType, Protocol, SecurityGroupState } from '../../proto';
import { fromGoalStateV2 } from '../../core/goalstate/normalize';
import { SecurityGroupRecord } from '../resources/model';
import { encodeSecurityGroup, securityGroupContent, wireRules } from './encode';

const neutronDefault: SecurityGroupRecord = {
  id: 'default',
  revision: 1,
  rules: [
    { direction: 'ingress', ethertype: 'IPv4', remoteGroup: 'default' },
    { direction: 'ingress', ethertype: 'IPv6', remoteGroup: 'default' },
    { direction: 'egress', ethertype: 'IPv4' },
    { direction: 'egress', ethertype: 'IPv6' },
  ],
};

test('remote-group rules become one /32 per member; no protocol means tcp, udp and icmp', () => {
  const rules = wireRules(neutronDefault, () => ['10.0.0.2', '10.0.0.3']);
  const v4in = rules.filter((r) => r.ethertype === EtherType.IPV4 && r.direction === 1);
  assert.is(v4in.length, 6);
  assert.equal([...new Set(v4in.map((r) => r.remoteIpPrefix))], ['10.0.0.2/32', '10.0.0.3/32']);
  assert.equal([...new Set(v4in.map((r) => r.protocol))], [Protocol.TCP, Protocol.UDP, Protocol.ICMP]);
  const tcp = v4in.find((r) => r.protocol === Protocol.TCP);
  assert.is(tcp?.portRangeMax, 65535);
  // A group without members matches nothing.
  assert.is(
    wireRules(neutronDefault, () => []).filter((r) => r.ethertype === EtherType.IPV4 && r.direction === 1).length,
    0,
  );
});

test("Neutron's default group is accepted by the agent's validation; IPv6 rules are reported, not programmed", () => {
  const state = encodeSecurityGroup(
    neutronDefault,
    wireRules(neutronDefault, () => ['10.0.0.2']),
    5,
  );
  const model = fromGoalStateV2({
    formatVersion: 102,
    hostResources: {},
    vpcStates: {},
    subnetStates: {},
    portStates: {},
    dhcpStates: {},
    neighborStates: {},
    securityGroupStates: { default: SecurityGroupState.decode(state) },
    routerStates: {},
    gatewayStates: {},
  });
  const op = model.ops[0];
  assert.is(op?.error, undefined);
  const sg = op?.resource;
  assert.ok(sg !== undefined && sg.kind === 'securityGroup');
  if (sg?.kind !== 'securityGroup') return;
  assert.is(sg.rules.length, 6); // 3 ingress from the member, 3 egress anywhere
  assert.is(sg.notProgrammed?.length, 6); // the IPv6 rules, per protocol
});

test('same content keeps its bytes apart from the revision', () => {
  const rules = wireRules(neutronDefault, () => ['10.0.0.2']);
  const a = securityGroupContent(encodeSecurityGroup(neutronDefault, rules, 5));
  const b = securityGroupContent(encodeSecurityGroup(neutronDefault, rules, 9));
  assert.is(a.revision, 5);
  assert.ok(a.content.equals(b.content));
});

test.run();
