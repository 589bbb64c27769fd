// The agent's `alcor.schema.GoalStateProvisioner` gRPC server (what DPM/NCM push goal states to).
//
// Semantics (see docs in alcor-aca.md §1.3–1.4 for what the controller expects):
// - PushNetworkResourceStates (unary, GoalState v1): one call -> one reply.
// - PushGoalStatesStream (bidi, GoalStateV2): any number of messages per stream, exactly one reply per message,
//   written in the order the messages arrived on that stream, even when the applier resolves them out of order.
// - Every goal state (unary or stream, any stream) goes through ONE dispatch queue: the applier is called in
//   arrival order across the whole server. At most `maxInFlight` applier calls run at once (default 1 = strictly
//   one goal state after another, like ACA). With maxInFlight > 1 the applier is still *called* in arrival order,
//   but it must keep the effects ordered itself (e.g. decode in workers, program in order).
// - RequestGoalStates is the agent -> NCM direction: an agent does not serve it (UNIMPLEMENTED).
// - PushGoalstates (Arion neighbor rules): UNIMPLEMENTED for now.
//
// Applier failures:
// - GoalStateValidationError naming resources (or, when it names none and the message was decoded here, with
//   port/router/DHCP resources to name; v1 also neighbors): the gRPC status stays OK and the reply carries an
//   INVALID_ARG status per resource.
// - GoalStateValidationError with no resource to name (bytes that do not decode, a message beyond the documented
//   limits): gRPC INVALID_ARGUMENT with the error's message (offset, field), never OK with an empty reply, which
//   would look like a valid empty goal state. Ends a stream like any status.
// - Any other exception: gRPC INTERNAL with the error message. On a unary call that ends the call. On a stream it
//   also ends the stream: a gRPC status is terminal, so the stream cannot stay usable. Replies for the messages
//   before the failed one are written first; messages queued after it on that stream are not applied (the sender
//   gets no reply for them and must resend on a new stream; goal states are idempotent, so a resend is safe).
//   DPM/NCM open one stream per goal state anyway (alcor-aca.md §1.3).
//
// Receiving: a message larger than maxReceiveMessageBytes gets RESOURCE_EXHAUSTED from grpc-js before it is read;
// messages being received share a budget and each has a receive deadline (receive-budget.ts).
//
// Decoded or raw: with `requestMode: 'decoded'` (default) grpc-js decodes with the ts-proto codecs on the event loop
// and the applier gets `{kind:'decoded', message}`. With `requestMode: 'raw'` the server uses
// `rawGoalStateProvisionerService` (identity request deserializer) and the applier gets `{kind:'raw', bytes}`, so a
// large goal state can be decoded in a worker thread without blocking the event loop.
import * as grpc from '@grpc/grpc-js';
import {
  GoalState,
  GoalStateV2,
  GoalStateOperationReply,
  GoalStateOperationReply_GoalStateOperationStatus,
  GoalStateProvisionerService,
  OperationStatus,
  OperationType,
  ResourceType,
} from '../../proto';
import { encodeGoalStateOperationReply } from '../../core/wire/operation-reply';
import { ReloadableTls, TlsError, type TlsFiles, type TlsReloadResult } from '../tls';
import { MAX_TOP_LEVEL_FIELDS } from '../../core/engine/split';
import { TopLevelFieldCounter } from '../../core/wire/top-level-count';
import { ReceiveBudget, type MessageInspector, type ReceiveBudgetOptions } from './receive-budget';
import { grpcStatusOf } from './status';

export const DEFAULT_LISTEN_ADDRESS = '127.0.0.1:50001';
/** A 1M-neighbor GoalStateV2 is well over 100 MB on the wire. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
/** A stream stops reading (HTTP/2 flow control) while this many of its messages wait for a reply. */
export const DEFAULT_MAX_PENDING_PER_STREAM = 8;

export type GoalStateRequest<T> =
  { readonly kind: 'decoded'; readonly message: T } | { readonly kind: 'raw'; readonly bytes: Buffer };

/** Where a goal state came from; lets the applier log and measure per connection. */
export interface RequestContext {
  readonly rpc: 'PushNetworkResourceStates' | 'PushGoalStatesStream';
  readonly peer: string;
  /** Server-wide arrival sequence number (1, 2, ...): the order the applier is called in. */
  readonly seq: number;
  /** Index of the message on its stream (0 for unary). */
  readonly indexOnStream: number;
}

