// Readers for goal-state configuration fields: each parses one field and, when it is bad, throws
// InvalidArg with a sentence naming the field (paths are only built into strings when something is
// wrong). normalize.ts catches InvalidArg per state and turns it into the op's error.

import { NetworkType } from '../../proto';
import type { AddressPair, Cidr, Ipv4, Mac, NetworkKind } from '../model';
import {
  INVALID,
  cidrProblem,
  hostIpProblem,
  ipv4Problem,
  macProblem,
  macUseProblem,
  networkCidrProblem,
  parseCidr,
  parseIpv4,
  parseMac,
} from './addr';

/** A reason the input is invalid; caught per state and turned into ResourceOp.error. */
export class InvalidArg extends Error {
  readonly code = 'INVALID_ARG';
}

export function invalid(reason: string): never {
  throw new InvalidArg(reason);
}

/** Largest segment id per network type: 24-bit VNI / key for the tunnels, 12-bit VID minus 4095 for VLAN. */
export const MAX_TUNNEL_ID = 16777215;
export const MAX_VLAN_ID = 4094;

export function path(list: string, index: number, field: string): string {
  return `${list}[${index}].${field}`;
}

export function ipv4(field: string, text: string): Ipv4 {
  const ip = parseIpv4(text);
  if (ip === INVALID) invalid(ipv4Problem(field, text));
  return ip;
}

export function ipv4At(list: string, index: number, field: string, text: string): Ipv4 {
  const ip = parseIpv4(text);
  if (ip === INVALID) invalid(ipv4Problem(path(list, index, field), text));
  return ip;
}

/** A host address (tunnel endpoint, fixed IP, DHCP or gateway address): syntax, then usability (addr.ts). */
export function hostIpv4(field: string, text: string): Ipv4 {
  const ip = ipv4(field, text);
  const problem = hostIpProblem(field, ip);
  if (problem !== undefined) invalid(problem);
  return ip;
}

export function hostIpv4At(list: string, index: number, field: string, text: string): Ipv4 {
  const ip = ipv4At(list, index, field, text);
  const problem = hostIpProblem(path(list, index, field), ip);
  if (problem !== undefined) invalid(problem);
  return ip;
}

/** Every MAC a goal state gives an endpoint must be unicast and not all zeros (addr.ts says why). */
export function mac(field: string, text: string): Mac {
  const m = parseMac(text);
  if (m === INVALID) invalid(macProblem(field, text));
  const problem = macUseProblem(field, m);
  if (problem !== undefined) invalid(problem);
  return m;
}

export function macAt(list: string, index: number, field: string, text: string): Mac {
  const m = parseMac(text);
  if (m === INVALID) invalid(macProblem(path(list, index, field), text));
  const problem = macUseProblem(path(list, index, field), m);
  if (problem !== undefined) invalid(problem);
  return m;
}

export function optionalMacAt(list: string, index: number, field: string, text: string): Mac | undefined {
  return text === '' ? undefined : macAt(list, index, field, text);
}

export function cidr(field: string, text: string): Cidr {
  const c = parseCidr(text);
  if (c === undefined) invalid(cidrProblem(field, text));
  return c;
}

/** A network's own CIDR (subnet, VPC): no host bits, a sane prefix, not a reserved range. */
export function networkCidr(field: string, text: string): Cidr {
  const c = cidr(field, text);
  const problem = networkCidrProblem(field, text, c);
  if (problem !== undefined) invalid(problem);
  return c;
}

export function nonEmptyAt(list: string, index: number, field: string, text: string): string {
  if (text === '') invalid(`${path(list, index, field)} is empty`);
  return text;
}

export function addressPairs(
  list: string,
  pairs: readonly { readonly ipAddress: string; readonly macAddress: string }[],
): AddressPair[] {
  const out: AddressPair[] = new Array(pairs.length);
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i] as { readonly ipAddress: string; readonly macAddress: string };
    const ip = parseCidr(p.ipAddress, true);
    if (ip === undefined) invalid(cidrProblem(path(list, i, 'ip_address'), p.ipAddress, true));
    out[i] = { ip, mac: optionalMacAt(list, i, 'mac_address', p.macAddress) };
  }
  return out;
}

export function checkSegmentId(field: string, tunnelId: number, networkType: NetworkKind): void {
  const max = networkType === 'vlan' ? MAX_VLAN_ID : MAX_TUNNEL_ID;
  if (tunnelId >= 1 && tunnelId <= max && Number.isInteger(tunnelId)) return;
  const name = NETWORK_NAME[networkType];
  if (tunnelId === 0) invalid(`${field} is 0: a subnet needs its segment id (1-${max} for ${name})`);
  invalid(`${field} ${tunnelId} is out of range for ${name} (1-${max})`);
}

const NETWORK_NAME: { readonly [K in NetworkKind]: string } = {
  vxlan: 'VXLAN',
  vlan: 'VLAN',
  gre: 'GRE',
  geneve: 'GENEVE',
  vxlan_gpe: 'VXLAN_GPE',
};

export function networkKind(type: NetworkType): NetworkKind {
  switch (type) {
    case NetworkType.VXLAN:
      return 'vxlan';
    case NetworkType.VLAN:
      return 'vlan';
    case NetworkType.GRE:
      return 'gre';
    case NetworkType.GENEVE:
      return 'geneve';
    case NetworkType.VXLAN_GPE:
      return 'vxlan_gpe';
    default:
      return invalid(`network_type ${String(type)} is not one of VXLAN(0), VLAN(1), GRE(2), GENEVE(3), VXLAN_GPE(4)`);
  }
}
