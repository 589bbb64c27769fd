// gRPC channels to agents, shared by the host sessions and kept warm for standby hosts.
//
// Taking over a dead replica's hosts used to start with one new channel per host: channel construction,
// TCP connect and HTTP/2 handshake for ~1/N of all hosts at once, on the critical path of the takeover.
// With rendezvous hashing the replica that gets a host when its owner dies is known in advance: the host's
// runner-up among the live members. Each replica keeps an idle, connected channel to the hosts it is the
// runner-up for (its standby hosts, about as many as it owns), so a takeover only opens a stream on a ready
// channel. A standby channel carries no call: nothing is pushed without ownership.
import * as grpc from '@grpc/grpc-js';
import type { AgentStreamOptions } from './agent-stream';

export function newAgentClient(address: string, opts: AgentStreamOptions): grpc.Client {
  return new grpc.Client(address, opts.channelCredentials ?? grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
    'grpc.initial_reconnect_backoff_ms': opts.backoffInitialMs,
    'grpc.max_reconnect_backoff_ms': opts.backoffMaxMs,
  });
}

interface Entry {
  readonly client: grpc.Client;
  users: number;
  /** Standby hosts reaching the agent at this address (usually one). */
  standby: number;
}

/** How often idle standby channels are checked and reconnected (grpc-js idles unused channels after 30 min). */
const KEEP_WARM_MS = 10000;
/**
 * New standby channels connect this long after they are asked for, a few at a time: a membership change is
 * also when hosts move, and their takeover must not compete with opening hundreds of standby connections.
 */
const WARM_DELAY_MS = 1000;
const WARM_BATCH = 50;
const WARM_BATCH_GAP_MS = 20;

export class AgentChannels {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;
  private readonly toWarm = new Set<string>();
  private warmTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly opts: AgentStreamOptions) {}

  /** A channel for a host session; give it back with release(). */
  acquire(address: string): grpc.Client {
    const e = this.entry(address);
    e.users++;
    return e.client;
  }

  release(address: string, client: grpc.Client): void {
    const e = this.entries.get(address);
    if (e === undefined || e.client !== client) {
      client.close();
      return;
    }
    e.users = Math.max(0, e.users - 1);
    this.closeIfUnused(address, e);
  }

  /** Keeps (or stops keeping) a connected channel to `address` while no session uses it. Counted per call. */
  setStandby(address: string, standby: boolean): void {
    if (this.closed) return;
    if (standby) {
      const e = this.entry(address);
      if (e.standby++ === 0 && e.users === 0) this.warmSoon(address);
      this.keepWarm();
      return;
    }
    const e = this.entries.get(address);
    if (e === undefined || e.standby === 0) return;
    e.standby--;
    this.closeIfUnused(address, e);
  }

  /** Standby channels, and how many of them are connected right now. */
  standbyCounts(): { standby: number; ready: number } {
    let standby = 0;
    let ready = 0;
    for (const e of this.entries.values()) {
      if (e.standby === 0) continue;
      standby++;
      if (e.client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY) ready++;
    }
    return { standby, ready };
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.warmTimer !== null) clearTimeout(this.warmTimer);
    this.warmTimer = null;
    this.toWarm.clear();
    for (const e of this.entries.values()) e.client.close();
    this.entries.clear();
  }

  private entry(address: string): Entry {
    let e = this.entries.get(address);
    if (e === undefined) {
      e = { client: newAgentClient(address, this.opts), users: 0, standby: 0 };
      this.entries.set(address, e);
    }
    return e;
  }

  private warmSoon(address: string): void {
    this.toWarm.add(address);
    if (this.warmTimer !== null) return;
    this.warmTimer = setTimeout(() => this.warmBatch(), WARM_DELAY_MS);
    this.warmTimer.unref();
  }

  private warmBatch(): void {
    this.warmTimer = null;
    let n = 0;
    for (const address of this.toWarm) {
      this.toWarm.delete(address);
      const e = this.entries.get(address);
      if (e !== undefined && e.standby > 0 && e.users === 0) e.client.getChannel().getConnectivityState(true);
      if (++n >= WARM_BATCH) break;
    }
    if (this.toWarm.size === 0 || this.closed) return;
    this.warmTimer = setTimeout(() => this.warmBatch(), WARM_BATCH_GAP_MS);
    this.warmTimer.unref();
  }

  private closeIfUnused(address: string, e: Entry): void {
    if (e.users > 0 || e.standby > 0) return;
    this.entries.delete(address);
    e.client.close();
  }

  private keepWarm(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      for (const e of this.entries.values()) {
        if (e.standby === 0 || e.users > 0) continue;
        const st = e.client.getChannel().getConnectivityState(false);
        if (st === grpc.connectivityState.IDLE) e.client.getChannel().getConnectivityState(true);
      }
    }, KEEP_WARM_MS);
    this.timer.unref();
  }
}
