// Ethernet II frames with an optional 802.1Q tag (IEEE 802.1Q §9.6).
import { invalid, macFromBytes, macToBytes, ok, readU16, writeU16, type Parsed } from './addr';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERNET_HEADER_BYTES = 14;

export interface EthernetHeader {
  readonly dst: string;
  readonly src: string;
  /** 802.1Q VLAN id and priority when the frame is tagged, else null. */
  readonly vlan: { readonly vid: number; readonly pcp: number } | null;
  readonly etherType: number;
  /** Offset of the payload inside the frame. */
  readonly payloadOffset: number;
}

export function parseEthernet(frame: Uint8Array): Parsed<EthernetHeader> {
  if (frame.length < ETHERNET_HEADER_BYTES)
    return invalid(`frame of ${frame.length} bytes is shorter than an Ethernet header`);
  const dst = macFromBytes(frame, 0);
  const src = macFromBytes(frame, 6);
  let etherType = readU16(frame, 12);
  let vlan: EthernetHeader['vlan'] = null;
  let payloadOffset = ETHERNET_HEADER_BYTES;
  if (etherType === ETHERTYPE_VLAN) {
    if (frame.length < ETHERNET_HEADER_BYTES + 4) return invalid('802.1Q tagged frame truncated');
    const tci = readU16(frame, 14);
    vlan = { vid: tci & 0x0fff, pcp: tci >>> 13 };
    etherType = readU16(frame, 16);
    payloadOffset += 4;
  }
  return ok({ dst, src, vlan, etherType, payloadOffset });
}

export interface EthernetSpec {
  readonly dst: string;
  readonly src: string;
  readonly etherType: number;
  readonly vlan?: { readonly vid: number; readonly pcp?: number } | null;
}

export class PacketBuildError extends Error {
  readonly code = 'PACKET_BUILD';
  constructor(message: string) {
    super(message);
    this.name = 'PacketBuildError';
  }
}

export function buildEthernet(spec: EthernetSpec, payload: Uint8Array): Uint8Array {
  const dst = macToBytes(spec.dst);
  const src = macToBytes(spec.src);
  if (dst === null) throw new PacketBuildError(`bad destination MAC '${spec.dst}'`);
  if (src === null) throw new PacketBuildError(`bad source MAC '${spec.src}'`);
  const tagged = spec.vlan !== undefined && spec.vlan !== null;
  const header = ETHERNET_HEADER_BYTES + (tagged ? 4 : 0);
  const out = new Uint8Array(header + payload.length);
  out.set(dst, 0);
  out.set(src, 6);
  let off = 12;
  if (spec.vlan !== undefined && spec.vlan !== null) {
    writeU16(out, 12, ETHERTYPE_VLAN);
    writeU16(out, 14, ((spec.vlan.pcp ?? 0) << 13) | (spec.vlan.vid & 0x0fff));
    off = 16;
  }
  writeU16(out, off, spec.etherType);
  out.set(payload, header);
  return out;
}
