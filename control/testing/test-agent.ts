// A light in-process "agent" for tests and benchmarks: the agent's real gRPC server (agent/grpc/server.ts,
// GoalStateServer: dispatch queue, per-stream reply order, flow control) on its own loopback port, with a small
// recording applier instead of the OVS one. It replies SUCCESS for every resource and records what it got
// (cheaply: resource keys and operations). `restart()` simulates an agent restart: the server goes away and a new
// one comes back on the same port, empty.
import { EventEmitter } from 'node:events';
import {
  GoalState,
  GoalStateOperationReply,
  GoalStateV2,
  OperationStatus,
  OperationType,
  ResourceType,
} from '../../proto';
import { GoalStateApplier, GoalStateRequest, GoalStateServer, GoalStateValidationError } from '../../agent/grpc/server';
import { parseGoalStateV2 } from '../resources';
import type { ReloadableTls } from '../../agent/tls';

export interface ReceivedMessage {
  readonly atMs: number;
  readonly bytes: number;
  readonly keys: readonly string[];
}

/** What a simulated agent answers for each resource of a goal state: SUCCESS. */
export function successStatus(r: {
  readonly id: string;
  readonly type: ResourceType;
  readonly operation: OperationType;
}): GoalStateOperationReply['operationStatuses'][number] {
  return {
    resourceId: r.id,
    resourceType: r.type,
    operationType: r.operation,
    operationStatus: OperationStatus.SUCCESS,
    dataplaneProgrammingTime: 0,
    networkConfigurationTime: 0,
    stateElapseTime: 1,
  };
}

/**
 * An applier for a real agent front end (the NATS consumer, a GoalStateServer) that records each goal state's
 * resource keys into `got` and answers SUCCESS for each resource, as an agent would.
 */
export function recordingApplier(got: string[][]): GoalStateApplier {
  return {
    applyV1: () => Promise.reject(new Error('v1 not expected')),
    applyV2: async (req) => {
      const gs = parseGoalStateV2(req.kind === 'raw' ? req.bytes : GoalStateV2.encode(req.message).finish());
      got.push([...gs.resources.keys()]);
      return GoalStateOperationReply.fromPartial({
        formatVersion: 102,
        operationStatuses: [...gs.resources.values()].map(successStatus),
      });
    },
  };
}

export class TestAgent {
  readonly events = new EventEmitter<{ message: [ReceivedMessage] }>();
  /** What the agent has applied: resource key -> operation of the last state received (DELETEs removed). */
  readonly applied = new Map<string, OperationType>();
  readonly messages: ReceivedMessage[] = [];
  private server: GoalStateServer | null = null;
  /** Set to delay replies in tests (the real server applies one goal state at a time, so this delays the next too). */
  replyDelayMs = 0;
  /** Messages received since start (kept even when recordMessages is off). */
  received = 0;
  lastReceivedAtMs = 0;
  recordMessages = true;
  /** Off: `applied` is not kept (a benchmark's 1,000 agents need not keep 111k keys on the bench's one loop). */
  trackApplied = true;
  /** Set to refuse whole messages (gRPC INVALID_ARGUMENT, as a real agent refuses bad input): keys -> reason. */
  refuse: ((keys: readonly string[]) => string | null) | null = null;

  private constructor(
    readonly hostIp: string,
    public port: number,
    private readonly tls?: ReloadableTls,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** With `tls`, the agent serves TLS only (mutual TLS when it has a CA), as `alcor-agent run --tls-*` does. */
  static async start(hostIp: string, port = 0, tls?: ReloadableTls): Promise<TestAgent> {
    const a = new TestAgent(hostIp, port, tls);
    await a.listen();
    return a;
  }

  private async listen(): Promise<void> {
    const applier: GoalStateApplier = {
      applyV1: (_req: GoalStateRequest<GoalState>) =>
        Promise.reject(new Error('the test agent only speaks GoalStateV2 (PushGoalStatesStream)')),
      applyV2: (req: GoalStateRequest<GoalStateV2>) => this.applyV2(req),
    };
    // 'raw': the test agent reads only keys and operations, so skip the full ts-proto decode grpc-js would do.
    const server = new GoalStateServer(applier, {
      address: `127.0.0.1:${this.port}`,
      requestMode: 'raw',
      ...(this.tls === undefined ? {} : { tls: this.tls }),
    });
    this.port = await server.start();
    this.server = server;
  }

  private applyV2(req: GoalStateRequest<GoalStateV2>): Promise<GoalStateOperationReply> {
    // Received now: the time a benchmark reads is not to include this agent's own reading of the message.
    const atMs = Date.now();
    const bytes = req.kind === 'raw' ? req.bytes : GoalStateV2.encode(req.message).finish();
    const refusal = this.refuse?.([...parseGoalStateV2(bytes).resources.keys()]) ?? null;
    if (refusal !== null) return Promise.reject(new GoalStateValidationError(refusal));
    const reply = this.record(bytes, atMs);
    if (this.replyDelayMs <= 0) return Promise.resolve(reply);
    return new Promise((resolve) => setTimeout(() => resolve(reply), this.replyDelayMs));
  }

  private record(msg: Uint8Array, atMs: number): GoalStateOperationReply {
    const gs = parseGoalStateV2(msg);
    const keys: string[] = [];
    const statuses: GoalStateOperationReply['operationStatuses'] = [];
    for (const r of gs.resources.values()) {
      keys.push(r.key);
      if (this.trackApplied) {
        if (r.operation === OperationType.DELETE) this.applied.delete(r.key);
        else this.applied.set(r.key, r.operation);
      }
      statuses.push(successStatus(r));
    }
    const m: ReceivedMessage = { atMs, bytes: msg.length, keys };
    this.received++;
    this.lastReceivedAtMs = m.atMs;
    if (this.recordMessages) this.messages.push(m);
    this.events.emit('message', m);
    return { formatVersion: 0, operationStatuses: statuses, messageTotalOperationTime: 1 };
  }

  /** Resolves once `pred()` holds (checked now and after every message), or rejects after timeoutMs. */
  waitFor(pred: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onMsg = (): void => {
        if (!pred()) return;
        clearTimeout(timer);
        this.events.off('message', onMsg);
        resolve();
      };
      const timer = setTimeout(() => {
        this.events.off('message', onMsg);
        reject(
          new Error(`agent ${this.hostIp}: ${what} not reached within ${timeoutMs} ms (applied ${this.applied.size})`),
        );
      }, timeoutMs);
      this.events.on('message', onMsg);
    });
  }

  /** Simulates a crash and restart: connections drop, state is forgotten, the same port serves again. */
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    this.applied.clear();
    this.messages.length = 0;
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.listen();
  }

  /** A crash, not a graceful stop: no grace period, open streams are cancelled. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s !== null) await s.stop(0);
  }
}
