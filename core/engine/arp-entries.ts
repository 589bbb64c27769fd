// The ARP answers a partition's held state implies, as (VNI, IPv4) -> MAC triples: what the agent's XDP ARP
// responder (native/arp-responder.ts) must hold when it runs with `--dataplane ebpf|both`.
//
// Scope is the VNI (the subnet's tunnel id, as Alcor takes it): a VM port's interface is mapped to its VNI through
// arp_scope, so every port of one network shares one set of entries instead of one copy per ifindex.
import type { ResourceStore } from '../goalstate';
import type { Ipv4, Mac, Neighbor } from '../model';
import { type NeighborAddressVisitor, visitNeighborAddresses } from './neighbor-lane';

/** [vni, ipv4, mac], numbers as held in the model. */
/** What these read of a store. */
type HeldStore = Pick<ResourceStore, 'values' | 'subnet'>;

export type ArpTriple = readonly [vni: number, ip: Ipv4, mac: Mac];

/** [port id, vni] of each held port with a held subnet: which arp_scope its interface gets. */
export function portVnisOf(store: HeldStore): (readonly [string, number])[] {
  const out: (readonly [string, number])[] = [];
  for (const p of store.values('port')) {
    const f = p.fixedIps[0];
    const vni = f === undefined ? undefined : store.subnet(f.subnetId)?.tunnelId;
    if (vni !== undefined) out.push([p.id, vni]);
  }
  return out;
}

/**
 * Local ports' fixed IPs, neighbors' fixed IPs (a neighbor's own tunnel id wins over its subnet's) and subnet gateways.
 * An IP whose subnet is not held is skipped: without a subnet there is no VNI to scope it to.
 */
export function arpEntriesOf(store: HeldStore, neighbors: Iterable<Neighbor> = store.values('neighbor')): ArpTriple[] {
  const out: ArpTriple[] = [];
  forEachArpAnswer(store, addressesOf(neighbors), (vni, ip, mac) => out.push([vni, ip, mac]));
  return out;
}

/** Walks held neighbors' fixed IPs (PartitionEngine.forEachNeighborAddress, or addressesOf a list). */
export type NeighborAddresses = (visit: NeighborAddressVisitor) => void;

export function addressesOf(neighbors: Iterable<Neighbor>): NeighborAddresses {
  return (visit) => visitNeighborAddresses(neighbors, visit);
}

/** arpEntriesOf without the triples: each answer handed to `visit`. */
export function forEachArpAnswer(
  store: HeldStore,
  neighbors: NeighborAddresses,
  visit: (vni: number, ip: Ipv4, mac: Mac) => void,
): void {
  const vniOf = (subnetId: string): number | undefined => store.subnet(subnetId)?.tunnelId;
  for (const s of store.values('subnet')) {
    if (s.gateway !== undefined) visit(s.tunnelId, s.gateway.ip, s.gateway.mac);
  }
  for (const p of store.values('port')) {
    for (const f of p.fixedIps) {
      const vni = vniOf(f.subnetId);
      if (vni !== undefined) visit(vni, f.ip, p.mac);
    }
  }
  neighbors((subnetId, tunnelId, ip, mac) => {
    const vni = tunnelId !== 0 ? tunnelId : vniOf(subnetId);
    if (vni !== undefined) visit(vni, ip, mac);
  });
}

/** A triple's count moved by `delta` (+n: it appeared n more times, -n: n fewer) since the last report. */
export type ArpChange = readonly [vni: number, ip: Ipv4, mac: Mac, delta: number];

/** One IPv4's (VNI, MAC) answers with their counts: almost always one, more when the IP is in several VNIs. */
interface Counted {
  readonly vni: number;
  readonly mac: Mac;
  n: number;
  readonly next: Counted | undefined;
}

function find(head: Counted | undefined, vni: number, mac: Mac): Counted | undefined {
  for (let a = head; a !== undefined; a = a.next) if (a.vni === vni && a.mac === mac) return a;
  return undefined;
}

/** A multiset of triples keyed by number, not by a string per triple: 100k of those cost seconds of GC per pass. */
class TripleCounts {
  readonly byIp = new Map<Ipv4, Counted>();

  add(vni: number, ip: Ipv4, mac: Mac, n: number): void {
    const head = this.byIp.get(ip);
    const have = find(head, vni, mac);
    if (have !== undefined) have.n += n;
    else this.byIp.set(ip, { vni, mac, n, next: head });
  }

  /** Each triple's count here minus its count in `before`, where they differ. */
  minus(before: TripleCounts): ArpChange[] {
    const out: ArpChange[] = [];
    for (const [ip, head] of this.byIp) {
      const was = before.byIp.get(ip);
      for (let a: Counted | undefined = head; a !== undefined; a = a.next) {
        const d = a.n - (find(was, a.vni, a.mac)?.n ?? 0);
        if (d !== 0) out.push([a.vni, ip, a.mac, d]);
      }
      for (let b = was; b !== undefined; b = b.next)
        if (find(head, b.vni, b.mac) === undefined && b.n !== 0) out.push([b.vni, ip, b.mac, -b.n]);
    }
    for (const [ip, was] of before.byIp) {
      if (this.byIp.has(ip)) continue;
      for (let b: Counted | undefined = was; b !== undefined; b = b.next)
        if (b.n !== 0) out.push([b.vni, ip, b.mac, -b.n]);
    }
    return out;
  }
}

/**
 * A partition's ARP answers as a multiset, and how it moved since the last report. The XDP responder's map is
 * kept by changes: resending 100k answers after every commit cost ~400 ms of the agent's time at 100k neighbors
 * (cloned from the workers, formatted, parsed back, diffed on the main thread). The worker still walks its own
 * answers to find what moved (no hook into every path that changes a neighbor), but only when it changed
 * something since the last report, and only the changes cross to the main thread.
 */
export class ArpReport {
  #last = new TripleCounts();
  #fresh = true;
  #dirty = true;

  /** Something that may change the answers ran (a commit, an abort, a restore...). */
  touch(): void {
    this.#dirty = true;
  }

  /** Forget what was reported: the next report is full. */
  reset(): void {
    this.#last = new TripleCounts();
    this.#fresh = true;
    this.#dirty = true;
  }

  /** The changes since the last report; `full` when they are relative to nothing (the first report after reset). */
  next(store: HeldStore, neighbors: NeighborAddresses): { full: boolean; changes: ArpChange[] } {
    const full = this.#fresh;
    this.#fresh = false;
    if (!this.#dirty) return { full, changes: [] };
    this.#dirty = false;
    const now = new TripleCounts();
    forEachArpAnswer(store, neighbors, (vni, ip, mac) => now.add(vni, ip, mac, 1));
    const changes = now.minus(this.#last);
    this.#last = now;
    return { full, changes };
  }
}

/** The partitions' changes as one list: a triple that moved between partitions (-1 here, +1 there) is no change. */
export function sumArpChanges(lists: readonly (readonly ArpChange[])[]): ArpChange[] {
  const nonEmpty = lists.filter((l) => l.length > 0);
  if (nonEmpty.length === 1) return [...nonEmpty[0]];
  const sums = new TripleCounts();
  for (const list of nonEmpty) for (const [vni, ip, mac, d] of list) sums.add(vni, ip, mac, d);
  return sums.minus(new TripleCounts());
}
