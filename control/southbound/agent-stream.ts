// One long-lived `PushGoalStatesStream` to one agent. Messages are pipelined on the stream and matched to
// replies in order (the agent replies once per GoalStateV2, in order). When the stream breaks the in-flight
// messages fail with STREAM_BROKEN and the stream reconnects with exponential backoff; every new connection
// is announced through `onConnected`, where the host session re-pushes the host's full state (the agent may
// have restarted and lost everything). An agent that completes the stream with OK after answering (Alcor's
// ACA does that after one message) just gets a new stream for the next message, without a full re-push.
import * as grpc from '@grpc/grpc-js';
import { GoalStateOperationReply, GoalStateProvisionerService } from '../../proto';
import { retryPushbackOf } from '../../agent/grpc/status';
import { ControlError } from '../resources';
import { AgentChannels, newAgentClient } from './agent-channels';

export interface AgentStreamOptions {
  readonly connectTimeoutMs: number;
  readonly replyTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** TLS to the agents (--agent-tls-*); plaintext when absent. */
  readonly channelCredentials?: grpc.ChannelCredentials;
}

export const DEFAULT_STREAM_OPTIONS: AgentStreamOptions = {
  connectTimeoutMs: 5000,
  replyTimeoutMs: 30000,
  backoffInitialMs: 100,
  backoffMaxMs: 5000,
};

interface InFlight {
  readonly sentAtMs: number;
  readonly resolve: (reply: GoalStateOperationReply) => void;
  readonly reject: (err: unknown) => void;
}

const PUSH_PATH = GoalStateProvisionerService.pushGoalStatesStream.path;
const passThrough = (b: Buffer): Buffer => b;
const decodeReply = (b: Buffer): GoalStateOperationReply => GoalStateOperationReply.decode(b);

/**
 * Failures that mean "this message will never be accepted", not "try again": the agent could not read
 * it (INVALID_ARGUMENT) or it is over the agent's size limit (RESOURCE_EXHAUSTED without a retry
 * pushback; the northbound checks the same limit, so an agent saying it has a smaller one). A
 * RESOURCE_EXHAUSTED that carries `grpc-retry-pushback-ms` is a full receive budget, which frees as
 * other messages arrive: transient, like everything else.
 */
export function isRefusal(err: { code: grpc.status; metadata?: grpc.Metadata }): boolean {
  if (err.code === grpc.status.INVALID_ARGUMENT) return true;
  // RESOURCE_EXHAUSTED with a retry pushback is the agent's receive budget being full for now: transient.
  return err.code === grpc.status.RESOURCE_EXHAUSTED && retryPushbackOf(err) === undefined;
}

/** Whether a failed send was refused by the agent (not retried) rather than lost in transit. */
export function isAgentRefusal(err: unknown): err is ControlError {
  return err instanceof ControlError && err.code === 'AGENT_REFUSED';
}

export type StreamState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped';

export class AgentStream {
  private client: grpc.Client | null = null;
  private call: grpc.ClientDuplexStream<Buffer, GoalStateOperationReply> | null = null;
  private inflight: InFlight[] = [];
  private backoffMs: number;
  private timer: NodeJS.Timeout | null = null;
  private replyTimer: NodeJS.Timeout | null = null;
  state: StreamState = 'idle';
  lastError = '';
  /** Called on every new connection, before any queued message is sent; may call send(). */
  onConnected: () => void = () => undefined;
  /** Called when a stream fails (for metrics and logs). */
  onFailure: (err: string) => void = () => undefined;

  constructor(
    readonly address: string,
    private readonly opts: AgentStreamOptions = DEFAULT_STREAM_OPTIONS,
    /** Shared channels (a standby host's channel is already connected); absent: a private channel. */
    private readonly channels: AgentChannels | null = null,
  ) {
    this.backoffMs = opts.backoffInitialMs;
  }

  /** Starts connecting (idempotent). */
  start(): void {
    if (this.state !== 'idle') return;
    this.connect();
  }

  connected(): boolean {
    return this.state === 'connected';
  }

