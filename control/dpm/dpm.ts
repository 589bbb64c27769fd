// The data-plane manager: follows the record store's changes (from this replica or any other, in store
// order) and turns each into the smallest set of per-host goal-state changes, fed into the controller's
// ordinary path (store commit -> owner pushes -> agents' results), so durability, sharding, takeover and
// restart re-pushes are the ones the control service already has.
//
// Desired state of a host, derived from records only:
//   for each port bound to it: the port, its DHCP entry (subnet with DHCP), its subnet and VPC, its security
//   groups, the router of its subnet with that router's subnets;
//   for each VPC it has a port in: the VPC's pushed ports (but its own) as neighbors. A VPC's pushed ports are
//   its first `neighborLimit` bound ports in creation order (pushed.ts); the later ones go to a pseudo host
//   `ondemand:<vpc>` without an agent: they stay in the control store, where RequestGoalStates finds them,
//   but no agent gets them pushed. The set is sticky: passing the limit retracts nothing, and a pushed port
//   that leaves promotes the oldest on-demand one, so a port's change moves O(1) neighbors, never O(limit),
//   and an agent holds at most `neighborLimit` neighbors of a VPC.
//
// A change costs: for the hosts whose own ports changed, a diff of their own ports' keys, or a full diff
// (desired vs what the control store says the host holds) when the host joins or leaves a VPC; for every host
// of the VPC, only the keys whose content changed (the port as a neighbor, a promoted one, security groups
// whose remote-group members changed, an updated subnet...). A port
// that moves host goes in three steps, each acknowledged before the next: new host, the other hosts, old host.
// This module indexes the records and drives batches and acknowledgements; what a host should hold and the
// diffs against what it holds are plan.ts.
import {
  DHCPState,
  NeighborState,
  OperationType,
  PortState,
  ResourceType,
  RouterState,
  SecurityGroupState,
  SubnetState,
  VpcState,
  OperationStatus,
} from '../../proto';
import { Controller } from '../controller';
import { Logger } from '../log';
import { encodeHostsOnly, encodeResourceEntry, parseResourceKey, ParsedGoalState, ParsedResource } from '../resources';
import { PortRecord, RouterRecord, SecurityGroupRecord } from '../resources/model';
import { RecordChange, RecordStore } from '../resources/record-store';
import { PortStatusRecord } from '../resources/service';
import { ControlStore, HostResult } from '../store/store';
import { type Delta, ONDEMAND_PREFIX, Plan, type PlanSource, idOf, kindOf } from './plan';
import { PushedSet } from './pushed';

export interface DpmOptions {
  /** A VPC's first this many bound ports (creation order) are pushed as neighbors; later ones on demand. */
  readonly neighborLimit: number;
  readonly log: Logger;
}

export const DEFAULT_NEIGHBOR_LIMIT = 1000;
export { ONDEMAND_PREFIX } from './plan';

interface Batch {
  maxRev: number;
  done: Promise<void>;
}

/** A batch not started yet: later changes join it (Dpm.enqueue). */
interface WaitingBatch {
  readonly changes: RecordChange[];
  initial: boolean;
  readonly batch: Batch;
}

/** The DELETE form of a state we stored: same configuration, operation DELETE. */
function deleteState(kind: string, stored: Uint8Array): Uint8Array {
  const del = OperationType.DELETE;
  switch (kind) {
    case 'vpc':
      return VpcState.encode({ ...VpcState.decode(stored), operationType: del }).finish();
    case 'subnet':
      return SubnetState.encode({ ...SubnetState.decode(stored), operationType: del }).finish();
    case 'port':
      return PortState.encode({ ...PortState.decode(stored), operationType: del }).finish();
    case 'dhcp':
      return DHCPState.encode({ ...DHCPState.decode(stored), operationType: del }).finish();
    case 'neighbor':
      return NeighborState.encode({ ...NeighborState.decode(stored), operationType: del }).finish();
    case 'securitygroup':
      return SecurityGroupState.encode({ ...SecurityGroupState.decode(stored), operationType: del }).finish();
    case 'router':
      return RouterState.encode({ ...RouterState.decode(stored), operationType: del }).finish();
    default:
      throw new Error(`cannot delete ${kind}`);
  }
}

