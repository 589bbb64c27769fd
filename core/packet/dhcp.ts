// DHCP messages (RFC 2131 §2 BOOTP fixed part + RFC 2132 options): parse robustly, encode.
//
// Parsing never throws: malformed input gives `{kind:'invalid', reason}`. Option overload (option 52) is honoured,
// so options carried in `file`/`sname` are read too. Repeated instances of one option are concatenated (RFC 3396).
import { invalid, macFromBytes, ok, readU32, writeU32, formatIpv4, parseIpv4, type Parsed } from './addr';
import { PacketBuildError } from './ethernet';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
/** 99.130.83.99 (RFC 2131 §3). */
export const MAGIC_COOKIE = 0x63825363;
export const BOOTP_FIXED_BYTES = 236;
/** Many clients (and RFC 1542 relays) expect a BOOTP message of at least 300 bytes; we pad replies to it. */
export const BOOTP_MIN_BYTES = 300;
export const FLAG_BROADCAST = 0x8000;

export const DhcpMessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

export const DHCP_MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'DISCOVER',
  2: 'OFFER',
  3: 'REQUEST',
  4: 'DECLINE',
  5: 'ACK',
  6: 'NAK',
  7: 'RELEASE',
  8: 'INFORM',
};

/** Option codes used by name (RFC 2132). */
export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  INTERFACE_MTU: 26,
  BROADCAST: 28,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  RENEWAL_T1: 58,
  REBINDING_T2: 59,
  CLIENT_ID: 61,
  END: 255,
} as const;

export interface DhcpOption {
  readonly code: number;
  readonly data: Uint8Array;
}

export interface DhcpMessage {
  readonly op: number;
  readonly htype: number;
  readonly hlen: number;
  readonly hops: number;
  readonly xid: number;
  readonly secs: number;
  readonly flags: number;
  readonly ciaddr: number;
  readonly yiaddr: number;
  readonly siaddr: number;
  readonly giaddr: number;
  /** Client hardware address as 'aa:bb:..' (Ethernet: the first 6 bytes of chaddr). */
  readonly chaddr: string;
  readonly sname: string;
  readonly file: string;
  /** Options in order of appearance, repeated codes merged (RFC 3396). No PAD/END. */
  readonly options: readonly DhcpOption[];
}

function cString(buf: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && buf[end] !== 0) end++;
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i] ?? 0);
  return s;
}

/** Reads options from [start, end) into `into` (code -> chunks). Returns an error reason or null. */
function readOptions(
  buf: Uint8Array,
  start: number,
  end: number,
  into: Map<number, Uint8Array[]>,
  order: number[],
): string | null {
  let i = start;
  while (i < end) {
    const code = buf[i] ?? 0;
    if (code === OPT.PAD) {
      i += 1;
      continue;
    }
    if (code === OPT.END) return null;
    if (i + 1 >= end) return `option ${code} has no length byte`;
    const len = buf[i + 1] ?? 0;
    if (i + 2 + len > end) return `option ${code} (length ${len}) runs past the end of the message`;
    const chunk = buf.subarray(i + 2, i + 2 + len);
    const list = into.get(code);
    if (list === undefined) {
      into.set(code, [chunk]);
      order.push(code);
    } else {
      list.push(chunk);
    }
    i += 2 + len;
  }
  // A missing END option is tolerated (some clients forget it; the UDP length bounds the options).
  return null;
}

