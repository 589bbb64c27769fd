// The neighbor hot path: decodes a NeighborState straight from wire bytes into the normalized
// model, skipping the generated decoder's intermediate objects (about 10x faster, which is what
// makes a 1M-neighbor goal state fit in seconds).
//
// It only handles the well-formed case. Anything unusual — a malformed field, a bad or IPv6
// address, a missing host IP or fixed IP, an id that disagrees with its map key — returns
// undefined, and the caller decodes that one entry with the generated decoder and normalizes it
// the ordinary way, which produces the exact status and reason. A test holds the two paths to the
// same output for valid input.

import { OperationType, ResourceType } from '../../proto';
import type { Neighbor, ResourceOp } from '../model';
import { type Cursor, WIRE_LEN, WIRE_VARINT, readVarint, skipField } from './wire';

type FixedIp = Neighbor['fixedIps'][number];
type AddressPair = Neighbor['allowedAddressPairs'][number];

/** Decodes UTF-8 without the per-call checks of Buffer#toString. */
const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Strings that repeat across neighbors (VPC and subnet ids) are decoded once: the last value per
 * slot is remembered with its bytes, so a million neighbors in one subnet share one string.
 */
class StringInterner {
  #bytes: Uint8Array = new Uint8Array(0);
  #value = '';