const byReply = new WeakMap<HostResult, Map<string, HostResult['statuses'][number]>>();

/** A reply's port statuses by port id, indexed once per reply (a bulk create answers thousands of ports). */
function portStatuses(r: HostResult): Map<string, HostResult['statuses'][number]> {
  let m = byReply.get(r);
  if (m === undefined) {
    m = new Map();
    for (const x of r.statuses)
      if (x.resourceType === ResourceType.PORT && !m.has(x.resourceId)) m.set(x.resourceId, x);
    byReply.set(r, m);
  }
  return m;
}

export class Dpm implements PlanSource {
  /** Ports as last processed (with their record's mod and create revisions). */
  private readonly ports = new Map<string, { rec: PortRecord; modRev: number; createRev: number }>();
  private readonly portsOnHost = new Map<string, Set<string>>();
  /** VPC -> host -> bound ports of the VPC on that host. */
  private readonly vpcHostPorts = new Map<string, Map<string, number>>();
  /** VPC -> its bound ports, split into pushed and on-demand. */
  private readonly neighborSets = new Map<string, PushedSet>();
  private readonly routers = new Map<string, RouterRecord>();
  private readonly memo = new Map<string, { tag: string; bytes: Uint8Array }>();
  private chain: Promise<void> = Promise.resolve();
  private batches: Batch[] = [];
  private waiting: WaitingBatch | null = null;
  private sgs: Map<string, SecurityGroupRecord> | null = null;
  private stopped = false;
  private readonly onChange = (changes: readonly RecordChange[]): void => this.enqueue(changes);

  constructor(
    private readonly records: RecordStore,
    private readonly store: ControlStore,
    private readonly controller: Controller,
    private readonly onStatus: (portId: string, status: PortStatusRecord) => void,
    private readonly opts: DpmOptions,
  ) {}

  /** Indexes the records and brings every host with ports up to date (a crash may have left work undone). */
  start(): void {
    const changes: RecordChange[] = [];
    for (const [key, e] of this.records.view) {
      if (key.startsWith('port/') || key.startsWith('router/'))
        changes.push({ key, value: e.value, modRev: e.modRev, createRev: e.createRev });
    }
    this.records.events.on('change', this.onChange);
    this.enqueue(changes, true);
  }

  stop(): void {
    this.stopped = true;
    this.records.events.off('change', this.onChange);
  }

  /** Resolves once every change up to store revision `rev` is committed and its agents answered (or timed out). */
  async settled(rev: number): Promise<void> {
    const b = this.batches.find((x) => x.maxRev >= rev);
    if (b !== undefined) await b.done;
  }

