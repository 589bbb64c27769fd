// The resource kinds and the facts about each, stated once: their dependency order (which is also
// the index the store's planner uses), their wire ResourceType and the name errors call them by.

import { ResourceType } from '../../proto';
import type { ResourceKind } from '../model';

/** Kinds in dependency order: a kind only refers to kinds before it. */
export const KIND_ORDER: readonly ResourceKind[] = [
  'vpc',
  'subnet',
  'securityGroup',
  'gateway',
  'router',
  'port',
  'neighbor',
  'dhcp',
];

/** A kind's position in KIND_ORDER: per-kind arrays (the planner's overlays) are indexed by it. */
export const KIND_INDEX: { readonly [K in ResourceKind]: number } = {
  vpc: 0,
  subnet: 1,
  securityGroup: 2,
  gateway: 3,
  router: 4,
  port: 5,
  neighbor: 6,
  dhcp: 7,
};

/** What an error message calls a kind ("security group 'sg1' ..."). */
export const KIND_LABEL: { readonly [K in ResourceKind]: string } = {
  vpc: 'vpc',
  subnet: 'subnet',
  port: 'port',
  neighbor: 'neighbor',
  securityGroup: 'security group',
  dhcp: 'dhcp',
  router: 'router',
  gateway: 'gateway',
};

export const RESOURCE_TYPE_OF_KIND: { readonly [K in ResourceKind]: ResourceType } = {
  vpc: ResourceType.VPC,
  subnet: ResourceType.SUBNET,
  port: ResourceType.PORT,
  neighbor: ResourceType.NEIGHBOR,
  securityGroup: ResourceType.SECURITYGROUP,
  dhcp: ResourceType.DHCP,
  router: ResourceType.ROUTER,
  gateway: ResourceType.GATEWAY,
};

/** ResourceType -> kind; undefined for values outside the enum. */
export function kindOfResourceType(type: ResourceType): ResourceKind | undefined {
  return KIND_OF_RESOURCE_TYPE.get(type);
}

const KIND_OF_RESOURCE_TYPE: ReadonlyMap<ResourceType, ResourceKind> = new Map(
  KIND_ORDER.map((kind) => [RESOURCE_TYPE_OF_KIND[kind], kind]),
);
