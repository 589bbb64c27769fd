// The one mapping from what a failure means (core/errors.ts: input, unavailable, internal) to a
// gRPC status and an HTTP status. The agent's GoalStateProvisioner server and the control
// service's gRPC and HTTP faces all answer through it, so "bad input" means the same everywhere
// and no code prefix decides it.
import * as grpc from '@grpc/grpc-js';
import type { ErrorKind } from '../../core/errors';

export function grpcStatusOf(kind: ErrorKind): grpc.status {
  switch (kind) {
    case 'input':
      return grpc.status.INVALID_ARGUMENT;
    case 'unavailable':
      return grpc.status.UNAVAILABLE;
    case 'exhausted':
      return grpc.status.RESOURCE_EXHAUSTED;
    case 'deadline':
      return grpc.status.DEADLINE_EXCEEDED;
    case 'internal':
      return grpc.status.INTERNAL;
    default: {
      const never: never = kind;
      return never;
    }
  }
}

export function httpStatusOf(kind: ErrorKind): number {
  switch (kind) {
    case 'input':
      return 400;
    case 'unavailable':
      return 503;
    case 'exhausted':
      return 413;
    case 'deadline':
      return 408;
    case 'internal':
      return 500;
    default: {
      const never: never = kind;
      return never;
    }
  }
}
