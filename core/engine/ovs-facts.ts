// What only the host knows, as the compiler's StoreView reads it (core/pipeline/storeview.ts
// OvsFacts): which ofport each port's interface has, the tunnel port, our underlay address.
// Mutable, and changed only inside a partition transaction so an abort can put it back.

import type { Ipv4 } from '../model';
import type { OvsFacts } from '../pipeline/storeview';

export class MutableOvsFacts implements OvsFacts {
  localTunnelIp: Ipv4 | undefined;
  tunnelOfport: number | undefined;
  readonly #ofports = new Map<string, number>();

  constructor(opts: { localTunnelIp?: Ipv4; tunnelOfport?: number } = {}) {
    this.localTunnelIp = opts.localTunnelIp;
    this.tunnelOfport = opts.tunnelOfport;
  }

  ofportOf(portId: string): number | undefined {
    return this.#ofports.get(portId);
  }

  /** Records where a port's interface is (undefined: it is gone). Returns whether that changed. */
  setOfport(portId: string, ofport: number | undefined): boolean {
    if (this.#ofports.get(portId) === ofport) return false;
    if (ofport === undefined) this.#ofports.delete(portId);
    else this.#ofports.set(portId, ofport);
    return true;
  }
}
