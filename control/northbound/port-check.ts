// The northbound's quick check of a PortState: "an agent surely takes this port", read straight from the
// wire, without the generated decoder's objects. A bulk create is mostly ports (1,000 hosts x 100 = 100k),
// and decoding each into objects and normalizing them was the largest part of accepting such a message.
//
// It answers true only for the plain, well-formed case, and checks there exactly what the ordinary path
// checks (operation and update type, the id against its map key, the MAC, each fixed IP, the host IP),
// with the same field readers (core/goalstate/field-readers.ts). Anything else is false: a field it does
// not read, a field given twice where the generated decoder would keep only the last message, a varint
// over 31 bits, a non-ASCII string, an address pair (their checks stay with the ordinary path), or
// anything a reader refuses. False means "not sure": that port goes the ordinary way (validate.ts), which
// finds the problem, if any, and words it.
import { OperationType, UpdateType } from '../../proto';
import { hostIpv4, hostIpv4At, mac } from '../../core/goalstate/field-readers';
import { fieldNumber, WIRE_LEN, WIRE_VARINT } from '../../core/wire/schema';

const STATE_OPERATION = fieldNumber('PortState', 'operation_type');
const STATE_CONFIGURATION = fieldNumber('PortState', 'configuration');
const F = {
  revision: fieldNumber('PortConfiguration', 'revision_number'),
  requestId: fieldNumber('PortConfiguration', 'request_id'),
  id: fieldNumber('PortConfiguration', 'id'),
  updateType: fieldNumber('PortConfiguration', 'update_type'),
  vpcId: fieldNumber('PortConfiguration', 'vpc_id'),
  name: fieldNumber('PortConfiguration', 'name'),
  deviceId: fieldNumber('PortConfiguration', 'device_id'),
  deviceOwner: fieldNumber('PortConfiguration', 'device_owner'),
  mac: fieldNumber('PortConfiguration', 'mac_address'),
  adminStateUp: fieldNumber('PortConfiguration', 'admin_state_up'),
  hostInfo: fieldNumber('PortConfiguration', 'host_info'),
  fixedIps: fieldNumber('PortConfiguration', 'fixed_ips'),
  securityGroupIds: fieldNumber('PortConfiguration', 'security_group_ids'),
} as const;
// readPair reads fields 1 and 2 of the nested messages; these are the numbers it relies on.
const HOST_INFO_IP = nested('PortConfiguration.HostInfo', 'ip_address', 1);
nested('PortConfiguration.HostInfo', 'mac_address', 2);
const FIXED_IP_SUBNET = nested('PortConfiguration.FixedIp', 'subnet_id', 1);
const FIXED_IP_ADDRESS = nested('PortConfiguration.FixedIp', 'ip_address', 2);
const SECURITY_GROUP_ID = nested('PortConfiguration.SecurityGroupId', 'id', 1);

function nested(message: string, field: string, want: 1 | 2): 1 | 2 {
  if (fieldNumber(message, field) !== want) throw new Error(`${message}.${field} is not field ${want}`);
  return want;
}

/** Scalar varint fields of PortConfiguration (any value up to 31 bits decodes). */
const VARINT_FIELDS = new Set<number>([F.revision, F.updateType, F.adminStateUp]);
/** String fields nothing checks: any ASCII. */
const FREE_STRINGS = new Set<number>([F.requestId, F.vpcId, F.name, F.deviceId, F.deviceOwner]);

/** A small cursor over one message: `varint()` and `len()` return -1 where the quick check gives up. */
class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly end: number,
  ) {}

  /** A varint of at most 31 bits, or -1. */
  varint(): number {
    let v = 0;
    for (let shift = 0; shift < 31; shift += 7) {
      if (this.pos >= this.end) return -1;
      const b = this.buf[this.pos++] as number;
      v |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v < 0 ? -1 : v;
    }
    return -1;
  }

  /** A length prefix whose bytes are all there: returns the end of the field, or -1. */
  len(): number {
    const n = this.varint();
    if (n < 0 || this.pos + n > this.end) return -1;
    return this.pos + n;
  }

  /** ASCII text from pos to `to` (then pos = to), or null for any other byte. */
  ascii(to: number): string | null {
    for (let i = this.pos; i < to; i++) if ((this.buf[i] as number) >= 0x80) return null;
    const s = this.buf.toString('latin1', this.pos, to);
    this.pos = to;
    return s;
  }
}