  /**
   * Changes that arrive while a batch is being processed wait in one batch, which takes every change that comes
   * before it starts: N writes at once cost a few batches (a plan and a push per host each), not N. The batch
   * reads the records as they are when it runs, so merging changes to the same key loses nothing.
   */
  private enqueue(changes: readonly RecordChange[], initial = false): void {
    const relevant = changes.filter((c) => /^(port|subnet|vpc|router|sg)\//.test(c.key));
    if (relevant.length === 0 && !initial) return;
    const maxRev = changes.reduce((m, c) => Math.max(m, c.modRev), 0);
    const waiting = this.waiting;
    if (waiting !== null) {
      waiting.changes.push(...relevant);
      waiting.initial ||= initial;
      waiting.batch.maxRev = Math.max(waiting.batch.maxRev, maxRev);
      return;
    }
    const prev = this.batches.length > 0 ? (this.batches[this.batches.length - 1] as Batch).done : Promise.resolve();
    const batch: Batch = { maxRev, done: Promise.resolve() };
    const pending = { changes: [...relevant], initial, batch };
    this.waiting = pending;
    let acks: Promise<unknown> = Promise.resolve();
    const committed = this.chain.then(async () => {
      if (this.waiting === pending) this.waiting = null;
      if (this.stopped) return;
      try {
        acks = (await this.process(pending.changes, pending.initial)).acks;
      } catch (err: unknown) {
        this.opts.log.warn('dpm: cannot program a resource change', { error: (err as Error).message });
      }
    });
    this.chain = committed;
    batch.done = Promise.all([prev, committed.then(() => acks)]).then(() => {
      const i = this.batches.indexOf(batch);
      if (i >= 0) this.batches.splice(i, 1);
    });
    this.batches.push(batch);
  }

  // ---- indexes ----------------------------------------------------------------------------------------

  /**
   * Indexes a port's new record (undefined: deleted); returns the other ports of its VPC that moved between
   * pushed and on demand (one at most: a promotion or a demotion).
   */
  private setPort(id: string, next: { rec: PortRecord; modRev: number; createRev: number } | undefined): string[] {
    const old = this.ports.get(id);
    const moved = this.setBound(id, old, next);
    if (old !== undefined) {
      if (old.rec.host !== '') {
        this.portsOnHost.get(old.rec.host)?.delete(id);
        const hosts = this.vpcHostPorts.get(old.rec.vpc);
        const n = (hosts?.get(old.rec.host) ?? 1) - 1;
        if (n <= 0) hosts?.delete(old.rec.host);
        else hosts?.set(old.rec.host, n);
      }
    }
    if (next === undefined) {
      this.ports.delete(id);
      return moved;
    }
    this.ports.set(id, next);
    if (next.rec.host !== '') {
      let h = this.portsOnHost.get(next.rec.host);
      if (h === undefined) this.portsOnHost.set(next.rec.host, (h = new Set()));
      h.add(id);
      let hosts = this.vpcHostPorts.get(next.rec.vpc);
      if (hosts === undefined) this.vpcHostPorts.set(next.rec.vpc, (hosts = new Map()));
      hosts.set(next.rec.host, (hosts.get(next.rec.host) ?? 0) + 1);
    }
    return moved;
  }

  /** The pushed set's side of setPort: a port moving host or updated in place stays where it is. */
  private setBound(
    id: string,
    old: { rec: PortRecord; createRev: number } | undefined,
    next: { rec: PortRecord; createRev: number } | undefined,
  ): string[] {
    const was = old !== undefined && old.rec.host !== '' ? old : undefined;
    const now = next !== undefined && next.rec.host !== '' ? next : undefined;
    if (was?.rec.vpc === now?.rec.vpc && was?.createRev === now?.createRev) return [];
    const moved: string[] = [];
    if (was !== undefined) {
      const set = this.neighborSets.get(was.rec.vpc);
      moved.push(...(set?.remove(id) ?? []));
      if (set?.size === 0) this.neighborSets.delete(was.rec.vpc);
    }
    if (now !== undefined) {
      let set = this.neighborSets.get(now.rec.vpc);
      if (set === undefined) this.neighborSets.set(now.rec.vpc, (set = new PushedSet(this.opts.neighborLimit)));
      moved.push(...set.add(id, now.createRev));
    }
    return moved;
  }

  /** @internal */ hasPortIn(host: string, vpc: string): boolean {
    return this.vpcHostPorts.get(vpc)?.has(host) === true;
  }

  private record<T>(key: string): { rec: T; modRev: number; createRev: number } | undefined {
    const e = this.records.view.get(key);
    return e === undefined ? undefined : { rec: e.value as T, modRev: e.modRev, createRev: e.createRev };
  }

  /**
   * Security groups by id, built from the view on first use and kept by process(): which groups name a changed
   * group as their remote group is asked on every port change, and a pass over the whole view (every port and
   * address record) made a port update in a 100k-port VPC cost a scan of 300k records.
   */
  private securityGroups(): Map<string, SecurityGroupRecord> {
    if (this.sgs === null) {
      this.sgs = new Map();
      for (const [key, e] of this.records.view)
        if (key.startsWith('sg/')) this.sgs.set(key.slice(3), e.value as SecurityGroupRecord);
    }
    return this.sgs;
  }

  /** The keys a port's record makes its host hold (Plan.ownKeys for one port). */
  private keysNamed(p: PortRecord): string[] {
    const keys = [`port/${p.id}`, `dhcp/${p.id}`, `subnet/${p.subnet}`, `vpc/${p.vpc}`];
    for (const g of p.securityGroups) keys.push(`securitygroup/${g}`);
    const r = this.routerOf(p.subnet);
    if (r !== undefined) keys.push(`router/${r.id}`, ...r.subnets.map((s) => `subnet/${s}`));
    return keys;
  }

  private routerOf(subnet: string): RouterRecord | undefined {
    for (const r of this.routers.values()) if (r.subnets.includes(subnet)) return r;
    return undefined;
  }

  // ---- one batch of changes -----------------------------------------------------------------------

  private async process(changes: readonly RecordChange[], initial: boolean): Promise<{ acks: Promise<unknown> }> {
    const full = new Set<string>();
    const content = new Set<string>();
    const newHosts = new Set<string>();
    const oldHosts = new Set<string>();
    const touchedGroups = new Set<string>();
    /** Hosts a port change touched -> the changed ports and the keys their old records named (diffHostOwn). */
    const own = new Map<string, { ports: Set<string>; gone: Set<string> }>();
    /** Host -> VPC -> whether the host had a port in the VPC before this batch. */
    const member = new Map<string, Map<string, boolean>>();
    for (const c of changes) {
      const kind = kindOf(c.key);
      const id = idOf(c.key);
      if (kind === 'port') {
        const old = this.ports.get(id)?.rec;
        const now = this.record<PortRecord>(c.key);
        for (const p of [old, now?.rec]) {
          if (p === undefined || p.host === '') continue;
          let vpcs = member.get(p.host);
          if (vpcs === undefined) member.set(p.host, (vpcs = new Map()));
          if (!vpcs.has(p.vpc)) vpcs.set(p.vpc, this.hasPortIn(p.host, p.vpc));
        }
        // A promotion or demotion is one more neighbor key to diff on the VPC's hosts and its pseudo host.
        for (const m of this.setPort(id, now)) content.add(`neighbor/${m}`);
        // Its hosts' own keys; their neighbors are the content keys' business (diffKey), unless a host joins
        // or leaves the VPC (below): a full diff of a host costs a pass over the VPC's pushed neighbors.
        const named = old === undefined ? [] : this.keysNamed(old);
        const hosts = new Set(this.store.cache.refs.get(`port/${id}`) ?? []);
        for (const h of [old?.host, now?.rec.host]) if (h !== undefined && h !== '') hosts.add(h);
        for (const h of hosts) {
          let o = own.get(h);
          if (o === undefined) own.set(h, (o = { ports: new Set(), gone: new Set() }));
          o.ports.add(id);
          for (const k of named) o.gone.add(k);
        }
        if (now !== undefined && now.rec.host !== '' && now.rec.host !== old?.host) newHosts.add(now.rec.host);
        if (old !== undefined && old.host !== '' && old.host !== now?.rec.host) oldHosts.add(old.host);
        content.add(`neighbor/${id}`);
        const groupsChanged =
          initial ||
          old === undefined ||
          now === undefined ||
          old.ip !== now.rec.ip ||
          old.securityGroups.join() !== now.rec.securityGroups.join();
        if (groupsChanged)
          for (const g of [...(old?.securityGroups ?? []), ...(now?.rec.securityGroups ?? [])]) touchedGroups.add(g);
      } else if (kind === 'router') {
        const old = this.routers.get(id);
        const now = this.record<RouterRecord>(c.key);
        if (now === undefined) this.routers.delete(id);
        else this.routers.set(id, now.rec);
        const subnets = new Set([...(old?.subnets ?? []), ...(now?.rec.subnets ?? [])]);
        for (const p of this.ports.values()) {
          if (!subnets.has(p.rec.subnet)) continue;
          if (p.rec.host !== '') full.add(p.rec.host);
          content.add(`neighbor/${p.rec.id}`);
        }
        content.add(`router/${id}`);
      } else if (kind === 'subnet') {
        for (const p of this.ports.values()) if (p.rec.subnet === id && p.rec.host !== '') full.add(p.rec.host);
        content.add(`subnet/${id}`);
      } else if (kind === 'vpc') {
        content.add(`vpc/${id}`);
      } else if (kind === 'sg') {
        const now = this.record<SecurityGroupRecord>(c.key);
        if (now === undefined) this.sgs?.delete(id);
        else this.sgs?.set(id, now.rec);
        content.add(`securitygroup/${id}`);
      }
    }
    for (const [host, vpcs] of member)
      for (const [vpc, was] of vpcs) if (this.hasPortIn(host, vpc) !== was) full.add(host);
    if (touchedGroups.size > 0) {
      for (const g of this.securityGroups().values()) {
        if (g.rules.some((r) => r.remoteGroup !== undefined && touchedGroups.has(r.remoteGroup)))
          content.add(`securitygroup/${g.id}`);
      }
    }
    const ctx = new Plan(this);
    const delta: Delta = new Map();
    for (const host of full) ctx.diffHost(host, delta);
    for (const [host, o] of own) if (!full.has(host)) ctx.diffHostOwn(host, o.ports, o.gone, delta);
    for (const key of content) ctx.diffKey(key, full, delta);
    ctx.propagate(delta);
    if (delta.size === 0) return { acks: Promise.resolve() };
    const migration = [...newHosts].some((h) => delta.has(h)) && [...oldHosts].some((h) => delta.has(h));
    const phases: Delta[] = [];
    if (!migration) phases.push(delta);
    else {
      const pick = (want: (h: string) => boolean): Delta => new Map([...delta].filter(([h]) => want(h)));
      phases.push(pick((h) => newHosts.has(h)));
      phases.push(pick((h) => !newHosts.has(h) && !oldHosts.has(h)));
      phases.push(pick((h) => oldHosts.has(h) && !newHosts.has(h)));
    }
    const acks: Array<Promise<unknown>> = [];
    for (let i = 0; i < phases.length; i++) {
      const phase = phases[i] as Delta;
      if (phase.size === 0) continue;
      const a = (await this.commit(phase)).acks;
      // Ordering matters only between the steps of a move: wait for the agents before the next step.
      if (i < phases.length - 1) await a;
      acks.push(a);
    }
    return { acks: Promise.all(acks) };
  }

  /**
   * One phase as one or two commits: puts before deletes of a key another host still gets (a VPC passing the
   * neighbor limit: `ondemand:<vpc>` takes the neighbors its hosts give up, and the control store never lacks
   * them in between). A host with such a delete has its whole change in the second commit, so its agent gets
   * one message (its new port and the retraction), not two, one waiting for the other's reply.
   */
  private async commit(phase: Delta): Promise<{ acks: Promise<unknown> }> {
    const put = new Set<string>();
    const dropped = new Set<string>();
    for (const changes of phase.values()) for (const [k, b] of changes) (b === null ? dropped : put).add(k);
    const first: Delta = new Map();
    const second: Delta = new Map();
    for (const [host, changes] of phase) {
      let later = false;
      for (const [k, b] of changes) if (b === null && put.has(k)) later = true;
      if (!later) {
        first.set(host, changes);
        continue;
      }
      // Its puts of a key some host deletes stay in the first commit: that is the order asked for.
      const now = new Map<string, Uint8Array | null>();
      const then = new Map<string, Uint8Array | null>();
      for (const [k, b] of changes) (b !== null && dropped.has(k) ? now : then).set(k, b);
      if (now.size > 0) first.set(host, now);
      second.set(host, then);
    }
    const acks: Array<Promise<unknown>> = [];
    for (const part of [first, second]) {
      if (part.size === 0) continue;
      const gs = this.goalState(part);
      const { acks: perHost } = await this.controller.commitDerived(gs);
      for (const [host, p] of perHost) acks.push(p.then((r) => this.statuses(host, part.get(host), r)));
    }
    return { acks: Promise.all(acks) };
  }

  private goalState(part: Delta): ParsedGoalState {
    const resources = new Map<string, ParsedResource>();
    const hosts = new Map<string, string[]>();
    for (const [host, changes] of part) {
      hosts.set(host, [...changes.keys()]);
      for (const [key, b] of changes) {
        if (resources.has(key)) continue;
        const { kind, id } = parseResourceKey(key);
        const stored = this.store.cache.resources.get(key)?.state;
        const state = b ?? (stored === undefined ? null : deleteState(kind.name, stored));
        if (state === null) continue;
        resources.set(key, {
          key,
          type: kind.type,
          id,
          state,
          operation: b === null ? OperationType.DELETE : OperationType.CREATE,
        });
      }
    }
    for (const [host, keys] of hosts)
      hosts.set(
        host,
        keys.filter((k) => resources.has(k)),
      );
    const raw = Buffer.concat([
      Buffer.from([1 << 3, 102]),
      encodeHostsOnly(hosts),
      ...[...resources.values()].map((r) => encodeResourceEntry(r.key, r.state)),
    ]);
    return { resources, hosts, raw };
  }

  private statuses(host: string, changes: Map<string, Uint8Array | null> | undefined, r: HostResult | null): void {
    if (changes === undefined || host.startsWith(ONDEMAND_PREFIX)) return;
    for (const [key, b] of changes) {
      if (b === null || !key.startsWith('port/')) continue;
      const id = idOf(key);
      const p = this.ports.get(id);
      if (p === undefined || p.rec.host !== host) continue;
      let st: PortStatusRecord;
      if (r === null) {
        st = {
          status: 'PENDING',
          reason: this.store.cache.agents.has(host)
            ? `no answer from the agent of ${host} yet`
            : `no agent registered for host ${host}`,
          modRev: p.modRev,
        };
      } else if (!r.ok) {
        st = { status: 'ERROR', reason: `agent of ${host}: ${r.error ?? 'push failed'}`, modRev: p.modRev };
      } else {
        const s = portStatuses(r).get(id);
        if (s === undefined || s.operationStatus === OperationStatus.SUCCESS)
          st = { status: 'ACTIVE', reason: '', modRev: p.modRev };
        else if (s.operationStatus === OperationStatus.PENDING)
          st = {
            status: 'PENDING',
            reason: `the agent of ${host} has no OVS interface with external_ids:iface-id=${id} yet`,
            modRev: p.modRev,
          };
        else
          st = {
            status: 'ERROR',
            reason: `the agent of ${host} answered ${OperationStatus[s.operationStatus] ?? s.operationStatus}`,
            modRev: p.modRev,
          };
      }
      this.onStatus(id, st);
    }
  }

  // ---- what the planner reads ---------------------------------------------------------------------

  /** @internal */ portsOn(host: string): ReadonlySet<string> {
    return this.portsOnHost.get(host) ?? new Set();
  }
  /** @internal */ port(id: string): { rec: PortRecord; modRev: number } | undefined {
    return this.ports.get(id);
  }
  /** @internal */ pushedIn(vpc: string): ReadonlySet<string> {
    return this.neighborSets.get(vpc)?.pushed ?? new Set();
  }
  /** @internal */ onDemandIn(vpc: string): ReadonlySet<string> {
    return this.neighborSets.get(vpc)?.onDemand ?? new Set();
  }
  /** @internal */ vpcHosts(vpc: string): Iterable<string> {
    return this.vpcHostPorts.get(vpc)?.keys() ?? [];
  }
  /** @internal */ rec<T>(key: string): { rec: T; modRev: number } | undefined {
    return this.record<T>(key);
  }
  /** @internal */ router(subnet: string): RouterRecord | undefined {
    return this.routerOf(subnet);
  }
  /** @internal */ cached(key: string, tag: string, make: () => Uint8Array): Uint8Array {
    const m = this.memo.get(key);
    if (m !== undefined && m.tag === tag) return m.bytes;
    const bytes = make();
    this.memo.set(key, { tag, bytes });
    return bytes;
  }
  /** @internal */ get controlStore(): ControlStore {
    return this.store;
  }
  /** @internal */ get recordRevision(): number {
    return this.records.revision();
  }
  /** @internal */ allPorts(): IterableIterator<{ rec: PortRecord; modRev: number }> {
    return this.ports.values();
  }
}
