// The neighbor hot path: decodes a NeighborState straight from wire bytes into the normalized
// model, skipping the generated decoder's intermediate objects (about 10x faster, which is what
// makes a 1M-neighbor goal state fit in seconds).
//
// It only handles the well-formed case. Anything unusual — a malformed field, a bad or IPv6
// address, a missing host IP or fixed IP, an id that disagrees with its map key — returns
// undefined, and the caller decodes that one entry with the generated decoder and normalizes it
// the ordinary way, which produces the exact status and reason. A test holds the two paths to the
// same output for valid input.

import { NeighborType, OperationType, ResourceType, UpdateType } from '../../proto';
import type { Neighbor, ResourceOp } from '../model';
import { type Cursor, WIRE_LEN, WIRE_VARINT, fieldNumber, readTag, readVarint, skipField } from './wire';

// Field numbers (neighbor.proto), from the wire schema.
const STATE_OPERATION = fieldNumber('NeighborState', 'operation_type');
const STATE_CONFIGURATION = fieldNumber('NeighborState', 'configuration');
const CONFIG = {
  revision: fieldNumber('NeighborConfiguration', 'revision_number'),
  requestId: fieldNumber('NeighborConfiguration', 'request_id'),
  id: fieldNumber('NeighborConfiguration', 'id'),
  updateType: fieldNumber('NeighborConfiguration', 'update_type'),
  vpcId: fieldNumber('NeighborConfiguration', 'vpc_id'),
  name: fieldNumber('NeighborConfiguration', 'name'),
  mac: fieldNumber('NeighborConfiguration', 'mac_address'),
  hostMac: fieldNumber('NeighborConfiguration', 'host_mac_address'),
  hostIp: fieldNumber('NeighborConfiguration', 'host_ip_address'),
  fixedIps: fieldNumber('NeighborConfiguration', 'fixed_ips'),
  addressPairs: fieldNumber('NeighborConfiguration', 'allow_address_pairs'),
} as const;
const FIXED_IP = {
  type: fieldNumber('NeighborConfiguration.FixedIp', 'neighbor_type'),
  subnetId: fieldNumber('NeighborConfiguration.FixedIp', 'subnet_id'),
  ip: fieldNumber('NeighborConfiguration.FixedIp', 'ip_address'),
  tunnelId: fieldNumber('NeighborConfiguration.FixedIp', 'tunnel_id'),
} as const;

type FixedIp = Neighbor['fixedIps'][number];
type AddressPair = Neighbor['allowedAddressPairs'][number];

/**
 * Decodes UTF-8 without the per-call checks of Buffer#toString; a leading U+FEFF is kept, as the
 * generated decoder keeps it (an id is the same string whichever path read it).
 */
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

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

/** Fixed IPs per neighbor the scanner records; more go to the ordinary decoder. */
const MAX_FIXED_IPS = 4;

/**
 * One NeighborState as read off the wire: numbers parsed, strings left as byte ranges into the
 * buffer. Reused from entry to entry (no allocation per neighbor); valid until the next scan.
 */
export class NeighborEntry {
  operation = 0;
  revision = 0;
  updateType = 0;
  /** The neighbor id: configuration.id, or the map key when that is empty. */
  idStart = 0;
  idEnd = 0;
  requestStart = 0;
  requestEnd = 0;
  vpcStart = 0;
  vpcEnd = 0;
  nameStart = 0;
  nameEnd = 0;
  mac = -1;
  /** -1: no host MAC. */
  hostMac = -1;
  hostIp = -1;
  fixedIpCount = 0;
  readonly ipType = new Uint8Array(MAX_FIXED_IPS);
  readonly ip = new Float64Array(MAX_FIXED_IPS);
  readonly tunnelId = new Float64Array(MAX_FIXED_IPS);
  readonly subnetStart = new Int32Array(MAX_FIXED_IPS);
  readonly subnetEnd = new Int32Array(MAX_FIXED_IPS);

  /** Clears what a configuration sets (the operation is the state's, read before). */
  resetConfig(): void {
    this.revision = 0;
    this.updateType = 0;
    this.idStart = this.idEnd = 0;
    this.requestStart = this.requestEnd = 0;
    this.vpcStart = this.vpcEnd = 0;
    this.nameStart = this.nameEnd = 0;
    this.mac = -1;
    this.hostMac = -1;
    this.hostIp = -1;
    this.fixedIpCount = 0;
  }