  get(buf: Uint8Array, start: number, end: number): string {
    const len = end - start;
    const last = this.#bytes;
    if (last.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (last[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.#value;
    }
    this.#bytes = buf.slice(start, end);
    this.#value = decoder.decode(this.#bytes);
    return this.#value;
  }
}

function text(buf: Uint8Array, start: number, end: number): string {
  if (start === end) return '';
  // ASCII fast path: ids are UUIDs or simple names in practice. One flat string per call (a
  // concatenation per character would build a rope that is flattened again on first use).
  if (end - start < 64) {
    for (let i = start; i < end; i++) if (buf[i] >= 0x80) return decoder.decode(buf.subarray(start, end));
    return String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
  }
  return decoder.decode(buf.subarray(start, end));
}

/** Whether buf[a, a+len) and buf[b, b+len) hold the same bytes. */
function sameBytes(buf: Uint8Array, a: number, b: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/** Neighbors from the fast path never have address pairs (they take the ordinary path). */
const NO_PAIRS: readonly AddressPair[] = Object.freeze([]);

function hexNibble(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  if (b >= 97 && b <= 102) return b - 87;
  if (b >= 65 && b <= 70) return b - 55;
  return -1;
}

/** `aa:bb:cc:dd:ee:ff` or `aa-bb-…` → 48-bit value, or -1. */
export function parseMacBytes(buf: Uint8Array, start: number, end: number): number {
  if (end - start !== 17) return -1;
  let v = 0;
  const sep = buf[start + 2];
  if (sep !== 58 && sep !== 45) return -1;
  for (let i = 0; i < 6; i++) {
    const p = start + i * 3;
    const hi = hexNibble(buf[p]);
    const lo = hexNibble(buf[p + 1]);
    if (hi < 0 || lo < 0) return -1;
    if (i < 5 && buf[p + 2] !== sep) return -1;
    v = v * 256 + hi * 16 + lo;
  }
  return v;
}

/** Dotted-quad IPv4 → uint32, or -1 (leading zeros are left to the strict parser). */
export function parseIpv4Bytes(buf: Uint8Array, start: number, end: number): number {
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === 46) {
      if (digits === 0 || dots === 3) return -1;
      v = v * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (b >= 48 && b <= 57) {
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (b - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return v * 256 + octet;
}

/** Per-decoder state: interners and a cursor, reused across entries. */
export class NeighborFastPath {
  readonly #vpc = new StringInterner();
  readonly #subnet = new StringInterner();
  readonly #request = new StringInterner();
  readonly #c: Cursor = { pos: 0, value: 0 };
  readonly #ipCursor: Cursor = { pos: 0, value: 0 };
  /** update_type of the configuration decoded last. */
  #updateType = 0;

  /**
   * Decodes the NeighborState in buf[start, end). `key` is the v2 map key ('' for v1).
   * Returns undefined whenever the ordinary decoder must decide.
   */
  decodeState(buf: Uint8Array, start: number, end: number, key: string): ResourceOp | undefined {
    const c = this.#c;
    c.pos = start;
    let operation = 0;
    let cfgStart = -1;
    let cfgEnd = -1;
    while (c.pos < end) {
      if (!readVarint(buf, end, c)) return undefined;
      const field = Math.floor(c.value / 8);
      const wire = c.value & 7;
      if (field === 1 && wire === WIRE_VARINT) {
        if (!readVarint(buf, end, c)) return undefined;
        operation = c.value;
      } else if (field === 2 && wire === WIRE_LEN) {
        if (!readVarint(buf, end, c)) return undefined;
        cfgStart = c.pos;
        cfgEnd = c.pos + c.value;
        if (cfgEnd > end) return undefined;
        c.pos = cfgEnd;
      } else if (!skipField(buf, end, wire, c)) {
        return undefined;
      }
    }
    if (cfgStart < 0 || operation > OperationType.DELETE) return undefined;
    const neighbor = this.#decodeConfig(buf, cfgStart, cfgEnd, key);
    if (neighbor === undefined) return undefined;
    return {
      kind: 'neighbor',
      id: neighbor.id,
      operation: operation as OperationType,
      resourceType: ResourceType.NEIGHBOR,
      resource: neighbor,
      error: undefined,
      updateType: this.#updateType === 1 ? 'full' : 'delta',
    };
  }

  #decodeConfig(buf: Uint8Array, start: number, end: number, key: string): Neighbor | undefined {
    const c = this.#c;
    c.pos = start;
    let revision = 0;
    let requestId = '';
    let id = '';
    let updateType = 0;
    let vpcId = '';
    let name = '';
    let mac = -1;
    let hostMac: number | undefined;
    let hostIp = -1;
    const fixedIps: FixedIp[] = [];
    let idStart = -1;
    let idEnd = -1;
    while (c.pos < end) {
      if (!readVarint(buf, end, c)) return undefined;
      const field = Math.floor(c.value / 8);
      const wire = c.value & 7;
      if (wire === WIRE_VARINT && (field === 1 || field === 4)) {
        if (!readVarint(buf, end, c)) return undefined;
        if (field === 1) revision = c.value;
        else updateType = c.value;
        continue;
      }
      if (wire !== WIRE_LEN) {
        if (!skipField(buf, end, wire, c)) return undefined;
        continue;
      }
      if (!readVarint(buf, end, c)) return undefined;
      const s = c.pos;
      const e = s + c.value;
      if (e > end) return undefined;
      c.pos = e;
      switch (field) {
        case 2:
          requestId = this.#request.get(buf, s, e);
          break;
        case 3:
          id = text(buf, s, e);
          idStart = s;
          idEnd = e;
          break;
        case 5:
          vpcId = this.#vpc.get(buf, s, e);
          break;
        case 6:
          // The name is often the id: share the string.
          name = idStart >= 0 && e - s === idEnd - idStart && sameBytes(buf, s, idStart, e - s) ? id : text(buf, s, e);
          break;
        case 7:
          mac = parseMacBytes(buf, s, e);
          if (mac < 0) return undefined;
          break;
        case 8:
          if (e > s) {
            hostMac = parseMacBytes(buf, s, e);
            if (hostMac < 0) return undefined;
          }
          break;
        case 9:
          hostIp = parseIpv4Bytes(buf, s, e);
          if (hostIp < 0) return undefined;
          break;
        case 10: {
          const ip = this.#decodeFixedIp(buf, s, e);
          if (ip === undefined) return undefined;
          fixedIps.push(ip);
          c.pos = e; // #decodeFixedIp used its own cursor; resume after the field
          break;
        }
        case 11:
          // Address pairs are rare on neighbors; the ordinary path handles them.
          return undefined;
        default:
          break;
      }
    }
    if (key !== '' && id !== '' && id !== key) return undefined;
    if (id === '') id = key;
    if (id === '' || mac < 0 || hostIp < 0 || fixedIps.length === 0) return undefined;
    this.#updateType = updateType;
    return {
      kind: 'neighbor',
      id,
      revision,
      requestId,
      vpcId,
      name,
      mac,
      hostMac,
      hostIp,
      fixedIps,
      allowedAddressPairs: NO_PAIRS,
    };
  }

  #decodeFixedIp(buf: Uint8Array, start: number, end: number): FixedIp | undefined {
    const c = this.#ipCursor;
    c.pos = start;
    c.value = 0;
    let type = 0;
    let subnetId = '';
    let ip = -1;
    let tunnelId = 0;
    while (c.pos < end) {
      if (!readVarint(buf, end, c)) return undefined;
      const field = Math.floor(c.value / 8);
      const wire = c.value & 7;
      if (wire === WIRE_VARINT && (field === 1 || field === 5)) {
        if (!readVarint(buf, end, c)) return undefined;
        if (field === 1) type = c.value;
        else tunnelId = c.value;
        continue;
      }
      if (wire !== WIRE_LEN) {
        if (!skipField(buf, end, wire, c)) return undefined;
        continue;
      }
      if (!readVarint(buf, end, c)) return undefined;
      const s = c.pos;
      const e = s + c.value;
      if (e > end) return undefined;
      c.pos = e;
      if (field === 2) subnetId = this.#subnet.get(buf, s, e);
      else if (field === 3) {
        ip = parseIpv4Bytes(buf, s, e);
        if (ip < 0) return undefined;
      }
    }
    if (ip < 0 || type > 1 || subnetId === '' || tunnelId > 16777215) return undefined;
    return { type: type === 1 ? 'l3' : 'l2', subnetId, ip, tunnelId };
  }
}
