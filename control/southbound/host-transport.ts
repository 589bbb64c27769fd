// How the control service reaches one host: gRPC to its agent (as before), or NATS JetStream (the host's
// subject on the goal-state stream), with its gRPC address, when it has one, as the fallback while the
// broker is unreachable. The node manager's per-node MQ configuration.
//
// The registry (store `agents`, `PUT /v1/hosts/<ip>`, the config file's "agents") keeps one string per host
// so both stores and their watches stay as they are: "HOST:PORT" is gRPC, "nats" is NATS only and
// "nats+HOST:PORT" is NATS with a gRPC fallback.
import { GoalStateOperationReply } from '../../proto';
import { H_VPCS, hostSubject } from '../../core/southbound/nats-wire';
import { ControlError } from '../resources';
import { AgentStream, AgentStreamOptions } from './agent-stream';
import type { AgentChannels } from './agent-channels';
import type { NatsLink } from './nats-link';

export type TransportKind = 'grpc' | 'nats';

export interface Registration {
  readonly transport: TransportKind;
  /** The agent's gRPC HOST:PORT; null for a NATS-only host. */
  readonly agent: string | null;
}

const NATS = 'nats';

export function encodeRegistration(r: Registration): string {
  if (r.transport === 'grpc') {
    if (r.agent === null) throw new Error('a gRPC host needs an agent HOST:PORT');
    return r.agent;
  }
  return r.agent === null ? NATS : `${NATS}+${r.agent}`;
}

export function decodeRegistration(value: string): Registration {
  if (value === NATS) return { transport: 'nats', agent: null };
  if (value.startsWith(`${NATS}+`)) return { transport: 'nats', agent: value.slice(NATS.length + 1) };
  return { transport: 'grpc', agent: value };
}

/** What a HostSession pushes through: AgentStream (gRPC) or NatsHostTransport. */
export interface HostTransport {
  readonly state: string;
  readonly lastError: string;
  onConnected: () => void;
  onFailure: (reason: string) => void;
  start(): void;
  stop(): void;
  connected(): boolean;
  /**
   * True while a broker holds what is sent until the agent takes it: the session then sends each change as it
   * comes (the stream is the queue an offline agent catches up from) instead of merging behind a reply.
   */
  brokered?(): boolean;
  send(message: Buffer): Promise<GoalStateOperationReply>;
}

export interface NatsHostDeps {
  /** Absent without --nats: a NATS host is then reached over its gRPC address only. */
  readonly link: NatsLink | null;
  readonly streamOptions: AgentStreamOptions;
  readonly channels: AgentChannels | null;
  /** The broker became unreachable and this host is now pushed over gRPC. */
  readonly onFallback: (host: string) => void;
}

/**
 * A host's goal states go to its subject. While the broker is unreachable and the host has an agent
 * address, a gRPC stream takes over (its connection pushes the full state, so nothing published in vain
 * is missed); when the broker is back, the gRPC stream is closed and the full state goes through NATS.
 */
export class NatsHostTransport implements HostTransport {
  private grpc: AgentStream | null = null;
  private stopped = false;
  lastError = '';
  onConnected: () => void = () => undefined;
  onFailure: (reason: string) => void = () => undefined;
  private readonly subject: string;
  /** VPCs whose subject this host's agent consumes (it replied to the message that asked it to). */
  private readonly vpcs = new Set<string>();
  /** VPCs to ask for with the next message to the host's own subject. */
  private readonly toAnnounce = new Set<string>();
  private readonly onUp = (): void => this.brokerUp();
  private readonly onDown = (): void => this.brokerDown();

  constructor(
    private readonly host: string,
    private readonly agent: string | null,
    private readonly deps: NatsHostDeps,
  ) {
    this.subject = hostSubject(host);
  }

  get state(): string {
    if (this.stopped) return 'stopped';
    if (this.linkUp()) return 'connected';
    return this.grpc === null ? 'backoff' : `grpc-fallback:${this.grpc.state}`;
  }

