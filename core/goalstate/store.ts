// The held desired state and its two-phase apply.
//
// `plan(model)` works out, without touching the store, what every op of a goal state would do:
// its reply status and the resource changes it makes. `commit(plan)` applies those changes (only
// if the store has not changed since the plan was made); dropping the plan discards it; and
// `revert(plan)` undoes the most recent commit when the data plane refuses what it compiled to.
//
// What each op does (the semantics) is the planner's (planner.ts).
//
// Scale: the planner is allocation-lean (one status and at most one change per op; overlay
// entries only for kinds other ops refer to or whose ids may repeat) and index maintenance in
// commit is O(changes). Plan + commit of 1M new neighbors into a store holding 1M costs about
// 1.2x a bare loop doing one Map.get, two object allocations and one Map.set per op.

import { OperationType } from '../../proto';
import type {
  Dhcp,
  Gateway,
  GoalStateModel,
  Mac,
  Neighbor,
  Port,
  Resource,
  ResourceKind,
  ResourceOp,
  Router,
  SecurityGroup,
  Subnet,
  Vpc,
} from '../model';
import { StoreError, type ApplyPlan, type Change, type PlannedStatus, type ResourceOf } from './apply-plan';
import { KIND_ORDER } from './kinds';
import { Planner, kindsNeedingOverlay, type HeldMaps } from './planner';
import { SNAPSHOT_FORMAT, isRecord, snapshotEntryProblem, type StoreSnapshot } from './snapshot';

// Re-exported: the store's API has always been importable from here.
export {
  StoreError,
  type ApplyPlan,
  type Change,
  type PlannedStatus,
  type ResourceOf,
  type StoreErrorCode,
} from './apply-plan';
export { SNAPSHOT_FORMAT, type StoreSnapshot } from './snapshot';
export { sameContent } from './same-content';

const EMPTY_SET: ReadonlySet<string> = new Set<string>();
/** Unsettled commits a store keeps revertible (more than the chunks of one goal state). */
const REVERTIBLE_MAX = 512;

let nextStoreId = 1;

export class ResourceStore {
  private readonly maps: HeldMaps = {
    vpc: new Map(),
    subnet: new Map(),
    port: new Map(),
    neighbor: new Map(),
    securityGroup: new Map(),
    dhcp: new Map(),
    router: new Map(),
    gateway: new Map(),
  };
  private readonly portsBySubnet = new Map<string, Set<string>>();
  private readonly portsBySecurityGroup = new Map<string, Set<string>>();
  private readonly routersBySubnet = new Map<string, Set<string>>();
  /** DVR MAC -> how many held routers use it (normally one MAC, held by every router). */
  private readonly dvrMacCounts = new Map<Mac, number>();
  /** MAC -> id of the held DHCP entry serving it: the DHCP responder looks entries up by MAC. */
  private readonly dhcpByMac = new Map<Mac, string>();
  private readonly id = nextStoreId++;
  private gen = 0;
  /**
   * Commits that may still be reverted, oldest first: the newest can be, then the one before it
   * (a goal state planned in chunks commits one plan per chunk and may take them all back).
   * settle() drops a plan for good; at most REVERTIBLE_MAX are kept for callers that never do.
   */
  private readonly revertible: ApplyPlan[] = [];

  /** Bumped by every commit that changes something; a plan is only valid for the generation it was made at. */
  get generation(): number {
    return this.gen;
  }

  // ------------------------------------------------------------------------------- read API

  get<K extends ResourceKind>(kind: K, id: string): ResourceOf<K> | undefined {
    return this.maps[kind].get(id);
  }

  has(kind: ResourceKind, id: string): boolean {
    return this.anyMap(kind).has(id);
  }

  vpc(id: string): Vpc | undefined {
    return this.maps.vpc.get(id);
  }
  subnet(id: string): Subnet | undefined {
    return this.maps.subnet.get(id);
  }
  port(id: string): Port | undefined {
    return this.maps.port.get(id);
  }
  neighbor(id: string): Neighbor | undefined {
    return this.maps.neighbor.get(id);
  }
  securityGroup(id: string): SecurityGroup | undefined {
    return this.maps.securityGroup.get(id);
  }
  dhcp(id: string): Dhcp | undefined {
    return this.maps.dhcp.get(id);
  }
  router(id: string): Router | undefined {
    return this.maps.router.get(id);
  }
  gateway(id: string): Gateway | undefined {
    return this.maps.gateway.get(id);
  }

  /** Every held resource of a kind, in insertion order. */
  values<K extends ResourceKind>(kind: K): IterableIterator<ResourceOf<K>> {
    return this.maps[kind].values();
  }

  size(kind: ResourceKind): number {
    return this.anyMap(kind).size;
  }

  /** Ids of held ports with a fixed IP in the subnet. */
  portsInSubnet(subnetId: string): ReadonlySet<string> {
    return this.portsBySubnet.get(subnetId) ?? EMPTY_SET;
  }

  /** Ids of held ports that are members of the security group. */
  portsInSecurityGroup(securityGroupId: string): ReadonlySet<string> {
    return this.portsBySecurityGroup.get(securityGroupId) ?? EMPTY_SET;
  }

