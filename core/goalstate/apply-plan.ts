// What a plan says: per-op reply statuses and the resource changes a commit makes. Produced by the
// planner (planner.ts), applied and reverted by the store (store.ts).

import type { OperationStatus, OperationType, ResourceType } from '../../proto';
import type { Resource, ResourceKind } from '../model';

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