export interface GoalStateApplier {
  applyV1(request: GoalStateRequest<GoalState>, ctx: RequestContext): Promise<GoalStateOperationReply>;
  applyV2(request: GoalStateRequest<GoalStateV2>, ctx: RequestContext): Promise<GoalStateOperationReply>;
}

export interface ResourceRef {
  readonly resourceId: string;
  readonly resourceType: ResourceType;
  readonly operationType: OperationType;
}

/** Thrown by an applier for bad goal-state content: answered with INVALID_ARG statuses, gRPC status OK. */
export class GoalStateValidationError extends Error {
  readonly code = 'GOAL_STATE_INVALID';
  constructor(
    message: string,
    /** Resources to report as INVALID_ARG; empty = derive from the decoded message when possible. */
    readonly resources: readonly ResourceRef[] = [],
  ) {
    super(message);
    this.name = 'GoalStateValidationError';
  }
}

export function isGoalStateValidationError(e: unknown): e is GoalStateValidationError {
  // By code rather than instanceof so that an error rebuilt after crossing a worker boundary still counts.
  return e instanceof Error && (e as { code?: unknown }).code === 'GOAL_STATE_INVALID';
}

export interface TlsOptions extends TlsFiles {
  /** Mutual TLS: reject clients without a certificate signed by `caFile`. */
  readonly requireClientCert?: boolean;
}

export interface KeepaliveOptions {
  /** Server -> client HTTP/2 ping interval. */
  readonly timeMs?: number;
  /** A ping unanswered this long closes the connection. */
  readonly timeoutMs?: number;
  /** Close connections idle (no calls) this long. */
  readonly maxConnectionIdleMs?: number;
}

export interface GoalStateServerOptions {
  readonly address?: string;
  readonly maxReceiveMessageBytes?: number;
  readonly maxSendMessageBytes?: number;
  /** PEM files (loaded at start()), or material the caller reloads; the server follows each reload. */
  readonly tls?: TlsOptions | ReloadableTls;
  readonly keepalive?: KeepaliveOptions;
  readonly requestMode?: 'decoded' | 'raw';
  /** Applier calls running at once (arrival order is kept either way). Default 1. */
  readonly maxInFlight?: number;
  readonly maxPendingPerStream?: number;
  /** Bytes of messages being received at once, all calls together, and each message's receive deadline. */
  readonly receive?: ReceiveBudgetOptions;
}

export class GrpcServerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcServerError';
  }
}

const identity = (value: Buffer): Buffer => value;

/**
 * The GoalStateProvisioner service definition with raw-bytes requests: the same paths as the generated one, but the
 * handler receives the undecoded protobuf bytes, and goal-state replies (a status per resource, a million for a big
 * goal state) are encoded by core/wire/operation-reply.ts, which writes the generated encoder's bytes faster.
 */
export const rawGoalStateProvisionerService = {
  pushNetworkResourceStates: {
    ...GoalStateProvisionerService.pushNetworkResourceStates,
    requestDeserialize: identity,
    responseSerialize: encodeGoalStateOperationReply,
  },
  pushGoalStatesStream: {
    ...GoalStateProvisionerService.pushGoalStatesStream,
    requestDeserialize: identity,
    responseSerialize: encodeGoalStateOperationReply,
  },
  requestGoalStates: { ...GoalStateProvisionerService.requestGoalStates, requestDeserialize: identity },
  pushGoalstates: { ...GoalStateProvisionerService.pushGoalstates, requestDeserialize: identity },
} as const;

type Version = 'v1' | 'v2';

type Outcome =
  | { readonly kind: 'reply'; readonly reply: GoalStateOperationReply }
  | { readonly kind: 'error'; readonly error: unknown }
  /** Bad input with no resource to name: a gRPC INVALID_ARGUMENT, not an empty OK reply. */
  | { readonly kind: 'refused'; readonly error: GoalStateValidationError };

/** One goal state waiting for (or being applied by) the applier. */
interface Job {
  readonly version: Version;
  readonly payload: unknown; // GoalState | GoalStateV2 | Buffer depending on version and mode
  readonly ctx: RequestContext;
  /** False once the owner (stream) no longer wants the result; a cancelled job is skipped if not yet started. */
  cancelled: boolean;
  readonly done: (outcome: Outcome) => void;
}

export class GoalStateServer {
  readonly #applier: GoalStateApplier;
  readonly #options: GoalStateServerOptions;
  readonly #server: grpc.Server;
  readonly #queue: Job[] = [];
  #running = 0;
  #seq = 0;
  #port: number | null = null;
  #tls: ReloadableTls | null = null;
  readonly #receive: ReceiveBudget;

