// The held desired state and its two-phase apply.
//
// `plan(model)` works out, without touching the store, what every op of a goal state would do:
// its reply status and the resource changes it makes. `commit(plan)` applies those changes (only
// if the store has not changed since the plan was made); dropping the plan discards it; and
// `revert(plan)` undoes the most recent commit when the data plane refuses what it compiled to.
//
// Semantics (differences from the C++ agent are deliberate):
// - CREATE, UPDATE and INFO upsert. An upsert whose content equals the held resource is SUCCESS
//   with no change (idempotent CREATE, acceptance scenario 17); if only revision_number or
//   request_id differ, the held copy is refreshed silently (plan.touches) so later revision
//   comparisons use the newest revision.
// - DELETE of a resource that is not held is SUCCESS (idempotent), except ROUTER, which is
//   FAILURE as Alcor expects (acceptance scenario 10).
// - DHCP entries follow the DHCP table semantics Alcor tests (acceptance scenario 14): CREATE of
//   an id held with different content and UPDATE of an id not held are FAILURE; two entries may
//   not serve one MAC (the DHCP responder looks entries up by MAC).
// - GET never changes anything: SUCCESS when held, FAILURE when not.
// - revision_number: when the held resource has a higher revision than the op, the op is
//   OUT_OF_ORDER and changes nothing. A revision of 0 on either side means "unordered": no check.
// - References are checked against the message plus the held state as the plan evolves: a port,
//   neighbor or DHCP entry needs its subnet(s) (FAILURE when missing) and its IPs must lie inside
//   them (INVALID_ARG otherwise); a router needs the subnets of its routing tables;
//   a subnet cannot be deleted while ports use it. A router whose DVR MAC differs from another
//   router's (held or earlier in the message) is INVALID_ARG: the DVR MAC is one per host.
// - Processing order: non-DELETE ops in op order (parents first, since ops come in dependency
//   order), then DELETE ops in reverse op order (children first). So a message that deletes a
//   subnet and its ports succeeds, and a message that creates a port in a subnet it also deletes
//   fails the subnet delete. Statuses are reported one per op in op order; `changes` are listed
//   in processing order, which is also a safe order for programming the data plane (creates
//   parent-first, deletes child-first).
//
// Scale: the planner is allocation-lean (one status and at most one change per op; overlay
// entries only for kinds other ops refer to or whose ids may repeat) and index maintenance in
// commit is O(changes). Plan + commit of 1M new neighbors into a store holding 1M costs about
// 1.2x a bare loop doing one Map.get, two object allocations and one Map.set per op.

import { OperationStatus, OperationType } from '../../proto';
import type { ResourceType } from '../../proto';
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
import { cidrContains, formatCidr, formatIpv4, formatMac } from './addr';
import { KIND_ORDER } from './normalize';

export type ResourceOf<K extends ResourceKind> = Extract<Resource, { readonly kind: K }>;

/** The reply status one op gets. */
export interface PlannedStatus {
  readonly resourceId: string;
  readonly resourceType: ResourceType;
  readonly operationType: OperationType;
  readonly status: OperationStatus;
  /** Empty for SUCCESS; otherwise why, in words an operator can act on. */
  readonly reason: string;
}

/** One resource as it was and as it will be: before undefined = created, after undefined = deleted. */
export interface Change {
  readonly kind: ResourceKind;
  readonly id: string;
  readonly before: Resource | undefined;
  readonly after: Resource | undefined;
}

export interface ApplyPlan {
  /** One per op of the model, in the model's op order. */
  readonly statuses: readonly PlannedStatus[];
  /** What commit() changes, in processing order (see the file comment). */
  readonly changes: readonly Change[];
  /** Held resources replaced by a content-equal copy with a newer revision/request id (no Change). */
  readonly touches: readonly Resource[];
  /** The held resources the touches replace, same order (what revert() puts back). */
  readonly touchedBefore: readonly Resource[];
  readonly storeId: number;
  readonly generation: number;
}

export type StoreErrorCode = 'STALE_PLAN' | 'BAD_SNAPSHOT';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** The JSON-able form of a store: every held resource, grouped by kind. */
export interface StoreSnapshot {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly resources: { readonly [K in ResourceKind]: readonly ResourceOf<K>[] };
}

export const SNAPSHOT_FORMAT = 'alcor-agent-store/1';

