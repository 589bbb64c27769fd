// The planner: what every op of a goal state would do to the held state, worked out without
// touching it (ResourceStore.plan makes one per call).
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
//   them, and not be a subnet's network or broadcast address (INVALID_ARG otherwise); a router needs the subnets of its routing tables;
//   a subnet cannot be deleted while ports use it. A router whose DVR MAC differs from another
//   router's (held or earlier in the message) is INVALID_ARG: the DVR MAC is one per host.
// - Processing order: non-DELETE ops in op order (parents first, since ops come in dependency
//   order), then DELETE ops in reverse op order (children first). So a message that deletes a
//   subnet and its ports succeeds, and a message that creates a port in a subnet it also deletes
//   fails the subnet delete. Statuses are reported one per op in op order; `changes` are listed
//   in processing order, which is also a safe order for programming the data plane (creates
//   parent-first, deletes child-first).

import { OperationStatus, OperationType } from '../../proto';
import type { Dhcp, Mac, Port, Resource, ResourceKind, ResourceOp, Router, Subnet } from '../model';
import { cidrContains, formatCidr, formatIpv4, formatMac, subnetHostProblem } from './addr';
import type { Change, PlannedStatus, ResourceOf } from './apply-plan';
import { KIND_INDEX, KIND_LABEL } from './kinds';
import { sameContent } from './same-content';

/** The store's held resources, one map per kind. */
export type HeldMaps = { readonly [K in ResourceKind]: Map<string, ResourceOf<K>> };

/**
 * Which kinds the planner must track in its overlay (by KIND_INDEX). Subnets, ports and routers
 * always: other ops look them up. Any other kind only when an id may occur twice in the message:
 * ids strictly ascending within the kind (every v2 message, as normalize sorts map keys) cannot
 * repeat, so a million neighbors skip a million overlay writes.
 */
export function kindsNeedingOverlay(ops: readonly ResourceOp[]): boolean[] {
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

// ---------------------------------------------------------------------------------------------
// Planner: one per plan() call. The overlay holds what the plan has changed so far
// (null = deleted in this plan), so each op sees the message plus the held state as it evolves.
export class Planner {
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
    private readonly held: HeldMaps,
    private readonly heldPortsBySubnet: ReadonlyMap<string, ReadonlySet<string>>,
    private readonly heldDvrCounts: ReadonlyMap<Mac, number>,
    private readonly heldDhcpByMac: ReadonlyMap<Mac, string>,
    /** Per KIND_INDEX: whether planned changes of that kind go into the overlay (see kindsNeedingOverlay). */
    private readonly useOverlay: readonly boolean[],
  ) {}

  step(op: ResourceOp): PlannedStatus {
    const r = op.resource;
    if (op.error !== undefined || r === undefined) {
      return status(op, OperationStatus.INVALID_ARG, op.error ?? `${KIND_LABEL[op.kind]} '${op.id}' could not be read`);
    }
    const kindIndex = KIND_INDEX[op.kind];
    const overlay =
      this.useOverlay[kindIndex] === true ? (this.overlay[kindIndex] as Map<string, Resource | null>) : undefined;
    const planned = overlay === undefined ? undefined : overlay.get(op.id);
    const current = planned === undefined ? this.anyHeld(op.kind).get(op.id) : planned === null ? undefined : planned;

    if (op.operation === OperationType.GET) {
      return current === undefined
        ? status(op, OperationStatus.FAILURE, `${KIND_LABEL[op.kind]} '${op.id}' is not held`)
        : status(op, OperationStatus.SUCCESS, '');
    }
    if (current !== undefined && current.revision !== 0 && r.revision !== 0 && current.revision > r.revision) {
      return status(
        op,
        OperationStatus.OUT_OF_ORDER,
        `${KIND_LABEL[op.kind]} '${op.id}' revision ${r.revision} is older than the held revision ${current.revision}; ignored`,
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
        const notHost = subnetHostProblem('ipv4_address', r.ip, s.cidr);
        if (notHost !== undefined) return status(op, OperationStatus.INVALID_ARG, `dhcp '${op.id}': ${notHost}`);
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
      const notHost = subnetHostProblem(`fixed_ips[${i}].ip_address`, f.ip, s.cidr);
      if (notHost !== undefined) return { status: OperationStatus.INVALID_ARG, reason: notHost };
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
