// Packet-ins: what the pipeline punts to the agent. DHCP is answered here from the lease table;
// any other punt (an ARP or unicast the flows could not resolve) is counted and, with --control,
// turned into an on-demand goal-state request. Punts are rate-limited per in_port.
//
// Why it is a module of its own: packet-ins arrive on the OpenFlow session at any time, never touch
// the engine, and must stay cheap under a punt storm; they only need the session (to answer), the
// lease table and the on-demand client, which the daemon hands over.

import { errorText } from '../core/errors';
import { handleDhcp, type DhcpLease } from '../core/dhcp/server';
import { OFPP } from '../core/openflow';
import { VniField, fieldMask, type RegField } from '../core/pipeline/fields';
import type { Logger } from './log';
import type { Metrics } from './metrics';
import { onDemandRequestOf, type OnDemandClient } from './ondemand';
import type { OpenFlowSession, PacketIn } from './openflow/session';

const PUNT_LIMIT_PER_SEC = 20;

/**
 * A register field's value in a PACKET_IN match (OVS puts the non-zero registers there), 0 when
 * the register is absent.
 */
export function fieldOf(p: PacketIn, f: RegField): number {
  const m = p.match.find((x) => x.field === f.reg);
  if (m === undefined) return 0;
  return Math.floor((m.value & fieldMask(f)) / 2 ** f.start) >>> 0;
}

export interface PacketInParts {
  readonly session: OpenFlowSession;
  readonly lease: (mac: string) => DhcpLease | undefined;
  readonly metrics: Metrics;
  readonly log: Logger;
}

export class PacketInHandler {
  readonly #p: PacketInParts;
  readonly #punts = new Map<number, { windowStartMs: number; count: number }>();
  #onDemand: OnDemandClient | undefined;

  constructor(parts: PacketInParts) {
    this.#p = parts;
  }

  /** From now on, unresolved punts ask this control service for their destination's goal states. */
  askOnDemand(client: OnDemandClient): void {
    this.#onDemand = client;
  }

  handle(p: PacketIn): void {
    const { metrics, log } = this.#p;
    metrics.packetIns++;
    const inPort = p.inPort;
    if (inPort === undefined) return;
    if (!this.#allowPunt(inPort)) {
      metrics.puntsDropped++;
      return;
    }
    const outcome = handleDhcp(p.data, this.#p.lease);
    switch (outcome.kind) {
      case 'reply':
        metrics.dhcpReplies++;
        log('info', 'dhcp reply', { inPort, mac: outcome.mac, ip: outcome.ip, type: outcome.replyType });
        // OFPP_IN_PORT would be needed to send back out of in_port itself (OpenFlow 1.3 §7.2.5);
        // the packet-out's in_port is CONTROLLER so output:<in_port> is allowed.
        void this.#p.session
          .packetOut({ inPort: OFPP.CONTROLLER, actions: [{ kind: 'output', port: inPort }], data: outcome.frame })
          .catch((e: unknown) => log('warn', 'packet-out failed', { error: errorText(e) }));
        return;
      case 'released':
      case 'declined':
        log('info', `dhcp ${outcome.kind}`, { mac: outcome.mac, ip: outcome.ip });
        return;
      case 'ignored':
        // Not DHCP: an ARP / unknown-unicast punt. With --control, ask for the destination's goal states.
        metrics.otherPunts++;
        this.#requestOnDemand(p);
        return;
      default: {
        const never: never = outcome;
        void never;
      }
    }
  }

  #requestOnDemand(p: PacketIn): void {
    const client = this.#onDemand;
    if (client === undefined) return;
    // The classifier sets the VNI before anything can punt (docs/pipeline.md).
    const vni = fieldOf(p, VniField);
    const req = onDemandRequestOf(p.data, vni, client.nextRequestId());
    if (req === undefined) return;
    const log = this.#p.log;
    this.#p.metrics.onDemandRequests++;
    client.request(req).then(
      (reply) => {
        if (reply !== undefined) {
          log('info', 'on-demand request answered', { destination: req.destinationIp, vni, requestId: req.requestId });
        }
      },
      (e: unknown) => log('warn', 'on-demand request failed', { destination: req.destinationIp, error: errorText(e) }),
    );
  }

  #allowPunt(port: number): boolean {
    const now = Date.now();
    const w = this.#punts.get(port);
    if (w === undefined || now - w.windowStartMs >= 1000) {
      this.#punts.set(port, { windowStartMs: now, count: 1 });
      return true;
    }
    w.count++;
    return w.count <= PUNT_LIMIT_PER_SEC;
  }
}
