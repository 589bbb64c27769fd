// On-demand goal-state requests: a VM sent something the flows could not resolve (an ARP request
// for an unknown IP, unicast to an unknown MAC), the pipeline punted it (docs/pipeline.md, Punt
// priority), and we ask the control service for the goal states of that destination
// (RequestGoalStates, request_type ON_DEMAND), as ACA does. Requests are rate-limited per in_port by
// the caller; identical requests in flight are not repeated.
import * as grpc from '@grpc/grpc-js';
import { formatIpv4 } from '../core/goalstate/addr';
import { parseArp } from '../core/packet/arp';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, parseEthernet } from '../core/packet/ethernet';
import { parseIpv4Header } from '../core/packet/ipv4';
import {
  EtherType,
  GoalStateProvisionerClient,
  HostRequest,
  OperationStatus,
  Protocol,
  RequestType,
  type HostRequest_ResourceStateRequest,
  type HostRequestReply,
} from '../proto';

const IPPROTO: Readonly<Record<number, Protocol>> = { 1: Protocol.ICMP, 6: Protocol.TCP, 17: Protocol.UDP };

/** What a punted frame asks about, or undefined when it is nothing to ask the controller about. */
export function onDemandRequestOf(
  frame: Uint8Array,
  tunnelId: number,
  requestId: string,
): HostRequest_ResourceStateRequest | undefined {
  const eth = parseEthernet(frame);
  if (eth.kind !== 'ok') return undefined;
  const base = { requestType: RequestType.ON_DEMAND, requestId, tunnelId, sourcePort: 0, destinationPort: 0 };
  if (eth.value.etherType === ETHERTYPE_ARP) {
    const arp = parseArp(frame, eth.value.payloadOffset);
    if (arp.kind !== 'ok' || arp.value.op !== 1) return undefined;
    return {
      ...base,
      sourceIp: formatIpv4(arp.value.senderIp),
      destinationIp: formatIpv4(arp.value.targetIp),
      // The proto has no ARP ethertype; ACA reports IPv4 for ARP requests too.
      ethertype: EtherType.IPV4,
      protocol: Protocol.ARP,
    };
  }
  if (eth.value.etherType === ETHERTYPE_IPV4) {
    const ip = parseIpv4Header(frame, eth.value.payloadOffset);
    if (ip.kind !== 'ok') return undefined;
    const l4 = ip.value.payloadOffset;
    const hasPorts = (ip.value.protocol === 6 || ip.value.protocol === 17) && frame.length >= l4 + 4;
    return {
      ...base,
      sourceIp: formatIpv4(ip.value.src),
      destinationIp: formatIpv4(ip.value.dst),
      sourcePort: hasPorts ? (frame[l4] << 8) | frame[l4 + 1] : 0,
      destinationPort: hasPorts ? (frame[l4 + 2] << 8) | frame[l4 + 3] : 0,
      ethertype: EtherType.IPV4,
      protocol: IPPROTO[ip.value.protocol] ?? Protocol.TCP,
    };
  }
  return undefined;
}

/** Metadata key naming the calling host to the control service (control/northbound/grpc.ts). */
const HOST_IP_METADATA = 'x-alcor-host-ip';

export class OnDemandClient {
  readonly #client: GoalStateProvisionerClient;
  readonly #inFlight = new Set<string>();
  readonly #hostIp: string | undefined;
  #next = 1;

  /**
   * `hostIp`: this host's tunnel IP, which names it to the control service (else its peer address does).
   * Plaintext unless `credentials` (the agent's own certificate, when it runs mutual TLS) are given.
   */
  constructor(
    address: string,
    hostIp?: string,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.#client = new GoalStateProvisionerClient(address, credentials);
    this.#hostIp = hostIp;
  }

  #metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.#hostIp !== undefined) md.set(HOST_IP_METADATA, this.#hostIp);
    return md;
  }

  /**
   * RequestGoalStates AGENT_RESTARTED: asks the control service for this host's full state (it
   * pushes it on the agent's stream). Rejects when the control service cannot be reached.
   */
  async agentRestarted(timeoutMs = 5000): Promise<'success' | 'failure'> {
    const requestId = `agent-restarted-${process.pid}-${this.#next++}`;
    const reply = await new Promise<HostRequestReply>((resolve, reject) => {
      this.#client.requestGoalStates(
        HostRequest.fromPartial({
          formatVersion: 1,
          stateRequests: [{ requestType: RequestType.AGENT_RESTARTED, requestId }],
        }),
        this.#metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, r) => (err ? reject(err) : resolve(r)),
      );
    });
    const st = reply.operationStatuses.find((s) => s.requestId === requestId);
    return st?.operationStatus === OperationStatus.SUCCESS ? 'success' : 'failure';
  }

  nextRequestId(): string {
    return `on-demand-${process.pid}-${this.#next++}`;
  }

  /** Sends one request unless the same destination is already being asked about. */
  async request(r: HostRequest_ResourceStateRequest, timeoutMs = 5000): Promise<HostRequestReply | undefined> {
    const key = `${r.tunnelId}/${r.destinationIp}`;
    if (this.#inFlight.has(key)) return undefined;
    this.#inFlight.add(key);
    try {
      return await new Promise<HostRequestReply>((resolve, reject) => {
        this.#client.requestGoalStates(
          HostRequest.fromPartial({ formatVersion: 1, stateRequests: [r] }),
          this.#metadata(),
          { deadline: Date.now() + timeoutMs },
          (err, reply) => (err ? reject(err) : resolve(reply)),
        );
      });
    } finally {
      this.#inFlight.delete(key);
    }
  }

  close(): void {
    this.#client.close();
  }
}
