// Bytes a gRPC server holds for messages it is still receiving, bounded across all calls.
//
// Why: grpc-js gathers each incoming message whole before any handler sees it (its StreamDecoder
// keeps every DATA frame of the message until the last one). Only the per-message size limit
// (grpc.max_receive_message_length) bounds that, per call; eight streams each sending an unfinished
// 200 MiB message held 1.6 GB, for as long as their senders kept them open. So:
// - a budget across calls: a message is admitted when its length prefix arrives, by the size it
//   declares, and only while the declared sizes of the messages being received fit in the budget
//   (one message is always admitted when nothing else is in flight, so a single message up to the
//   size limit always gets through); beyond it the call ends with RESOURCE_EXHAUSTED at once;
// - a receive deadline: a message not complete within `timeoutMs` of its length prefix ends its
//   call with DEADLINE_EXCEEDED;
// - a call that ends (cancelled, refused, timed out) drops the partial message it held and gives
//   its share of the budget back;
// - an inspector (per method) sees a message's bytes as they arrive and can refuse it with
//   INVALID_ARGUMENT before the rest is received (a goal state with absurdly many fields).
//
// How: a server interceptor is the one public hook grpc-js calls with each call before its bytes
// arrive; the call it gets first is grpc-js's BaseServerInterceptingCall, whose `decoder` and
// `stream` are internals (stable since grpc-js 1.10; receive-budget.test.ts fails if they move).
import * as grpc from '@grpc/grpc-js';
import { grpcStatusOf, retryPushback } from './status';

/** Declared bytes of messages being received at once, across all calls (two largest goal states). */
export const DEFAULT_RECEIVE_BUDGET_BYTES = 512 * 1024 * 1024;
/** The pushback a budget refusal suggests: long enough for a large message in flight to progress. */
const BUDGET_RETRY_MS = 200;
/** Time from a message's length prefix to its last byte (a 256 MiB goal state at ~4.5 MB/s). */
export const DEFAULT_RECEIVE_TIMEOUT_MS = 60_000;

/** grpc-js's StreamDecoder state we read (stream-decoder.js: READING_MESSAGE = 2). */
interface DecoderInternals {
  write(data: Buffer): Buffer[];
  readState: number;
  readMessageSize: number;
  readPartialMessage: Buffer[];
}
interface BaseCallInternals {
  decoder: DecoderInternals;
  stream: { once(event: 'close', listener: () => void): unknown };
  sendStatus(status: { code: grpc.status; details: string; metadata?: grpc.Metadata }): void;
}
const READING_MESSAGE = 2;

function internalsOf(call: unknown): BaseCallInternals | undefined {
  const c = call as Partial<BaseCallInternals> | null;
  const d = c?.decoder as Partial<DecoderInternals> | undefined;
  if (typeof c?.sendStatus !== 'function' || typeof c.stream?.once !== 'function') return undefined;
  if (typeof d?.write !== 'function' || typeof d.readState !== 'number' || !Array.isArray(d.readPartialMessage))
    return undefined;
  return c as BaseCallInternals;
}

/** Looks at a message's bytes as they arrive; a string is why the message is refused (INVALID_ARGUMENT). */
export interface MessageInspector {
  feed(chunk: Uint8Array): string | undefined;
}

export interface ReceiveBudgetOptions {
  /** An inspector for each message of calls to `path`, or none. */
  readonly inspect?: (path: string) => MessageInspector | undefined;
  readonly budgetBytes?: number;
  readonly timeoutMs?: number;
  /** Told of each refusal (for the log). */
  readonly onRefuse?: (why: 'budget' | 'deadline' | 'inspector', details: string) => void;
}

export class ReceiveBudget {
  readonly budgetBytes: number;
  readonly timeoutMs: number;
  readonly #onRefuse: ReceiveBudgetOptions['onRefuse'];
  readonly #inspect: ReceiveBudgetOptions['inspect'];
  #inFlight = 0;
  #calls = 0;
  #hooked = 0;

  constructor(options: ReceiveBudgetOptions = {}) {
    this.budgetBytes = options.budgetBytes ?? DEFAULT_RECEIVE_BUDGET_BYTES;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS;
    this.#onRefuse = options.onRefuse;
    this.#inspect = options.inspect;
  }

  /** Declared bytes of the messages being received now. */
  get inFlightBytes(): number {
    return this.#inFlight;
  }

  /** Calls seen, and calls whose receiving is bounded (equal unless grpc-js internals moved). */
  get coverage(): { readonly calls: number; readonly bounded: number } {
    return { calls: this.#calls, bounded: this.#hooked };
  }

  /** The interceptor to list first in the server's `interceptors`. */
  readonly interceptor: grpc.ServerInterceptor = (method, call) => {
    this.#calls++;
    const base = internalsOf(call);
    if (base !== undefined) this.#bound(base, method.path);
    return new grpc.ServerInterceptingCall(call);
  };

  #bound(base: BaseCallInternals, path: string): void {
    this.#hooked++;
    const decoder = base.decoder;
    const write = decoder.write.bind(decoder);
    let reserved = 0;
    let timer: NodeJS.Timeout | undefined;
    let over = false;
    let inspector: MessageInspector | undefined;
    /** Chunks of the partial message the inspector has seen. */
    let inspected = 0;
    const release = (): void => {
      this.#inFlight -= reserved;
      reserved = 0;
      inspector = undefined;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    // Ends the call: the partial message is dropped here, whatever grpc-js keeps of the call.
    const stop = (): void => {
      over = true;
      release();
      decoder.readPartialMessage = [];
    };
    decoder.write = (data: Buffer): Buffer[] => {
      if (over) return [];
      const complete = write(data);
      if (complete.length > 0) release();
      if (decoder.readState !== READING_MESSAGE) return complete;
      if (reserved > 0) return inspect(complete);
      const size = decoder.readMessageSize;
      if (this.#inFlight > 0 && this.#inFlight + size > this.budgetBytes) {
        stop();
        const details =
          `a message of ${size} bytes does not fit the receive budget: ${this.#inFlight} of ${this.budgetBytes} ` +
          'bytes are in messages still being received (--max-receiving-mb); retry when they are in';
        this.#onRefuse?.('budget', details);
        // Transient: the budget frees as the messages in flight arrive, so the sender is invited to retry.
        base.sendStatus({ code: grpcStatusOf('exhausted'), details, metadata: retryPushback(BUDGET_RETRY_MS) });
        return [];
      }
      reserved = size;
      this.#inFlight += size;
      timer = setTimeout(() => {
        const got = decoder.readPartialMessage.reduce((n, b) => n + b.length, 0);
        stop();
        const details =
          `a message of ${size} bytes was not received within ${this.timeoutMs} ms ` +
          `(${got} bytes arrived; --receive-timeout-s)`;
        this.#onRefuse?.('deadline', details);
        base.sendStatus({ code: grpcStatusOf('deadline'), details });
      }, this.timeoutMs);
      timer.unref();
      inspector = this.#inspect?.(path);
      inspected = 0;
      return inspect(complete);
    };
    // The partial message's new chunks through the inspector; a refusal ends the call.
    const inspect = (complete: Buffer[]): Buffer[] => {
      if (inspector === undefined) return complete;
      const chunks = decoder.readPartialMessage;
      for (; inspected < chunks.length; inspected++) {
        const why = inspector.feed(chunks[inspected] ?? Buffer.alloc(0));
        if (why === undefined) continue;
        stop();
        this.#onRefuse?.('inspector', why);
        base.sendStatus({ code: grpcStatusOf('input'), details: why });
        return [];
      }
      return complete;
    };
    base.stream.once('close', stop);
  }
}
