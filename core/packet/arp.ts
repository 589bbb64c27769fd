// ARP for IPv4 over Ethernet (RFC 826).
import { invalid, macFromBytes, macToBytes, ok, readU16, readU32, writeU16, writeU32, type Parsed } from './addr';
import { PacketBuildError } from './ethernet';

export const ARP_BYTES = 28;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

export interface ArpPacket {
  readonly op: number;
  readonly senderMac: string;
  readonly senderIp: number;
  readonly targetMac: string;
  readonly targetIp: number;
}

export function parseArp(buf: Uint8Array, offset: number): Parsed<ArpPacket> {
  if (buf.length - offset < ARP_BYTES) return invalid('ARP packet truncated');
  if (
    readU16(buf, offset) !== 1 ||
    readU16(buf, offset + 2) !== 0x0800 ||
    buf[offset + 4] !== 6 ||
    buf[offset + 5] !== 4
  ) {
    return invalid('ARP is not IPv4-over-Ethernet (htype 1, ptype 0x0800, hlen 6, plen 4)');
  }
  return ok({
    op: readU16(buf, offset + 6),
    senderMac: macFromBytes(buf, offset + 8),
    senderIp: readU32(buf, offset + 14),
    targetMac: macFromBytes(buf, offset + 18),
    targetIp: readU32(buf, offset + 24),
  });
}

export function buildArp(p: ArpPacket): Uint8Array {
  const sha = macToBytes(p.senderMac);
  const tha = macToBytes(p.targetMac);
  if (sha === null || tha === null) throw new PacketBuildError('bad MAC in ARP packet');
  const out = new Uint8Array(ARP_BYTES);
  writeU16(out, 0, 1);
  writeU16(out, 2, 0x0800);
  out[4] = 6;
  out[5] = 4;
  writeU16(out, 6, p.op);
  out.set(sha, 8);
  writeU32(out, 14, p.senderIp);
  out.set(tha, 18);
  writeU32(out, 24, p.targetIp);
  return out;
}

/** The reply to an ARP request for `targetIp` owned by `mac`: sender/target swapped, op = 2. */
export function arpReplyFor(request: ArpPacket, mac: string): ArpPacket {
  return {
    op: ARP_OP_REPLY,
    senderMac: mac,
    senderIp: request.targetIp,
    targetMac: request.senderMac,
    targetIp: request.senderIp,
  };
}
