// DHCP server core with hand-built client frames: every message type, the RFC 2131 §4.1 addressing rules,
// options, and malformed input (truncated at every length, random bytes, lying lengths).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatIpv4, macToBytes, parseIpv4, readU32 } from '../packet/addr';
import { internetChecksum } from '../packet/checksum';
import { buildEthernet, ETHERTYPE_IPV4, parseEthernet } from '../packet/ethernet';
import { buildIpv4, buildUdp, IPPROTO_UDP, parseIpv4Header, parseUdp, udpChecksumOk } from '../packet/ipv4';
import {
  BOOTREQUEST,
  DhcpMessageType,
  encodeDhcp,
  encodeNamedOption,
  FLAG_BROADCAST,
  findOption,
  ipsText,
  messageTypeOf,
  OPT,
  parseDhcp,
  u32,
  u8,
  type DhcpMessage,
  type DhcpOption,
} from '../packet/dhcp';
import { handleDhcp, replyFrameOf, type DhcpLease, type DhcpOutcome } from './server';

const CLIENT_MAC = '02:00:00:00:00:01';
const SERVER_MAC = 'fe:16:11:00:00:01';
const ip = (s: string): number => parseIpv4(s) ?? 0;

const LEASE: DhcpLease = {
  ip: '10.0.0.5',
  prefixLength: 24,
  router: '10.0.0.1',
  dns: ['8.8.8.8', '1.1.1.1'],
  leaseSeconds: 86400,
  mtu: 1450,
  hostname: 'vm-5',
  domain: 'example.internal',
  extraOptions: [
    { name: 'ntp-server', value: '10.0.0.2' },
    { name: '42', value: '10.0.0.3,10.0.0.4' }, // overrides the ntp-server above (same code)
    { name: 'option:domain-search', value: 'a.example,b.example' },
    { name: 'no-such-option', value: 'x' },
  ],
  serverIp: '10.0.0.1',
  serverMac: SERVER_MAC,
};

const lookup = (mac: string): DhcpLease | undefined => (mac === CLIENT_MAC ? LEASE : undefined);

interface ClientSpec {
  readonly type: number;
  readonly xid?: number;
  readonly flags?: number;
  readonly ciaddr?: string;
  readonly giaddr?: string;
  readonly requested?: string;
  readonly serverId?: string;
  readonly mac?: string;
  readonly extra?: readonly DhcpOption[];
  readonly vlan?: number;
  readonly srcIp?: string;
  readonly dstIp?: string;
}

function clientFrame(c: ClientSpec): Uint8Array {
  const mac = c.mac ?? CLIENT_MAC;
  const options: DhcpOption[] = [{ code: OPT.MESSAGE_TYPE, data: u8(c.type) }];
  if (c.requested !== undefined) options.push({ code: OPT.REQUESTED_IP, data: u32(ip(c.requested)) });
  if (c.serverId !== undefined) options.push({ code: OPT.SERVER_ID, data: u32(ip(c.serverId)) });
  options.push({ code: OPT.PARAMETER_LIST, data: Uint8Array.of(1, 3, 6, 12, 15, 26, 28, 42, 119) });
  options.push(...(c.extra ?? []));
  const dhcp = encodeDhcp({
    op: BOOTREQUEST,
    xid: c.xid ?? 0x12345678,
    flags: c.flags ?? 0,
    ciaddr: c.ciaddr === undefined ? 0 : ip(c.ciaddr),
    giaddr: c.giaddr === undefined ? 0 : ip(c.giaddr),
    chaddr: macToBytes(mac) ?? new Uint8Array(6),
    options,
  });
  const src = ip(c.srcIp ?? c.ciaddr ?? '0.0.0.0');
  const dst = ip(c.dstIp ?? '255.255.255.255');
  const udp = buildUdp(68, 67, dhcp, { src, dst });
  const pkt = buildIpv4({ src, dst, protocol: IPPROTO_UDP, ttl: 64 }, udp);
  return buildEthernet(
    {
      dst: 'ff:ff:ff:ff:ff:ff',
      src: mac,
      etherType: ETHERTYPE_IPV4,
      vlan: c.vlan === undefined ? null : { vid: c.vlan },
    },
    pkt,
  );
}