  constructor(applier: GoalStateApplier, options: GoalStateServerOptions = {}) {
    this.#applier = applier;
    this.#options = options;
    if (options.tls instanceof ReloadableTls) this.#tls = options.tls;
    const maxInFlight = options.maxInFlight ?? 1;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new GrpcServerError('GRPC_BAD_OPTION', `maxInFlight must be a positive integer, got ${maxInFlight}`);
    }
    this.#receive = new ReceiveBudget({ inspect: goalStateInspector, ...options.receive });
    const channelOptions: grpc.ServerOptions = {
      interceptors: [this.#receive.interceptor],
      'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    };
    const ka = options.keepalive;
    if (ka?.timeMs !== undefined) channelOptions['grpc.keepalive_time_ms'] = ka.timeMs;
    if (ka?.timeoutMs !== undefined) channelOptions['grpc.keepalive_timeout_ms'] = ka.timeoutMs;
    if (ka?.maxConnectionIdleMs !== undefined) channelOptions['grpc.max_connection_idle_ms'] = ka.maxConnectionIdleMs;
    this.#server = new grpc.Server(channelOptions);
    const service = options.requestMode === 'raw' ? rawGoalStateProvisionerService : GoalStateProvisionerService;
    this.#server.addService(service as unknown as grpc.ServiceDefinition, {
      pushNetworkResourceStates: (
        call: grpc.ServerUnaryCall<unknown, GoalStateOperationReply>,
        cb: grpc.sendUnaryData<GoalStateOperationReply>,
      ) => this.#unary(call, cb),
      pushGoalStatesStream: (call: grpc.ServerDuplexStream<unknown, GoalStateOperationReply>) => this.#stream(call),
      requestGoalStates: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb({
          code: grpc.status.UNIMPLEMENTED,
          details:
            'RequestGoalStates is served by the NCM (agent -> NCM on-demand requests); this host agent does not serve it',
        }),
      pushGoalstates: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb({
          code: grpc.status.UNIMPLEMENTED,
          details: 'PushGoalstates (Arion neighbor rules) is not implemented by this agent yet',
        }),
    });
  }

  /** The receive budget (bytes in flight, calls it bounds). */
  get receive(): ReceiveBudget {
    return this.#receive;
  }

  /** Goal states waiting for the applier, and applier calls running (for metrics and back-pressure decisions). */
  get load(): { readonly queued: number; readonly running: number } {
    return { queued: this.#queue.length, running: this.#running };
  }

  /** Binds and starts serving; resolves with the bound port (useful with address `127.0.0.1:0`). */
  async start(): Promise<number> {
    if (this.#port !== null) return this.#port;
    const address = this.#options.address ?? DEFAULT_LISTEN_ADDRESS;
    const tls = this.#options.tls;
    if (tls !== undefined && !(tls instanceof ReloadableTls)) {
      try {
        this.#tls = new ReloadableTls(tls);
      } catch (e: unknown) {
        throw grpcTlsError(e);
      }
    }
    const requireClientCert = tls instanceof ReloadableTls ? tls.mutual : tls?.requireClientCert === true;
    const creds = credentialsFor(this.#tls, requireClientCert);
    const port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, creds, (err, boundPort) => {
        if (err) reject(new GrpcServerError('GRPC_BIND_FAILED', `cannot listen on ${address}: ${err.message}`));
        else resolve(boundPort);
      });
    });
    this.#port = port;
    return port;
  }

  /**
   * Reads the TLS files again; new connections get the new certificate, open ones keep theirs. Throws
   * (GRPC_TLS_*) and keeps serving the previous certificate when the new files are bad. Null without TLS.
   */
  reloadTls(): TlsReloadResult | null {
    if (this.#tls === null) return null;
    try {
      return this.#tls.reload();
    } catch (e: unknown) {
      throw grpcTlsError(e);
    }
  }

  /** Stops accepting calls, lets running calls finish for up to `graceMs`, then cancels what is left. */
  async stop(graceMs = 5000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#port = null;
  }

  #enqueue(
    version: Version,
    payload: unknown,
    rpc: RequestContext['rpc'],
    peer: string,
    indexOnStream: number,
    done: (o: Outcome) => void,
  ): Job {
    this.#seq += 1;
    const job: Job = { version, payload, ctx: { rpc, peer, seq: this.#seq, indexOnStream }, cancelled: false, done };
    this.#queue.push(job);
    this.#pump();
    return job;
  }

  #pump(): void {
    const maxInFlight = this.#options.maxInFlight ?? 1;
    while (this.#running < maxInFlight && this.#queue.length > 0) {
      const job = this.#queue.shift();
      if (job === undefined) break;
      if (job.cancelled) continue;
      this.#running += 1;
      // Called synchronously here, so the applier sees calls in exactly the queue order.
      let promise: Promise<GoalStateOperationReply>;
      try {
        promise = this.#call(job);
      } catch (e: unknown) {
        promise = Promise.reject(e);
      }
      promise.then(
        (reply) => this.#finish(job, { kind: 'reply', reply }),
        (error: unknown) => this.#finish(job, this.#outcomeForError(job, error)),
      );
    }
  }

  #call(job: Job): Promise<GoalStateOperationReply> {
    const raw = this.#options.requestMode === 'raw';
    if (job.version === 'v1') {
      const req: GoalStateRequest<GoalState> = raw
        ? { kind: 'raw', bytes: job.payload as Buffer }
        : { kind: 'decoded', message: job.payload as GoalState };
      return this.#applier.applyV1(req, job.ctx);
    }
    const req: GoalStateRequest<GoalStateV2> = raw
      ? { kind: 'raw', bytes: job.payload as Buffer }
      : { kind: 'decoded', message: job.payload as GoalStateV2 };
    return this.#applier.applyV2(req, job.ctx);
  }

  #finish(job: Job, outcome: Outcome): void {
    this.#running -= 1;
    try {
      job.done(outcome);
    } finally {
      this.#pump();
    }
  }

  #outcomeForError(job: Job, error: unknown): Outcome {
    if (!isGoalStateValidationError(error)) return { kind: 'error', error };
    let resources = error.resources;
    if (resources.length === 0 && this.#options.requestMode !== 'raw') {
      resources =
        job.version === 'v1' ? resourcesOfV1(job.payload as GoalState) : resourcesOfV2(job.payload as GoalStateV2);
    }
    if (resources.length === 0) return { kind: 'refused', error };
    return { kind: 'reply', reply: invalidArgReply(resources) };
  }

  #unary(
    call: grpc.ServerUnaryCall<unknown, GoalStateOperationReply>,
    cb: grpc.sendUnaryData<GoalStateOperationReply>,
  ): void {
    const job = this.#enqueue('v1', call.request, 'PushNetworkResourceStates', call.getPeer(), 0, (outcome) => {
      if (outcome.kind === 'reply') cb(null, outcome.reply);
      else if (outcome.kind === 'refused') cb({ code: grpcStatusOf('input'), details: outcome.error.message });
      else cb({ code: grpc.status.INTERNAL, details: `applying goal state failed: ${errorMessage(outcome.error)}` });
    });
    call.on('cancelled', () => {
      job.cancelled = true;
    });
  }

  #stream(call: grpc.ServerDuplexStream<unknown, GoalStateOperationReply>): void {
    const peer = call.getPeer();
    const maxPending = this.#options.maxPendingPerStream ?? DEFAULT_MAX_PENDING_PER_STREAM;
    // Replies wait here until every earlier message of this stream has its reply.
    const slots: { job: Job; outcome: Outcome | null }[] = [];
    let received = 0;
    let clientEnded = false;
    let closed = false;
    let paused = false;

    const close = (): void => {
      closed = true;
      for (const slot of slots) slot.job.cancelled = true;
      slots.length = 0;
    };
    const flush = (): void => {
      while (!closed && slots.length > 0) {
        const head = slots[0];
        if (head === undefined || head.outcome === null) break;
        slots.shift();
        const outcome = head.outcome;
        if (outcome.kind === 'reply') {
          call.write(outcome.reply);
        } else {
          close();
          const index = head.job.ctx.indexOnStream;
          call.emit(
            'error',
            outcome.kind === 'refused'
              ? {
                  code: grpcStatusOf('input'),
                  details: `goal state #${index} of this stream: ${outcome.error.message}`,
                }
              : {
                  code: grpc.status.INTERNAL,
                  details: `applying goal state #${index} of this stream failed: ${errorMessage(outcome.error)}`,
                },
          );
          return;
        }
      }
      if (closed) return;
      if (paused && slots.length < maxPending) {
        paused = false;
        call.resume();
      }
      if (clientEnded && slots.length === 0) {
        closed = true;
        call.end();
      }
    };

    call.on('data', (payload: unknown) => {
      if (closed) return;
      const index = received;
      received += 1;
      const slot: { job: Job; outcome: Outcome | null } = { job: undefined as unknown as Job, outcome: null };
      slots.push(slot);
      slot.job = this.#enqueue('v2', payload, 'PushGoalStatesStream', peer, index, (outcome) => {
        slot.outcome = outcome;
        flush();
      });
      if (slots.length >= maxPending && !paused) {
        paused = true;
        call.pause();
      }
    });
    call.on('end', () => {
      clientEnded = true;
      flush();
    });
    call.on('cancelled', close);
    call.on('error', () => close());
  }
}