type Maps = { readonly [K in ResourceKind]: Map<string, ResourceOf<K>> };

const EMPTY_SET: ReadonlySet<string> = new Set<string>();
/** Unsettled commits a store keeps revertible (more than the chunks of one goal state). */
const REVERTIBLE_MAX = 512;

let nextStoreId = 1;

export class ResourceStore {
  private readonly maps: Maps = {
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

/**
 * Which kinds the planner must track in its overlay (by KIND_INDEX). Subnets, ports and routers
 * always: other ops look them up. Any other kind only when an id may occur twice in the message:
 * ids strictly ascending within the kind (every v2 message, as normalize sorts map keys) cannot
 * repeat, so a million neighbors skip a million overlay writes.
 */
function kindsNeedingOverlay(ops: readonly ResourceOp[]): boolean[] {
  const needs = [false, true, false, false, true, true, false, false];
  const last: (string | undefined)[] = new Array(8).fill(undefined);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as ResourceOp;
    const k = KIND_INDEX[op.kind];
    const prev = last[k];
    if (prev !== undefined && !(prev < op.id)) needs[k] = true;
    last[k] = op.id;
  }
  return needs;
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

// ---------------------------------------------------------------------------------------------
// Planner: one per plan() call. The overlay holds what the plan has changed so far
// (null = deleted in this plan), so each op sees the message plus the held state as it evolves.

const KIND_INDEX: { readonly [K in ResourceKind]: number } = {
  vpc: 0,
  subnet: 1,
  securityGroup: 2,
  gateway: 3,
  router: 4,
  port: 5,
  neighbor: 6,
  dhcp: 7,
};

const KIND_NAME: { readonly [K in ResourceKind]: string } = {
  vpc: 'vpc',
  subnet: 'subnet',
  port: 'port',
  neighbor: 'neighbor',
  securityGroup: 'security group',
  dhcp: 'dhcp',
  router: 'router',
  gateway: 'gateway',
};

class Planner {
  readonly changes: Change[] = [];
  readonly touches: Resource[] = [];
  readonly touchedBefore: Resource[] = [];
  private readonly overlay: Map<string, Resource | null>[] = [
    new Map(),
    new Map(),
    new Map(),
    new Map(),
    new Map(),
    new Map(),
    new Map(),
    new Map(),
  ];
  /** Per subnet: planned change in the number of ports using it (vs the held index). */
  private readonly portCountDelta = new Map<string, number>();
  /** Per DVR MAC: planned change in the number of routers using it (vs the held counts). */
  private readonly dvrDelta = new Map<Mac, number>();
  /** Per MAC: the DHCP entry the plan makes serve it (null = freed by the plan), vs the held index. */
  private readonly dhcpMacPlanned = new Map<Mac, string | null>();
  /** The last subnet looked up; cleared whenever the plan changes a subnet. */
  private lastSubnet: Subnet | undefined;

  constructor(
    private readonly held: Maps,
    private readonly heldPortsBySubnet: ReadonlyMap<string, ReadonlySet<string>>,
    private readonly heldDvrCounts: ReadonlyMap<Mac, number>,
    private readonly heldDhcpByMac: ReadonlyMap<Mac, string>,
    /** Per KIND_INDEX: whether planned changes of that kind go into the overlay (see kindsNeedingOverlay). */
    private readonly useOverlay: readonly boolean[],
  ) {}

  step(op: ResourceOp): PlannedStatus {
    const r = op.resource;
    if (op.error !== undefined || r === undefined) {
      return status(op, OperationStatus.INVALID_ARG, op.error ?? `${KIND_NAME[op.kind]} '${op.id}' could not be read`);
    }
    const kindIndex = KIND_INDEX[op.kind];
    const overlay =
      this.useOverlay[kindIndex] === true ? (this.overlay[kindIndex] as Map<string, Resource | null>) : undefined;
    const planned = overlay === undefined ? undefined : overlay.get(op.id);
    const current = planned === undefined ? this.anyHeld(op.kind).get(op.id) : planned === null ? undefined : planned;

    if (op.operation === OperationType.GET) {
      return current === undefined
        ? status(op, OperationStatus.FAILURE, `${KIND_NAME[op.kind]} '${op.id}' is not held`)
        : status(op, OperationStatus.SUCCESS, '');
    }
    if (current !== undefined && current.revision !== 0 && r.revision !== 0 && current.revision > r.revision) {
      return status(
        op,
        OperationStatus.OUT_OF_ORDER,
        `${KIND_NAME[op.kind]} '${op.id}' revision ${r.revision} is older than the held revision ${current.revision}; ignored`,
      );
    }

    if (op.operation === OperationType.DELETE) {
      if (current === undefined) {
        if (op.kind === 'router')
          return status(op, OperationStatus.FAILURE, `router '${op.id}' is not held, nothing to delete`);
        return status(op, OperationStatus.SUCCESS, '');
      }
      if (op.kind === 'subnet') {
        const problem = this.subnetInUse(op.id);
        if (problem !== undefined) return status(op, OperationStatus.FAILURE, problem);
      }
      this.record(op.kind, op.id, current, undefined, overlay);
      return status(op, OperationStatus.SUCCESS, '');
    }

    // INFO / CREATE / UPDATE: upsert.
    switch (r.kind) {
      case 'port':
      case 'neighbor': {
        const problem = this.fixedIpsProblem(r.fixedIps);
        if (problem !== undefined) return status(op, problem.status, `${r.kind} '${op.id}': ${problem.reason}`);
        break;
      }
      case 'dhcp': {
        const s = this.subnetById(r.subnetId);
        if (s === undefined) {
          return status(
            op,
            OperationStatus.FAILURE,
            `dhcp '${op.id}': subnet '${r.subnetId}' is neither in this goal state nor held; send the subnet with it`,
          );
        }
        if (!cidrContains(s.cidr, r.ip)) {
          return status(
            op,
            OperationStatus.INVALID_ARG,
            `dhcp '${op.id}': ipv4_address ${formatIpv4(r.ip)} is outside subnet '${s.id}' (${formatCidr(s.cidr)})`,
          );
        }
        // The DHCP table semantics Alcor tests for (acceptance scenario 14): a duplicate add and an
        // update of a missing entry fail. A repeated identical CREATE stays idempotent.
        if (op.operation === OperationType.CREATE && current !== undefined && !sameContent(current, r)) {
          return status(
            op,
            OperationStatus.FAILURE,
            `dhcp '${op.id}' already exists with different content (duplicate add); send UPDATE to change it`,
          );
        }
        if (op.operation === OperationType.UPDATE && current === undefined) {
          return status(
            op,
            OperationStatus.FAILURE,
            `dhcp '${op.id}' does not exist (update of a missing entry); send CREATE first`,
          );
        }
        const owner = this.dhcpOwner(r.mac);
        if (owner !== undefined && owner !== op.id) {
          return status(
            op,
            OperationStatus.FAILURE,
            `dhcp '${op.id}': MAC ${formatMac(r.mac)} is already served by dhcp '${owner}'; delete that entry first`,
          );
        }
        break;
      }
      case 'router': {
        for (let i = 0; i < r.subnets.length; i++) {
          const subnetId = (r.subnets[i] as Router['subnets'][number]).subnetId;
          if (this.subnetById(subnetId) === undefined) {
            return status(
              op,
              OperationStatus.FAILURE,
              `router '${op.id}': subnet_routing_tables[${i}] names subnet '${subnetId}', which is neither in this goal state nor held; send the subnet with it`,
            );
          }
        }
        const conflict = this.dvrConflict(r, current as Router | undefined);
        if (conflict !== undefined) return status(op, OperationStatus.INVALID_ARG, conflict);
        break;
      }
      case 'vpc':
      case 'subnet':
      case 'securityGroup':
      case 'gateway':
        break;
      default: {
        const unreachable: never = r;
        return unreachable;
      }
    }

    if (current !== undefined && current.kind === r.kind && sameContent(current, r)) {
      // Idempotent: nothing to program. Keep the newest revision so later ordering checks use it.
      if ((current.revision !== r.revision || current.requestId !== r.requestId) && planned === undefined) {
        this.touches.push(r);
        this.touchedBefore.push(current);
      } else if (current.revision !== r.revision || current.requestId !== r.requestId)
        this.record(op.kind, op.id, current, r, overlay);
      return status(op, OperationStatus.SUCCESS, r.kind === 'securityGroup' ? (r.notProgrammed?.join('; ') ?? '') : '');
    }
    this.record(op.kind, op.id, current, r, overlay);
    return status(op, OperationStatus.SUCCESS, r.kind === 'securityGroup' ? (r.notProgrammed?.join('; ') ?? '') : '');
  }

  private anyHeld(kind: ResourceKind): ReadonlyMap<string, Resource> {
    return this.held[kind];
  }

  private view(kind: ResourceKind, id: string): Resource | undefined {
    const planned = (this.overlay[KIND_INDEX[kind]] as Map<string, Resource | null>).get(id);
    if (planned === undefined) return this.anyHeld(kind).get(id);
    return planned === null ? undefined : planned;
  }

  /** The subnet as the plan sees it (message plus held state), cached: neighbors come in runs per subnet. */
  private subnetById(id: string): Subnet | undefined {
    const cached = this.lastSubnet;
    if (cached !== undefined && cached.id === id) return cached;
    const s = this.view('subnet', id);
    if (s === undefined || s.kind !== 'subnet') return undefined;
    this.lastSubnet = s;
    return s;
  }

  /** Every fixed IP must name a known subnet (else FAILURE) and lie inside its CIDR (else INVALID_ARG). */
  private fixedIpsProblem(
    fixedIps: readonly { readonly subnetId: string; readonly ip: number }[],
  ): { status: OperationStatus; reason: string } | undefined {
    for (let i = 0; i < fixedIps.length; i++) {
      const f = fixedIps[i] as { readonly subnetId: string; readonly ip: number };
      const s = this.subnetById(f.subnetId);
      if (s === undefined) {
        return {
          status: OperationStatus.FAILURE,
          reason: `fixed_ips[${i}] names subnet '${f.subnetId}', which is neither in this goal state nor held; send the subnet (e.g. as INFO) with it`,
        };
      }
      if (!cidrContains(s.cidr, f.ip)) {
        return {
          status: OperationStatus.INVALID_ARG,
          reason: `fixed_ips[${i}].ip_address ${formatIpv4(f.ip)} is outside subnet '${s.id}' (${formatCidr(s.cidr)})`,
        };
      }
    }
    return undefined;
  }

  private record(
    kind: ResourceKind,
    id: string,
    before: Resource | undefined,
    after: Resource | undefined,
    overlay: Map<string, Resource | null> | undefined,
  ): void {
    this.changes.push({ kind, id, before, after });
    if (overlay !== undefined) overlay.set(id, after === undefined ? null : after);
    if (kind === 'subnet') this.lastSubnet = undefined;
    else if (kind === 'port') {
      if (before !== undefined) this.countPortSubnets(before as Port, -1);
      if (after !== undefined) this.countPortSubnets(after as Port, 1);
    } else if (kind === 'router') {
      if (before !== undefined) addCount(this.dvrDelta, (before as Router).dvrMac, -1);
      if (after !== undefined) addCount(this.dvrDelta, (after as Router).dvrMac, 1);
    } else if (kind === 'dhcp') {
      if (before !== undefined) this.dhcpMacPlanned.set((before as Dhcp).mac, null);
      if (after !== undefined) this.dhcpMacPlanned.set((after as Dhcp).mac, id);
    }
  }

  private dhcpOwner(mac: Mac): string | undefined {
    const planned = this.dhcpMacPlanned.get(mac);
    if (planned === undefined) return this.heldDhcpByMac.get(mac);
    return planned === null ? undefined : planned;
  }

  private countPortSubnets(p: Port, delta: number): void {
    const fixedIps = p.fixedIps;
    for (let i = 0; i < fixedIps.length; i++) {
      const subnetId = (fixedIps[i] as Port['fixedIps'][number]).subnetId;
      // The held index counts a port once per subnet; count it the same way.
      let seen = false;
      for (let j = 0; j < i && !seen; j++) seen = (fixedIps[j] as Port['fixedIps'][number]).subnetId === subnetId;
      if (!seen) addCount(this.portCountDelta, subnetId, delta);
    }
  }

  private subnetInUse(subnetId: string): string | undefined {
    const held = this.heldPortsBySubnet.get(subnetId);
    const count = (held?.size ?? 0) + (this.portCountDelta.get(subnetId) ?? 0);
    if (count <= 0) return undefined;
    let example = '';
    const planned = this.overlay[KIND_INDEX.port] as Map<string, Resource | null>;
    for (const [id, p] of planned) {
      if (p !== null && p.kind === 'port' && p.fixedIps.some((f) => f.subnetId === subnetId)) {
        example = id;
        break;
      }
    }
    if (example === '' && held !== undefined) {
      for (const id of held) {
        if (planned.get(id) === undefined) {
          example = id;
          break;
        }
      }
    }
    return `subnet '${subnetId}' is still used by ${count} port(s)${example === '' ? '' : ` (e.g. '${example}')`}; delete the ports first`;
  }

  private dvrConflict(r: Router, current: Router | undefined): string | undefined {
    const check = (mac: Mac, count: number): string | undefined => {
      if (mac === r.dvrMac) return undefined;
      const others = count - (current !== undefined && current.dvrMac === mac ? 1 : 0);
      if (others <= 0) return undefined;
      return (
        `router '${r.id}': host_dvr_mac_address ${formatMac(r.dvrMac)} differs from ${formatMac(mac)} used by ${others} other router(s)` +
        ` (e.g. '${this.routerWithMac(mac, r.id)}'); a host has one DVR MAC`
      );
    };
    for (const [mac, count] of this.heldDvrCounts) {
      const problem = check(mac, count + (this.dvrDelta.get(mac) ?? 0));
      if (problem !== undefined) return problem;
    }
    for (const [mac, delta] of this.dvrDelta) {
      if (this.heldDvrCounts.has(mac)) continue;
      const problem = check(mac, delta);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }

  private routerWithMac(mac: Mac, notId: string): string {
    for (const [id, r] of this.overlay[KIND_INDEX.router] as Map<string, Resource | null>) {
      if (r !== null && r.kind === 'router' && r.dvrMac === mac && id !== notId) return id;
    }
    for (const [id, r] of this.held.router) {
      if (r.dvrMac === mac && id !== notId && this.view('router', id) === r) return id;
    }
    return '?';
  }
}

function addCount<K>(map: Map<K, number>, key: K, delta: number): void {
  map.set(key, (map.get(key) ?? 0) + delta);
}

function status(op: ResourceOp, code: OperationStatus, reason: string): PlannedStatus {
  return { resourceId: op.id, resourceType: op.resourceType, operationType: op.operation, status: code, reason };
}

// ---------------------------------------------------------------------------------------------
// Content equality: everything but revision and requestId. A field that is undefined equals a
// field that is absent, so resources read back from a JSON snapshot compare equal to fresh ones.

export function sameContent(a: Resource, b: Resource): boolean {
  if (a === b) return true;
  if (a.kind !== b.kind || a.id !== b.id) return false;
  return sameFields(a, b, true);
}

function sameFields(a: object, b: object, skipMeta: boolean): boolean {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let definedInA = 0;
  for (const key in ra) {
    const va = ra[key];
    if (va === undefined) continue;
    definedInA++;
    if (skipMeta && (key === 'revision' || key === 'requestId')) continue;
    if (!sameValue(va, rb[key])) return false;
  }
  let definedInB = 0;
  for (const key in rb) if (rb[key] !== undefined) definedInB++;
  return definedInA === definedInB;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  return sameFields(a, b, false);
}

// ---------------------------------------------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function snapshotEntryProblem(kind: ResourceKind, r: unknown): string | undefined {
  if (!isRecord(r)) return 'not an object';
  if (r['kind'] !== kind) return `kind is ${JSON.stringify(r['kind'])}, want '${kind}'`;
  if (typeof r['id'] !== 'string' || r['id'] === '') return 'id is not a non-empty string';
  if (typeof r['revision'] !== 'number') return 'revision is not a number';
  // The fields the indexes and the planner read must have the right shape.
  if (kind === 'port') {
    if (
      !Array.isArray(r['fixedIps']) ||
      !r['fixedIps'].every((f: unknown) => isRecord(f) && typeof f['subnetId'] === 'string')
    )
      return 'fixedIps is malformed';
    if (!Array.isArray(r['securityGroupIds']) || !r['securityGroupIds'].every((s: unknown) => typeof s === 'string'))
      return 'securityGroupIds is malformed';
  } else if (kind === 'neighbor') {
    if (!Array.isArray(r['fixedIps'])) return 'fixedIps is malformed';
  } else if (kind === 'router') {
    if (typeof r['dvrMac'] !== 'number') return 'dvrMac is not a number';
    if (
      !Array.isArray(r['subnets']) ||
      !r['subnets'].every((s: unknown) => isRecord(s) && typeof s['subnetId'] === 'string')
    )
      return 'subnets is malformed';
  }
  return undefined;
}