  start(): void {
    if (this.stopped) return;
    this.deps.link?.events.on('up', this.onUp);
    this.deps.link?.events.on('down', this.onDown);
    if (this.linkUp()) queueMicrotask(() => this.brokerUp());
    else this.brokerDown();
  }

  stop(): void {
    this.stopped = true;
    this.deps.link?.events.off('up', this.onUp);
    this.deps.link?.events.off('down', this.onDown);
    this.grpc?.stop();
    this.grpc = null;
  }

  connected(): boolean {
    return !this.stopped && (this.linkUp() || this.grpc?.connected() === true);
  }

  brokered(): boolean {
    return !this.stopped && this.linkUp();
  }

  /** Can a change for `vpc` reach this host through the VPC's subject now? */
  consumesVpc(vpc: string): boolean {
    return this.linkUp() && this.vpcs.has(vpc);
  }

  /** Asks the agent, with the next message to this host, to consume the VPC's subject too. */
  announceVpc(vpc: string): void {
    if (!this.vpcs.has(vpc)) this.toAnnounce.add(vpc);
  }

  /** The shared publish for `vpc` reached no reply from this host: send it its own messages until asked again. */
  forgetVpc(vpc: string): void {
    this.vpcs.delete(vpc);
  }

  async send(message: Buffer): Promise<GoalStateOperationReply> {
    if (this.linkUp()) {
      const asked = [...this.toAnnounce];
      try {
        const reply = await (this.deps.link as NatsLink).send(
          this.subject,
          message,
          this.deps.streamOptions.replyTimeoutMs,
          asked.length === 0 ? undefined : { [H_VPCS]: asked.join(',') },
        );
        for (const v of asked) {
          this.toAnnounce.delete(v);
          this.vpcs.add(v);
        }
        return reply as GoalStateOperationReply;
      } catch (e: unknown) {
        this.lastError = (e as Error).message;
        this.onFailure(this.lastError);
        throw e;
      }
    }
    if (this.grpc !== null) return this.grpc.send(message);
    throw new ControlError('STREAM_NOT_CONNECTED', `host ${this.host}: NATS broker unreachable, no gRPC agent`);
  }

  private linkUp(): boolean {
    return this.deps.link?.up() === true;
  }

  private brokerUp(): void {
    if (this.stopped || !this.linkUp()) return;
    // A broker that was down may have lost the VPC consumers: ask again, with the full push that follows.
    for (const v of this.vpcs) this.toAnnounce.add(v);
    this.vpcs.clear();
    this.grpc?.stop();
    this.grpc = null;
    this.onConnected();
  }

  private brokerDown(): void {
    if (this.stopped || this.grpc !== null) return;
    this.lastError = 'NATS broker unreachable';
    if (this.agent === null) return;
    const s = new AgentStream(this.agent, this.deps.streamOptions, this.deps.channels);
    s.onConnected = () => {
      if (this.grpc === s) this.onConnected();
    };
    s.onFailure = (reason) => this.onFailure(`grpc fallback: ${reason}`);
    this.grpc = s;
    this.deps.onFallback(this.host);
    s.start();
  }
}

/**
 * The registry value for `{agent, transport}` as given by a caller, or an error message. `transport`
 * defaults to grpc, which needs an agent address; nats takes one optionally (the fallback).
 */
export function registrationFrom(
  agent: unknown,
  transport: unknown,
  validAddress: (s: string) => boolean,
): { value: string } | { error: string } {
  if (transport !== undefined && transport !== 'grpc' && transport !== 'nats')
    return { error: `transport must be "grpc" or "nats", got ${JSON.stringify(transport)}` };
  const kind: TransportKind = transport ?? 'grpc';
  if (agent === undefined && kind === 'nats') return { value: encodeRegistration({ transport: kind, agent: null }) };
  if (typeof agent !== 'string' || !validAddress(agent))
    return {
      error: `need an agent HOST:PORT (an IPv4 address or a DNS name, port 1-65535), got ${JSON.stringify(agent)}`,
    };
  return { value: encodeRegistration({ transport: kind, agent }) };
}
