// Address text <-> number, strict and allocation-free on the success path.
//
// Every goal state carries one or more addresses per resource and a goal state can hold a million
// neighbors, so the parsers are hand-written character loops: no regex, no split, no substrings.
// The plain parsers return a sentinel (-1 / undefined) instead of throwing; the `*Problem`
// functions are called only after a failure to say, in words, what is wrong with the text.
//
// Accepted forms (anything else is rejected):
// - IPv4: four decimal octets 0-255 separated by dots, no leading zeros ("010" is ambiguous: octal
//   in inet_aton, decimal elsewhere, so refuse it as glibc inet_pton does), no spaces.
// - CIDR: IPv4 "/" prefix 0-32 (no leading zeros). The parser accepts host bits and clears them:
//   "10.0.0.5/24" reads as 10.0.0.0/24 with prefix 24, which is right for match prefixes
//   (remote_ip_prefix, route destinations, address pairs; Neutron normalizes those too). A
//   network's own CIDR (subnet, VPC) is stricter: see networkCidrProblem. Fields that may hold a
//   bare address (allowed address pairs, remote_ip_prefix) pass `bareAddressIsHost` to read
//   "a.b.c.d" as a.b.c.d/32.
// - MAC: six hex pairs separated by ':' or '-' (one separator throughout), any case.
// - IPv6 text (anything with ':' where an IPv4 address is expected) is recognised and rejected with
//   "IPv6 is not supported yet".

import type { Cidr, Ipv4, Mac } from '../model';

/** What the plain parsers return for text they reject. */
export const INVALID = -1;

export type AddrErrorCode = 'BAD_IPV4' | 'BAD_CIDR' | 'BAD_MAC' | 'IPV6_UNSUPPORTED';

export class AddrError extends Error {
  readonly code: AddrErrorCode;
  constructor(code: AddrErrorCode, message: string) {
    super(message);
    this.name = 'AddrError';
    this.code = code;
  }
}

const CH_0 = 48;
const CH_9 = 57;
const CH_DOT = 46;
const CH_SLASH = 47;
const CH_COLON = 58;
const CH_DASH = 45;

// ---------------------------------------------------------------------------------------------
// IPv4

/** Parses dotted-quad IPv4 text into its uint32 value; INVALID (-1) when the text is not one. */
export function parseIpv4(text: string): Ipv4 {
  return parseIpv4Range(text, 0, text.length);
}

/** parseIpv4 over text[start, end). */
function parseIpv4Range(text: string, start: number, end: number): number {
  const n = end - start;
  if (n < 7 || n > 15) return INVALID;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let leadingZero = false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= CH_0 && c <= CH_9) {
      if (leadingZero) return INVALID;
      if (digits === 0 && c === CH_0) leadingZero = true;
      octet = octet * 10 + (c - CH_0);
      digits++;
      if (octet > 255) return INVALID;
    } else if (c === CH_DOT) {
      if (digits === 0 || dots === 3) return INVALID;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
      leadingZero = false;
    } else {
      return INVALID;
    }
  }
  if (dots !== 3 || digits === 0) return INVALID;
  return value * 256 + octet;
}

/** Formats a uint32 as dotted-quad text. */
export function formatIpv4(ip: Ipv4): string {
  return ((ip >>> 24) & 255) + '.' + ((ip >>> 16) & 255) + '.' + ((ip >>> 8) & 255) + '.' + (ip & 255);
}

/** True when the text looks like an IPv6 address (so the error can say "IPv6", not "garbage"). */
export function looksLikeIpv6(text: string): boolean {
  if (parseMac(text) !== INVALID) return false;
  let colons = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === CH_COLON) colons++;
    else if (c === 37)
      break; // '%': a zone index (fe80::1%eth0) follows
    else if (!(isHex(c) || c === CH_DOT || c === CH_SLASH)) return false;
  }
  return colons >= 2;
}

