// Live view of OVS interfaces for VM ports: which ofport each goal-state port has, and when that changes.
//
// A VM port is found the way Neutron/OVN bind ports: by `external_ids:iface-id` = port id; failing that, by the
// interface name `tap` + the first 11 characters of the port id (Linux names are ≤ 15 bytes; ACA's convention,
// alcor-aca.md §1.3). The iface-id match wins when both exist.
//
// An interface is "bound" once it has a usable ofport (> 0). OVS sets ofport -1 when it cannot open the device and
// leaves it empty until ovs-vswitchd has processed the row, so "appeared" and "bound" are separate moments: a port
// that was PENDING in a goal-state reply can be programmed by itself on the 'bound' event.
import { EventEmitter } from 'node:events';
import type { MonitorHandle, MonitorUpdate, OvsdbClient, RowChange } from './client';
import { OVS_DB } from './bridge';
import { mapValues, optionalInteger, optionalString, type OvsdbRow } from './values';

export const TAP_PREFIX = 'tap';
export const TAP_ID_CHARS = 11;

/** The OVS interface name a port gets by convention: `tap` + first 11 characters of its id. */
export function tapNameFor(portId: string): string {
  return TAP_PREFIX + portId.slice(0, TAP_ID_CHARS);
}

export interface OvsInterface {
  readonly uuid: string;
  readonly name: string;
  readonly type: string;
  /** external_ids:iface-id, or null. */
  readonly ifaceId: string | null;
  /** Usable OpenFlow port number, or null (not yet assigned, or -1 = OVS could not open the device). */
  readonly ofport: number | null;
  readonly error: string | null;
}

export type InterfaceEvent =
  | { readonly kind: 'appeared'; readonly iface: OvsInterface }
  | { readonly kind: 'changed'; readonly iface: OvsInterface; readonly before: OvsInterface }
  | { readonly kind: 'disappeared'; readonly iface: OvsInterface };

/** Events for ports registered with track(). */
export type PortEvent =
  | { readonly kind: 'bound'; readonly portId: string; readonly ofport: number; readonly iface: OvsInterface }
  | { readonly kind: 'unbound'; readonly portId: string; readonly previousOfport: number };

/**
 * Events: 'interface' (InterfaceEvent) for every interface change; 'port' (PortEvent) for tracked ports whose
 * ofport binding changes (a re-bound port with a new ofport gets 'unbound' then 'bound').
 */
export class InterfaceMonitor extends EventEmitter {
  readonly #client: OvsdbClient;
  readonly #byUuid = new Map<string, OvsInterface>();
  readonly #byName = new Map<string, OvsInterface>();
  readonly #byIfaceId = new Map<string, OvsInterface>();
  /** Tracked port id -> ofport it is currently bound to (null = not bound). */
  readonly #tracked = new Map<string, number | null>();
  #handle: MonitorHandle | null = null;

  constructor(client: OvsdbClient) {
    super();
    this.#client = client;
  }

  /** Starts monitoring; resolves after the initial contents are loaded. */
  async start(): Promise<void> {
    if (this.#handle !== null) return;
    this.#handle = await this.#client.monitor(
      OVS_DB,
      { Interface: { columns: ['name', 'type', 'ofport', 'external_ids', 'error'] } },
      (u) => this.#onUpdate(u),
    );
  }

  async stop(): Promise<void> {
    const h = this.#handle;
    this.#handle = null;
    if (h !== null) await h.cancel();
  }

  /** The interface for a port id (iface-id match first, then the tap name), or undefined. */
  lookup(portId: string): OvsInterface | undefined {
    return this.#byIfaceId.get(portId) ?? this.#byName.get(tapNameFor(portId));
  }

  /** Usable ofport of a port id, or null. */
  ofportOf(portId: string): number | null {
    return this.lookup(portId)?.ofport ?? null;
  }

  interfaces(): IterableIterator<OvsInterface> {
    return this.#byUuid.values();
  }

  /**
   * Watches a port id: 'port' events fire when it becomes bound / unbound. Returns the current ofport (null when
   * not bound yet) so the caller can decide SUCCESS vs PENDING without a race.
   */
  track(portId: string): number | null {
    const ofport = this.ofportOf(portId);
    this.#tracked.set(portId, ofport);
    return ofport;
  }

  untrack(portId: string): void {
    this.#tracked.delete(portId);
  }

  /** Tracked port ids and their current ofport (null = pending). */
  get ports(): ReadonlyMap<string, number | null> {
    return this.#tracked;
  }

  #onUpdate(update: MonitorUpdate): void {
    const events: InterfaceEvent[] = [];
    if (update.reset) {
      // After a reconnect: anything not in the fresh contents disappeared meanwhile.
      const fresh = new Set(update.changes.map((c) => c.uuid));
      for (const iface of [...this.#byUuid.values()]) {
        if (!fresh.has(iface.uuid)) {
          this.#remove(iface);
          events.push({ kind: 'disappeared', iface });
        }
      }
    }
    for (const change of update.changes) {
      const ev = this.#apply(change);
      if (ev !== null) events.push(ev);
    }
    for (const ev of events) this.emit('interface', ev);
    this.#reconcileTracked();
  }

  #apply(change: RowChange): InterfaceEvent | null {
    const before = this.#byUuid.get(change.uuid);
    if (change.kind === 'delete' || change.new === undefined) {
      if (before === undefined) return null;
      this.#remove(before);
      return { kind: 'disappeared', iface: before };
    }
    const iface = toInterface(change.uuid, change.new);
    if (before !== undefined) this.#remove(before);
    this.#byUuid.set(iface.uuid, iface);
    this.#byName.set(iface.name, iface);
    if (iface.ifaceId !== null) this.#byIfaceId.set(iface.ifaceId, iface);
    if (before === undefined) return { kind: 'appeared', iface };
    if (sameInterface(before, iface)) return null;
    return { kind: 'changed', iface, before };
  }

  #remove(iface: OvsInterface): void {
    this.#byUuid.delete(iface.uuid);
    if (this.#byName.get(iface.name)?.uuid === iface.uuid) this.#byName.delete(iface.name);
    if (iface.ifaceId !== null && this.#byIfaceId.get(iface.ifaceId)?.uuid === iface.uuid)
      this.#byIfaceId.delete(iface.ifaceId);
  }

  #reconcileTracked(): void {
    for (const [portId, had] of [...this.#tracked]) {
      const iface = this.lookup(portId);
      const now = iface?.ofport ?? null;
      if (now === had) continue;
      this.#tracked.set(portId, now);
      if (had !== null) this.emit('port', { kind: 'unbound', portId, previousOfport: had } satisfies PortEvent);
      if (now !== null && iface !== undefined)
        this.emit('port', { kind: 'bound', portId, ofport: now, iface } satisfies PortEvent);
    }
  }
}

function toInterface(rowUuid: string, row: OvsdbRow): OvsInterface {
  const ofport = optionalInteger(row.ofport);
  const ids = mapValues(row.external_ids);
  return {
    uuid: rowUuid,
    name: typeof row.name === 'string' ? row.name : '',
    type: typeof row.type === 'string' ? row.type : '',
    ifaceId: ids['iface-id'] ?? null,
    ofport: ofport !== null && ofport > 0 ? ofport : null,
    error: optionalString(row.error),
  };
}

function sameInterface(a: OvsInterface, b: OvsInterface): boolean {
  return (
    a.name === b.name && a.type === b.type && a.ifaceId === b.ifaceId && a.ofport === b.ofport && a.error === b.error
  );
}