/** Parses a DHCP/BOOTP message from `buf[offset, offset+length)`. */
export function parseDhcp(buf: Uint8Array, offset = 0, length = buf.length - offset): Parsed<DhcpMessage> {
  if (offset < 0 || length < 0 || offset + length > buf.length)
    return invalid('DHCP message bounds outside the buffer');
  if (length < BOOTP_FIXED_BYTES + 4)
    return invalid(`DHCP message of ${length} bytes is shorter than BOOTP + magic cookie (240)`);
  const b = buf.subarray(offset, offset + length);
  if (readU32(b, BOOTP_FIXED_BYTES) !== MAGIC_COOKIE)
    return invalid('no DHCP magic cookie (plain BOOTP is not served)');
  const hlen = b[2] ?? 0;
  const htype = b[1] ?? 0;
  if (htype !== 1 || hlen !== 6) return invalid(`hardware type ${htype}/length ${hlen} is not Ethernet (1/6)`);
  const chunks = new Map<number, Uint8Array[]>();
  const order: number[] = [];
  const err = readOptions(b, BOOTP_FIXED_BYTES + 4, b.length, chunks, order);
  if (err !== null) return invalid(err);
  // RFC 2132 §9.3: option 52 says `file` (1), `sname` (2) or both (3) carry more options, read after the main field.
  const overload = chunks.get(OPT.OVERLOAD)?.[0]?.[0] ?? 0;
  let sname = cString(b, 44, 64);
  let file = cString(b, 108, 128);
  if (overload === 1 || overload === 3) {
    const e = readOptions(b, 108, 236, chunks, order);
    if (e !== null) return invalid(`in overloaded file field: ${e}`);
    file = '';
  }
  if (overload === 2 || overload === 3) {
    const e = readOptions(b, 44, 108, chunks, order);
    if (e !== null) return invalid(`in overloaded sname field: ${e}`);
    sname = '';
  }
  const options: DhcpOption[] = order.map((code) => {
    const parts = chunks.get(code) ?? [];
    if (parts.length === 1 && parts[0] !== undefined) return { code, data: parts[0] };
    const total = parts.reduce((n, p) => n + p.length, 0);
    const data = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      data.set(p, o);
      o += p.length;
    }
    return { code, data };
  });
  return ok({
    op: b[0] ?? 0,
    htype,
    hlen,
    hops: b[3] ?? 0,
    xid: readU32(b, 4),
    secs: ((b[8] ?? 0) << 8) | (b[9] ?? 0),
    flags: ((b[10] ?? 0) << 8) | (b[11] ?? 0),
    ciaddr: readU32(b, 12),
    yiaddr: readU32(b, 16),
    siaddr: readU32(b, 20),
    giaddr: readU32(b, 24),
    chaddr: macFromBytes(b, 28),
    sname,
    file,
    options,
  });
}

export function findOption(msg: DhcpMessage, code: number): Uint8Array | undefined {
  return msg.options.find((o) => o.code === code)?.data;
}

/** The message type (option 53), or null when absent/malformed. */
export function messageTypeOf(msg: DhcpMessage): number | null {
  const d = findOption(msg, OPT.MESSAGE_TYPE);
  return d !== undefined && d.length === 1 ? (d[0] ?? null) : null;
}

/** An option holding one IPv4 address, or null when absent or not 4 bytes. */
export function ipOption(msg: DhcpMessage, code: number): number | null {
  const d = findOption(msg, code);
  return d !== undefined && d.length === 4 ? readU32(d, 0) : null;
}

export interface DhcpMessageSpec {
  readonly op: number;
  readonly xid: number;
  readonly secs?: number;
  readonly flags?: number;
  readonly ciaddr?: number;
  readonly yiaddr?: number;
  readonly siaddr?: number;
  readonly giaddr?: number;
  readonly chaddr: Uint8Array;
  readonly hops?: number;
  /** Encoded in this order; data longer than 255 bytes is split into several instances (RFC 3396). */
  readonly options: readonly DhcpOption[];
}