function isHex(c: number): boolean {
  return (c >= CH_0 && c <= CH_9) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function hexValue(c: number): number {
  if (c >= CH_0 && c <= CH_9) return c - CH_0;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Why `text` is not an IPv4 address, as a sentence naming the field. Call only after a failure. */
export function ipv4Problem(field: string, text: string): string {
  if (text.length === 0) return `${field} is empty (want an IPv4 address like 10.0.0.1)`;
  if (looksLikeIpv6(text)) return ipv6Message(field, text);
  return `${field} '${shown(text)}' is not an IPv4 address (${ipv4Detail(text)}; want four decimal numbers 0-255 like 10.0.0.1)`;
}

function ipv6Message(field: string, text: string): string {
  return `${field} '${shown(text)}' is an IPv6 address: IPv6 is not supported yet (IPv4 only)`;
}

function ipv4Detail(text: string): string {
  if (text.trim() !== text) return 'it has leading or trailing spaces';
  const parts = text.split('.');
  if (parts.length !== 4) return `it has ${parts.length} dot-separated parts, not 4`;
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? '';
    const which = `part ${i + 1}`;
    if (part.length === 0) return `${which} is empty`;
    for (let j = 0; j < part.length; j++) {
      const c = part.charCodeAt(j);
      if (c < CH_0 || c > CH_9) return `${which} '${shown(part)}' is not a decimal number`;
    }
    if (part.length > 1 && part.charCodeAt(0) === CH_0) return `${which} '${part}' has a leading zero`;
    if (Number(part) > 255) return `${which} (${shown(part)}) is over 255`;
  }
  return 'it is malformed';
}

/** parseIpv4 that throws an AddrError naming `field` on bad text. */
export function requireIpv4(field: string, text: string): Ipv4 {
  const ip = parseIpv4(text);
  if (ip === INVALID) {
    throw new AddrError(looksLikeIpv6(text) ? 'IPV6_UNSUPPORTED' : 'BAD_IPV4', ipv4Problem(field, text));
  }
  return ip;
}

// ---------------------------------------------------------------------------------------------
// CIDR

/** The netmask of a prefix length as a uint32 (prefixMask(24) = 0xffffff00). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** True when `ip` lies inside `cidr`. */
export function cidrContains(cidr: Cidr, ip: Ipv4): boolean {
  const mask = prefixMask(cidr.prefix);
  return (ip & mask) >>> 0 === cidr.addr;
}

/**
 * Parses "a.b.c.d/n" into {addr, prefix} with the host bits of addr cleared; undefined when the
 * text is not an IPv4 CIDR. With `bareAddressIsHost`, "a.b.c.d" alone reads as a.b.c.d/32.
 */
export function parseCidr(text: string, bareAddressIsHost = false): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (!bareAddressIsHost) return undefined;
    const ip = parseIpv4(text);
    return ip === INVALID ? undefined : { addr: ip, prefix: 32 };
  }
  const ip = parseIpv4Range(text, 0, slash);
  if (ip === INVALID) return undefined;
  const prefix = parsePrefix(text, slash + 1);
  if (prefix < 0) return undefined;
  return { addr: (ip & prefixMask(prefix)) >>> 0, prefix };
}

function parsePrefix(text: string, start: number): number {
  const n = text.length - start;
  if (n < 1 || n > 2) return INVALID;
  const c0 = text.charCodeAt(start);
  if (c0 < CH_0 || c0 > CH_9) return INVALID;
  if (n === 1) return c0 - CH_0;
  if (c0 === CH_0) return INVALID;
  const c1 = text.charCodeAt(start + 1);
  if (c1 < CH_0 || c1 > CH_9) return INVALID;
  const prefix = (c0 - CH_0) * 10 + (c1 - CH_0);
  return prefix > 32 ? INVALID : prefix;
}

export function formatCidr(cidr: Cidr): string {
  return formatIpv4(cidr.addr) + '/' + cidr.prefix;
}

/** Why `text` is not an IPv4 CIDR, naming the field. Call only after a failure. */
export function cidrProblem(field: string, text: string, bareAddressIsHost = false): string {
  const want = bareAddressIsHost
    ? 'want address/prefix like 10.0.0.0/24, or an address'
    : 'want address/prefix like 10.0.0.0/24';
  if (text.length === 0) return `${field} is empty (${want})`;
  if (looksLikeIpv6(text)) return ipv6Message(field, text);
  const slash = text.indexOf('/');
  let detail: string;
  if (slash < 0) {
    detail = parseIpv4(text) === INVALID ? ipv4Detail(text) : 'the /prefix is missing';
  } else {
    const addr = text.slice(0, slash);
    const prefix = text.slice(slash + 1);
    if (parseIpv4(addr) === INVALID) detail = `the address: ${addr.length === 0 ? 'it is empty' : ipv4Detail(addr)}`;
    else if (prefix.length === 0) detail = 'the prefix after / is empty';
    else detail = `the prefix '${shown(prefix)}' is not a whole number 0-32`;
  }
  return `${field} '${shown(text)}' is not an IPv4 CIDR (${detail}; ${want})`;
}