  /** Ids of held routers with a routing table for the subnet. */
  routersForSubnet(subnetId: string): ReadonlySet<string> {
    return this.routersBySubnet.get(subnetId) ?? EMPTY_SET;
  }

  /** Id of the held DHCP entry for a MAC (what the DHCP responder answers with). */
  dhcpForMac(mac: Mac): Dhcp | undefined {
    const id = this.dhcpByMac.get(mac);
    return id === undefined ? undefined : this.maps.dhcp.get(id);
  }

  /** The host's DVR MAC: the one every held router uses; undefined when no router is held. */
  dvrMac(): Mac | undefined {
    for (const mac of this.dvrMacCounts.keys()) return mac;
    return undefined;
  }

  // ------------------------------------------------------------------------------- plan / commit

  /** What applying the model would do. Does not change the store. */
  plan(model: GoalStateModel): ApplyPlan {
    const ops = model.ops;
    const n = ops.length;
    const planner = new Planner(
      this.maps,
      this.portsBySubnet,
      this.dvrMacCounts,
      this.dhcpByMac,
      kindsNeedingOverlay(ops),
    );
    const statuses: PlannedStatus[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const op = ops[i] as ResourceOp;
      if (op.operation !== OperationType.DELETE) statuses[i] = planner.step(op);
    }
    for (let i = n - 1; i >= 0; i--) {
      const op = ops[i] as ResourceOp;
      if (op.operation === OperationType.DELETE) statuses[i] = planner.step(op);
    }
    return {
      statuses,
      changes: planner.changes,
      touches: planner.touches,
      touchedBefore: planner.touchedBefore,
      storeId: this.id,
      generation: this.gen,
    };
  }

