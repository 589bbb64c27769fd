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

export class OnDemandClient {
  readonly #client: GoalStateProvisionerClient;
  readonly #inFlight = new Set<string>();
  #next = 1;

  /** Plaintext unless `credentials` (the agent's own certificate, when it runs mutual TLS) are given. */
  constructor(address: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    this.#client = new GoalStateProvisionerClient(address, credentials);
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
          new grpc.Metadata(),
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
