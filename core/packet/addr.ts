// MAC and IPv4 address text <-> numbers. IPv4 addresses are unsigned 32-bit numbers (network order value).

import { formatIpv4, formatMac } from '../goalstate/addr';

export type Parsed<T> =
  { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'invalid'; readonly reason: string };

export const ok = <T>(value: T): Parsed<T> => ({ kind: 'ok', value });
export const invalid = <T>(reason: string): Parsed<T> => ({ kind: 'invalid', reason });

const MAC_RE = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const IPV4_BROADCAST = 0xffffffff;

/** 'AA-BB-..' or 'aa:bb:..' -> 'aa:bb:cc:dd:ee:ff', or null. */
export function normalizeMac(text: string): string | null {
  if (!MAC_RE.test(text)) return null;
  return text.toLowerCase().replace(/-/g, ':');
}

export function macToBytes(text: string): Uint8Array | null {
  const norm = normalizeMac(text);
  if (norm === null) return null;
  return Uint8Array.from(norm.split(':').map((h) => parseInt(h, 16)));
}

export function macFromBytes(bytes: Uint8Array, offset = 0): string {
  let mac = 0;
  for (let i = 0; i < 6; i++) mac = mac * 256 + (bytes[offset + i] ?? 0);
  return formatMac(mac);
}

export function parseIpv4(text: string): number | null {
  const m = IPV4_RE.exec(text.trim());
  if (m === null) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return null;
    n = n * 256 + octet;
  }
  return n;
}

// Address text is formatted in one place (goalstate/addr.ts) for the whole core.
export { formatIpv4 };

export function prefixToMask(prefixLength: number): number {
  if (prefixLength <= 0) return 0;
  if (prefixLength >= 32) return 0xffffffff;
  return (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** Prefix length of a contiguous mask, or null if the mask has holes. */
export function maskToPrefix(mask: number): number | null {
  const inverted = ~mask >>> 0;
  if ((inverted & (inverted + 1)) !== 0) return null;
  return 32 - Math.log2(inverted + 1);
}

export function readU32(b: Uint8Array, off: number): number {
  return (((b[off] ?? 0) << 24) | ((b[off + 1] ?? 0) << 16) | ((b[off + 2] ?? 0) << 8) | (b[off + 3] ?? 0)) >>> 0;
}

export function readU16(b: Uint8Array, off: number): number {
  return ((b[off] ?? 0) << 8) | (b[off + 1] ?? 0);
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}