const GOAL_STATE_PATHS: ReadonlySet<string> = new Set([
  '/alcor.schema.GoalStateProvisioner/PushNetworkResourceStates',
  '/alcor.schema.GoalStateProvisioner/PushGoalStatesStream',
]);

/**
 * A goal state with more top-level fields than the engine takes (split.ts MAX_TOP_LEVEL_FIELDS) is
 * refused as its bytes arrive, after a few MiB, not after its whole length is received and framed.
 */
function goalStateInspector(path: string): MessageInspector | undefined {
  if (!GOAL_STATE_PATHS.has(path)) return undefined;
  const counter = new TopLevelFieldCounter(MAX_TOP_LEVEL_FIELDS);
  return {
    feed(chunk) {
      const at = counter.feed(chunk);
      return at < 0
        ? undefined
        : `goal state has more than ${MAX_TOP_LEVEL_FIELDS} top-level fields (the limit per goal state); field ${counter.fields} is at byte ${at}`;
    },
  };
}

function credentialsFor(tls: ReloadableTls | null, requireClientCert: boolean): grpc.ServerCredentials {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  try {
    return tls.serverCredentials(requireClientCert);
  } catch (e: unknown) {
    throw grpcTlsError(e);
  }
}

/** A TlsError as a GrpcServerError (GRPC_TLS_FILE, GRPC_TLS_KEY_MISMATCH, ...), message kept. */
function grpcTlsError(e: unknown): unknown {
  return e instanceof TlsError ? new GrpcServerError(`GRPC_${e.code}`, e.message) : e;
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

function invalidArgReply(resources: readonly ResourceRef[]): GoalStateOperationReply {
  return GoalStateOperationReply.fromPartial({
    operationStatuses: resources.map((r) =>
      GoalStateOperationReply_GoalStateOperationStatus.fromPartial({
        resourceId: r.resourceId,
        resourceType: r.resourceType,
        operationType: r.operationType,
        operationStatus: OperationStatus.INVALID_ARG,
      }),
    ),
  });
}

/** Resources that get a status in a v1 reply (alcor-aca.md §1.4: ports, neighbors, routers, DHCP). */
export function resourcesOfV1(gs: GoalState): ResourceRef[] {
  const out: ResourceRef[] = [];
  for (const s of gs.portStates)
    out.push({
      resourceId: s.configuration?.id ?? '',
      resourceType: ResourceType.PORT,
      operationType: s.operationType,
    });
  for (const s of gs.neighborStates)
    out.push({
      resourceId: s.configuration?.id ?? '',
      resourceType: ResourceType.NEIGHBOR,
      operationType: s.operationType,
    });
  for (const s of gs.routerStates)
    out.push({
      resourceId: s.configuration?.id ?? '',
      resourceType: ResourceType.ROUTER,
      operationType: s.operationType,
    });
  for (const s of gs.dhcpStates)
    out.push({
      resourceId: s.configuration?.id || s.configuration?.macAddress || '',
      resourceType: ResourceType.DHCP,
      operationType: s.operationType,
    });
  return out;
}

/** Resources that get a status in a v2 reply (ports, routers, DHCP; ACA's v2 emits none for neighbors). */
export function resourcesOfV2(gs: GoalStateV2): ResourceRef[] {
  const out: ResourceRef[] = [];
  for (const [id, s] of Object.entries(gs.portStates))
    out.push({ resourceId: id, resourceType: ResourceType.PORT, operationType: s.operationType });
  for (const [id, s] of Object.entries(gs.routerStates))
    out.push({ resourceId: id, resourceType: ResourceType.ROUTER, operationType: s.operationType });
  for (const [id, s] of Object.entries(gs.dhcpStates))
    out.push({ resourceId: id, resourceType: ResourceType.DHCP, operationType: s.operationType });
  return out;
}
