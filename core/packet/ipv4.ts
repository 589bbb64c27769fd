// IPv4 header (RFC 791 §3.1) parse/build with the header checksum, and UDP (RFC 768) with the pseudo-header checksum.
import { invalid, ok, readU16, readU32, writeU16, writeU32, type Parsed } from './addr';
import { internetChecksum, onesComplementSum } from './checksum';
import { PacketBuildError } from './ethernet';

export const IPPROTO_UDP = 17;
export const IPV4_MIN_HEADER_BYTES = 20;
export const UDP_HEADER_BYTES = 8;

export interface Ipv4Header {
  readonly headerBytes: number;
  readonly totalLength: number;
  readonly tos: number;
  readonly id: number;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly src: number;
  readonly dst: number;
  readonly checksumOk: boolean;
  /** Offset of the IP payload inside the buffer passed to parseIpv4Header. */
  readonly payloadOffset: number;
  readonly payloadLength: number;
}

/** Parses the IPv4 header at `offset`; the packet may be followed by Ethernet padding (totalLength bounds it). */
export function parseIpv4Header(buf: Uint8Array, offset: number): Parsed<Ipv4Header> {
  const avail = buf.length - offset;
  if (avail < IPV4_MIN_HEADER_BYTES) return invalid(`IPv4 header truncated (${Math.max(avail, 0)} bytes)`);
  const vihl = buf[offset] ?? 0;
  if (vihl >>> 4 !== 4) return invalid(`IP version ${vihl >>> 4}, not 4`);
  const headerBytes = (vihl & 0x0f) * 4;
  if (headerBytes < IPV4_MIN_HEADER_BYTES) return invalid(`IPv4 IHL ${headerBytes} bytes is below 20`);
  if (avail < headerBytes) return invalid('IPv4 options truncated');
  const totalLength = readU16(buf, offset + 2);
  if (totalLength < headerBytes) return invalid(`IPv4 total length ${totalLength} < header length ${headerBytes}`);
  if (totalLength > avail) return invalid(`IPv4 total length ${totalLength} exceeds the ${avail} bytes captured`);
  const flagsFrag = readU16(buf, offset + 6);
  return ok({
    headerBytes,
    totalLength,
    tos: buf[offset + 1] ?? 0,
    id: readU16(buf, offset + 4),
    dontFragment: (flagsFrag & 0x4000) !== 0,
    moreFragments: (flagsFrag & 0x2000) !== 0,
    fragmentOffset: (flagsFrag & 0x1fff) * 8,
    ttl: buf[offset + 8] ?? 0,
    protocol: buf[offset + 9] ?? 0,
    src: readU32(buf, offset + 12),
    dst: readU32(buf, offset + 16),
    checksumOk: internetChecksum(buf, offset, offset + headerBytes) === 0,
    payloadOffset: offset + headerBytes,
    payloadLength: totalLength - headerBytes,
  });
}

export interface Ipv4Spec {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  readonly ttl?: number;
  readonly tos?: number;
  readonly id?: number;
  readonly dontFragment?: boolean;
}

/** An IPv4 packet (no options) with a correct header checksum. */
export function buildIpv4(spec: Ipv4Spec, payload: Uint8Array): Uint8Array {
  const total = IPV4_MIN_HEADER_BYTES + payload.length;
  if (total > 0xffff) throw new PacketBuildError(`IPv4 packet of ${total} bytes exceeds 65535`);
  const out = new Uint8Array(total);
  out[0] = 0x45;
  out[1] = spec.tos ?? 0;
  writeU16(out, 2, total);
  writeU16(out, 4, spec.id ?? 0);
  writeU16(out, 6, spec.dontFragment === true ? 0x4000 : 0);
  out[8] = spec.ttl ?? 64;
  out[9] = spec.protocol;
  writeU32(out, 12, spec.src);
  writeU32(out, 16, spec.dst);
  writeU16(out, 10, internetChecksum(out, 0, IPV4_MIN_HEADER_BYTES));
  out.set(payload, IPV4_MIN_HEADER_BYTES);
  return out;
}

export interface UdpHeader {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly length: number;
  readonly checksum: number;
  readonly payloadOffset: number;
  readonly payloadLength: number;
}

/** Parses the UDP header at `offset`; `available` bytes belong to the datagram (the IP payload length). */
export function parseUdp(buf: Uint8Array, offset: number, available: number): Parsed<UdpHeader> {
  if (available < UDP_HEADER_BYTES || buf.length - offset < UDP_HEADER_BYTES) return invalid('UDP header truncated');
  const length = readU16(buf, offset + 4);
  if (length < UDP_HEADER_BYTES) return invalid(`UDP length ${length} < 8`);
  if (length > available) return invalid(`UDP length ${length} exceeds the ${available} bytes of the IP payload`);
  return ok({
    srcPort: readU16(buf, offset),
    dstPort: readU16(buf, offset + 2),
    length,
    checksum: readU16(buf, offset + 6),
    payloadOffset: offset + UDP_HEADER_BYTES,
    payloadLength: length - UDP_HEADER_BYTES,
  });
}

function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  const ph = new Uint8Array(12);
  writeU32(ph, 0, src);
  writeU32(ph, 4, dst);
  ph[9] = protocol;
  writeU16(ph, 10, length);
  return onesComplementSum(ph, 0, 12);
}

/**
 * A UDP datagram. With `checksum: true` the RFC 768 checksum over the IPv4 pseudo-header is filled in (a computed 0
 * is sent as 0xffff); otherwise it is 0, which IPv4 allows ("no checksum").
 */
export function buildUdp(
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  ip?: { readonly src: number; readonly dst: number },
): Uint8Array {
  const length = UDP_HEADER_BYTES + payload.length;
  if (length > 0xffff) throw new PacketBuildError(`UDP datagram of ${length} bytes exceeds 65535`);
  const out = new Uint8Array(length);
  writeU16(out, 0, srcPort);
  writeU16(out, 2, dstPort);
  writeU16(out, 4, length);
  out.set(payload, UDP_HEADER_BYTES);
  if (ip !== undefined) {
    const sum = internetChecksum(out, 0, length, pseudoHeaderSum(ip.src, ip.dst, IPPROTO_UDP, length));
    writeU16(out, 6, sum === 0 ? 0xffff : sum);
  }
  return out;
}

/** True when a received datagram's checksum is valid or absent (0). */
export function udpChecksumOk(buf: Uint8Array, udp: UdpHeader, udpOffset: number, src: number, dst: number): boolean {
  if (udp.checksum === 0) return true;
  return (
    internetChecksum(buf, udpOffset, udpOffset + udp.length, pseudoHeaderSum(src, dst, IPPROTO_UDP, udp.length)) === 0
  );
}
