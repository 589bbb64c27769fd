// Fuzzing the packet-in path as the agent runs it (issue 13, part 5): a PACKET_IN message from the switch is
// decoded (core/openflow decodeMessage), its frame goes to the DHCP server (handleDhcp) and, when that ignores it,
// to the on-demand lookup (onDemandRequestOf: ARP requests and IPv4 punts), as daemon.ts #onPacketIn does.
// Frames: ARP, DHCP and IPv4 built from random fields (VLAN-tagged or not), the same damaged byte by byte, and
// random bytes; messages: well-formed PACKET_INs and damaged ones. Each must end in a reply, a no-reply with a
// reason, a well-formed on-demand request, or a coded decode error, never a throw. Seeds: test/fuzz.ts.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { handleDhcp, type DhcpLease } from '../core/dhcp/server';
import { ByteWriter, decodeMessage, encodeMatch, OFP14_VERSION } from '../core/openflow';
import { formatIpv4 } from '../core/packet/addr';
import { buildArp } from '../core/packet/arp';
import { encodeDhcp, OPT, u8 } from '../core/packet/dhcp';
import { buildEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../core/packet/ethernet';
import { buildIpv4, buildUdp, IPPROTO_UDP } from '../core/packet/ipv4';
import { EtherType, Protocol, RequestType } from '../proto';
import { assertCoded, concat, fuzz, mutate, mutationArb, type Mutation } from '../test/fuzz';
import { onDemandRequestOf } from './ondemand';

const ipArb = fc.nat({ max: 0xffff_ffff });
const macArb = fc
  .uint8Array({ minLength: 6, maxLength: 6 })
  .map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
const vlanArb = fc.option(fc.record({ vid: fc.nat({ max: 4095 }) }), { nil: null });

const LEASED_MAC = '02:00:00:00:00:01';
const LEASE: DhcpLease = {
  ip: '10.0.0.5',
  prefixLength: 24,
  router: '10.0.0.1',
  dns: ['10.0.0.53'],
  leaseSeconds: 86400,
  mtu: 1450,
  extraOptions: [],
  serverIp: '10.0.0.1',
  serverMac: 'fa:16:3e:00:00:01',
};

interface ArpSpec {
  readonly op: number;
  readonly senderMac: string;
  readonly senderIp: number;
  readonly targetMac: string;
  readonly targetIp: number;
  readonly vlan: { readonly vid: number } | null;
}

const arpArb: fc.Arbitrary<ArpSpec> = fc.record({
  op: fc.oneof(fc.constantFrom(1, 2), fc.nat({ max: 0xffff })),
  senderMac: macArb,
  senderIp: ipArb,
  targetMac: fc.oneof(fc.constant('00:00:00:00:00:00'), macArb),
  targetIp: ipArb,
  vlan: vlanArb,
});

function arpFrame(a: ArpSpec): Uint8Array {
  return buildEthernet(
    { dst: 'ff:ff:ff:ff:ff:ff', src: a.senderMac, etherType: ETHERTYPE_ARP, vlan: a.vlan },
    buildArp(a),
  );
}

const dhcpFrameArb = fc
  .record({ type: fc.integer({ min: 0, max: 9 }), xid: fc.nat({ max: 0xffff_ffff }), vlan: vlanArb })
  .map(({ type, xid, vlan }) => {
    const dhcp = encodeDhcp({
      op: 1,
      xid,
      chaddr: Uint8Array.of(2, 0, 0, 0, 0, 1),
      options: [{ code: OPT.MESSAGE_TYPE, data: u8(type) }],
    });
    const udp = buildUdp(68, 67, dhcp, { src: 0, dst: 0xffff_ffff });
    const ip = buildIpv4({ src: 0, dst: 0xffff_ffff, protocol: IPPROTO_UDP, ttl: 64 }, udp);
    return buildEthernet({ dst: 'ff:ff:ff:ff:ff:ff', src: LEASED_MAC, etherType: ETHERTYPE_IPV4, vlan }, ip);
  });

/** An IPv4 punt (unknown unicast): any protocol, a few payload bytes, maybe a port pair. */
const ipv4FrameArb = fc
  .record({
    src: ipArb,
    dst: ipArb,
    protocol: fc.oneof(fc.constantFrom(1, 6, 17), fc.nat({ max: 255 })),
    payload: fc.uint8Array({ maxLength: 24 }),
    vlan: vlanArb,
    srcMac: macArb,
    dstMac: macArb,
  })
  .map((p) =>
    buildEthernet(
      { dst: p.dstMac, src: p.srcMac, etherType: ETHERTYPE_IPV4, vlan: p.vlan },
      buildIpv4({ src: p.src, dst: p.dst, protocol: p.protocol, ttl: 64 }, p.payload),
    ),
  );

const validFrameArb = fc.oneof(arpArb.map(arpFrame), dhcpFrameArb, ipv4FrameArb);

const frameArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: validFrameArb },
  {
    weight: 4,
    arbitrary: fc
      .tuple(validFrameArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
      .map(([f, ms]) => ms.reduce((b: Uint8Array, m: Mutation) => mutate(b, m), f)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 128 }) },
);

