// A light in-process "agent" for tests and benchmarks: a real @grpc/grpc-js server on its own loopback port
// implementing GoalStateProvisioner.PushGoalStatesStream. It replies one GoalStateOperationReply per message,
// SUCCESS for every resource, and records what it got (cheaply: resource keys and operations, no decode).
// `restart()` simulates an agent restart: the server goes away and comes back on the same port, empty.
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { GoalStateOperationReply, GoalStateProvisionerService, OperationStatus, OperationType } from '../../proto';
import { parseGoalStateV2 } from '../resources';

export interface ReceivedMessage {
  readonly atMs: number;
  readonly bytes: number;
  readonly keys: readonly string[];
}

export class TestAgent {
  readonly events = new EventEmitter<{ message: [ReceivedMessage] }>();
  /** What the agent has applied: resource key -> operation of the last state received (DELETEs removed). */
  readonly applied = new Map<string, OperationType>();
  readonly messages: ReceivedMessage[] = [];
  private server: grpc.Server | null = null;
  /** Set to delay or fail replies in tests. */
  replyDelayMs = 0;
  /** Messages received since start (kept even when recordMessages is off). */
  received = 0;
  lastReceivedAtMs = 0;
  recordMessages = true;

  private constructor(
    readonly hostIp: string,
    public port: number,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(hostIp: string, port = 0): Promise<TestAgent> {
    const a = new TestAgent(hostIp, port);
    await a.listen();
    return a;
  }

  private async listen(): Promise<void> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': -1 });
    const def = {
      pushGoalStatesStream: {
        ...GoalStateProvisionerService.pushGoalStatesStream,
        requestDeserialize: (b: Buffer): Buffer => b,
      },
    } as unknown as grpc.ServiceDefinition;
    server.addService(def, {
      pushGoalStatesStream: (call: grpc.ServerDuplexStream<Buffer, GoalStateOperationReply>) => {
        call.on('data', (msg: Buffer) => {
          const reply = this.apply(msg);
          if (this.replyDelayMs > 0) setTimeout(() => call.write(reply), this.replyDelayMs);
          else call.write(reply);
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.server = server;
  }

  private apply(msg: Buffer): GoalStateOperationReply {
    const gs = parseGoalStateV2(msg);
    const keys: string[] = [];
    const statuses: GoalStateOperationReply['operationStatuses'] = [];
    for (const r of gs.resources.values()) {
      keys.push(r.key);
      if (r.operation === OperationType.DELETE) this.applied.delete(r.key);
      else this.applied.set(r.key, r.operation);
      statuses.push({
        resourceId: r.id,
        resourceType: r.type,
        operationType: r.operation,
        operationStatus: OperationStatus.SUCCESS,
        dataplaneProgrammingTime: 0,
        networkConfigurationTime: 0,
        stateElapseTime: 1,
      });
    }
    const m: ReceivedMessage = { atMs: Date.now(), bytes: msg.length, keys };
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

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s !== null) s.forceShutdown();
  }
}
