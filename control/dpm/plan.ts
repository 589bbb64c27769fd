// The planning half of the data-plane manager (dpm.ts): from the records it indexes, what each host should
// hold (desired), and the per-host changes against what the control store says it holds: a full diff for
// the hosts a change is about, a per-key diff for the others, and propagation of changed bytes to every
// holder. State bytes are built once per key and batch; the DPM's memo keeps them across batches.

import type { PortRecord, RouterRecord, SecurityGroupRecord, SubnetRecord, VpcRecord } from '../resources/model';
import type { ControlStore } from '../store/store';
import {
  encodeDhcp,
  encodeNeighbor,
  encodePort,
  encodeRouter,
  encodeSecurityGroup,
  encodeSubnet,
  encodeVpc,
  securityGroupContent,
  wireRules,
} from './encode';

/** The pseudo host of a VPC over the neighbor limit: holds its ports that are not pushed, for on-demand lookups. */
export const ONDEMAND_PREFIX = 'ondemand:';

/** Per host, per resource key: the new state bytes, or null to delete it. */
export type Delta = Map<string, Map<string, Uint8Array | null>>;

export const kindOf = (key: string): string => key.slice(0, key.indexOf('/'));
export const idOf = (key: string): string => key.slice(key.indexOf('/') + 1);

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** What the planner reads from the DPM's indexes of the records (the DPM implements it). */
export interface PlanSource {
  readonly controlStore: ControlStore;
  /** The record store's revision: a floor for a security group's revision when only its members changed. */
  readonly recordRevision: number;
  portsOn(host: string): ReadonlySet<string>;
  port(id: string): { rec: PortRecord; modRev: number } | undefined;
  /** Bound ports of a VPC pushed to its hosts as neighbors (its first `neighborLimit` in creation order). */
  pushedIn(vpc: string): ReadonlySet<string>;
  /** Bound ports of a VPC past its pushed ones: held by `ondemand:<vpc>` only. */
  onDemandIn(vpc: string): ReadonlySet<string>;
  vpcHosts(vpc: string): Iterable<string>;
  hasPortIn(host: string, vpc: string): boolean;
  rec<T>(key: string): { rec: T; modRev: number } | undefined;
  router(subnet: string): RouterRecord | undefined;
  /** `make()`'s bytes, kept for `key` while `tag` stays the same. */
  cached(key: string, tag: string, make: () => Uint8Array): Uint8Array;
  allPorts(): IterableIterator<{ rec: PortRecord; modRev: number }>;
}

/** One batch's computation: state bytes are built once per key, desired sets once per host. */
export class Plan {
  private readonly bytesOf = new Map<string, Uint8Array | null>();
  private members: Map<string, string[]> | null = null;

  constructor(private readonly d: PlanSource) {}

  private held(host: string): ReadonlySet<string> {
    return this.d.controlStore.cache.hosts.get(host)?.keys ?? new Set();
  }

  private unchanged(key: string, b: Uint8Array): boolean {
    return sameBytes(this.d.controlStore.cache.resources.get(key)?.state, b);
  }

  /** Current state bytes of a key, null when the resource is gone. */
  bytes(key: string): Uint8Array | null {
    const had = this.bytesOf.get(key);
    if (had !== undefined) return had;
    const b = this.make(key);
    this.bytesOf.set(key, b);
    return b;
  }