  /** Sends one encoded GoalStateV2 on the current connection; resolves with the agent's reply for it. */
  send(message: Buffer): Promise<GoalStateOperationReply> {
    if (this.state !== 'connected') {
      return Promise.reject(new ControlError('STREAM_NOT_CONNECTED', `agent ${this.address} is not connected`));
    }
    return new Promise((resolve, reject) => {
      const call = this.call ?? this.openCall();
      this.inflight.push({ sentAtMs: Date.now(), resolve, reject });
      this.armReplyTimer();
      call.write(message);
    });
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.failInflight(new ControlError('STREAM_STOPPED', `stream to ${this.address} stopped`));
    this.dropCall();
    const client = this.client;
    this.client = null;
    if (client === null) return;
    if (this.channels !== null) this.channels.release(this.address, client);
    else client.close();
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    if (this.client === null) {
      this.client =
        this.channels !== null ? this.channels.acquire(this.address) : newAgentClient(this.address, this.opts);
    }
    const client = this.client;
    client.waitForReady(Date.now() + this.opts.connectTimeoutMs, (err) => {
      if (this.state !== 'connecting' || this.client !== client) return;
      if (err !== undefined && err !== null) {
        this.broken(`connect: ${err.message}`);
        return;
      }
      this.state = 'connected';
      this.openCall();
      this.onConnected();
    });
  }

  private openCall(): grpc.ClientDuplexStream<Buffer, GoalStateOperationReply> {
    const client = this.client;
    if (client === null) throw new ControlError('STREAM_STOPPED', 'no channel');
    const call = client.makeBidiStreamRequest(PUSH_PATH, passThrough, decodeReply);
    this.call = call;
    call.on('data', (reply: GoalStateOperationReply) => {
      if (this.call !== call) return;
      const first = this.inflight.shift();
      if (first === undefined) return; // an unsolicited reply: nothing waits for it
      this.backoffMs = this.opts.backoffInitialMs;
      this.armReplyTimer();
      first.resolve(reply);
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.call !== call) return;
      const reason = `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`;
      if (isRefusal(err) && this.inflight.length > 0) this.refused(reason);
      else this.broken(reason);
    });
    call.on('status', (st: grpc.StatusObject) => {
      if (this.call !== call || st.code !== grpc.status.OK) return;
      // Completed by the agent. Unanswered messages are lost; otherwise open a new stream on demand.
      this.call = null;
      if (this.inflight.length > 0) this.broken('stream completed with messages unanswered');
    });
    return call;
  }

  private armReplyTimer(): void {
    if (this.replyTimer !== null) clearTimeout(this.replyTimer);
    this.replyTimer = null;
    if (this.inflight.length === 0) return;
    this.replyTimer = setTimeout(() => {
      this.replyTimer = null;
      if (this.inflight.length > 0) this.broken(`no reply within ${this.opts.replyTimeoutMs} ms`);
    }, this.opts.replyTimeoutMs);
    this.replyTimer.unref();
  }

  private failInflight(err: unknown): void {
    const pending = this.inflight;
    this.inflight = [];
    if (this.replyTimer !== null) clearTimeout(this.replyTimer);
    this.replyTimer = null;
    for (const p of pending) p.reject(err);
  }

  private dropCall(): void {
    const call = this.call;
    this.call = null;
    if (call !== null) {
      call.removeAllListeners('data');
      call.on('error', () => undefined);
      call.cancel();
    }
  }

  /**
   * The agent refused the oldest unanswered message (it answers in order). Sending it again would be
   * refused again, so it is failed with AGENT_REFUSED and not retried; the connection stays up and the
   * next message opens a new call. Messages sent after it were lost with the call: those go the
   * broken-stream way (reconnect, and a full re-push absorbs them).
   */
  private refused(reason: string): void {
    const first = this.inflight.shift() as InFlight;
    this.call = null; // the call has ended with the error status
    this.lastError = `agent refused a message: ${reason}`;
    if (this.inflight.length > 0) this.broken(`a refusal ended the stream with messages unanswered (${reason})`);
    else this.armReplyTimer();
    first.reject(new ControlError('AGENT_REFUSED', `agent ${this.address} refused the message: ${reason}`));
  }

  private broken(reason: string): void {
    if (this.state === 'stopped') return;
    this.lastError = reason;
    this.dropCall();
    this.failInflight(new ControlError('STREAM_BROKEN', `stream to ${this.address} broken: ${reason}`));
    this.onFailure(reason);
    this.state = 'backoff';
    const delay = this.backoffMs * (0.8 + Math.random() * 0.4);
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoffMaxMs);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
    this.timer.unref();
  }
}
