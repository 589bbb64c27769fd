// IP, MAC and VNI allocation inside a record-store transaction. Every allocated value is one key
// (`ip/<subnet>/<ip>`, `mac/<mac>`, `vni/<n>`) whose value names its owner; claiming reads the key (so the
// commit compares it is still absent) and writes it together with the owner's record. Two replicas that
// pick the same value therefore conflict and one retries; a release is a delete any replica can commit.
import { Cidr } from '../../core/model';
import { formatIpv4, formatMac, prefixMask } from '../../core/goalstate/addr';
import { conflict } from '../resources/errors';
import { RecordTxn } from '../resources/record-store';

export const MAX_VNI = 16777215;
/** Neutron's OUI for the MACs it generates; ours too, so they look familiar. */
const MAC_OUI = 0xfa163e;

export const ipKey = (subnetId: string, ip: string): string => `ip/${subnetId}/${ip}`;
export const macKey = (mac: string): string => `mac/${mac}`;
export const vniKey = (vni: number): string => `vni/${vni}`;

/** First and last assignable host address of a subnet (network and broadcast excluded). */
export function hostRange(cidr: Cidr): { first: number; last: number } {
  const size = 2 ** (32 - cidr.prefix);
  return { first: cidr.addr + 1, last: cidr.addr + size - 2 };
}

/** Where the next search starts, per pool (a hint only: correctness comes from the compare). */
const hints = new Map<string, number>();
/**
 * Values picked by this process's transactions that have not committed yet: concurrent transactions of one
 * replica then pick different values instead of colliding with each other and retrying.
 */
const inflight = new Set<string>();

function reserve(tx: RecordTxn, key: string): void {
  inflight.add(key);
  tx.cleanups.push(() => inflight.delete(key));
}

/**
 * A free address of the subnet (not the gateway), claimed for `owner`. The first attempt scans from where the
 * last allocation in this process ended; a retry after a conflict starts at a random place, so two replicas
 * allocating at once stop picking the same address.
 */
export function allocateIp(tx: RecordTxn, subnetId: string, cidr: Cidr, gatewayIp: number, owner: string): string {
  const { first, last } = hostRange(cidr);
  const size = last - first + 1;
  const hint = hints.get(subnetId);
  let start = tx.attempt === 0 ? (hint ?? first) : first + Math.floor(Math.random() * size);
  if (start < first || start > last) start = first;
  for (let i = 0; i < size; i++) {
    const ip = first + ((start - first + i) % size);
    if (ip === gatewayIp) continue;
    const text = formatIpv4(ip);
    const key = ipKey(subnetId, text);
    if (tx.peek(key) || inflight.has(key)) continue;
    claimIp(tx, subnetId, text, owner);
    reserve(tx, key);
    hints.set(subnetId, ip + 1 > last ? first : ip + 1);
    return text;
  }
  throw conflict('POOL_EXHAUSTED', `subnet ${subnetId} has no free address left`, 'ip');
}

export function claimIp(tx: RecordTxn, subnetId: string, ip: string, owner: string): void {
  const holder = tx.get<string>(ipKey(subnetId, ip));
  if (holder !== undefined && holder !== owner)
    throw conflict('IP_IN_USE', `ip ${ip} is already used in subnet ${subnetId} (by ${holder})`, 'ip');
  tx.put(ipKey(subnetId, ip), owner);
}

export function releaseIp(tx: RecordTxn, subnetId: string, ip: string, owner: string): void {
  // Read first: the delete then only commits while the key still belongs to this owner.
  if (tx.get<string>(ipKey(subnetId, ip)) === owner) tx.del(ipKey(subnetId, ip));
}

export function allocateMac(tx: RecordTxn, owner: string): string {
  for (let i = 0; i < 64; i++) {
    const mac = formatMac(MAC_OUI * 0x1000000 + Math.floor(Math.random() * 0x1000000));
    if (tx.peek(macKey(mac)) || inflight.has(macKey(mac))) continue;
    claimMac(tx, mac, owner);
    reserve(tx, macKey(mac));
    return mac;
  }
  throw conflict('POOL_EXHAUSTED', 'no free MAC address found', 'mac');
}

export function claimMac(tx: RecordTxn, mac: string, owner: string): void {
  const holder = tx.get<string>(macKey(mac));
  if (holder !== undefined && holder !== owner)
    throw conflict('MAC_IN_USE', `mac ${mac} is already used (by ${holder})`, 'mac');
  tx.put(macKey(mac), owner);
}

export function releaseMac(tx: RecordTxn, mac: string, owner: string): void {
  if (tx.get<string>(macKey(mac)) === owner) tx.del(macKey(mac));
}

export function allocateVni(tx: RecordTxn, owner: string): number {
  let start = tx.attempt === 0 ? (hints.get('vni') ?? 1) : 1 + Math.floor(Math.random() * MAX_VNI);
  if (start < 1 || start > MAX_VNI) start = 1;
  for (let i = 0; i < MAX_VNI; i++) {
    const vni = 1 + ((start - 1 + i) % MAX_VNI);
    if (tx.peek(vniKey(vni)) || inflight.has(vniKey(vni))) continue;
    claimVni(tx, vni, owner);
    reserve(tx, vniKey(vni));
    hints.set('vni', vni + 1);
    return vni;
  }
  throw conflict('POOL_EXHAUSTED', 'no free VNI left', 'vni');
}

export function claimVni(tx: RecordTxn, vni: number, owner: string): void {
  const holder = tx.get<string>(vniKey(vni));
  if (holder !== undefined && holder !== owner)
    throw conflict('VNI_IN_USE', `vni ${vni} is already used (by ${holder})`, 'vni');
  tx.put(vniKey(vni), owner);
}

export function releaseVni(tx: RecordTxn, vni: number, owner: string): void {
  if (tx.get<string>(vniKey(vni)) === owner) tx.del(vniKey(vni));
}

/** True when two CIDRs share any address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = prefixMask(p);
  return (a.addr & m) >>> 0 === (b.addr & m) >>> 0;
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrInside(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && (inner.addr & prefixMask(outer.prefix)) >>> 0 === outer.addr;
}