/** A PACKET_IN (OpenFlow 1.3 §7.4.1) as OVS sends it: fixed fields, a match with in_port and reg6, pad, frame. */
function packetIn(frame: Uint8Array, inPort: number | undefined, vni: number | undefined, xid: number): Uint8Array {
  const w = new ByteWriter(256);
  const match = [
    ...(inPort === undefined ? [] : [{ field: 'in_port' as const, value: inPort }]),
    ...(vni === undefined ? [] : [{ field: 'reg6' as const, value: vni }]),
  ];
  encodeMatch(w, match);
  const matchBytes = w.toBuffer();
  const head = new Uint8Array(24);
  const dv = new DataView(head.buffer);
  dv.setUint8(0, OFP14_VERSION);
  dv.setUint8(1, 10);
  dv.setUint16(2, 24 + matchBytes.length + 2 + frame.length);
  dv.setUint32(4, xid);
  dv.setUint32(8, 0xffff_ffff);
  dv.setUint16(12, frame.length & 0xffff);
  dv.setUint8(14, 1);
  dv.setUint8(15, 20);
  return concat([head, matchBytes, new Uint8Array(2), frame]);
}

const packetInArb = fc.record({
  frame: frameArb,
  inPort: fc.option(fc.integer({ min: 1, max: 0xffff_ff00 }), { nil: undefined, freq: 8 }),
  vni: fc.option(fc.nat({ max: 0xffffff }), { nil: undefined }),
  xid: fc.nat({ max: 0xffff_ffff }),
});

const PROTOCOLS: ReadonlySet<number> = new Set([Protocol.ARP, Protocol.ICMP, Protocol.TCP, Protocol.UDP]);
const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The daemon's handling of one frame (daemon.ts #onPacketIn), with every outcome checked. */
function handleFrame(frame: Uint8Array, vni: number): void {
  const outcome = handleDhcp(frame, (mac) => (mac.toLowerCase() === LEASED_MAC ? LEASE : undefined));
  if (outcome.kind === 'ignored') {
    assert.not.match(outcome.reason, /internal error/, `an exception was swallowed: ${outcome.reason}`);
  }
  if (outcome.kind !== 'ignored') return;
  const req = onDemandRequestOf(frame, vni, 'fuzz-1');
  if (req === undefined) return;
  assert.is(req.requestType, RequestType.ON_DEMAND);
  assert.is(req.tunnelId, vni);
  assert.is(req.ethertype, EtherType.IPV4);
  assert.ok(PROTOCOLS.has(req.protocol), `protocol ${req.protocol}`);
  for (const ip of [req.sourceIp, req.destinationIp]) {
    const m = DOTTED.exec(ip);
    assert.ok(m !== null && m.slice(1).every((o) => Number(o) <= 255), `not a dotted quad: ${ip}`);
  }
  for (const port of [req.sourcePort, req.destinationPort])
    assert.ok(Number.isInteger(port) && port >= 0 && port <= 0xffff);
}

test('packet-in fuzz: ARP, DHCP and IPv4 frames (built, damaged, random) through the agent handlers', () => {
  fuzz('frames', { runs: 3000, timeMs: 4000 }, [frameArb, fc.nat({ max: 0xffffff })], (frame, vni) => {
    handleFrame(frame, vni);
  });
});

test('packet-in fuzz: an ARP request is asked about exactly as it asks, whatever its addresses and tag', () => {
  fuzz('arp requests', { runs: 1000, timeMs: 2000 }, [arpArb, fc.nat({ max: 0xffffff })], (a, vni) => {
    const req = onDemandRequestOf(arpFrame(a), vni, 'fuzz-2');
    if (a.op !== 1) return assert.is(req, undefined, 'only ARP requests are asked about');
    assert.ok(req !== undefined);
    assert.is(req.protocol, Protocol.ARP);
    assert.is(req.sourceIp, formatIpv4(a.senderIp));
    assert.is(req.destinationIp, formatIpv4(a.targetIp));
  });
});

test('packet-in fuzz: PACKET_IN messages, whole and damaged, decode to a packet-in or a coded error', () => {
  const damagedArb = fc.tuple(packetInArb, fc.array(mutationArb, { maxLength: 3 }));
  fuzz('packet-in messages', { runs: 2000, timeMs: 4000 }, [damagedArb], ([p, ms]) => {
    const whole = packetIn(p.frame, p.inPort, p.vni, p.xid);
    const bytes = ms.reduce((b: Uint8Array, m: Mutation) => mutate(b, m), whole);
    let msg;
    try {
      msg = decodeMessage(bytes);
    } catch (e: unknown) {
      assertCoded(e, 'decodeMessage');
      return;
    }
    if (ms.length === 0) {
      // Undamaged: the frame and the match come back as sent.
      if (msg.kind !== 'packet_in') return assert.unreachable(`decoded as ${msg.kind}`);
      assert.equal(new Uint8Array(msg.data), p.frame);
      assert.is(msg.inPort, p.inPort);
      assert.is(msg.match.find((m) => m.field === 'reg6')?.value, p.vni);
    }
    if (msg.kind !== 'packet_in' || msg.inPort === undefined) return;
    handleFrame(msg.data, msg.match.find((m) => m.field === 'reg6')?.value ?? 0);
  });
});

test.run();