/** Throws from the field readers mean "invalid"; here they mean "not sure". */
function accepts(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

/** Texts of fields 1 and 2 of the nested message read last (readPair); a field absent reads ''. */
const pair: [string, string] = ['', ''];

/**
 * Reads a nested message of string fields 1 and 2 only (FixedIp, HostInfo, SecurityGroupId), each at most
 * once, into `pair`; `maxField` 1 allows field 1 only. False where the quick check gives up.
 */
function readPair(r: Reader, to: number, maxField: number): boolean {
  pair[0] = '';
  pair[1] = '';
  let seen = 0;
  while (r.pos < to) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (tag < 0 || (tag & 7) !== WIRE_LEN || field < 1 || field > maxField || (seen & field) !== 0) return false;
    seen |= field;
    const end = r.len();
    const text = end < 0 || end > to ? null : r.ascii(end);
    if (text === null) return false;
    pair[field - 1] = text;
  }
  return r.pos === to;
}

interface PortFields {
  id: string;
  updateType: number;
  mac: string;
  hostIp: string;
  readonly fixedIps: Array<{ subnetId: string; ip: string }>;
}

/** PortConfiguration from `r.pos` to `to` into `out`; false where the quick check gives up. */
function readConfiguration(r: Reader, to: number, out: PortFields): boolean {
  let hostInfoSeen = false;
  while (r.pos < to) {
    const tag = r.varint();
    if (tag < 0) return false;
    const field = tag >>> 3;
    if ((tag & 7) === WIRE_VARINT) {
      if (!VARINT_FIELDS.has(field)) return false;
      const v = r.varint();
      if (v < 0) return false;
      if (field === F.updateType) out.updateType = v;
      continue;
    }
    if ((tag & 7) !== WIRE_LEN) return false;
    const end = r.len();
    if (end < 0 || end > to) return false;
    if (field === F.fixedIps) {
      if (!readPair(r, end, 2)) return false;
      out.fixedIps.push({ subnetId: pair[FIXED_IP_SUBNET - 1], ip: pair[FIXED_IP_ADDRESS - 1] });
    } else if (field === F.hostInfo) {
      // The generated decoder keeps only the last host_info message; merging two is not its behaviour.
      if (hostInfoSeen || !readPair(r, end, 2)) return false;
      hostInfoSeen = true;
      out.hostIp = pair[HOST_INFO_IP - 1];
    } else if (field === F.securityGroupIds) {
      if (!readPair(r, end, SECURITY_GROUP_ID)) return false;
    } else {
      const text = r.ascii(end);
      if (text === null) return false;
      if (field === F.id) out.id = text;
      else if (field === F.mac) out.mac = text;
      else if (!FREE_STRINGS.has(field)) return false;
    }
  }
  return r.pos === to;
}

/**
 * True when the encoded PortState `state`, stored under map key `id`, is surely accepted by the ordinary
 * check (decode, then core's normalizePort and its op checks); false when not sure. The state may lie from
 * `start` to `end` of a larger buffer (a received message).
 */
export function portSurelyValid(state: Uint8Array, id: string, start = 0, end = state.length): boolean {
  const buf = Buffer.isBuffer(state) ? state : Buffer.from(state.buffer, state.byteOffset, state.byteLength);
  const r = new Reader(buf, end);
  r.pos = start;
  let operation: number = OperationType.INFO;
  const out: PortFields = { id: '', updateType: UpdateType.DELTA, mac: '', hostIp: '', fixedIps: [] };
  let configSeen = false;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === ((STATE_OPERATION << 3) | WIRE_VARINT)) {
      operation = r.varint();
      if (operation < 0) return false;
    } else if (tag === ((STATE_CONFIGURATION << 3) | WIRE_LEN) && !configSeen) {
      configSeen = true;
      const end = r.len();
      if (end < 0 || !readConfiguration(r, end, out)) return false;
    } else return false;
  }
  if (!configSeen || operation > OperationType.DELETE) return false;
  if (out.updateType !== UpdateType.DELTA && out.updateType !== UpdateType.FULL) return false;
  if (out.id !== '' && out.id !== id) return false;
  if (operation === OperationType.CREATE && out.updateType !== UpdateType.FULL) return false;
  if (out.fixedIps.length === 0) return false;
  return accepts(() => {
    mac('mac_address', out.mac);
    if (out.hostIp !== '') hostIpv4('host_info.ip_address', out.hostIp);
    out.fixedIps.forEach((f, i) => {
      if (f.subnetId === '') throw new Error('empty subnet id');
      hostIpv4At('fixed_ips', i, 'ip_address', f.ip);
    });
  });
}