interface DecodedReply {
  readonly ethDst: string;
  readonly ethSrc: string;
  readonly vlan: number | null;
  readonly ipSrc: string;
  readonly ipDst: string;
  readonly udpSrc: number;
  readonly udpDst: number;
  readonly msg: DhcpMessage;
}

/** Decodes a reply frame the way a client would, checking both checksums. */
function decodeReply(outcome: DhcpOutcome): DecodedReply {
  const frame = replyFrameOf(outcome);
  if (frame === null) throw new Error(`expected a reply, got ${JSON.stringify(outcome)}`);
  const eth = parseEthernet(frame);
  if (eth.kind !== 'ok') throw new Error(eth.reason);
  const iph = parseIpv4Header(frame, eth.value.payloadOffset);
  if (iph.kind !== 'ok') throw new Error(iph.reason);
  assert.ok(iph.value.checksumOk, 'IPv4 header checksum');
  const udp = parseUdp(frame, iph.value.payloadOffset, iph.value.payloadLength);
  if (udp.kind !== 'ok') throw new Error(udp.reason);
  assert.ok(udpChecksumOk(frame, udp.value, iph.value.payloadOffset, iph.value.src, iph.value.dst), 'UDP checksum');
  const msg = parseDhcp(frame, udp.value.payloadOffset, udp.value.payloadLength);
  if (msg.kind !== 'ok') throw new Error(msg.reason);
  assert.ok(udp.value.payloadLength >= 300, 'BOOTP minimum size');
  return {
    ethDst: eth.value.dst,
    ethSrc: eth.value.src,
    vlan: eth.value.vlan?.vid ?? null,
    ipSrc: formatIpv4(iph.value.src),
    ipDst: formatIpv4(iph.value.dst),
    udpSrc: udp.value.srcPort,
    udpDst: udp.value.dstPort,
    msg: msg.value,
  };
}

function refreshIpChecksum(frame: Uint8Array): void {
  frame[14 + 10] = 0;
  frame[14 + 11] = 0;
  const sum = internetChecksum(frame, 14, 34);
  frame[14 + 10] = sum >>> 8;
  frame[14 + 11] = sum & 0xff;
}

const optIp = (m: DhcpMessage, code: number): string | null => {
  const d = findOption(m, code);
  return d === undefined ? null : ipsText(d);
};
const optU32 = (m: DhcpMessage, code: number): number | null => {
  const d = findOption(m, code);
  return d === undefined || d.length !== 4 ? null : readU32(d, 0);
};
const optText = (m: DhcpMessage, code: number): string | null => {
  const d = findOption(m, code);
  return d === undefined ? null : new TextDecoder().decode(d);
};

test('DISCOVER -> OFFER with address, all options, server id = gateway, Ethernet src = serverMac', () => {
  const out = handleDhcp(clientFrame({ type: DhcpMessageType.DISCOVER }), lookup);
  assert.is(out.kind, 'reply');
  if (out.kind !== 'reply') return;
  assert.is(out.replyType, 'OFFER');
  assert.equal(out.warnings, ["unknown DHCP option name 'no-such-option'"]);
  const r = decodeReply(out);
  assert.is(r.ethSrc, SERVER_MAC);
  assert.is(r.ipSrc, '10.0.0.1');
  assert.equal([r.udpSrc, r.udpDst], [67, 68]);
  // no BROADCAST flag, no ciaddr -> unicast to yiaddr / chaddr (RFC 2131 §4.1)
  assert.equal([r.ethDst, r.ipDst], [CLIENT_MAC, '10.0.0.5']);
  const m = r.msg;
  assert.is(m.op, 2);
  assert.is(m.xid, 0x12345678);
  assert.is(formatIpv4(m.yiaddr), '10.0.0.5');
  assert.is(m.chaddr, CLIENT_MAC);
  assert.is(messageTypeOf(m), DhcpMessageType.OFFER);
  assert.is(optIp(m, OPT.SERVER_ID), '10.0.0.1');
  assert.is(optIp(m, OPT.SUBNET_MASK), '255.255.255.0');
  assert.is(optIp(m, OPT.ROUTER), '10.0.0.1');
  assert.is(optIp(m, OPT.DNS), '8.8.8.8,1.1.1.1');
  assert.is(optIp(m, OPT.BROADCAST), '10.0.0.255');
  assert.is(optU32(m, OPT.LEASE_TIME), 86400);
  assert.is(optU32(m, OPT.RENEWAL_T1), 43200);
  assert.is(optU32(m, OPT.REBINDING_T2), 75600);
  assert.is(optText(m, OPT.HOSTNAME), 'vm-5');
  assert.is(optText(m, OPT.DOMAIN_NAME), 'example.internal');
  assert.equal([...(findOption(m, OPT.INTERFACE_MTU) ?? [])], [0x05, 0xaa]); // 1450
  assert.is(optIp(m, 42), '10.0.0.3,10.0.0.4');
  assert.equal(
    [...(findOption(m, 119) ?? [])],
    [1, 97, 7, ...Buffer.from('example'), 0, 1, 98, 7, ...Buffer.from('example'), 0],
  );
});

