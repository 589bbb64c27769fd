// The one mapping from what a failure means (core/errors.ts: input, unavailable, internal) to a
// gRPC status and an HTTP status. The agent's GoalStateProvisioner server and the control
// service's gRPC and HTTP faces all answer through it, so "bad input" means the same everywhere
// and no code prefix decides it.
import * as grpc from '@grpc/grpc-js';
import type { ErrorKind } from '../../core/errors';

/**
 * The standard gRPC trailer (gRFC A6) by which a server says "this failure is transient: try again after
 * this many milliseconds". The agent sets it when a message is refused only because the receive budget is
 * full at that moment, so a sender can tell that RESOURCE_EXHAUSTED from a message too large to ever fit.
 */
export const RETRY_PUSHBACK_KEY = 'grpc-retry-pushback-ms';

/** Trailing metadata that invites a retry after `ms` milliseconds. */
export function retryPushback(ms: number): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(RETRY_PUSHBACK_KEY, String(Math.max(0, Math.round(ms))));
  return md;
}

/** The pushback a failed call carries, in milliseconds, or undefined when the server did not invite a retry. */
export function retryPushbackOf(err: { metadata?: grpc.Metadata }): number | undefined {
  const v = err.metadata?.get(RETRY_PUSHBACK_KEY)[0];
  if (v === undefined) return undefined;
  const ms = Number(String(v));
  return Number.isInteger(ms) && ms >= 0 ? ms : undefined;
}

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