/** Encodes a DHCP message (magic cookie, options, END), padded to 300 bytes. */
export function encodeDhcp(spec: DhcpMessageSpec): Uint8Array {
  if (spec.chaddr.length > 16) throw new PacketBuildError('chaddr longer than 16 bytes');
  let optBytes = 1; // END
  for (const o of spec.options) {
    if (o.code <= 0 || o.code >= 255) throw new PacketBuildError(`option code ${o.code} cannot carry data`);
    optBytes += Math.max(1, Math.ceil(o.data.length / 255)) * 2 + o.data.length;
  }
  const size = Math.max(BOOTP_MIN_BYTES, BOOTP_FIXED_BYTES + 4 + optBytes);
  const out = new Uint8Array(size);
  out[0] = spec.op;
  out[1] = 1;
  out[2] = 6;
  out[3] = spec.hops ?? 0;
  writeU32(out, 4, spec.xid);
  out[8] = ((spec.secs ?? 0) >>> 8) & 0xff;
  out[9] = (spec.secs ?? 0) & 0xff;
  out[10] = ((spec.flags ?? 0) >>> 8) & 0xff;
  out[11] = (spec.flags ?? 0) & 0xff;
  writeU32(out, 12, spec.ciaddr ?? 0);
  writeU32(out, 16, spec.yiaddr ?? 0);
  writeU32(out, 20, spec.siaddr ?? 0);
  writeU32(out, 24, spec.giaddr ?? 0);
  out.set(spec.chaddr, 28);
  writeU32(out, BOOTP_FIXED_BYTES, MAGIC_COOKIE);
  let i = BOOTP_FIXED_BYTES + 4;
  for (const o of spec.options) {
    let pos = 0;
    do {
      const n = Math.min(255, o.data.length - pos);
      out[i] = o.code;
      out[i + 1] = n;
      out.set(o.data.subarray(pos, pos + n), i + 2);
      i += 2 + n;
      pos += n;
    } while (pos < o.data.length);
  }
  out[i] = OPT.END;
  return out;
}

// ---- option value encoders -------------------------------------------------------------------------------------

export const u8 = (v: number): Uint8Array => Uint8Array.of(v & 0xff);
export const u16 = (v: number): Uint8Array => Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, v >>> 0);
  return b;
}
export function ipList(ips: readonly number[]): Uint8Array {
  const b = new Uint8Array(ips.length * 4);
  ips.forEach((ip, k) => writeU32(b, k * 4, ip));
  return b;
}
const UTF8 = new TextEncoder();
export const text = (s: string): Uint8Array => UTF8.encode(s);

/** How a named option's value text is encoded. */
type ValueKind = 'ips' | 'u8' | 'u16' | 'u32' | 'i32' | 'text' | 'domain-list' | 'static-routes' | 'bool';

interface NamedOption {
  readonly code: number;
  readonly kind: ValueKind;
}

/**
 * Option names accepted in extra DHCP options: dnsmasq's names (what Neutron's extra_dhcp_opts use, see dnsmasq
 * --help dhcp) plus a few aliases. Numeric names ('42') use the table's type when known.
 */
