// Which replicas are alive, and whether this one may push.
//
// Embedded mode: StaticMembership, this process alone, always active.
// Sharded mode: EtcdMembership (sharding/etcd-membership.ts): one key per replica under a lease.
import { EventEmitter } from 'node:events';
import { ownerOf } from './rendezvous';

export type MembershipEvents = { change: [] };

export interface Membership {
  readonly self: string;
  readonly events: EventEmitter<MembershipEvents>;
  /** Live replica ids (including self while registered). */
  members(): readonly string[];
  /** False once the lease is known lost: a fenced replica pushes nothing. */
  active(): boolean;
  start(): Promise<void>;
  /** Graceful: releases the lease so the hosts move at once. */
  stop(): Promise<void>;
  describe(): Record<string, unknown>;
}

export function owns(m: Membership, host: string): boolean {
  return m.active() && ownerOf(host, m.members()) === m.self;
}

export class StaticMembership implements Membership {
  readonly events = new EventEmitter<MembershipEvents>();
  constructor(readonly self: string) {}
  members(): readonly string[] {
    return [this.self];
  }
  active(): boolean {
    return true;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  describe(): Record<string, unknown> {
    return { mode: 'embedded', self: this.self, members: [this.self] };
  }
}