  /**
   * Settles the id against the map key (v2; keyLen <= 0 for v1): an empty id takes the key, a
   * different one is the ordinary decoder's to report. Then whether the required fields are there.
   */
  settleId(buf: Uint8Array, haveId: boolean, keyStart: number, keyEnd: number): boolean {
    const keyLen = keyEnd - keyStart;
    if (
      keyLen > 0 &&
      haveId &&
      !(this.idEnd - this.idStart === keyLen && sameBytes(buf, this.idStart, keyStart, keyLen))
    )
      return false;
    if (!haveId) {
      if (keyLen <= 0) return false;
      this.idStart = keyStart;
      this.idEnd = keyEnd;
    }
    return this.mac >= 0 && this.hostIp >= 0 && this.fixedIpCount > 0;
  }
}

/**
 * Reads NeighborStates into a NeighborEntry, and builds model objects from it for the callers that
 * want objects. Interners make a million neighbors in one subnet share one subnet id string.
 */
export class NeighborFastPath {
  readonly #vpc = new StringInterner();
  readonly #subnet = new StringInterner();
  readonly #request = new StringInterner();
  readonly #c: Cursor = { pos: 0, value: 0 };
  readonly #ipCursor: Cursor = { pos: 0, value: 0 };
  readonly entry = new NeighborEntry();

  /**
   * Reads the NeighborState in buf[start, end) into `entry`. keyStart/keyEnd: the v2 map key
   * (-1 for v1). False whenever the ordinary decoder must decide (see the file comment).
   */
  scan(buf: Uint8Array, start: number, end: number, keyStart: number, keyEnd: number): boolean {
    const c = this.#c;
    c.pos = start;
    let operation = 0;
    let cfgStart = -1;
    let cfgEnd = -1;
    while (c.pos < end) {
      if (!readTag(buf, end, c)) return false;
      const field = Math.floor(c.value / 8);
      const wire = c.value & 7;
      if (field === STATE_OPERATION && wire === WIRE_VARINT) {
        if (!readVarint(buf, end, c)) return false;
        operation = c.value;
      } else if (field === STATE_CONFIGURATION && wire === WIRE_LEN) {
        // The generated decoder reads every configuration given and keeps the last; this path
        // reads only one, so a repeated one is the ordinary decoder's (split.ts places it so).
        if (cfgStart >= 0 || !readVarint(buf, end, c)) return false;
        cfgStart = c.pos;
        cfgEnd = c.pos + c.value;
        if (cfgEnd > end) return false;
        c.pos = cfgEnd;
      } else if (!skipField(buf, end, wire, c)) {
        return false;
      }
    }
    if (cfgStart < 0 || operation > OperationType.DELETE) return false;
    this.entry.operation = operation;
    return this.#scanConfig(buf, cfgStart, cfgEnd, keyStart, keyEnd);
  }

  /** decodeState's model op for the entry scan() just read. */
  op(buf: Uint8Array): ResourceOp {
    const n = this.neighbor(buf);
    return {
      kind: 'neighbor',
      id: n.id,
      operation: this.entry.operation as OperationType,
      resourceType: ResourceType.NEIGHBOR,
      resource: n,
      error: undefined,
      updateType: this.entry.updateType === UpdateType.FULL ? 'full' : 'delta',
    };
  }

  /** The model Neighbor of the entry scan() just read. */
  neighbor(buf: Uint8Array): Neighbor {
    const e = this.entry;
    const id = text(buf, e.idStart, e.idEnd);
    const fixedIps: FixedIp[] = [];
    for (let i = 0; i < e.fixedIpCount; i++) {
      fixedIps.push({
        type: e.ipType[i] === NeighborType.L3 ? 'l3' : 'l2',
        subnetId: this.#subnet.get(buf, e.subnetStart[i], e.subnetEnd[i]),
        ip: e.ip[i],
        tunnelId: e.tunnelId[i],
      });
    }
    return {
      kind: 'neighbor',
      id,
      revision: e.revision,
      requestId: this.#request.get(buf, e.requestStart, e.requestEnd),
      vpcId: this.#vpc.get(buf, e.vpcStart, e.vpcEnd),
      // The name is often the id: share the string.
      name: this.nameUnlessId(buf) ?? id,
      mac: e.mac,
      hostMac: e.hostMac < 0 ? undefined : e.hostMac,
      hostIp: e.hostIp,
      fixedIps,
      allowedAddressPairs: NO_PAIRS,
    };
  }

  /** The entry's id as a string. */
  idString(buf: Uint8Array): string {
    return text(buf, this.entry.idStart, this.entry.idEnd);
  }

  /** The entry's name, or undefined when it is the same as its id (the common case). */
  nameUnlessId(buf: Uint8Array): string | undefined {
    const e = this.entry;
    const len = e.nameEnd - e.nameStart;
    if (len === e.idEnd - e.idStart && sameBytes(buf, e.nameStart, e.idStart, len)) return undefined;
    return text(buf, e.nameStart, e.nameEnd);
  }

  /** The interned string of a subnet id range (shared with the model objects this path builds). */
  subnetId(buf: Uint8Array, start: number, end: number): string {
    return this.#subnet.get(buf, start, end);
  }