export const NAMED_OPTIONS: Readonly<Record<string, NamedOption>> = {
  netmask: { code: 1, kind: 'ips' },
  'time-offset': { code: 2, kind: 'i32' },
  router: { code: 3, kind: 'ips' },
  'time-server': { code: 4, kind: 'ips' },
  'dns-server': { code: 6, kind: 'ips' },
  'log-server': { code: 7, kind: 'ips' },
  'lpr-server': { code: 9, kind: 'ips' },
  hostname: { code: 12, kind: 'text' },
  'boot-file-size': { code: 13, kind: 'u16' },
  'domain-name': { code: 15, kind: 'text' },
  'swap-server': { code: 16, kind: 'ips' },
  'root-path': { code: 17, kind: 'text' },
  'extension-path': { code: 18, kind: 'text' },
  'ip-forward-enable': { code: 19, kind: 'bool' },
  'max-datagram-reassembly': { code: 22, kind: 'u16' },
  'default-ttl': { code: 23, kind: 'u8' },
  mtu: { code: 26, kind: 'u16' },
  'all-subnets-local': { code: 27, kind: 'bool' },
  broadcast: { code: 28, kind: 'ips' },
  'router-discovery': { code: 31, kind: 'bool' },
  'router-solicitation': { code: 32, kind: 'ips' },
  'static-route': { code: 33, kind: 'ips' },
  'trailer-encapsulation': { code: 34, kind: 'bool' },
  'arp-timeout': { code: 35, kind: 'u32' },
  'ethernet-encap': { code: 36, kind: 'bool' },
  'tcp-ttl': { code: 37, kind: 'u8' },
  'tcp-keepalive': { code: 38, kind: 'u32' },
  'nis-domain': { code: 40, kind: 'text' },
  'nis-server': { code: 41, kind: 'ips' },
  'ntp-server': { code: 42, kind: 'ips' },
  'netbios-ns': { code: 44, kind: 'ips' },
  'netbios-dd': { code: 45, kind: 'ips' },
  'netbios-nodetype': { code: 46, kind: 'u8' },
  'netbios-scope': { code: 47, kind: 'text' },
  'x-windows-fs': { code: 48, kind: 'ips' },
  'x-windows-dm': { code: 49, kind: 'ips' },
  'lease-time': { code: 51, kind: 'u32' },
  'server-identifier': { code: 54, kind: 'ips' },
  T1: { code: 58, kind: 'u32' },
  T2: { code: 59, kind: 'u32' },
  'nis+-domain': { code: 64, kind: 'text' },
  'nis+-server': { code: 65, kind: 'ips' },
  'tftp-server': { code: 66, kind: 'text' },
  'bootfile-name': { code: 67, kind: 'text' },
  'smtp-server': { code: 69, kind: 'ips' },
  'pop3-server': { code: 70, kind: 'ips' },
  'domain-search': { code: 119, kind: 'domain-list' },
  'sip-server': { code: 120, kind: 'ips' },
  'classless-static-route': { code: 121, kind: 'static-routes' },
  'server-ip-address': { code: 150, kind: 'ips' }, // TFTP server address (RFC 5859)
  // aliases seen in Neutron/Alcor configs
  'dns-servers': { code: 6, kind: 'ips' },
  'dns-nameservers': { code: 6, kind: 'ips' },
  'ntp-servers': { code: 42, kind: 'ips' },
  'interface-mtu': { code: 26, kind: 'u16' },
  'subnet-mask': { code: 1, kind: 'ips' },
};

const KIND_BY_CODE = new Map<number, ValueKind>();
for (const o of Object.values(NAMED_OPTIONS)) if (!KIND_BY_CODE.has(o.code)) KIND_BY_CODE.set(o.code, o.kind);

function encodeIps(value: string): Uint8Array | string {
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) return 'empty address list';
  const ips: number[] = [];
  for (const p of parts) {
    const ip = parseIpv4(p);
    if (ip === null) return `'${p}' is not an IPv4 address`;
    ips.push(ip);
  }
  return ipList(ips);
}

function encodeInt(value: string, bytes: 1 | 2 | 4, signed: boolean): Uint8Array | string {
  if (!/^-?\d+$/.test(value.trim())) return `'${value}' is not an integer`;
  const n = Number(value.trim());
  const max = bytes === 4 ? 0xffffffff : bytes === 2 ? 0xffff : 0xff;
  const min = signed ? -(2 ** (bytes * 8 - 1)) : 0;
  if (n < min || n > (signed ? 2 ** (bytes * 8 - 1) - 1 : max)) return `${n} does not fit in ${bytes} byte(s)`;
  const v = n < 0 ? n + 2 ** (bytes * 8) : n;
  return bytes === 1 ? u8(v) : bytes === 2 ? u16(v) : u32(v);
}

/** RFC 1035 §3.1 names, uncompressed, for option 119 (RFC 3397). */
function encodeDomainList(value: string): Uint8Array | string {
  const out: number[] = [];
  for (const name of value.split(/[,\s]+/).filter((n) => n !== '')) {
    for (const label of name.replace(/\.$/, '').split('.')) {
      const bytes = UTF8.encode(label);
      if (bytes.length === 0 || bytes.length > 63) return `bad domain label in '${name}'`;
      out.push(bytes.length, ...bytes);
    }
    out.push(0);
  }
  return out.length === 0 ? 'empty domain list' : Uint8Array.from(out);
}

