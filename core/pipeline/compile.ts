// The pipeline compiler: goal-state resources -> OpenFlow flows for br-int. Pure and deterministic
// (same view -> same flows in the same order). docs/pipeline.md explains the pipeline as a whole;
// each builder's comment says why its flows exist. This module holds the entry points; the builders
// live one owner kind per module (infra-, port-, security-group-, flood-, remote-neighbor- and
// router-flows.ts, with address-flows.ts shared and flow-parts.ts the common matches and actions).
//
// Matches are written in canonical field order (core/flow.ts FIELD_ORDER) so that the flow table can
// key them in one pass (core/flowtable/key.ts); builders that assemble matches from parts call
// canonicalMatch() instead.

import type { Flow } from '../flow';
import type { Resource } from '../model';
import { compileFlood } from './flood-flows';
import { compileGateway } from './gateway-flows';
import { compileInfra } from './infra-flows';
import { compilePort, portNetwork } from './port-flows';
import { compileNeighbor } from './remote-neighbor-flows';
import { compileRouter } from './router-flows';
import { INFRA_OWNER, type OwnerRef, type PipelineView } from './view';

/** Flows owned by one owner, from the current view (empty when the resource is gone). */
export function compileOwner(owner: OwnerRef, view: PipelineView): Flow[] {
  switch (owner.kind) {
    case 'infra':
      return compileInfra(view);
    case 'port': {
      const p = view.port(owner.id);
      return p === undefined ? [] : compilePort(p, view);
    }
    case 'neighbor': {
      const n = view.neighbor(owner.id);
      return n === undefined ? [] : compileNeighbor(n, view);
    }
    case 'router': {
      const r = view.router(owner.id);
      return r === undefined ? [] : compileRouter(r, view);
    }
    case 'flood': {
      const vni = Number(owner.id);
      return Number.isInteger(vni) ? compileFlood(vni, view) : [];
    }
    case 'gateway': {
      const g = view.gateway(owner.id);
      return g === undefined ? [] : compileGateway(g, view);
    }
    default: {
      const never: never = owner.kind;
      return never;
    }
  }
}

export interface OwnedFlows {
  readonly owner: OwnerRef;
  readonly flows: readonly Flow[];
}

/** Every owner with flows, in a fixed order: infra, ports, floods (by VNI), routers, gateways, neighbors. */
export function compileAllByOwner(view: PipelineView): OwnedFlows[] {
  const out: OwnedFlows[] = [{ owner: INFRA_OWNER, flows: compileInfra(view) }];
  const vnis = new Set<number>();
  for (const p of view.ports()) {
    const flows = compilePort(p, view);
    if (flows.length > 0) {
      out.push({ owner: { kind: 'port', id: p.id }, flows });
      const net = portNetwork(p, view);
      if (net !== undefined) vnis.add(net.vni);
    }
  }
  for (const vni of [...vnis].sort((a, b) => a - b)) {
    const flows = compileFlood(vni, view);
    if (flows.length > 0) out.push({ owner: { kind: 'flood', id: String(vni) }, flows });
  }
  for (const r of view.routers()) {
    const flows = compileRouter(r, view);
    if (flows.length > 0) out.push({ owner: { kind: 'router', id: r.id }, flows });
  }
  for (const g of view.gateways()) {
    const flows = compileGateway(g, view);
    if (flows.length > 0) out.push({ owner: { kind: 'gateway', id: g.id }, flows });
  }
  for (const n of view.neighbors()) {
    const flows = compileNeighbor(n, view);
    if (flows.length > 0) out.push({ owner: { kind: 'neighbor', id: n.id }, flows });
  }
  return out;
}

export function compileAll(view: PipelineView): Flow[] {
  const out: Flow[] = [];
  for (const o of compileAllByOwner(view)) for (const f of o.flows) out.push(f);
  return out;
}

/** Flows of one resource; resources that own no flows themselves (vpc, subnet, SG, dhcp) give []. */
export function compileResource(resource: Resource, view: PipelineView): Flow[] {
  switch (resource.kind) {
    case 'port':
      return compilePort(resource, view);
    case 'neighbor':
      return compileNeighbor(resource, view);
    case 'router':
      return compileRouter(resource, view);
    case 'gateway':
      return compileGateway(resource, view);
    case 'vpc':
    case 'subnet':
    case 'securityGroup':
    case 'dhcp':
      return [];
    default: {
      const never: never = resource;
      return never;
    }
  }
}