test('BROADCAST flag -> reply to 255.255.255.255 / ff:ff:ff:ff:ff:ff', () => {
  const r = decodeReply(handleDhcp(clientFrame({ type: DhcpMessageType.DISCOVER, flags: FLAG_BROADCAST }), lookup));
  assert.equal([r.ethDst, r.ipDst], ['ff:ff:ff:ff:ff:ff', '255.255.255.255']);
  assert.is(r.msg.flags & FLAG_BROADCAST, FLAG_BROADCAST);
});

test('REQUEST (SELECTING, our server id, right IP) -> ACK', () => {
  const out = handleDhcp(
    clientFrame({ type: DhcpMessageType.REQUEST, requested: '10.0.0.5', serverId: '10.0.0.1' }),
    lookup,
  );
  const r = decodeReply(out);
  assert.is(messageTypeOf(r.msg), DhcpMessageType.ACK);
  assert.is(formatIpv4(r.msg.yiaddr), '10.0.0.5');
  assert.is(optU32(r.msg, OPT.LEASE_TIME), 86400);
});

test('REQUEST selecting ANOTHER server -> silence; ACA-style 127.0.0.1 server id is not ours either', () => {
  const other = handleDhcp(
    clientFrame({ type: DhcpMessageType.REQUEST, requested: '10.0.0.5', serverId: '10.0.0.99' }),
    lookup,
  );
  assert.is(other.kind, 'ignored');
  if (other.kind === 'ignored') assert.match(other.reason, /not us/);
  assert.is(
    handleDhcp(clientFrame({ type: DhcpMessageType.REQUEST, requested: '10.0.0.5', serverId: '127.0.0.1' }), lookup)
      .kind,
    'ignored',
  );
});

test('REQUEST with a wrong IP -> NAK, broadcast, no address or lease options', () => {
  const out = handleDhcp(
    clientFrame({ type: DhcpMessageType.REQUEST, requested: '10.0.0.6', serverId: '10.0.0.1' }),
    lookup,
  );
  const r = decodeReply(out);
  assert.is(messageTypeOf(r.msg), DhcpMessageType.NAK);
  assert.is(r.msg.yiaddr, 0);
  assert.equal([r.ethDst, r.ipDst], ['ff:ff:ff:ff:ff:ff', '255.255.255.255']);
  assert.is(findOption(r.msg, OPT.LEASE_TIME), undefined);
  assert.is(optIp(r.msg, OPT.SERVER_ID), '10.0.0.1');
  assert.match(optText(r.msg, OPT.MESSAGE) ?? '', /10\.0\.0\.6/);
});

test('INIT-REBOOT (option 50, no server id): right IP -> ACK, wrong -> NAK', () => {
  assert.is(
    messageTypeOf(
      decodeReply(handleDhcp(clientFrame({ type: DhcpMessageType.REQUEST, requested: '10.0.0.5' }), lookup)).msg,
    ),
    DhcpMessageType.ACK,
  );
  assert.is(
    messageTypeOf(
      decodeReply(handleDhcp(clientFrame({ type: DhcpMessageType.REQUEST, requested: '192.168.9.9' }), lookup)).msg,
    ),
    DhcpMessageType.NAK,
  );
});