  private make(key: string): Uint8Array | null {
    const kind = kindOf(key);
    const id = idOf(key);
    switch (kind) {
      case 'port': {
        const p = this.d.port(id);
        return p === undefined ? null : this.d.cached(key, String(p.modRev), () => encodePort(p.rec, p.modRev));
      }
      case 'dhcp': {
        const p = this.d.port(id);
        return p === undefined ? null : this.d.cached(key, String(p.modRev), () => encodeDhcp(p.rec, p.modRev));
      }
      case 'neighbor': {
        const p = this.d.port(id);
        if (p === undefined || p.rec.host === '') return null;
        const s = this.d.rec<SubnetRecord>(`subnet/${p.rec.subnet}`);
        if (s === undefined) return null;
        const routed = this.d.router(p.rec.subnet) !== undefined;
        return this.d.cached(key, `${p.modRev}/${s.rec.vni}/${routed}`, () =>
          encodeNeighbor(p.rec, s.rec.vni, routed, p.modRev),
        );
      }
      case 'subnet': {
        const s = this.d.rec<SubnetRecord>(key);
        return s === undefined ? null : this.d.cached(key, String(s.modRev), () => encodeSubnet(s.rec, s.modRev));
      }
      case 'vpc': {
        const v = this.d.rec<VpcRecord>(key);
        return v === undefined ? null : this.d.cached(key, String(v.modRev), () => encodeVpc(v.rec, v.modRev));
      }
      case 'router': {
        const r = this.d.rec<RouterRecord>(key);
        return r === undefined ? null : this.d.cached(key, String(r.modRev), () => encodeRouter(r.rec, r.modRev));
      }
      case 'securitygroup': {
        const g = this.d.rec<SecurityGroupRecord>(`sg/${id}`);
        if (g === undefined) return null;
        const rules = wireRules(g.rec, (group) => this.membersOf(group));
        // The revision must grow when the content changes, also when only remote members did; the same
        // content keeps the stored bytes, so replicas computing it again do not re-push it.
        const fresh = encodeSecurityGroup(g.rec, rules, 0);
        const stored = this.d.controlStore.cache.resources.get(key)?.state;
        if (stored !== undefined) {
          const s = securityGroupContent(stored);
          if (s.content.equals(Buffer.from(fresh))) return stored;
          return encodeSecurityGroup(g.rec, rules, Math.max(this.d.recordRevision, s.revision + 1));
        }
        return encodeSecurityGroup(g.rec, rules, Math.max(this.d.recordRevision, g.modRev));
      }
      default:
        return null;
    }
  }

  private membersOf(group: string): string[] {
    if (this.members === null) {
      this.members = new Map();
      for (const p of this.d.allPorts()) {
        for (const g of p.rec.securityGroups) {
          let list = this.members.get(g);
          if (list === undefined) this.members.set(g, (list = []));
          list.push(p.rec.ip);
        }
      }
      for (const list of this.members.values()) list.sort();
    }
    return this.members.get(group) ?? [];
  }