/** RFC 3442: "dest/prefix,router[,dest/prefix,router...]" -> compact descriptors. */
function encodeStaticRoutes(value: string): Uint8Array | string {
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0 || parts.length % 2 !== 0) return 'classless static routes need dest/prefix,router pairs';
  const out: number[] = [];
  for (let k = 0; k < parts.length; k += 2) {
    const [destText, prefixText] = (parts[k] ?? '').split('/');
    const dest = parseIpv4(destText ?? '');
    const prefix = Number(prefixText);
    const router = parseIpv4(parts[k + 1] ?? '');
    if (dest === null || router === null || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
      return `bad route '${parts[k]},${parts[k + 1]}'`;
    }
    out.push(prefix);
    const significant = Math.ceil(prefix / 8);
    for (let j = 0; j < significant; j++) out.push((dest >>> (24 - 8 * j)) & 0xff);
    out.push((router >>> 24) & 0xff, (router >>> 16) & 0xff, (router >>> 8) & 0xff, router & 0xff);
  }
  return Uint8Array.from(out);
}

function encodeValue(kind: ValueKind, value: string): Uint8Array | string {
  switch (kind) {
    case 'ips':
      return encodeIps(value);
    case 'u8':
      return encodeInt(value, 1, false);
    case 'u16':
      return encodeInt(value, 2, false);
    case 'u32':
      return encodeInt(value, 4, false);
    case 'i32':
      return encodeInt(value, 4, true);
    case 'bool': {
      const v = value.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return u8(1);
      if (['0', 'false', 'no', 'off'].includes(v)) return u8(0);
      return `'${value}' is not a boolean`;
    }
    case 'text':
      return value.length === 0 ? 'empty text' : text(value);
    case 'domain-list':
      return encodeDomainList(value);
    case 'static-routes':
      return encodeStaticRoutes(value);
    default: {
      const never: never = kind;
      return never;
    }
  }
}

/**
 * Encodes an extra DHCP option given by name ('ntp-server', 'option:ntp-server', '42', 'option:42') and value text.
 * A numeric code without a known type is encoded as: an IPv4 list if every item is an address, bytes if written as
 * hex pairs (`0a:0b:ff`), otherwise UTF-8 text. Returns `{kind:'invalid'}` with the reason when it cannot be encoded.
 */
export function encodeNamedOption(name: string, value: string): Parsed<DhcpOption> {
  const key = name.trim().replace(/^option:/i, '');
  if (/^\d+$/.test(key)) {
    const code = Number(key);
    if (code <= 0 || code >= 255) return invalid(`option code ${code} is out of range 1..254`);
    const kind = KIND_BY_CODE.get(code);
    if (kind !== undefined) {
      const data = encodeValue(kind, value);
      return typeof data === 'string' ? invalid(`option ${code}: ${data}`) : ok({ code, data });
    }
    const asIps = encodeIps(value);
    if (typeof asIps !== 'string') return ok({ code, data: asIps });
    if (/^[0-9a-f]{2}(:[0-9a-f]{2})*$/i.test(value.trim())) {
      return ok({
        code,
        data: Uint8Array.from(
          value
            .trim()
            .split(':')
            .map((h) => parseInt(h, 16)),
        ),
      });
    }
    return value.length === 0 ? invalid(`option ${code}: empty value`) : ok({ code, data: text(value) });
  }
  const known = NAMED_OPTIONS[key] ?? NAMED_OPTIONS[key.toLowerCase()];
  if (known === undefined) return invalid(`unknown DHCP option name '${name}'`);
  const data = encodeValue(known.kind, value);
  return typeof data === 'string' ? invalid(`option '${name}': ${data}`) : ok({ code: known.code, data });
}

/** Debug text of an IPv4 option value list. */
export function ipsText(data: Uint8Array): string {
  const out: string[] = [];
  for (let i = 0; i + 4 <= data.length; i += 4) out.push(formatIpv4(readU32(data, i)));
  return out.join(',');
}