test('RENEWING (ciaddr, unicast): ACK unicast to ciaddr with ciaddr echoed; wrong ciaddr -> NAK', () => {
  const out = handleDhcp(clientFrame({ type: DhcpMessageType.REQUEST, ciaddr: '10.0.0.5', dstIp: '10.0.0.1' }), lookup);
  const r = decodeReply(out);
  assert.is(messageTypeOf(r.msg), DhcpMessageType.ACK);
  assert.equal([r.ethDst, r.ipDst], [CLIENT_MAC, '10.0.0.5']);
  assert.is(formatIpv4(r.msg.ciaddr), '10.0.0.5');
  assert.is(formatIpv4(r.msg.yiaddr), '10.0.0.5');
  const bad = decodeReply(handleDhcp(clientFrame({ type: DhcpMessageType.REQUEST, ciaddr: '10.0.0.77' }), lookup));
  assert.is(messageTypeOf(bad.msg), DhcpMessageType.NAK);
});

test('REQUEST without option 50 and without ciaddr -> ignored with a reason', () => {
  const out = handleDhcp(clientFrame({ type: DhcpMessageType.REQUEST }), lookup);
  assert.is(out.kind, 'ignored');
  if (out.kind === 'ignored') assert.match(out.reason, /neither/);
});

test('RELEASE and DECLINE -> no reply, recorded', () => {
  assert.equal(
    handleDhcp(clientFrame({ type: DhcpMessageType.RELEASE, ciaddr: '10.0.0.5', serverId: '10.0.0.1' }), lookup),
    {
      kind: 'released',
      mac: CLIENT_MAC,
      ip: '10.0.0.5',
    },
  );
  assert.equal(
    handleDhcp(clientFrame({ type: DhcpMessageType.DECLINE, requested: '10.0.0.5', serverId: '10.0.0.1' }), lookup),
    {
      kind: 'declined',
      mac: CLIENT_MAC,
      ip: '10.0.0.5',
    },
  );
});

test('INFORM -> ACK with configuration, no yiaddr, no lease times, unicast to ciaddr', () => {
  const r = decodeReply(handleDhcp(clientFrame({ type: DhcpMessageType.INFORM, ciaddr: '10.0.0.5' }), lookup));
  assert.is(messageTypeOf(r.msg), DhcpMessageType.ACK);
  assert.is(r.msg.yiaddr, 0);
  assert.is(formatIpv4(r.msg.ciaddr), '10.0.0.5');
  assert.is(findOption(r.msg, OPT.LEASE_TIME), undefined);
  assert.is(findOption(r.msg, OPT.RENEWAL_T1), undefined);
  assert.is(optIp(r.msg, OPT.DNS), '8.8.8.8,1.1.1.1');
  assert.is(r.ipDst, '10.0.0.5');
});

test('relay (giaddr): reply to the relay on port 67 via the frame source MAC', () => {
  const r = decodeReply(handleDhcp(clientFrame({ type: DhcpMessageType.DISCOVER, giaddr: '10.0.0.250' }), lookup));
  assert.equal([r.ipDst, r.udpDst], ['10.0.0.250', 67]);
  assert.is(formatIpv4(r.msg.giaddr), '10.0.0.250');
});

test('802.1Q tagged request -> reply with the same tag; client id echoed (RFC 6842)', () => {
  const clientId = Uint8Array.of(1, 2, 0, 0, 0, 0, 1);
  const r = decodeReply(
    handleDhcp(
      clientFrame({ type: DhcpMessageType.DISCOVER, vlan: 7, extra: [{ code: OPT.CLIENT_ID, data: clientId }] }),
      lookup,
    ),
  );
  assert.is(r.vlan, 7);
  assert.equal([...(findOption(r.msg, OPT.CLIENT_ID) ?? [])], [...clientId]);
});