  /** Every key the host should hold, with its bytes. */
  desired(host: string): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const add = (key: string): void => {
      const b = this.bytes(key);
      if (b !== null) out.set(key, b);
    };
    if (host.startsWith(ONDEMAND_PREFIX)) {
      const vpc = host.slice(ONDEMAND_PREFIX.length);
      for (const id of this.d.onDemandIn(vpc)) add(`neighbor/${id}`);
      return out;
    }
    const vpcs = this.ownKeys(host, add);
    for (const vpc of vpcs) {
      for (const id of this.d.pushedIn(vpc)) if (this.d.port(id)?.rec.host !== host) add(`neighbor/${id}`);
    }
    return out;
  }

  /** The keys of the host's own ports (everything but neighbors), each given to `add`; returns their VPCs. */
  private ownKeys(host: string, add: (key: string) => void): Set<string> {
    const vpcs = new Set<string>();
    for (const id of this.d.portsOn(host)) {
      const p = this.d.port(id)?.rec;
      if (p === undefined) continue;
      vpcs.add(p.vpc);
      this.portKeys(p, add);
    }
    return vpcs;
  }

  /** The keys one port makes its host hold. */
  private portKeys(p: PortRecord, add: (key: string) => void): void {
    add(`port/${p.id}`);
    add(`subnet/${p.subnet}`);
    add(`vpc/${p.vpc}`);
    if (this.d.rec<SubnetRecord>(`subnet/${p.subnet}`)?.rec.dhcp === true) add(`dhcp/${p.id}`);
    for (const g of p.securityGroups) add(`securitygroup/${g}`);
    const r = this.d.router(p.subnet);
    if (r !== undefined) {
      add(`router/${r.id}`);
      for (const s of r.subnets) add(`subnet/${s}`);
    }
  }

  diffHost(host: string, delta: Delta): void {
    const want = this.desired(host);
    const held = this.held(host);
    const changes = new Map<string, Uint8Array | null>();
    for (const [k, b] of want) if (!held.has(k) || !this.unchanged(k, b)) changes.set(k, b);
    for (const k of held) if (!want.has(k)) changes.set(k, null);
    if (changes.size > 0) delta.set(host, changes);
  }

  /**
   * The diff of a host whose VPCs stay the same (a port of it created, updated, moved or deleted, the host
   * keeping a port in the VPC): the keys of `ports` (its changed ports), and of `gone` (keys the old records
   * named) those no port of it wants any more; its neighbors change only by content keys (diffKey), its other
   * keys' bytes by propagate. A full diff would cost a pass over every pushed neighbor of the VPC for each
   * port created, and even its own keys a pass over every port of the host.
   */
  diffHostOwn(host: string, ports: ReadonlySet<string>, gone: ReadonlySet<string>, delta: Delta): void {
    const wanted = (into: Map<string, Uint8Array>) => (key: string) => {
      const b = this.bytes(key);
      if (b !== null) into.set(key, b);
    };
    const want = new Map<string, Uint8Array>();
    for (const id of ports) {
      const p = this.d.port(id)?.rec;
      if (p !== undefined && p.host === host) this.portKeys(p, wanted(want));
    }
    const held = this.held(host);
    let changes = delta.get(host);
    const set = (k: string, b: Uint8Array | null): void => {
      if (changes === undefined) delta.set(host, (changes = new Map()));
      changes.set(k, b);
    };
    for (const [k, b] of want) if (!held.has(k) || !this.unchanged(k, b)) set(k, b);
    let all: Map<string, Uint8Array> | null = null;
    for (const k of gone) {
      if (!held.has(k) || want.has(k)) continue;
      if (all === null) this.ownKeys(host, wanted((all = new Map())));
      if (!all.has(k)) set(k, null);
    }
  }

  /**
   * One key on the hosts that are not fully diffed: its holders, and for a neighbor the VPC's hosts (when it
   * is pushed) and the pseudo host. The key's bytes and whether the store has them already are the same for
   * every host, so they are looked at once (a pushed port is this loop over 100 hosts in the 2,400-VM run).
   */
  diffKey(key: string, full: ReadonlySet<string>, delta: Delta): void {
    const candidates = new Set(this.d.controlStore.cache.refs.get(key) ?? []);
    const b = this.bytes(key);
    let wants: (host: string) => boolean = () => b !== null;
    if (kindOf(key) === 'neighbor') {
      const p = this.d.port(idOf(key))?.rec;
      if (p === undefined || p.host === '') wants = () => false;
      else {
        const pushed = this.d.pushedIn(p.vpc).has(p.id);
        const pseudo = ONDEMAND_PREFIX + p.vpc;
        // A port on demand is wanted by no agent: only its holders (and the pseudo host) can change.
        if (pushed) for (const h of this.d.vpcHosts(p.vpc)) candidates.add(h);
        candidates.add(pseudo);
        wants = (host) => (host === pseudo ? !pushed : pushed && host !== p.host && this.d.hasPortIn(host, p.vpc));
      }
    }
    const same = b !== null && this.unchanged(key, b);
    for (const host of candidates) {
      if (full.has(host)) continue;
      const held = this.held(host).has(key);
      let change: Uint8Array | null | undefined;
      if (b !== null && wants(host)) {
        if (!held || !same) change = b;
      } else if (held) change = null;
      if (change === undefined) continue;
      let m = delta.get(host);
      if (m === undefined) delta.set(host, (m = new Map()));
      m.set(key, change);
    }
  }

  /** A key whose bytes change must reach every host holding it, not only the ones this change is about. */
  propagate(delta: Delta): void {
    const changed = new Map<string, Uint8Array>();
    for (const changes of delta.values())
      for (const [k, b] of changes) if (b !== null && !this.unchanged(k, b)) changed.set(k, b);
    for (const [k, b] of changed) {
      for (const host of this.d.controlStore.cache.refs.get(k) ?? []) {
        let m = delta.get(host);
        if (m === undefined) delta.set(host, (m = new Map()));
        if (!m.has(k)) m.set(k, b);
      }
    }
  }
}
