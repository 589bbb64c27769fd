// Stored neighbors by fixed IP and VNI, for on-demand requests: an agent that misses an ARP or a flow asks
// "who is IP in VNI v?", and the answer must not cost a scan of the whole desired state. StateCache keeps
// this index in step with every put and delete of a resource, whichever way it arrives (a commit, the file
// store's replay, the etcd load or its watch).
import { NeighborState } from '../../proto';

const NEIGHBOR_PREFIX = 'neighbor/';

/** One place a neighbor is indexed under: a fixed IP and its tunnel id (0 = the neighbor did not say). */
interface Placement {
  readonly ip: string;
  readonly vni: number;
}

export class NeighborIndex {
  /** IP -> VNI -> neighbor keys. */
  private readonly byIp = new Map<string, Map<number, Set<string>>>();
  /** Neighbor key -> where it is indexed, so a put or delete can take the old placements out. */
  private readonly placements = new Map<string, readonly Placement[]>();

  /** Resource keys the index holds (neighbors with at least one fixed IP). */
  get size(): number {
    return this.placements.size;
  }

  /** A resource was stored under `key` (new or replacing an older state). Non-neighbors are ignored. */
  /** `r.state` is read only for a neighbor (a received port's state is not viewed for nothing). */
  put(key: string, r: { readonly state: Uint8Array }): void {
    if (!key.startsWith(NEIGHBOR_PREFIX)) return;
    this.delete(key);
    const placements = placementsOf(r.state);
    if (placements.length === 0) return;
    this.placements.set(key, placements);
    for (const { ip, vni } of placements) {
      let byVni = this.byIp.get(ip);
      if (byVni === undefined) this.byIp.set(ip, (byVni = new Map()));
      let keys = byVni.get(vni);
      if (keys === undefined) byVni.set(vni, (keys = new Set()));
      keys.add(key);
    }
  }

  delete(key: string): void {
    const old = this.placements.get(key);
    if (old === undefined) return;
    this.placements.delete(key);
    for (const { ip, vni } of old) {
      const byVni = this.byIp.get(ip);
      const keys = byVni?.get(vni);
      if (byVni === undefined || keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) byVni.delete(vni);
      if (byVni.size === 0) this.byIp.delete(ip);
    }
  }

  /**
   * Neighbor keys with fixed IP `ip` in tunnel `vni`. A tunnel id of 0 on either side matches any: a request
   * without a VNI asks for every neighbor with the IP, and a neighbor without one answers in every VNI.
   */
  lookup(ip: string, vni: number): string[] {
    const byVni = this.byIp.get(ip);
    if (byVni === undefined) return [];
    const out = new Set<string>();
    if (vni === 0) {
      for (const keys of byVni.values()) for (const k of keys) out.add(k);
    } else {
      for (const k of byVni.get(vni) ?? []) out.add(k);
      for (const k of byVni.get(0) ?? []) out.add(k);
    }
    return [...out];
  }
}

/** The (IP, VNI) pairs a stored neighbor state answers for; none when the state does not decode. */
function placementsOf(state: Uint8Array): Placement[] {
  let n: NeighborState;
  try {
    n = NeighborState.decode(state);
  } catch {
    // States are checked when a goal state is accepted; one that still does not decode answers nothing.
    return [];
  }
  const out: Placement[] = [];
  for (const f of n.configuration?.fixedIps ?? []) {
    if (f.ipAddress !== '') out.push({ ip: f.ipAddress, vni: f.tunnelId });
  }
  return out;
}
