// Which owners must be recompiled when something changes. The rule of thumb: a flow owner is
// recompiled when anything its compile function reads changes. What each owner reads:
//
//   port     the port, its subnets (VNI, gateway MAC), its SGs and their rules, the members (held
//            ports) of every remote group its rules name, its ofport
//   flood    every held port of the VNI (membership, admin state, ofport)
//   router   the router and its subnets (CIDR, VNI, gateway), the tunnel ofport
//   neighbor the neighbor, its subnets (VNI), the tunnel ofport and our tunnel IP  - never other
//            neighbors or routers, so neighbor compilation partitions freely by id
//   infra    the tunnel ofport
//   gateway  the gateway, every held ZETA gateway's id (group ids are probed past each other's), the
//            VPCs listing it and their subnets (VNIs), the tunnel ofport
//
// Hence, per change (`before`/`after` are the resource's old and new values; undefined on
// create/delete; the view already holds the new state):
//   port      -> the port; the floods of its old and new VNI; if its IPs or SG list changed, every
//                held port whose rules name one of its (old or new) groups as remote group
//   subnet    -> ports and neighbors in it, routers on it, the floods of its old and new VNI
//   SG        -> the ports in the group
//   router    -> the router
//   neighbor  -> the neighbor
//   vpc       -> the gateways it lists, before and after
//   gateway   -> every held gateway (and the changed one, if it went away)
//   dhcp      -> nothing (no flow reads it)
//   ofport of a port appears/changes/disappears -> dependentsOfOfport()
//   tunnel port or local tunnel IP changes -> dependentsOfTunnel()
// A subnet change also recompiles the gateways of its old and new VPC.

import type { Port, Resource } from '../model';
import { gatewayOwner } from './gateway-flows';
import { portNetwork } from './port-flows';
import { INFRA_OWNER, floodOwner, ownerKey, type OwnerRef, type PipelineView } from './view';

export interface ResourceChange {
  readonly before: Resource | undefined;
  readonly after: Resource | undefined;
}

class OwnerSet {
  readonly #seen = new Set<string>();
  readonly list: OwnerRef[] = [];
  add(o: OwnerRef): void {
    const k = ownerKey(o);
    if (this.#seen.has(k)) return;
    this.#seen.add(k);
    this.list.push(o);
  }
}

function sameMembership(a: Port, b: Port): boolean {
  return (
    a.fixedIps.length === b.fixedIps.length &&
    a.fixedIps.every((f, i) => f.ip === b.fixedIps[i]?.ip) &&
    a.securityGroupIds.length === b.securityGroupIds.length &&
    a.securityGroupIds.every((g, i) => g === b.securityGroupIds[i])
  );
}

/** Ports whose rules name one of `groupIds` as remote group. */
function portsReferencingGroups(groupIds: ReadonlySet<string>, view: PipelineView, out: OwnerSet): void {
  if (groupIds.size === 0) return;
  for (const sg of view.securityGroups()) {
    if (!sg.rules.some((r) => r.remoteGroupId !== undefined && groupIds.has(r.remoteGroupId))) continue;
    for (const p of view.portsInSecurityGroup(sg.id)) out.add({ kind: 'port', id: p.id });
  }
}

function floodOfPort(p: Port, view: PipelineView, out: OwnerSet): void {
  const net = portNetwork(p, view);
  if (net !== undefined) out.add(floodOwner(net.vni));
}

export function dependents(change: ResourceChange, view: PipelineView): OwnerRef[] {
  const r = change.after ?? change.before;
  const out = new OwnerSet();
  if (r === undefined) return out.list;
  switch (r.kind) {
    case 'port': {
      out.add({ kind: 'port', id: r.id });
      const before = change.before?.kind === 'port' ? change.before : undefined;
      const after = change.after?.kind === 'port' ? change.after : undefined;
      for (const p of [before, after]) if (p !== undefined) floodOfPort(p, view, out);
      if (before === undefined || after === undefined || !sameMembership(before, after)) {
        portsReferencingGroups(
          new Set([...(before?.securityGroupIds ?? []), ...(after?.securityGroupIds ?? [])]),
          view,
          out,
        );
      }
      return out.list;
    }
    case 'subnet': {
      for (const p of view.portsInSubnet(r.id)) out.add({ kind: 'port', id: p.id });
      for (const n of view.neighborsInSubnet(r.id)) out.add({ kind: 'neighbor', id: n.id });
      for (const rt of view.routersForSubnet(r.id)) out.add({ kind: 'router', id: rt.id });
      for (const s of [change.before, change.after]) {
        if (s?.kind !== 'subnet') continue;
        out.add(floodOwner(s.tunnelId));
        for (const g of view.vpc(s.vpcId)?.gatewayIds ?? []) out.add(gatewayOwner(g));
      }
      return out.list;
    }
    case 'securityGroup':
      for (const p of view.portsInSecurityGroup(r.id)) out.add({ kind: 'port', id: p.id });
      return out.list;
    case 'router':
      // A router that lost a subnet is still named here; recompiling it drops that subnet's flows.
      out.add({ kind: 'router', id: r.id });
      return out.list;
    case 'neighbor':
      out.add({ kind: 'neighbor', id: r.id });
      return out.list;
    case 'vpc':
      for (const v of [change.before, change.after]) {
        if (v?.kind === 'vpc') for (const g of v.gatewayIds) out.add(gatewayOwner(g));
      }
      return out.list;
    case 'gateway':
      out.add(gatewayOwner(r.id));
      for (const g of view.gateways()) out.add(gatewayOwner(g.id));
      return out.list;
    case 'dhcp':
      return out.list;
    default: {
      const never: never = r;
      return never;
    }
  }
}

/** A port's interface appeared in OVS, changed ofport, or went away. */
export function dependentsOfOfport(portId: string, view: PipelineView): OwnerRef[] {
  const out = new OwnerSet();
  out.add({ kind: 'port', id: portId });
  const p = view.port(portId);
  if (p !== undefined) floodOfPort(p, view, out);
  return out.list;
}

/** The tunnel port's ofport or our tunnel IP changed: infra, every router, gateway and neighbor. */
export function dependentsOfTunnel(view: PipelineView): OwnerRef[] {
  const out = new OwnerSet();
  out.add(INFRA_OWNER);
  for (const r of view.routers()) out.add({ kind: 'router', id: r.id });
  for (const g of view.gateways()) out.add(gatewayOwner(g.id));
  for (const n of view.neighbors()) out.add({ kind: 'neighbor', id: n.id });
  return out.list;
}