test('unknown MAC -> no reply with a reason; bad lease config -> no reply with a reason', () => {
  const out = handleDhcp(clientFrame({ type: DhcpMessageType.DISCOVER, mac: '02:00:00:00:00:99' }), lookup);
  assert.ok(out.kind === 'ignored' && /no DHCP entry/.test(out.reason));
  const badLease = handleDhcp(clientFrame({ type: DhcpMessageType.DISCOVER }), () => ({ ...LEASE, ip: '10.0.0.300' }));
  assert.ok(badLease.kind === 'ignored' && /not IPv4/.test(badLease.reason));
  const noMask = handleDhcp(clientFrame({ type: DhcpMessageType.DISCOVER }), () => ({
    ...LEASE,
    prefixLength: undefined,
  }));
  assert.ok(noMask.kind === 'ignored' && /mask/.test(noMask.reason));
  const throwing = handleDhcp(clientFrame({ type: DhcpMessageType.DISCOVER }), () => {
    throw new Error('db down');
  });
  assert.ok(throwing.kind === 'ignored' && /db down/.test(throwing.reason));
});

test('explicit mask, no router/dns/mtu: only what is configured is sent', () => {
  const minimal: DhcpLease = {
    ip: '172.16.5.9',
    mask: '255.255.240.0',
    dns: [],
    leaseSeconds: 600,
    extraOptions: [{ name: 'mtu', value: '9000' }],
    serverIp: '172.16.0.1',
    serverMac: SERVER_MAC,
  };
  const r = decodeReply(handleDhcp(clientFrame({ type: DhcpMessageType.DISCOVER }), () => minimal));
  assert.is(optIp(r.msg, OPT.SUBNET_MASK), '255.255.240.0');
  assert.is(optIp(r.msg, OPT.BROADCAST), '172.16.15.255');
  assert.is(findOption(r.msg, OPT.ROUTER), undefined);
  assert.is(findOption(r.msg, OPT.DNS), undefined);
  assert.equal([...(findOption(r.msg, OPT.INTERFACE_MTU) ?? [])], [0x23, 0x28]); // 9000 via extra option 'mtu'
});

test('named option encoding: Neutron names, numeric codes, bad values', () => {
  const enc = (n: string, v: string): unknown => {
    const r = encodeNamedOption(n, v);
    return r.kind === 'ok' ? [r.value.code, [...r.value.data]] : r.reason;
  };
  assert.equal(enc('mtu', '1450'), [26, [5, 170]]);
  assert.equal(enc('router', '10.0.0.1'), [3, [10, 0, 0, 1]]);
  assert.equal(enc('dns-server', '8.8.8.8, 8.8.4.4'), [6, [8, 8, 8, 8, 8, 8, 4, 4]]);
  assert.equal(enc('domain-name', 'x.y'), [15, [...Buffer.from('x.y')]]);
  assert.equal(enc('option:ntp-server', '1.2.3.4'), [42, [1, 2, 3, 4]]);
  assert.equal(enc('26', '1400'), [26, [5, 120]]); // numeric name with a known type
  assert.equal(enc('224', '0a:0b'), [224, [10, 11]]); // unknown code: hex bytes
  assert.equal(enc('225', 'hello'), [225, [...Buffer.from('hello')]]);
  assert.equal(enc('classless-static-route', '169.254.169.254/32,10.0.0.1,0.0.0.0/0,10.0.0.1'), [
    121,
    [32, 169, 254, 169, 254, 10, 0, 0, 1, 0, 10, 0, 0, 1],
  ]);
  assert.match(String(enc('mtu', 'big')), /not an integer/);
  assert.match(String(enc('mtu', '70000')), /does not fit/);
  assert.match(String(enc('router', '10.0.0')), /not an IPv4/);
  assert.match(String(enc('255', 'x')), /out of range/);
});

test('malformed frames: truncated at every length never throw and never reply', () => {
  const frame = clientFrame({ type: DhcpMessageType.DISCOVER });
  for (let n = 0; n < frame.length; n++) {
    const out = handleDhcp(frame.subarray(0, n), lookup);
    // Cutting inside the zero padding after END still leaves a valid message once IP/UDP lengths are consistent,
    // but IP's total length then exceeds the capture, so every truncation is rejected.
    assert.is(out.kind, 'ignored', `truncated to ${n}`);
  }
});

