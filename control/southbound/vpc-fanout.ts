// A change that many hosts of one VPC need, identical for each (a neighbor added, moved or deleted), goes
// out once, to the VPC's subject, instead of once per host: the broker fans it out, and the control
// service's cost per change no longer grows with the hosts of the VPC. Each host's agent still replies
// on its own reply subject, so every host's session gets its own result, as for a message of its own.
//
// Which hosts take that path: owned here, reached through NATS with the broker up, nothing else unacknowledged
// (so the VPC message cannot overtake an earlier message of the host's own), and an agent that consumes the
// VPC's subject. The control service asks for that with a header on the host's own messages (H_VPCS) and
// counts it done once the agent replied to such a message; until then the host gets its copy on its own
// subject. Hosts over gRPC (mixed fleets) get their own push as before.
//
// Only neighbor changes go this way: a neighbor carries a revision, and the agent ignores a revision older
// than the one it holds, so the order between a host's subject and its VPC's subject cannot matter.
import { NeighborState } from '../../proto';
import { vpcSubject } from '../../core/southbound/nats-wire';
import { encodeHostGoalState, encodeResourceEntry } from '../resources';
import type { ControlMetrics } from '../metrics';
import type { HostChange, StateCache } from '../store/store';
import type { HostSession } from './host-session';
import { NatsHostTransport } from './host-transport';
import type { NatsLink } from './nats-link';

const NEIGHBOR = 'neighbor/';

interface Group {
  readonly vpc: string;
  readonly changes: HostChange[];
  readonly transports: NatsHostTransport[];
}

export class VpcFanout {
  constructor(
    private readonly link: NatsLink,
    private readonly cache: StateCache,
    private readonly replyTimeoutMs: number,
    private readonly metrics: ControlMetrics,
  ) {}

  /** Hands each change (in commit order) to its host's session, the shareable ones as one VPC publish. */
  dispatch(
    changes: readonly HostChange[],
    sessionOf: (host: string) => HostSession | undefined,
    mayPush: (host: string) => boolean,
  ): void {
    const shared = this.link.up() ? this.publishGroups(changes, sessionOf, mayPush) : new Map();
    for (const c of changes) sessionOf(c.host)?.enqueue(c, shared.get(c));
  }

  private publishGroups(
    changes: readonly HostChange[],
    sessionOf: (host: string) => HostSession | undefined,
    mayPush: (host: string) => boolean,
  ): Map<HostChange, ReturnType<HostSession['stream']['send']>> {
    const perHost = new Map<string, number>();
    for (const c of changes) perHost.set(c.host, (perHost.get(c.host) ?? 0) + 1);
    const vpcOfKey = new Map<string, string | null>();
    const groups = new Map<string, Group>();
    for (const c of changes) {
      const s = sessionOf(c.host);
      const t = s?.stream;
      // A host with two changes in the batch keeps them in order on its own subject.
      if (!(t instanceof NatsHostTransport) || perHost.get(c.host) !== 1 || s?.pendingCount() !== 0) continue;
      if (!mayPush(c.host)) continue;
      const vpc = this.vpcOf(c, vpcOfKey);
      if (vpc === null) continue;
      if (!t.consumesVpc(vpc)) {
        t.announceVpc(vpc); // its own message for this change asks its agent to consume the VPC
        continue;
      }
      const sig = `${vpc}|${c.origin}|${c.keys.join(',')}|${[...c.deletes.keys()].join(',')}`;
      let g = groups.get(sig);
      if (g === undefined) groups.set(sig, (g = { vpc, changes: [], transports: [] }));
      g.changes.push(c);
      g.transports.push(t);
    }
    const out = new Map<HostChange, ReturnType<HostSession['stream']['send']>>();
    for (const g of groups.values()) {
      if (g.changes.length < 2) continue;
      const message = this.messageOf(g.changes[0] as HostChange);
      if (message === null) continue;
      let replies;
      try {
        replies = this.link.sendShared(
          vpcSubject(g.vpc),
          message,
          g.changes.map((c) => c.host),
          this.replyTimeoutMs,
        );
      } catch {
        continue; // the broker just went down: each host's own path decides
      }
      this.metrics.natsVpcHosts.inc(g.changes.length);
      g.changes.forEach((c, i) => {
        const p = replies.get(c.host);
        if (p === undefined) return;
        // No reply through the VPC: its own subject until its agent is asked again.
        p.catch(() => (g.transports[i] as NatsHostTransport).forgetVpc(g.vpc));
        out.set(c, p);
      });
    }
    return out;
  }

  /** The VPC of a change made of neighbors of one VPC only; null for anything else. */
  private vpcOf(c: HostChange, memo: Map<string, string | null>): string | null {
    if (c.keys.length + c.deletes.size === 0) return null;
    let vpc: string | null = null;
    const keys = c.deletes.size === 0 ? c.keys : [...c.keys, ...c.deletes.keys()];
    for (const key of keys) {
      let v = memo.get(key);
      if (v === undefined) {
        v = null;
        if (key.startsWith(NEIGHBOR)) {
          const state = c.deletes.get(key) ?? this.cache.resources.get(key)?.state;
          try {
            if (state !== undefined) v = NeighborState.decode(state).configuration?.vpcId || null;
          } catch {
            v = null;
          }
        }
        memo.set(key, v);
      }
      if (v === null || (vpc !== null && v !== vpc)) return null;
      vpc = v;
    }
    return vpc;
  }

  /** The change as one message for any host (agents ignore host_resources, so none is named). */
  private messageOf(c: HostChange): Buffer | null {
    const entries: Buffer[] = [];
    for (const key of c.keys) {
      const e = this.cache.entry(key);
      if (e === undefined) return null;
      entries.push(e);
    }
    for (const [key, state] of c.deletes) entries.push(encodeResourceEntry(key, state));
    return encodeHostGoalState('', [], entries);
  }
}
