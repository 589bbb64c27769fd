// The resource records (stored as JSON, returned by the API as they are) and the checks on request bodies.
// Bodies are camelCase JSON; every problem names its field. Cross-resource checks (references, overlaps,
// addresses in use) happen in the service, inside the transaction that writes.
import { randomUUID } from 'node:crypto';
import { Cidr } from '../../core/model';
import { INVALID, parseCidr, parseIpv4, parseMac, formatMac } from '../../core/goalstate/addr';
import { ApiError, badField } from './errors';

export interface VpcRecord {
  readonly id: string;
  readonly cidr: string;
  readonly vni: number;
  readonly revision: number;
}

export interface SubnetRecord {
  readonly id: string;
  readonly vpc: string;
  readonly cidr: string;
  readonly gatewayIp: string;
  readonly gatewayMac: string;
  readonly dhcp: boolean;
  readonly dnsServers: readonly string[];
  /** The subnet's own VNI (the agent keys L2 by it), allocated from the same pool as VPC VNIs. */
  readonly vni: number;
  readonly revision: number;
}

export interface PortRecord {
  readonly id: string;
  readonly subnet: string;
  readonly vpc: string;
  /** Underlay IP of the host the port is bound to; '' when unbound. */
  readonly host: string;
  readonly mac: string;
  readonly ip: string;
  readonly securityGroups: readonly string[];
  readonly device: string;
  readonly revision: number;
}

export interface RouterRecord {
  readonly id: string;
  readonly subnets: readonly string[];
  readonly revision: number;
}

export type Direction = 'ingress' | 'egress';
export type Ethertype = 'IPv4' | 'IPv6';
export type RuleProtocol = 'tcp' | 'udp' | 'icmp';

export interface SgRule {
  readonly direction: Direction;
  readonly ethertype: Ethertype;
  readonly protocol?: RuleProtocol;
  readonly portMin?: number;
  readonly portMax?: number;
  readonly remoteCidr?: string;
  readonly remoteGroup?: string;
}

export interface SecurityGroupRecord {
  readonly id: string;
  readonly rules: readonly SgRule[];
  readonly revision: number;
}

export type AnyRecord = VpcRecord | SubnetRecord | PortRecord | RouterRecord | SecurityGroupRecord;

export const KINDS = ['vpcs', 'subnets', 'ports', 'routers', 'security-groups'] as const;
export type Kind = (typeof KINDS)[number];
/** Record key prefix per kind. */
export const PREFIX: Readonly<Record<Kind, string>> = {
  vpcs: 'vpc/',
  subnets: 'subnet/',
  ports: 'port/',
  routers: 'router/',
  'security-groups': 'sg/',
};
export const SINGULAR: Readonly<Record<Kind, string>> = {
  vpcs: 'vpc',
  subnets: 'subnet',
  ports: 'port',
  routers: 'router',
  'security-groups': 'security group',
};

// ---- field readers --------------------------------------------------------------------------------

export type Body = Readonly<Record<string, unknown>>;

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function asBody(json: unknown, what: string): Body {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ApiError(400, 'BAD_BODY', `expected a JSON object for ${what}`);
  return json as Body;
}

export function checkId(id: string, field = 'id'): string {
  if (!ID.test(id))
    throw badField(field, `${JSON.stringify(id.slice(0, 140))} is not an id (letters, digits, . _ : -; at most 128)`);
  return id;
}

export function idOf(body: Body): string {
  const v = body.id;
  if (v === undefined || v === null) return randomUUID();
  if (typeof v !== 'string') throw badField('id', 'must be a string');
  return checkId(v);
}

export function str(body: Body, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '')
    throw badField(field, v === undefined ? 'is required' : 'must be a non-empty string');
  return v;
}

export function optStr(body: Body, field: string): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badField(field, 'must be a string');
  return v;
}

export function optBool(body: Body, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badField(field, 'must be true or false');
  return v;
}

export function optInt(body: Body, field: string, min: number, max: number): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw badField(field, `must be an integer from ${min} to ${max}`);
  return v;
}

export function optStrList(body: Body, field: string): string[] | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw badField(field, 'must be a list of strings');
  return v as string[];
}

export function cidrOf(text: string, field: string, maxPrefix = 32): Cidr {
  const c = parseCidr(text);
  if (c === undefined)
    throw badField(field, `${JSON.stringify(text.slice(0, 60))} is not an IPv4 CIDR (like 10.0.0.0/16)`, 'BAD_CIDR');
  if (c.prefix > maxPrefix) throw badField(field, `/${c.prefix} is too small (at most /${maxPrefix})`, 'BAD_CIDR');
  return c;
}