/** parseCidr that throws an AddrError naming `field` on bad text. */
export function requireCidr(field: string, text: string, bareAddressIsHost = false): Cidr {
  const cidr = parseCidr(text, bareAddressIsHost);
  if (cidr === undefined) {
    throw new AddrError(
      looksLikeIpv6(text) ? 'IPV6_UNSUPPORTED' : 'BAD_CIDR',
      cidrProblem(field, text, bareAddressIsHost),
    );
  }
  return cidr;
}

// ---------------------------------------------------------------------------------------------
// MAC

/** Parses "aa:bb:cc:dd:ee:ff" or "aa-bb-cc-dd-ee-ff" (any case) to its 48-bit value; INVALID (-1) otherwise. */
export function parseMac(text: string): Mac {
  if (text.length !== 17) return INVALID;
  const sep = text.charCodeAt(2);
  if (sep !== CH_COLON && sep !== CH_DASH) return INVALID;
  let value = 0;
  for (let i = 0; i < 17; i += 3) {
    const hi = hexValue(text.charCodeAt(i));
    const lo = hexValue(text.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return INVALID;
    if (i < 15 && text.charCodeAt(i + 2) !== sep) return INVALID;
    // value * 256 stays exact: the result is below 2^48, well inside a double's 53 bits.
    value = value * 256 + hi * 16 + lo;
  }
  return value;
}

const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, i) => (i < 16 ? '0' : '') + i.toString(16));

/** Formats a 48-bit MAC as lower-case "aa:bb:cc:dd:ee:ff" (or with another separator). */
export function formatMac(mac: Mac, separator = ':'): string {
  const hi = Math.floor(mac / 0x100000000); // top 16 bits
  const lo = mac >>> 0; // bottom 32 bits (ToUint32 takes the value modulo 2^32)
  return (
    pair(hi >>> 8) +
    separator +
    pair(hi) +
    separator +
    pair(lo >>> 24) +
    separator +
    pair(lo >>> 16) +
    separator +
    pair(lo >>> 8) +
    separator +
    pair(lo)
  );
}

function pair(byte: number): string {
  return HEX_PAIRS[byte & 255] ?? '00';
}

/** Why `text` is not a MAC, naming the field. Call only after a failure. */
export function macProblem(field: string, text: string): string {
  const want = 'want six hex pairs like fa:16:3e:00:00:01';
  if (text.length === 0) return `${field} is empty (${want})`;
  return `${field} '${shown(text)}' is not a MAC (${want})`;
}

/** parseMac that throws an AddrError naming `field` on bad text. */
export function requireMac(field: string, text: string): Mac {
  const mac = parseMac(text);
  if (mac === INVALID) throw new AddrError('BAD_MAC', macProblem(field, text));
  return mac;
}

// ---------------------------------------------------------------------------------------------
// What a network can use (syntax aside)
//
// Decisions, for an IPv4 overlay on an IPv4 underlay:
// - A MAC given to a port, neighbor, gateway, DHCP entry or router must be unicast and not all
//   zeros: a group MAC (the I/G bit, bit 0 of the first octet, set; broadcast included) as a
//   neighbor turns into a tunnel flow for every broadcast or multicast frame, and 00:00:00:00:00:00
//   is what an unset field looks like. Locally administered MACs (fa:16:3e..., fe:16:11...) are fine.
// - A usable host address (a tunnel endpoint, a VM's fixed IP, a DHCP or gateway address) is none
//   of: 0.0.0.0/8 ("this network", RFC 1122), 127.0.0.0/8 (loopback: a tunnel to it never leaves
//   the host, and a VM's loopback is its own), 224.0.0.0/4 (multicast) and 240.0.0.0/4 (reserved,
//   with the limited broadcast 255.255.255.255). Private, shared (100.64/10), link-local
//   (169.254/16) and documentation ranges stay allowed: clouds and test beds use them.
// - A network's CIDR has no host bits set (10.0.0.5/24 is a typo or a port's address, not a
//   network) and a prefix of 8 to 32: shorter prefixes would cover one of the reserved /8 or /4
//   blocks above, or the whole Internet (/0), which no tenant network can be.
// - Within a subnet of prefix 30 or shorter, the network and broadcast addresses are not host
//   addresses. A /31 has no network or broadcast address (RFC 3021: both are hosts), and a /32
//   is its single address.