  /** Applies a plan made by this store at its current generation; throws StoreError STALE_PLAN otherwise. */
  commit(plan: ApplyPlan): void {
    if (plan.storeId !== this.id) throw new StoreError('STALE_PLAN', 'the plan was made by another store');
    if (plan.generation !== this.gen) {
      throw new StoreError(
        'STALE_PLAN',
        `the store changed since the plan was made (generation ${plan.generation}, now ${this.gen}); plan again`,
      );
    }
    // Nothing to apply: keep the generation so other outstanding plans stay valid.
    if (plan.changes.length === 0 && plan.touches.length === 0) return;
    // Touches first: a touch is only planned for a resource not otherwise changed earlier in the
    // same plan, so a later change of the same id must win.
    const touches = plan.touches;
    for (let i = 0; i < touches.length; i++) {
      const r = touches[i] as Resource;
      this.anyMap(r.kind).set(r.id, r);
    }
    const changes = plan.changes;
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i] as Change;
      this.replace(c.kind, c.id, c.before, c.after);
    }
    this.gen++;
    this.revertible.push(plan);
    if (this.revertible.length > REVERTIBLE_MAX) this.revertible.shift();
  }

  /** The plan's commit is final (the data plane took it): it will not be reverted. */
  settle(plan: ApplyPlan): void {
    const at = this.revertible.lastIndexOf(plan);
    if (at >= 0) this.revertible.splice(at, 1);
  }

  /**
   * Undoes the most recent unsettled commit (e.g. the data plane refused the changes): every change is
   * reversed, last first, and the indexes with it. The generation still moves forward, so plans
   * made in between stay stale. Throws StoreError STALE_PLAN for any other plan.
   */
  revert(plan: ApplyPlan): void {
    if (plan.changes.length === 0 && plan.touches.length === 0 && plan.storeId === this.id) return;
    if (this.revertible[this.revertible.length - 1] !== plan) {
      throw new StoreError('STALE_PLAN', 'only the most recent commit of this store can be reverted');
    }
    const changes = plan.changes;
    for (let i = changes.length - 1; i >= 0; i--) {
      const c = changes[i] as Change;
      this.replace(c.kind, c.id, c.after, c.before);
    }
    const before = plan.touchedBefore;
    for (let i = before.length - 1; i >= 0; i--) {
      const r = before[i] as Resource;
      this.anyMap(r.kind).set(r.id, r);
    }
    this.gen++;
    this.revertible.pop();
  }

  /** Replaces `from` by `to` (either may be undefined) and keeps the indexes in step. */
  private replace(kind: ResourceKind, id: string, from: Resource | undefined, to: Resource | undefined): void {
    const map = this.anyMap(kind);
    if (to === undefined) map.delete(id);
    else map.set(id, to);
    if (kind === 'port') {
      if (from !== undefined) this.unindexPort(from as Port);
      if (to !== undefined) this.indexPort(to as Port);
    } else if (kind === 'router') {
      if (from !== undefined) this.unindexRouter(from as Router);
      if (to !== undefined) this.indexRouter(to as Router);
    } else if (kind === 'dhcp') {
      if (from !== undefined) this.dhcpByMac.delete((from as Dhcp).mac);
      if (to !== undefined) this.dhcpByMac.set((to as Dhcp).mac, id);
    }
  }

  /**
   * Takes over a neighbor held elsewhere until now (the engine's neighbor lane), as if committed
   * long ago: not a change of the held state, so no plan, no generation, nothing to revert.
   */
  adopt(n: Neighbor): void {
    this.maps.neighbor.set(n.id, n);
  }

  /** The opposite of adopt(): the neighbor is held elsewhere from now on (not a change either). */
  disown(id: string): void {
    this.maps.neighbor.delete(id);
  }

  // ------------------------------------------------------------------------------- snapshot

  /**
   * The whole held state as a JSON-able object. It shares the (immutable) resource objects with
   * the store: serialize it, do not mutate it.
   */
  snapshot(): StoreSnapshot {
    return {
      format: SNAPSHOT_FORMAT,
      resources: {
        vpc: Array.from(this.maps.vpc.values()),
        subnet: Array.from(this.maps.subnet.values()),
        port: Array.from(this.maps.port.values()),
        neighbor: Array.from(this.maps.neighbor.values()),
        securityGroup: Array.from(this.maps.securityGroup.values()),
        dhcp: Array.from(this.maps.dhcp.values()),
        router: Array.from(this.maps.router.values()),
        gateway: Array.from(this.maps.gateway.values()),
      },
    };
  }

  /** Rebuilds a store from snapshot() output (typically after JSON.parse); throws StoreError BAD_SNAPSHOT. */
  static fromSnapshot(snapshot: unknown): ResourceStore {
    if (!isRecord(snapshot) || snapshot['format'] !== SNAPSHOT_FORMAT) {
      throw new StoreError('BAD_SNAPSHOT', `not a store snapshot (want format '${SNAPSHOT_FORMAT}')`);
    }
    const resources = snapshot['resources'];
    if (!isRecord(resources)) throw new StoreError('BAD_SNAPSHOT', 'snapshot has no resources object');
    const store = new ResourceStore();
    for (const kind of KIND_ORDER) {
      const list = resources[kind];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new StoreError('BAD_SNAPSHOT', `snapshot resources.${kind} is not a list`);
      const map = store.anyMap(kind);
      for (let i = 0; i < list.length; i++) {
        const r: unknown = list[i];
        const problem = snapshotEntryProblem(kind, r);
        if (problem !== undefined) throw new StoreError('BAD_SNAPSHOT', `snapshot resources.${kind}[${i}]: ${problem}`);
        const resource = r as Resource;
        if (map.has(resource.id))
          throw new StoreError('BAD_SNAPSHOT', `snapshot resources.${kind}[${i}]: duplicate id '${resource.id}'`);
        map.set(resource.id, resource);
        if (resource.kind === 'port') store.indexPort(resource);
        else if (resource.kind === 'router') store.indexRouter(resource);
        else if (resource.kind === 'dhcp') {
          const owner = store.dhcpByMac.get(resource.mac);
          if (owner !== undefined)
            throw new StoreError(
              'BAD_SNAPSHOT',
              `snapshot resources.dhcp[${i}]: MAC already served by dhcp '${owner}'`,
            );
          store.dhcpByMac.set(resource.mac, resource.id);
        }
      }
    }
    return store;
  }

  // ------------------------------------------------------------------------------- internals

  private anyMap(kind: ResourceKind): Map<string, Resource> {
    return this.maps[kind];
  }

  private indexPort(p: Port): void {
    const fixedIps = p.fixedIps;
    for (let i = 0; i < fixedIps.length; i++)
      addToIndex(this.portsBySubnet, (fixedIps[i] as Port['fixedIps'][number]).subnetId, p.id);
    const sgs = p.securityGroupIds;
    for (let i = 0; i < sgs.length; i++) addToIndex(this.portsBySecurityGroup, sgs[i] as string, p.id);
  }

  private unindexPort(p: Port): void {
    const fixedIps = p.fixedIps;
    for (let i = 0; i < fixedIps.length; i++)
      removeFromIndex(this.portsBySubnet, (fixedIps[i] as Port['fixedIps'][number]).subnetId, p.id);
    const sgs = p.securityGroupIds;
    for (let i = 0; i < sgs.length; i++) removeFromIndex(this.portsBySecurityGroup, sgs[i] as string, p.id);
  }

  private indexRouter(r: Router): void {
    for (const s of r.subnets) addToIndex(this.routersBySubnet, s.subnetId, r.id);
    this.dvrMacCounts.set(r.dvrMac, (this.dvrMacCounts.get(r.dvrMac) ?? 0) + 1);
  }

  private unindexRouter(r: Router): void {
    for (const s of r.subnets) removeFromIndex(this.routersBySubnet, s.subnetId, r.id);
    const count = (this.dvrMacCounts.get(r.dvrMac) ?? 0) - 1;
    if (count > 0) this.dvrMacCounts.set(r.dvrMac, count);
    else this.dvrMacCounts.delete(r.dvrMac);
  }
}

function addToIndex(index: Map<string, Set<string>>, key: string, id: string): void {
  const set = index.get(key);
  if (set === undefined) index.set(key, new Set([id]));
  else set.add(id);
}

function removeFromIndex(index: Map<string, Set<string>>, key: string, id: string): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(id);
  if (set.size === 0) index.delete(key);
}
