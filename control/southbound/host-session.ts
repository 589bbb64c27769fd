// Everything one owned host gets pushed, in order, over its AgentStream.
//
// Deltas (one per committed goal state touching the host) are sent as they arrive while the stream is up.
// Every (re)connection, ownership change or agent restart instead sends the host's FULL state, which also
// carries the DELETE states of every delta not yet acknowledged: one full message absorbs everything pending.
// A result "host applied everything up to version V" is reported after each acknowledged message.
import { GoalStateOperationReply, OperationStatus, OperationType } from '../../proto';
import { encodeHostGoalState, encodeResourceEntry, parseResourceKey, resourceKey } from '../resources';
import { HostChange, HostResult, StateCache } from '../store/store';
import type { AgentChannels } from './agent-channels';
import { AgentStream, AgentStreamOptions, isAgentRefusal } from './agent-stream';
import type { HostTransport } from './host-transport';
import { ALL_SUCCEEDED } from './nats-link';

interface Delta {
  readonly version: number;
  readonly keys: readonly string[];
  readonly deletes: ReadonlyMap<string, Uint8Array>;
}

export interface SessionContext {
  readonly cache: StateCache;
  readonly streamOptions: AgentStreamOptions;
  /** Shared agent channels (standby hosts' channels are kept connected). */
  readonly channels?: AgentChannels;
  /** May this replica push to the host right now (ownership and lease checked at send time)? */
  readonly mayPush: (host: string) => boolean;
  readonly onResult: (result: HostResult, origin: string | null) => void;
  readonly onPushed: (latencyMs: number, full: boolean) => void;
  readonly onFailure: (host: string, reason: string) => void;
  /** How this host is reached (a NATS registration); absent: gRPC to `address`. */
  readonly transport?: (host: string, address: string) => HostTransport | null;
}

export class HostSession {
  /** How this host is reached (its NATS transport is asked which VPC subjects its agent consumes). */
  readonly stream: HostTransport;
  private pending: Array<Delta & { readonly origin: string }> = [];
  lastResult: HostResult | null = null;

  constructor(
    readonly host: string,
    readonly address: string,
    private readonly ctx: SessionContext,
  ) {
    this.stream = ctx.transport?.(host, address) ?? new AgentStream(address, ctx.streamOptions, ctx.channels ?? null);
    this.stream.onConnected = () => this.pushFull();
    this.stream.onFailure = (reason) => ctx.onFailure(host, reason);
  }

  start(): void {
    this.stream.start();
  }

  stop(): void {
    this.stream.stop();
    this.pending = [];
  }

  state(): string {
    return this.stream.state;
  }

  lastError(): string {
    return this.stream.lastError;
  }

  pendingCount(): number {
    return this.pending.length;
  }

  /**
   * A committed change for this host. `shared`: it already went out once for the whole VPC (its reply from
   * this host's agent); otherwise it is sent to this host alone.
   */
  enqueue(change: HostChange, shared?: Promise<GoalStateOperationReply>): void {
    const delta = { version: change.version, keys: change.keys, deletes: change.deletes, origin: change.origin };
    this.pending.push(delta);
    if (shared !== undefined) this.track(delta, [...change.keys, ...change.deletes.keys()], Date.now(), shared);
    else if (this.stream.connected()) this.sendDelta(delta);
  }

  /** Re-pushes the full state (agent restarted, or this replica just became the owner). */
  repush(): void {
    if (this.stream.connected()) this.pushFull();
    else this.stream.start();
  }

  private entriesFor(
    keys: Iterable<string>,
    deletes: ReadonlyMap<string, Uint8Array>,
  ): { keys: string[]; entries: Buffer[] } {
    const outKeys: string[] = [];
    const entries: Buffer[] = [];
    for (const key of keys) {
      const entry = this.ctx.cache.entry(key);
      if (entry === undefined) continue; // removed by a later commit; that commit's delta says so
      outKeys.push(key);
      entries.push(entry);
    }
    for (const [key, state] of deletes) {
      outKeys.push(key);
      entries.push(encodeResourceEntry(key, state));
    }
    return { keys: outKeys, entries };
  }

  private sendDelta(delta: Delta & { readonly origin: string }): void {
    if (!this.ctx.mayPush(this.host)) return;
    const { keys, entries } = this.entriesFor(delta.keys, delta.deletes);
    this.track(delta, keys, Date.now(), this.stream.send(encodeHostGoalState(this.host, keys, entries)));
  }