/** Shortest and longest prefix a network (subnet, VPC) may have; see above. */
export const MIN_NETWORK_PREFIX = 8;
export const MAX_NETWORK_PREFIX = 32;

/** Why a MAC cannot be an endpoint's address (group or all-zero), or undefined when it can. */
export function macUseProblem(field: string, mac: Mac): string | undefined {
  if (mac === 0) return `${field} 00:00:00:00:00:00 is not a usable MAC (all zeros; want a unicast MAC)`;
  // The I/G bit is the lowest bit of the first (most significant) octet.
  if (Math.floor(mac / 0x10000000000) % 2 === 1) {
    const what = mac === 0xffffffffffff ? 'the broadcast MAC' : 'a multicast (group) MAC';
    return `${field} ${formatMac(mac)} is ${what}, not a unicast MAC`;
  }
  return undefined;
}

/** Why an address cannot be a host's (see above), or undefined when it can. */
export function hostIpProblem(field: string, ip: Ipv4): string | undefined {
  const first = ip >>> 24;
  let what: string | undefined;
  if (first === 0) what = ip === 0 ? 'the unspecified address' : "in 0.0.0.0/8 ('this network')";
  else if (first === 127) what = 'a loopback address (127.0.0.0/8)';
  else if (first >= 224 && first < 240) what = 'a multicast address (224.0.0.0/4)';
  else if (ip === 0xffffffff) what = 'the broadcast address';
  else if (first >= 240) what = 'in the reserved range 240.0.0.0/4';
  return what === undefined ? undefined : `${field} ${formatIpv4(ip)} is ${what}, not a usable host address`;
}

/**
 * Why `cidr` (as written in `text`) cannot be a network's CIDR: host bits set, a prefix outside
 * MIN..MAX_NETWORK_PREFIX, or a reserved range. Undefined when it can.
 */
export function networkCidrProblem(field: string, text: string, cidr: Cidr): string | undefined {
  const written = parseIpv4Range(text, 0, text.indexOf('/'));
  if (written !== cidr.addr) {
    return `${field} '${shown(text)}' has host bits set (the network is ${formatCidr(cidr)}; write it that way)`;
  }
  if (cidr.prefix < MIN_NETWORK_PREFIX) {
    return `${field} '${shown(text)}' has prefix /${cidr.prefix}: a network's prefix is /${MIN_NETWORK_PREFIX} to /${MAX_NETWORK_PREFIX}`;
  }
  const reserved = hostIpProblem(field, cidr.addr);
  if (reserved !== undefined)
    return `${field} '${shown(text)}' is not a usable network (${formatIpv4(cidr.addr)} is not a host range)`;
  return undefined;
}

/** Why `ip` cannot be a host inside `cidr` (its network or broadcast address, prefix <= 30), or undefined. */
export function subnetHostProblem(field: string, ip: Ipv4, cidr: Cidr): string | undefined {
  if (cidr.prefix > 30) return undefined;
  if (ip === cidr.addr)
    return `${field} ${formatIpv4(ip)} is the network address of ${formatCidr(cidr)}, not a host address`;
  const broadcast = (cidr.addr | ~prefixMask(cidr.prefix)) >>> 0;
  if (ip === broadcast)
    return `${field} ${formatIpv4(ip)} is the broadcast address of ${formatCidr(cidr)}, not a host address`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------

/** Input echoed in an error, cut short so a hostile 1 MB string does not become a 1 MB log line. */
function shown(text: string): string {
  return text.length <= 48 ? text : text.slice(0, 45) + '...';
}
