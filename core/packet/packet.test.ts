import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatIpv4, macFromBytes, maskToPrefix, normalizeMac, parseIpv4, prefixToMask } from './addr';
import { arpReplyFor, buildArp, parseArp, ARP_OP_REPLY, ARP_OP_REQUEST } from './arp';
import { internetChecksum } from './checksum';
import { buildEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4, parseEthernet } from './ethernet';
import { buildIpv4, buildUdp, IPPROTO_UDP, parseIpv4Header, parseUdp, udpChecksumOk } from './ipv4';

const hex = (s: string): Uint8Array =>
  Uint8Array.from((s.replace(/\s+/g, '').match(/../g) ?? []).map((h) => parseInt(h, 16)));

test('addresses: MAC forms, IPv4 text, masks', () => {
  assert.is(normalizeMac('AA-BB-CC-00-11-22'), 'aa:bb:cc:00:11:22');
  assert.is(normalizeMac('aa:bb-cc:00:11:22'), null);
  assert.is(normalizeMac('aa:bb:cc:00:11'), null);
  assert.is(parseIpv4('10.0.0.256'), null);
  assert.is(parseIpv4('1.2.3'), null);
  assert.is(formatIpv4(parseIpv4('192.168.1.254') ?? 0), '192.168.1.254');
  assert.is(formatIpv4(prefixToMask(24)), '255.255.255.0');
  assert.is(formatIpv4(prefixToMask(0)), '0.0.0.0');
  assert.is(maskToPrefix(prefixToMask(17)), 17);
  assert.is(maskToPrefix(parseIpv4('255.0.255.0') ?? 0), null);
});

test('IPv4 header checksum matches a known header (RFC 1071 style example)', () => {
  const header = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
  assert.is(internetChecksum(header, 0, 20).toString(16), 'b861');
  const built = buildIpv4(
    {
      src: parseIpv4('192.168.0.1') ?? 0,
      dst: parseIpv4('192.168.0.199') ?? 0,
      protocol: IPPROTO_UDP,
      dontFragment: true,
      ttl: 64,
    },
    new Uint8Array(95),
  );
  assert.is((((built[10] ?? 0) << 8) | (built[11] ?? 0)).toString(16), 'b861');
  const p = parseIpv4Header(built, 0);
  assert.is(p.kind, 'ok');
  if (p.kind === 'ok') {
    assert.is(p.value.checksumOk, true);
    assert.is(p.value.totalLength, 115);
    assert.is(p.value.dontFragment, true);
  }
});

test('Ethernet with and without 802.1Q round-trips', () => {
  const payload = Uint8Array.of(1, 2, 3);
  const plain = buildEthernet(
    { dst: 'ff:ff:ff:ff:ff:ff', src: '02:00:00:00:00:01', etherType: ETHERTYPE_IPV4 },
    payload,
  );
  const tagged = buildEthernet(
    { dst: 'ff:ff:ff:ff:ff:ff', src: '02:00:00:00:00:01', etherType: ETHERTYPE_ARP, vlan: { vid: 100, pcp: 5 } },
    payload,
  );
  const a = parseEthernet(plain);
  const b = parseEthernet(tagged);
  assert.equal(a.kind === 'ok' ? [a.value.vlan, a.value.etherType, a.value.payloadOffset] : null, [
    null,
    ETHERTYPE_IPV4,
    14,
  ]);
  assert.equal(b.kind === 'ok' ? [b.value.vlan, b.value.etherType, b.value.payloadOffset] : null, [
    { vid: 100, pcp: 5 },
    ETHERTYPE_ARP,
    18,
  ]);
  assert.is(parseEthernet(new Uint8Array(13)).kind, 'invalid');
  assert.is(parseEthernet(tagged.subarray(0, 16)).kind, 'invalid');
  assert.throws(
    () => buildEthernet({ dst: 'nope', src: '02:00:00:00:00:01', etherType: 1 }, payload),
    (e: unknown) => (e as { code?: string }).code === 'PACKET_BUILD',
  );
});

test('UDP checksum: computed over the pseudo-header, verified, 0 accepted', () => {
  const src = parseIpv4('10.0.0.1') ?? 0;
  const dst = parseIpv4('10.0.0.2') ?? 0;
  const udp = buildUdp(67, 68, Uint8Array.of(9, 8, 7), { src, dst });
  const h = parseUdp(udp, 0, udp.length);
  assert.is(h.kind, 'ok');
  if (h.kind !== 'ok') return;
  assert.ok(h.value.checksum !== 0);
  assert.ok(udpChecksumOk(udp, h.value, 0, src, dst));
  assert.not.ok(udpChecksumOk(udp, h.value, 0, src, dst + 1));
  const noSum = buildUdp(67, 68, Uint8Array.of(9, 8, 7));
  const h0 = parseUdp(noSum, 0, noSum.length);
  assert.ok(h0.kind === 'ok' && h0.value.checksum === 0 && udpChecksumOk(noSum, h0.value, 0, src, dst));
  assert.is(parseUdp(udp, 0, 5).kind, 'invalid');
  const lying = Uint8Array.from(udp);
  lying[5] = 200; // length beyond the datagram
  assert.is(parseUdp(lying, 0, lying.length).kind, 'invalid');
});

test('IPv4 parse rejects truncation and inconsistent lengths', () => {
  const pkt = buildIpv4({ src: 1, dst: 2, protocol: 17 }, new Uint8Array(10));
  for (let n = 0; n < pkt.length; n++) assert.is(parseIpv4Header(pkt.subarray(0, n), 0).kind, 'invalid', `len ${n}`);
  const v6 = Uint8Array.from(pkt);
  v6[0] = 0x65;
  assert.is(parseIpv4Header(v6, 0).kind, 'invalid');
  const shortIhl = Uint8Array.from(pkt);
  shortIhl[0] = 0x44;
  assert.is(parseIpv4Header(shortIhl, 0).kind, 'invalid');
  // trailing Ethernet padding is fine: totalLength bounds the packet
  const padded = new Uint8Array(pkt.length + 16);
  padded.set(pkt);
  const p = parseIpv4Header(padded, 0);
  assert.ok(p.kind === 'ok' && p.value.payloadLength === 10);
});

test('ARP request -> reply round-trip', () => {
  const req = {
    op: ARP_OP_REQUEST,
    senderMac: '02:00:00:00:00:01',
    senderIp: parseIpv4('10.0.0.1') ?? 0,
    targetMac: '00:00:00:00:00:00',
    targetIp: parseIpv4('10.0.0.254') ?? 0,
  };
  const parsed = parseArp(buildArp(req), 0);
  assert.equal(parsed, { kind: 'ok', value: req });
  const rep = arpReplyFor(req, 'fe:16:11:00:00:01');
  assert.equal(rep, {
    op: ARP_OP_REPLY,
    senderMac: 'fe:16:11:00:00:01',
    senderIp: req.targetIp,
    targetMac: req.senderMac,
    targetIp: req.senderIp,
  });
  assert.is(parseArp(new Uint8Array(27), 0).kind, 'invalid');
  const bad = buildArp(req);
  bad[5] = 16;
  assert.is(parseArp(bad, 0).kind, 'invalid');
  assert.is(macFromBytes(buildArp(req), 8), '02:00:00:00:00:01');
});

test.run();