  /** The interned string of a request id range. */
  requestId(buf: Uint8Array, start: number, end: number): string {
    return this.#request.get(buf, start, end);
  }

  /** The interned string of a VPC id range. */
  vpcId(buf: Uint8Array, start: number, end: number): string {
    return this.#vpc.get(buf, start, end);
  }

  /**
   * Decodes the NeighborState in buf[start, end) into a model op. keyStart/keyEnd: the v2 map key
   * (-1 for v1). Returns undefined whenever the ordinary decoder must decide.
   */
  decodeState(buf: Uint8Array, start: number, end: number, keyStart = -1, keyEnd = -1): ResourceOp | undefined {
    return this.scan(buf, start, end, keyStart, keyEnd) ? this.op(buf) : undefined;
  }

  #scanConfig(buf: Uint8Array, start: number, end: number, keyStart: number, keyEnd: number): boolean {
    const c = this.#c;
    const n = this.entry;
    c.pos = start;
    n.resetConfig();
    let haveId = false;
    while (c.pos < end) {
      if (!readTag(buf, end, c)) return false;
      const field = Math.floor(c.value / 8);
      const wire = c.value & 7;
      if (wire === WIRE_VARINT && (field === CONFIG.revision || field === CONFIG.updateType)) {
        if (!readVarint(buf, end, c)) return false;
        if (field === CONFIG.revision) n.revision = c.value;
        else n.updateType = c.value;
        continue;
      }
      if (wire !== WIRE_LEN) {
        if (!skipField(buf, end, wire, c)) return false;
        continue;
      }
      if (!readVarint(buf, end, c)) return false;
      const s = c.pos;
      const e = s + c.value;
      if (e > end) return false;
      c.pos = e;
      switch (field) {
        case CONFIG.requestId:
          n.requestStart = s;
          n.requestEnd = e;
          break;
        case CONFIG.id:
          n.idStart = s;
          n.idEnd = e;
          haveId = e > s;
          break;
        case CONFIG.vpcId:
          n.vpcStart = s;
          n.vpcEnd = e;
          break;
        case CONFIG.name:
          n.nameStart = s;
          n.nameEnd = e;
          break;
        case CONFIG.mac:
          n.mac = parseMacBytes(buf, s, e);
          if (n.mac < 0) return false;
          break;
        case CONFIG.hostMac:
          if (e > s) {
            n.hostMac = parseMacBytes(buf, s, e);
            if (n.hostMac < 0) return false;
          }
          break;
        case CONFIG.hostIp:
          n.hostIp = parseIpv4Bytes(buf, s, e);
          if (n.hostIp < 0) return false;
          break;
        case CONFIG.fixedIps:
          if (n.fixedIpCount === MAX_FIXED_IPS || !this.#scanFixedIp(buf, s, e, n.fixedIpCount)) return false;
          n.fixedIpCount++;
          break;
        case CONFIG.addressPairs:
          // Address pairs are rare on neighbors; the ordinary path handles them.
          return false;
        default:
          break;
      }
    }
    return n.settleId(buf, haveId, keyStart, keyEnd);
  }

  #scanFixedIp(buf: Uint8Array, start: number, end: number, i: number): boolean {
    const c = this.#ipCursor;
    const n = this.entry;
    c.pos = start;
    c.value = 0;
    let type = 0;
    let ip = -1;
    let tunnelId = 0;
    let subnetStart = 0;
    let subnetEnd = 0;
    while (c.pos < end) {
      if (!readTag(buf, end, c)) return false;
      const field = Math.floor(c.value / 8);
      const wire = c.value & 7;
      if (wire === WIRE_VARINT && (field === FIXED_IP.type || field === FIXED_IP.tunnelId)) {
        if (!readVarint(buf, end, c)) return false;
        if (field === FIXED_IP.type) type = c.value;
        else tunnelId = c.value;
        continue;
      }
      if (wire !== WIRE_LEN) {
        if (!skipField(buf, end, wire, c)) return false;
        continue;
      }
      if (!readVarint(buf, end, c)) return false;
      const s = c.pos;
      const e = s + c.value;
      if (e > end) return false;
      c.pos = e;
      if (field === FIXED_IP.subnetId) {
        subnetStart = s;
        subnetEnd = e;
      } else if (field === FIXED_IP.ip) {
        ip = parseIpv4Bytes(buf, s, e);
        if (ip < 0) return false;
      }
    }
    if (ip < 0 || type > 1 || subnetEnd === subnetStart || tunnelId > 16777215) return false;
    n.ipType[i] = type;
    n.ip[i] = ip;
    n.tunnelId[i] = tunnelId;
    n.subnetStart[i] = subnetStart;
    n.subnetEnd[i] = subnetEnd;
    return true;
  }
}
