// Everything one owned host gets pushed, in order, over its AgentStream.
//
// Deltas (one per committed goal state touching the host) are sent while the stream is up, one message in
// flight at a time: the deltas that arrive meanwhile go out together, as ONE message, when its reply comes.
// An agent applies goal states one after another, each its own OVS bundle, so 150 ports created at once would
// otherwise cost each host 150 bundles; merged, they cost a few (a delete followed by a put of the same key
// sends the put, a put followed by a delete sends the delete: entries are read from the cache at send time).
// A put of a key the host did not need before (HostChange.added) followed by its delete sends neither: the
// agent never got it, so there is nothing to take back. That is a VPC's neighbors pushed while it was under
// the neighbor limit and retracted when it passed it, both still waiting behind a busy agent.
// Through a NATS broker each change is published as it comes: the stream is the queue the agent catches up from.
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
  /** Of `keys`, those new to the host (HostChange.added); absent: unknown. */
  readonly added?: readonly string[];
}

/** `shared`: sent once for the whole VPC (control/southbound/vpc-fanout.ts), not in this host's own messages. */
type PendingDelta = Delta & { readonly origin: string; readonly shared?: boolean };

/** A merged delta; `cancelled`: keys pushed and retracted within it, sent neither way. */
type MergedDelta = Delta & { readonly cancelled: ReadonlySet<string> };

const NONE: ReadonlySet<string> = new Set();

/**
 * Several deltas as one: keys in order of first mention; a delete only when no later delta puts the key back;
 * neither a put nor a delete for a key whose first mention is a put of a key new to the host and whose last is
 * a delete (the agent cannot hold it: everything before these deltas was sent, in order, before them).
 */
export function mergeDeltas(batch: readonly Delta[]): MergedDelta {
  if (batch.length === 1) return { ...(batch[0] as Delta), cancelled: NONE };
  const keys = new Set<string>();
  const deletes = new Map<string, Uint8Array>();
  const seen = new Set<string>();
  /** Keys whose first mention here is a put of a key the host did not have. */
  const fresh = new Set<string>();
  const cancelled = new Set<string>();
  for (const d of batch) {
    const added = d.added === undefined || d.added.length === 0 ? NONE : new Set(d.added);
    for (const k of d.keys) {
      if (!seen.has(k)) {
        seen.add(k);
        if (added.has(k)) fresh.add(k);
      }
      keys.add(k);
      deletes.delete(k);
      cancelled.delete(k);
    }
    for (const [k, st] of d.deletes) {
      seen.add(k);
      keys.delete(k);
      if (fresh.has(k)) {
        deletes.delete(k);
        cancelled.add(k);
      } else deletes.set(k, st);
    }
  }
  return { version: (batch[batch.length - 1] as Delta).version, keys: [...keys], deletes, cancelled };
}

export interface SessionContext {
  readonly cache: StateCache;
  readonly streamOptions: AgentStreamOptions;
  /** Shared agent channels (standby hosts' channels are kept connected). */
  readonly channels?: AgentChannels;
  /** May this replica push to the host right now (ownership and lease checked at send time)? */
  readonly mayPush: (host: string) => boolean;
  /** `origins`: the replicas whose commits the message carried (null: a full push, nobody's in particular). */
  readonly onResult: (result: HostResult, origins: ReadonlySet<string | null>) => void;
  readonly onPushed: (latencyMs: number, full: boolean) => void;
  /** Keys a merged message left out because they were pushed and retracted before either was sent. */
  readonly onCancelled?: (keys: number) => void;
  readonly onFailure: (host: string, reason: string) => void;
  /** How this host is reached (a NATS registration); absent: gRPC to `address`. */
  readonly transport?: (host: string, address: string) => HostTransport | null;
}

const FULL_PUSH: ReadonlySet<string | null> = new Set([null]);

/** A message sent with everything up to `version`, and the report of its answer once it has one. */
interface Sent {
  readonly version: number;
  /** Through the VPC's subject; else the host's own channel, which its agent answers in order. */
  readonly shared: boolean;
  answered: boolean;
  report: (() => void) | null;
}