  private track(
    delta: Delta & { readonly origin: string },
    keys: readonly string[],
    started: number,
    sent: Promise<GoalStateOperationReply>,
  ): void {
    sent.then(
      (reply) => {
        if (!this.pending.includes(delta)) return; // already absorbed by a full push
        this.pending = this.pending.filter((d) => d.version > delta.version);
        this.ctx.onPushed(Date.now() - started, false);
        this.report(delta.version, reply, delta.origin, keys, delta.deletes);
      },
      (err: unknown) => {
        // Lost in transit: stays pending, the next connection's full push absorbs it. Refused: the
        // agent will never take it, so it is reported (to the caller and /result) instead of retried.
        if (!isAgentRefusal(err) || !this.pending.includes(delta)) return;
        this.pending = this.pending.filter((d) => d !== delta);
        this.reportRefusal(delta.version, keys, delta.deletes, err.message, delta.origin);
      },
    );
  }

  private pushFull(): void {
    if (!this.ctx.mayPush(this.host)) return;
    const absorbed = this.pending.slice();
    const index = this.ctx.cache.hosts.get(this.host);
    const current = index?.keys ?? new Set<string>();
    const deletes = new Map<string, Uint8Array>();
    let version = index?.version ?? 0;
    for (const d of absorbed) {
      version = Math.max(version, d.version);
      for (const [k, s] of d.deletes) if (!current.has(k)) deletes.set(k, s);
    }
    const { keys, entries } = this.entriesFor(current, deletes);
    const started = Date.now();
    this.stream.send(encodeHostGoalState(this.host, keys, entries)).then(
      (reply) => {
        this.pending = this.pending.filter((d) => d.version > version);
        this.ctx.onPushed(Date.now() - started, true);
        this.report(version, reply, null, keys, deletes);
      },
      (err: unknown) => {
        if (!isAgentRefusal(err)) return;
        // The host's whole state is refused (e.g. stored before the northbound validated fully):
        // report it once; the next change or agent restart pushes again, not a retry loop.
        this.pending = this.pending.filter((d) => d.version > version);
        this.reportRefusal(version, keys, deletes, err.message, null);
      },
    );
  }

  private reportRefusal(
    version: number,
    keys: readonly string[],
    deletes: ReadonlyMap<string, Uint8Array>,
    reason: string,
    origin: string | null,
  ): void {
    const statuses: HostResult['statuses'][number][] = [];
    for (const key of keys) {
      const { kind, id } = parseResourceKey(key);
      statuses.push({
        resourceId: id,
        resourceType: kind.type,
        operationType: deletes.has(key) ? OperationType.DELETE : OperationType.INFO,
        operationStatus: OperationStatus.INVALID_ARG,
      });
    }
    const result: HostResult = { host: this.host, version, ok: false, error: reason, statuses, atMs: Date.now() };
    this.lastResult = result;
    this.ctx.onFailure(this.host, reason);
    this.ctx.onResult(result, origin);
  }

  private report(
    version: number,
    reply: GoalStateOperationReply,
    origin: string | null,
    keys: readonly string[],
    deletes: ReadonlyMap<string, Uint8Array>,
  ): void {
    const statuses =
      reply === ALL_SUCCEEDED
        ? keys.map((key) => {
            const { kind, id } = parseResourceKey(key);
            return {
              resourceId: id,
              resourceType: kind.type,
              operationType: deletes.has(key) ? OperationType.DELETE : OperationType.INFO,
              operationStatus: OperationStatus.SUCCESS,
            };
          })
        : reply.operationStatuses.map((s) => ({
            resourceId: s.resourceId,
            resourceType: s.resourceType,
            operationType: s.operationType,
            operationStatus: s.operationStatus,
          }));
    const result: HostResult = { host: this.host, version, ok: true, statuses, atMs: Date.now() };
    this.lastResult = result;
    this.ctx.onResult(result, origin);
  }
}

/** Store key of a reply status (to match statuses to the keys a caller waits for). */
export function statusKey(s: { resourceType: number; resourceId: string }): string | null {
  try {
    return resourceKey(s.resourceType, s.resourceId);
  } catch {
    return null;
  }
}
