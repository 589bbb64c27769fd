// The ARP answers a partition's held state implies, as (VNI, IPv4) -> MAC triples: what the agent's XDP ARP
// responder (native/arp-responder.ts) must hold when it runs with `--dataplane ebpf|both`.
//
// Scope is the VNI (the subnet's tunnel id, as Alcor takes it): a VM port's interface is mapped to its VNI through
// arp_scope, so every port of one network shares one set of entries instead of one copy per ifindex.
import type { ResourceStore } from '../goalstate';
import type { Ipv4, Mac, Neighbor } from '../model';

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
  const vniOf = (subnetId: string): number | undefined => store.subnet(subnetId)?.tunnelId;
  for (const s of store.values('subnet')) {
    if (s.gateway !== undefined) out.push([s.tunnelId, s.gateway.ip, s.gateway.mac]);
  }
  for (const p of store.values('port')) {
    for (const f of p.fixedIps) {
      const vni = vniOf(f.subnetId);
      if (vni !== undefined) out.push([vni, f.ip, p.mac]);
    }
  }
  for (const n of neighbors) {
    for (const f of n.fixedIps) {
      const vni = f.tunnelId !== 0 ? f.tunnelId : vniOf(f.subnetId);
      if (vni !== undefined) out.push([vni, f.ip, n.mac]);
    }
  }
  return out;
}
