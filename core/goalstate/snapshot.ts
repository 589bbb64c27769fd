// The JSON-able form of a held store, and the shape checks a snapshot read back from disk must pass
// before the store trusts it (ResourceStore.fromSnapshot).

import type { ResourceKind } from '../model';
import type { ResourceOf } from './apply-plan';

/** The JSON-able form of a store: every held resource, grouped by kind. */
export interface StoreSnapshot {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly resources: { readonly [K in ResourceKind]: readonly ResourceOf<K>[] };
}

export const SNAPSHOT_FORMAT = 'alcor-agent-store/1';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function snapshotEntryProblem(kind: ResourceKind, r: unknown): string | undefined {
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