export function ipOf(text: string, field: string): number {
  const ip = parseIpv4(text);
  if (ip === INVALID) throw badField(field, `${JSON.stringify(text.slice(0, 60))} is not an IPv4 address`, 'BAD_IP');
  return ip;
}

/** Lower-case colon form of a MAC; refuses multicast (a port's MAC must be unicast). */
export function macOf(text: string, field: string): string {
  const m = parseMac(text);
  if (m === INVALID) throw badField(field, `${JSON.stringify(text.slice(0, 60))} is not a MAC address`, 'BAD_MAC');
  if (Math.floor(m / 2 ** 40) % 2 === 1) throw badField(field, `${text} is a multicast MAC`, 'BAD_MAC');
  return formatMac(m);
}

// ---- security-group rules --------------------------------------------------------------------------

export function rulesOf(body: Body): SgRule[] {
  const v = body.rules ?? [];
  if (!Array.isArray(v)) throw badField('rules', 'must be a list of rules');
  return v.map((raw, i) => ruleOf(raw, `rules[${i}]`));
}

function ruleOf(raw: unknown, at: string): SgRule {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badField(at, 'must be an object');
  const r = raw as Body;
  const direction = r.direction;
  if (direction !== 'ingress' && direction !== 'egress')
    throw badField(`${at}.direction`, 'must be "ingress" or "egress"');
  const ethertype = r.ethertype ?? 'IPv4';
  if (ethertype !== 'IPv4' && ethertype !== 'IPv6') throw badField(`${at}.ethertype`, 'must be "IPv4" or "IPv6"');
  const protocol = r.protocol ?? undefined;
  if (protocol !== undefined && protocol !== null && protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'icmp')
    throw badField(`${at}.protocol`, 'must be "tcp", "udp" or "icmp" (absent: any)');
  const limit = protocol === 'icmp' ? 255 : 65535;
  const portMin = optInt(r, 'portMin', 0, limit);
  const portMax = optInt(r, 'portMax', 0, limit);
  if (portMin !== undefined || portMax !== undefined) {
    if (protocol === undefined || protocol === null)
      throw badField(`${at}.portMin`, 'a port range needs a protocol (tcp, udp or icmp)');
    if (protocol !== 'icmp' && (portMin ?? 0) > (portMax ?? 65535))
      throw badField(`${at}.portMin`, `${portMin} is above portMax ${portMax}`);
  }
  const remoteCidr = optStr(r, 'remoteCidr');
  const remoteGroup = optStr(r, 'remoteGroup');
  if (remoteCidr !== undefined && remoteGroup !== undefined)
    throw badField(`${at}.remoteCidr`, 'give remoteCidr or remoteGroup, not both');
  if (remoteCidr !== undefined && ethertype === 'IPv4') cidrOf(remoteCidr, `${at}.remoteCidr`);
  if (remoteGroup !== undefined) checkId(remoteGroup, `${at}.remoteGroup`);
  const out: { -readonly [K in keyof SgRule]: SgRule[K] } = { direction, ethertype };
  if (protocol !== undefined && protocol !== null) out.protocol = protocol as RuleProtocol;
  if (portMin !== undefined) out.portMin = portMin;
  if (portMax !== undefined) out.portMax = portMax;
  if (remoteCidr !== undefined) out.remoteCidr = remoteCidr;
  if (remoteGroup !== undefined) out.remoteGroup = remoteGroup;
  return out;
}

/** Rules the agents do not program (IPv6 today), with why: shown on the security group. */
export function unprogrammedRules(sg: SecurityGroupRecord): Array<{ rule: number; reason: string }> {
  const out: Array<{ rule: number; reason: string }> = [];
  sg.rules.forEach((r, i) => {
    if (r.ethertype === 'IPv6')
      out.push({ rule: i, reason: 'IPv6 rules are accepted but not programmed (agents are IPv4 only)' });
  });
  return out;
}

/** Applies the expected revision (If-Match) to a stored record. */
export function checkRevision(kind: string, current: { revision: number }, expected: number | undefined): void {
  if (expected !== undefined && expected !== current.revision)
    throw new ApiError(
      409,
      'REVISION_MISMATCH',
      `${kind} is at revision ${current.revision}, not ${expected}`,
      'revision',
    );
}