export class HostSession {
  /** How this host is reached (its NATS transport is asked which VPC subjects its agent consumes). */
  readonly stream: HostTransport;
  private pending: PendingDelta[] = [];
  /** The message in flight whose reply lets the next one go (null: none). */
  private inFlight: object | null = null;
  /** Highest delta version already sent on this connection (deltas above it wait for the next message). */
  private sentUpTo = 0;
  /** Deltas up to this version go one per message: a merged message with them in it was refused. */
  private singlyUpTo = 0;
  /** Messages sent whose answers are not reported yet (see answered()). */
  private sent: Sent[] = [];
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
    this.inFlight = null;
    this.sent = [];
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
   * this host's agent); otherwise it is sent to this host alone, merged with whatever waits beside it.
   */
  enqueue(change: HostChange, shared?: Promise<GoalStateOperationReply>): void {
    const delta = {
      version: change.version,
      keys: change.keys,
      deletes: change.deletes,
      origin: change.origin,
      shared: shared !== undefined,
      ...(change.added === undefined ? {} : { added: change.added }),
    };
    this.pending.push(delta);
    if (shared !== undefined) this.track(delta, [...change.keys, ...change.deletes.keys()], Date.now(), shared);
    else this.flush();
  }

  /** Sends the deltas not yet sent, as one message, unless a message is still in flight. */
  private flush(): void {
    if (this.inFlight !== null || !this.stream.connected() || !this.ctx.mayPush(this.host)) return;
    const unsent = this.pending.filter((d) => !d.shared && d.version > this.sentUpTo);
    if (unsent.length === 0) return;
    if (this.stream.brokered?.() === true) {
      for (const d of unsent) this.sendDeltas([d], false);
      return;
    }
    const first = unsent[0] as PendingDelta;
    this.sendDeltas(first.version <= this.singlyUpTo ? [first] : unsent, true);
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

  /** The reply of a change that went out once for the whole VPC: reported like a message of this host's own. */
  private track(delta: PendingDelta, keys: readonly string[], started: number, sent: Promise<GoalStateOperationReply>) {
    const slot = this.sending(delta.version, true);
    sent.then(
      (reply) => {
        // Absorbed by a full push or a later message of the host's own: that one reports.
        if (!this.pending.includes(delta)) return this.answered(slot, null);
        this.pending = this.pending.filter((d) => d !== delta && !(d.version <= delta.version && d.shared));
        this.ctx.onPushed(Date.now() - started, false);
        this.answered(slot, () => this.report(delta.version, reply, new Set([delta.origin]), keys, delta.deletes));
      },
      (err: unknown) => {
        // Lost in transit: stays pending (and unanswered), and only a full push sends it again.
        if (!isAgentRefusal(err)) {
          if (this.pending.includes(delta) && this.stream.connected() && this.ctx.mayPush(this.host)) this.pushFull();
          return;
        }
        if (!this.pending.includes(delta)) return this.answered(slot, null);
        this.pending = this.pending.filter((d) => d !== delta);
        const why = err.message;
        this.answered(slot, () => this.reportRefusal(delta.version, keys, delta.deletes, why, new Set([delta.origin])));
      },
    );
  }

  private sending(version: number, shared = false): Sent {
    const slot: Sent = { version, shared, answered: false, report: null };
    this.sent.push(slot);
    return slot;
  }

  /**
   * The answer of a message; `report` tells the callers. A result says "the host applied everything up to
   * version V" and settles every caller waiting for V or less, so it is held while a message of a lower
   * version, which went another way (the VPC's subject, a full push), is still unanswered; then the held
   * results go out in version order. The host's own channel is answered in order, so an answer there also
   * answers its earlier messages there (one whose reply was lost); a VPC message lost in transit stays
   * unanswered until a full push absorbs it.
   */
  private answered(slot: Sent, report: (() => void) | null): void {
    if (!this.sent.includes(slot)) return; // absorbed by a full push, which reports for it
    slot.answered = true;
    slot.report = report;
    if (!slot.shared) for (const x of this.sent) if (!x.shared && x.version < slot.version) x.answered = true;
    let floor = Infinity;
    for (const x of this.sent) if (!x.answered && x.version < floor) floor = x.version;
    const ready = this.sent.filter((x) => x.answered && x.version < floor);
    if (ready.length === 0) return;
    this.sent = this.sent.filter((x) => !ready.includes(x));
    for (const x of ready.sort((a, b) => a.version - b.version)) x.report?.();
  }

  /**
   * A message goes out, with every delta up to `upTo` in it; `windowed`: it holds the window until its outcome.
   * Returns what that outcome calls: the window opens again (if still this message's) and waiting deltas go.
   */
  private open(windowed: boolean, upTo: number): () => void {
    const token = {};
    if (windowed) this.inFlight = token;
    this.sentUpTo = upTo;
    return () => {
      if (this.inFlight === token) this.inFlight = null;
      this.flush();
    };
  }

  /** `windowed`: the reply lets the next message go (see the header); otherwise nothing waits for it. */
  private sendDeltas(batch: readonly PendingDelta[], windowed: boolean): void {
    const delta = mergeDeltas(batch);
    if (delta.cancelled.size > 0) this.ctx.onCancelled?.(delta.cancelled.size);
    const { keys, entries } = this.entriesFor(delta.keys, delta.deletes);
    const settle = this.open(windowed, delta.version);
    const slot = this.sending(delta.version);
    const origins = new Set<string | null>(batch.map((d) => d.origin));
    const started = Date.now();
    this.stream.send(encodeHostGoalState(this.host, keys, entries)).then(
      (reply) => {
        if (this.pending.includes(batch[0] as PendingDelta)) {
          this.pending = this.pending.filter((d) => d.version > delta.version);
          this.ctx.onPushed(Date.now() - started, false);
          this.answered(slot, () => this.report(delta.version, reply, origins, keys, delta.deletes, delta.cancelled));
        } else this.answered(slot, null); // already absorbed by a full push
        settle();
      },
      (err: unknown) => {
        if (!isAgentRefusal(err) || !this.pending.includes(batch[0] as PendingDelta)) {
          // Lost in transit: stays pending, the next connection's full push absorbs it.
          settle();
          return;
        }
        if (batch.length > 1) {
          // Refused as a whole: find which delta the agent will never take by sending them one by one
          // (sent by settle(), before this message counts as answered, so nothing newer reports meanwhile).
          this.singlyUpTo = delta.version;
          this.sentUpTo = (batch[0] as PendingDelta).version - 1;
          settle();
          this.answered(slot, null);
          return;
        }
        // The agent will never take it: reported (to the caller and /result) instead of retried.
        this.pending = this.pending.filter((d) => d !== batch[0]);
        const why = err.message;
        this.answered(slot, () => this.reportRefusal(delta.version, keys, delta.deletes, why, origins));
        settle();
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
    const settle = this.open(true, version);
    // Every message sent before, answered or not, is in this one: its result reports for them all.
    this.sent = this.sent.filter((x) => x.version > version);
    const slot = this.sending(version);
    this.stream.send(encodeHostGoalState(this.host, keys, entries)).then(
      (reply) => {
        this.pending = this.pending.filter((d) => d.version > version);
        this.ctx.onPushed(Date.now() - started, true);
        this.answered(slot, () => this.report(version, reply, FULL_PUSH, keys, deletes));
        settle();
      },
      (err: unknown) => {
        if (!isAgentRefusal(err)) {
          settle();
          return;
        }
        // The host's whole state is refused (e.g. stored before the northbound validated fully):
        // report it once; the next change or agent restart pushes again, not a retry loop.
        this.pending = this.pending.filter((d) => d.version > version);
        const why = err.message;
        this.answered(slot, () => this.reportRefusal(version, keys, deletes, why, FULL_PUSH));
        settle();
      },
    );
  }

  private reportRefusal(
    version: number,
    keys: readonly string[],
    deletes: ReadonlyMap<string, Uint8Array>,
    reason: string,
    origins: ReadonlySet<string | null>,
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
    this.ctx.onResult(result, origins);
  }

  private report(
    version: number,
    reply: GoalStateOperationReply,
    origins: ReadonlySet<string | null>,
    keys: readonly string[],
    deletes: ReadonlyMap<string, Uint8Array>,
    cancelled: ReadonlySet<string> = NONE,
  ): void {
    const statuses: HostResult['statuses'][number][] =
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
    // Pushed and retracted before either was sent: the host ends as asked (without it), as if it applied both.
    for (const key of cancelled) {
      const { kind, id } = parseResourceKey(key);
      statuses.push({
        resourceId: id,
        resourceType: kind.type,
        operationType: OperationType.DELETE,
        operationStatus: OperationStatus.SUCCESS,
      });
    }
    const result: HostResult = { host: this.host, version, ok: true, statuses, atMs: Date.now() };
    this.lastResult = result;
    this.ctx.onResult(result, origins);
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