test('malformed DHCP content: option overruns, missing cookie, bad op/htype, no type, non-DHCP traffic', () => {
  const base = (): Uint8Array => Uint8Array.from(clientFrame({ type: DhcpMessageType.DISCOVER }));
  const dhcpStart = 14 + 20 + 8;
  const reason = (f: Uint8Array): string => {
    const o = handleDhcp(f, lookup);
    return o.kind === 'ignored' ? o.reason : `unexpected ${o.kind}`;
  };
  // Rewrites the frame's DHCP part and fixes nothing else (IP/UDP lengths stay consistent).
  const withByte = (off: number, v: number): Uint8Array => {
    const f = base();
    f[dhcpStart + off] = v;
    return f;
  };
  assert.match(reason(withByte(236, 0)), /magic cookie/);
  assert.match(reason(withByte(0, 2)), /BOOTREQUEST/);
  assert.match(reason(withByte(1, 6)), /not Ethernet/);
  assert.match(reason(withByte(241, 200)), /runs past the end/); // option 53 length 200
  assert.match(reason(withByte(240, OPT.END)), /message type/); // options end before option 53
  const wrongType = withByte(242, 42);
  assert.match(reason(wrongType), /not a client message/);
  const offer = withByte(242, DhcpMessageType.OFFER);
  assert.match(reason(offer), /not a client message/);
  // wrong UDP port / not UDP / not IPv4 / bad IP checksum
  const port = base();
  port[14 + 20 + 3] = 68;
  assert.match(reason(port), /port/);
  const proto = base();
  proto[14 + 9] = 6;
  refreshIpChecksum(proto);
  assert.match(reason(proto), /not UDP/);
  const csum = base();
  csum[14 + 10] ^= 0xff;
  assert.match(reason(csum), /checksum/);
  const arp = base();
  arp[12] = 0x08;
  arp[13] = 0x06;
  assert.match(reason(arp), /not IPv4/);
  const frag = base();
  frag[14 + 6] = 0x20; // More Fragments
  refreshIpChecksum(frag);
  assert.match(reason(frag), /fragment/);
});

test('random bytes and random corruption never throw', () => {
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const frame = clientFrame({ type: DhcpMessageType.REQUEST, requested: '10.0.0.5', serverId: '10.0.0.1' });
  for (let k = 0; k < 3000; k++) {
    const f = Uint8Array.from(frame);
    const flips = 1 + (rnd() % 8);
    // corrupt only the DHCP part half of the time, so deep parser paths are reached
    for (let j = 0; j < flips; j++) {
      const lo = k % 2 === 0 ? 42 : 0;
      f[lo + (rnd() % (f.length - lo))] = rnd() & 0xff;
    }
    const out = handleDhcp(f, lookup);
    assert.ok(['reply', 'ignored', 'released', 'declined'].includes(out.kind));
    if (out.kind === 'ignored') assert.ok(!out.reason.startsWith('internal error'), out.reason);
  }
  for (let k = 0; k < 500; k++) {
    const f = new Uint8Array(rnd() % 600);
    for (let i = 0; i < f.length; i++) f[i] = rnd() & 0xff;
    assert.is(handleDhcp(f, lookup).kind, 'ignored');
  }
});

test('option overload (52): options carried in the file field are read', () => {
  const dhcp = encodeDhcp({
    op: BOOTREQUEST,
    xid: 1,
    chaddr: macToBytes(CLIENT_MAC) ?? new Uint8Array(6),
    options: [{ code: OPT.OVERLOAD, data: u8(1) }],
  });
  // put "53=DISCOVER, END" into the file field (offset 108)
  dhcp.set([OPT.MESSAGE_TYPE, 1, DhcpMessageType.DISCOVER, OPT.END], 108);
  const parsed = parseDhcp(dhcp);
  assert.ok(parsed.kind === 'ok' && messageTypeOf(parsed.value) === DhcpMessageType.DISCOVER);
  // and long options are split into several instances and merged back (RFC 3396)
  const long = new Uint8Array(600).fill(7);
  const m = encodeDhcp({ op: BOOTREQUEST, xid: 1, chaddr: new Uint8Array(6), options: [{ code: 224, data: long }] });
  const back = parseDhcp(m);
  assert.ok(back.kind === 'ok' && findOption(back.value, 224)?.length === 600);
});

test.run();
