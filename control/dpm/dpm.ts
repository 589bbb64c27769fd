// The data-plane manager: follows the record store's changes (from this replica or any other, in store
// order) and turns each into the smallest set of per-host goal-state changes, fed into the controller's
// ordinary path (store commit -> owner pushes -> agents' results), so durability, sharding, takeover and
// restart re-pushes are the ones the control service already has.
//
// Desired state of a host, derived from records only:
//   for each port bound to it: the port, its DHCP entry (subnet with DHCP), its subnet and VPC, its security
//   groups, the router of its subnet with that router's subnets;
//   for each VPC it has a port in, up to `neighborLimit` ports: every other bound port of the VPC as a neighbor.
// Above the limit a VPC's neighbors go to a pseudo host `ondemand:<vpc>` without an agent: they stay in the
// control store, where RequestGoalStates finds them, but no agent gets them pushed.
//
// A change costs: a full diff (desired vs what the control store says the host holds) for the hosts whose
// own ports changed, plus, for the other hosts of the VPC, only the keys whose content changed (the moved
// port as a neighbor, security groups whose remote-group members changed, an updated subnet...). A port
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

export interface DpmOptions {
  /** Above this many ports in a VPC, neighbors are resolved on demand instead of pushed. */
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

/** A port changed where it was: bound to the same host before and after (VPC and subnet cannot change). */
function inPlace(old: PortRecord | undefined, now: PortRecord | undefined): boolean {
  return old !== undefined && now !== undefined && old.host !== '' && old.host === now.host && old.vpc === now.vpc;
}

export class Dpm implements PlanSource {
  /** Ports as last processed (with their record's mod revision). */
  private readonly ports = new Map<string, { rec: PortRecord; modRev: number }>();
  private readonly portsByVpc = new Map<string, Set<string>>();
  private readonly portsOnHost = new Map<string, Set<string>>();
  /** VPC -> host -> bound ports of the VPC on that host. */
  private readonly vpcHostPorts = new Map<string, Map<string, number>>();
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
      if (key.startsWith('port/') || key.startsWith('router/')) changes.push({ key, value: e.value, modRev: e.modRev });
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

  private setPort(id: string, next: { rec: PortRecord; modRev: number } | undefined): void {
    const old = this.ports.get(id);
    if (old !== undefined) {
      this.portsByVpc.get(old.rec.vpc)?.delete(id);
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
      return;
    }
    this.ports.set(id, next);
    let v = this.portsByVpc.get(next.rec.vpc);
    if (v === undefined) this.portsByVpc.set(next.rec.vpc, (v = new Set()));
    v.add(id);
    if (next.rec.host !== '') {
      let h = this.portsOnHost.get(next.rec.host);
      if (h === undefined) this.portsOnHost.set(next.rec.host, (h = new Set()));
      h.add(id);
      let hosts = this.vpcHostPorts.get(next.rec.vpc);
      if (hosts === undefined) this.vpcHostPorts.set(next.rec.vpc, (hosts = new Map()));
      hosts.set(next.rec.host, (hosts.get(next.rec.host) ?? 0) + 1);
    }
  }

  /** Bound ports of a VPC. */
  private bound(vpc: string): number {
    let n = 0;
    for (const c of this.vpcHostPorts.get(vpc)?.values() ?? []) n += c;
    return n;
  }

  private hostsOfVpc(vpc: string): Set<string> {
    return new Set(this.vpcHostPorts.get(vpc)?.keys() ?? []);
  }

  /** @internal */ hasPortIn(host: string, vpc: string): boolean {
    return this.vpcHostPorts.get(vpc)?.has(host) === true;
  }

  private record<T>(key: string): { rec: T; modRev: number } | undefined {
    const e = this.records.view.get(key);
    return e === undefined ? undefined : { rec: e.value as T, modRev: e.modRev };
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
    /** Hosts with a port updated in place -> keys its old record named (diffHostOwn). */
    const own = new Map<string, Set<string>>();
    const limit = this.opts.neighborLimit;
    for (const c of changes) {
      const kind = kindOf(c.key);
      const id = idOf(c.key);
      if (kind === 'port') {
        const old = this.ports.get(id)?.rec;
        const now = this.record<PortRecord>(c.key);
        const vpc = (now?.rec ?? old)?.vpc as string;
        const before = this.bound(vpc);
        this.setPort(id, now);
        const after = this.bound(vpc);
        if (inPlace(old, now?.rec)) {
          // Same host, same VPC: the host's neighbors stay; only its own ports' keys can change.
          const host = (now as { rec: PortRecord }).rec.host;
          let gone = own.get(host);
          if (gone === undefined) own.set(host, (gone = new Set()));
          for (const g of old?.securityGroups ?? []) gone.add(`securitygroup/${g}`);
          gone.add(`dhcp/${id}`);
          for (const h of this.store.cache.refs.get(`port/${id}`) ?? []) if (h !== host) full.add(h);
        } else {
          if (old?.host !== undefined && old.host !== '') full.add(old.host);
          if (now !== undefined && now.rec.host !== '') full.add(now.rec.host);
          for (const h of this.store.cache.refs.get(`port/${id}`) ?? []) full.add(h);
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
        if (before <= limit !== after <= limit) {
          for (const h of this.hostsOfVpc(vpc)) full.add(h);
          full.add(ONDEMAND_PREFIX + vpc);
        }
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
    if (touchedGroups.size > 0) {
      for (const g of this.securityGroups().values()) {
        if (g.rules.some((r) => r.remoteGroup !== undefined && touchedGroups.has(r.remoteGroup)))
          content.add(`securitygroup/${g.id}`);
      }
    }
    const ctx = new Plan(this, limit);
    const delta: Delta = new Map();
    for (const host of full) ctx.diffHost(host, delta);
    for (const [host, gone] of own) if (!full.has(host)) ctx.diffHostOwn(host, gone, delta);
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
  /** @internal */ vpcPorts(vpc: string): ReadonlySet<string> {
    return this.portsByVpc.get(vpc) ?? new Set();
  }
  /** @internal */ boundIn(vpc: string): number {
    return this.bound(vpc);
  }
  /** @internal */ vpcHosts(vpc: string): Set<string> {
    return this.hostsOfVpc(vpc);
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
