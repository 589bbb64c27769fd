// The agent's DHCP server core (pure): one client frame in, at most one reply frame out.
//
// RFC 2131 behaviour:
// - DISCOVER -> OFFER of the configured address.
// - REQUEST (§4.3.2), by client state:
//     SELECTING    option 54 present: must be OUR server id (else the client chose another server: stay silent);
//                  requested IP (option 50) must equal the configured address -> ACK, else NAK.
//     INIT-REBOOT  no option 54, option 50 present -> ACK if it equals the configured address, else NAK.
//     RENEWING /   no option 54, no option 50, ciaddr set -> ACK if ciaddr equals the configured address, else NAK.
//     REBINDING
// - DECLINE and RELEASE -> no reply; reported as an outcome so the caller can log/record it.
// - INFORM -> ACK with the configuration but no address and no lease times (§3.4).
// - A MAC we have no entry for gets no reply (another server may own it; §4.3.2 "MUST remain silent").
// Unlike ACA (alcor-aca.md §3.3), the server identifier is a real address of ours on the client's subnet (the caller
// passes the subnet gateway IP as `serverIp`), not 127.0.0.1, so standard clients accept it and can unicast renewals.
//
// Replies are addressed per §4.1: via the relay (giaddr) when there is one; NAK broadcast; to ciaddr when the client
// has one; broadcast when the client set the BROADCAST flag; otherwise unicast to yiaddr/chaddr. The Ethernet source
// is `serverMac`, and a request that arrived 802.1Q-tagged gets a reply with the same tag.
//
// handleDhcp never throws: every failure is an `ignored` outcome with a reason.
import {
  BROADCAST_MAC,
  formatIpv4,
  IPV4_BROADCAST,
  macToBytes,
  maskToPrefix,
  normalizeMac,
  parseIpv4,
  prefixToMask,
} from '../packet/addr';
import { buildEthernet, ETHERTYPE_IPV4, parseEthernet } from '../packet/ethernet';
import { buildIpv4, buildUdp, IPPROTO_UDP, parseIpv4Header, parseUdp } from '../packet/ipv4';
import {
  BOOTREPLY,
  BOOTREQUEST,
  DHCP_CLIENT_PORT,
  DHCP_MESSAGE_TYPE_NAMES,
  DHCP_SERVER_PORT,
  DhcpMessageType,
  encodeDhcp,
  encodeNamedOption,
  FLAG_BROADCAST,
  findOption,
  ipList,
  ipOption,
  messageTypeOf,
  OPT,
  parseDhcp,
  text,
  u16,
  u32,
  u8,
  type DhcpMessage,
  type DhcpOption,
} from '../packet/dhcp';

export interface DhcpExtraOption {
  /** dnsmasq/Neutron name ('ntp-server', 'mtu', 'option:domain-search') or a numeric code ('42'). */
  readonly name: string;
  readonly value: string;
}

/** What the server hands out to one MAC. Addresses are dotted-quad text. */
export interface DhcpLease {
  readonly ip: string;
  /** Subnet prefix length; used when `mask` is not given. */
  readonly prefixLength?: number;
  readonly mask?: string;
  readonly router?: string;
  readonly dns: readonly string[];
  readonly leaseSeconds: number;
  /** Interface MTU (option 26); 1450 on VXLAN networks. Not sent when unset. */
  readonly mtu?: number;
  readonly hostname?: string;
  readonly domain?: string;
  /** Override built-in options with the same code (except 53/54), or add more. */
  readonly extraOptions: readonly DhcpExtraOption[];
  /** Our address on the client's subnet (the subnet gateway IP): source IP and server identifier (option 54). */
  readonly serverIp: string;
  readonly serverMac: string;
}

export type DhcpLookup = (mac: string) => DhcpLease | undefined;

export type DhcpReplyType = 'OFFER' | 'ACK' | 'NAK';

export type DhcpOutcome =
  | {
      readonly kind: 'reply';
      readonly replyType: DhcpReplyType;
      /** The request type it answers. */
      readonly requestType: string;
      readonly mac: string;
      readonly xid: number;
      /** Address offered/acknowledged (null for NAK and INFORM). */
      readonly ip: string | null;
      readonly dstMac: string;
      readonly dstIp: string;
      readonly frame: Uint8Array;
      /** Extra options that could not be encoded (skipped). */
      readonly warnings: readonly string[];
    }
  | { readonly kind: 'released'; readonly mac: string; readonly ip: string }
  | { readonly kind: 'declined'; readonly mac: string; readonly ip: string }
  | { readonly kind: 'ignored'; readonly reason: string };

/** The reply frame of an outcome, or null. */
export function replyFrameOf(outcome: DhcpOutcome): Uint8Array | null {
  return outcome.kind === 'reply' ? outcome.frame : null;
}

const ignored = (reason: string): DhcpOutcome => ({ kind: 'ignored', reason });

/** Options a lease's extras may not replace: they steer the protocol itself. */
const PROTECTED_CODES: ReadonlySet<number> = new Set([
  OPT.MESSAGE_TYPE,
  OPT.SERVER_ID,
  OPT.OVERLOAD,
  OPT.PARAMETER_LIST,
  OPT.CLIENT_ID,
  OPT.REQUESTED_IP,
]);

interface ResolvedLease {
  readonly ip: number;
  readonly mask: number;
  readonly serverIp: number;
  readonly lease: DhcpLease;
}

function resolveLease(lease: DhcpLease): ResolvedLease | string {
  const ip = parseIpv4(lease.ip);
  if (ip === null) return `configured ip '${lease.ip}' is not IPv4`;
  const serverIp = parseIpv4(lease.serverIp);
  if (serverIp === null) return `configured serverIp '${lease.serverIp}' is not IPv4`;
  if (macToBytes(lease.serverMac) === null) return `configured serverMac '${lease.serverMac}' is not a MAC`;
  let mask: number | null = null;
  if (lease.mask !== undefined) {
    mask = parseIpv4(lease.mask);
    if (mask === null || maskToPrefix(mask) === null)
      return `configured mask '${lease.mask}' is not a contiguous netmask`;
  } else if (
    lease.prefixLength !== undefined &&
    Number.isInteger(lease.prefixLength) &&
    lease.prefixLength >= 0 &&
    lease.prefixLength <= 32
  ) {
    mask = prefixToMask(lease.prefixLength);
  } else {
    return 'configured lease has neither mask nor a valid prefixLength';
  }
  if (!Number.isInteger(lease.leaseSeconds) || lease.leaseSeconds <= 0 || lease.leaseSeconds > 0xffffffff) {
    return `configured leaseSeconds ${lease.leaseSeconds} is not a positive 32-bit integer`;
  }
  return { ip, mask, serverIp, lease };
}

/** Configuration options in the order we send them, extras replacing built-ins of the same code. */
function configOptions(r: ResolvedLease, withLeaseTimes: boolean, warnings: string[]): DhcpOption[] {
  const byCode = new Map<number, Uint8Array>();
  const l = r.lease;
  if (withLeaseTimes) {
    byCode.set(OPT.LEASE_TIME, u32(l.leaseSeconds));
    // RFC 2131 §4.4.5 defaults: T1 = 0.5 * lease, T2 = 0.875 * lease.
    byCode.set(OPT.RENEWAL_T1, u32(Math.floor(l.leaseSeconds * 0.5)));
    byCode.set(OPT.REBINDING_T2, u32(Math.floor(l.leaseSeconds * 0.875)));
  }
  byCode.set(OPT.SUBNET_MASK, u32(r.mask));
  byCode.set(OPT.BROADCAST, u32(((r.ip & r.mask) | (~r.mask >>> 0)) >>> 0));
  if (l.router !== undefined && l.router !== '') {
    const router = parseIpv4(l.router);
    if (router === null) warnings.push(`router '${l.router}' is not IPv4; option 3 omitted`);
    else byCode.set(OPT.ROUTER, u32(router));
  }
  const dns: number[] = [];
  for (const d of l.dns) {
    const ip = parseIpv4(d);
    if (ip === null) warnings.push(`DNS server '${d}' is not IPv4; skipped`);
    else dns.push(ip);
  }
  if (dns.length > 0) byCode.set(OPT.DNS, ipList(dns));
  if (l.hostname !== undefined && l.hostname !== '') byCode.set(OPT.HOSTNAME, text(l.hostname));
  if (l.domain !== undefined && l.domain !== '') byCode.set(OPT.DOMAIN_NAME, text(l.domain));
  if (l.mtu !== undefined) {
    // RFC 2132 §5.1: the minimum legal MTU is 68.
    if (Number.isInteger(l.mtu) && l.mtu >= 68 && l.mtu <= 0xffff) byCode.set(OPT.INTERFACE_MTU, u16(l.mtu));
    else warnings.push(`mtu ${l.mtu} is outside 68..65535; option 26 omitted`);
  }
  for (const extra of l.extraOptions) {
    const enc = encodeNamedOption(extra.name, extra.value);
    if (enc.kind === 'invalid') {
      warnings.push(enc.reason);
      continue;
    }
    if (PROTECTED_CODES.has(enc.value.code)) {
      warnings.push(`extra option '${extra.name}' (code ${enc.value.code}) may not be overridden; skipped`);
      continue;
    }
    if (
      !withLeaseTimes &&
      (enc.value.code === OPT.LEASE_TIME || enc.value.code === OPT.RENEWAL_T1 || enc.value.code === OPT.REBINDING_T2)
    )
      continue;
    byCode.set(enc.value.code, enc.value.data);
  }
  return [...byCode].map(([code, data]) => ({ code, data }));
}

const IPV4_UDP_HEADER_BYTES = 20 + 8;
/** The link MTU when the lease does not set a usable one (Ethernet). */
const DEFAULT_MTU = 1500;

/** The client's link MTU: the lease's (option 26) when it is one configOptions sends, else Ethernet's. */
function replyMtu(lease: DhcpLease): number {
  const mtu = lease.mtu;
  return mtu !== undefined && Number.isInteger(mtu) && mtu >= 68 && mtu <= 0xffff ? mtu : DEFAULT_MTU;
}

interface ReplyPlan {
  readonly type: DhcpReplyType;
  readonly yiaddr: number;
  readonly ciaddr: number;
  readonly options: readonly DhcpOption[];
}

function buildReply(
  frameSrcMac: string,
  vlan: { readonly vid: number; readonly pcp: number } | null,
  req: DhcpMessage,
  r: ResolvedLease,
  plan: ReplyPlan,
  requestType: string,
  warnings: readonly string[],
): DhcpOutcome {
  const chaddr = macToBytes(req.chaddr);
  if (chaddr === null) return ignored('unusable chaddr');
  const typeCode =
    plan.type === 'OFFER' ? DhcpMessageType.OFFER : plan.type === 'ACK' ? DhcpMessageType.ACK : DhcpMessageType.NAK;
  const options: DhcpOption[] = [
    { code: OPT.MESSAGE_TYPE, data: u8(typeCode) },
    { code: OPT.SERVER_ID, data: u32(r.serverIp) },
    ...plan.options,
  ];
  // RFC 6842: echo the client identifier.
  const clientId = findOption(req, OPT.CLIENT_ID);
  if (clientId !== undefined) options.push({ code: OPT.CLIENT_ID, data: clientId });

  const broadcastFlag = (req.flags & FLAG_BROADCAST) !== 0;
  let dstIp: number;
  let dstMac: string;
  let dstPort = DHCP_CLIENT_PORT;
  let flags = req.flags;
  if (req.giaddr !== 0) {
    // Through a relay: to the relay's server port; the relay delivers (and broadcasts a NAK).
    dstIp = req.giaddr;
    dstMac = frameSrcMac;
    dstPort = DHCP_SERVER_PORT;
    if (plan.type === 'NAK') flags |= FLAG_BROADCAST;
  } else if (plan.type === 'NAK') {
    dstIp = IPV4_BROADCAST;
    dstMac = BROADCAST_MAC;
  } else if (req.ciaddr !== 0) {
    dstIp = req.ciaddr;
    dstMac = req.chaddr;
  } else if (broadcastFlag) {
    dstIp = IPV4_BROADCAST;
    dstMac = BROADCAST_MAC;
  } else {
    dstIp = plan.yiaddr;
    dstMac = req.chaddr;
  }
  const dhcp = encodeDhcp({
    op: BOOTREPLY,
    xid: req.xid,
    flags,
    ciaddr: plan.ciaddr,
    yiaddr: plan.yiaddr,
    giaddr: req.giaddr,
    chaddr,
    options,
  });
  // Every option comes from the controller (hostname, extra options): a reply that cannot go out as one
  // unfragmented packet on the client's link would never arrive (or not even encode past 64 KiB).
  const mtu = replyMtu(r.lease);
  const packetBytes = IPV4_UDP_HEADER_BYTES + dhcp.length;
  if (packetBytes > mtu) {
    return ignored(
      `${requestType} from ${req.chaddr}: the ${plan.type} would be a ${packetBytes}-byte IP packet, over the link MTU of ${mtu} (the lease's options are too long)`,
    );
  }
  const udp = buildUdp(DHCP_SERVER_PORT, dstPort, dhcp, { src: r.serverIp, dst: dstIp });
  const ip = buildIpv4({ src: r.serverIp, dst: dstIp, protocol: IPPROTO_UDP, ttl: 64 }, udp);
  const frame = buildEthernet({ dst: dstMac, src: r.lease.serverMac, etherType: ETHERTYPE_IPV4, vlan }, ip);
  return {
    kind: 'reply',
    replyType: plan.type,
    requestType,
    mac: req.chaddr,
    xid: req.xid,
    ip: plan.yiaddr === 0 ? null : formatIpv4(plan.yiaddr),
    dstMac,
    dstIp: formatIpv4(dstIp),
    frame,
    warnings,
  };
}

/** Handles one Ethernet frame from a VM. Returns the reply (with its frame) or why there is none. Never throws. */
export function handleDhcp(frame: Uint8Array, lookup: DhcpLookup): DhcpOutcome {
  try {
    return handle(frame, lookup);
  } catch (e: unknown) {
    return ignored(`internal error: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function handle(frame: Uint8Array, lookup: DhcpLookup): DhcpOutcome {
  const eth = parseEthernet(frame);
  if (eth.kind === 'invalid') return ignored(eth.reason);
  if (eth.value.etherType !== ETHERTYPE_IPV4)
    return ignored(`ethertype 0x${eth.value.etherType.toString(16)} is not IPv4`);
  const ip = parseIpv4Header(frame, eth.value.payloadOffset);
  if (ip.kind === 'invalid') return ignored(ip.reason);
  if (!ip.value.checksumOk) return ignored('IPv4 header checksum is wrong');
  if (ip.value.protocol !== IPPROTO_UDP) return ignored(`IP protocol ${ip.value.protocol} is not UDP`);
  if (ip.value.moreFragments || ip.value.fragmentOffset !== 0)
    return ignored('fragmented DHCP packets are not reassembled');
  const udp = parseUdp(frame, ip.value.payloadOffset, ip.value.payloadLength);
  if (udp.kind === 'invalid') return ignored(udp.reason);
  if (udp.value.dstPort !== DHCP_SERVER_PORT) return ignored(`UDP destination port ${udp.value.dstPort} is not 67`);
  const parsed = parseDhcp(frame, udp.value.payloadOffset, udp.value.payloadLength);
  if (parsed.kind === 'invalid') return ignored(parsed.reason);
  const req = parsed.value;
  if (req.op !== BOOTREQUEST) return ignored(`BOOTP op ${req.op} is not BOOTREQUEST`);
  const type = messageTypeOf(req);
  if (type === null) return ignored('no valid DHCP message type (option 53)');
  const typeName = DHCP_MESSAGE_TYPE_NAMES[type] ?? `type ${type}`;
  const mac = normalizeMac(req.chaddr) ?? req.chaddr;
  const lease = lookup(mac);
  if (lease === undefined) return ignored(`${typeName} from ${mac}: no DHCP entry for this MAC`);
  const resolved = resolveLease(lease);
  if (typeof resolved === 'string') return ignored(`${typeName} from ${mac}: ${resolved}`);
  const warnings: string[] = [];
  const reply = (plan: ReplyPlan): DhcpOutcome =>
    buildReply(eth.value.src, eth.value.vlan, req, resolved, plan, typeName, warnings);
  const ack = (): ReplyPlan => ({
    type: 'ACK',
    yiaddr: resolved.ip,
    ciaddr: req.ciaddr,
    options: configOptions(resolved, true, warnings),
  });
  const nak = (why: string): ReplyPlan => ({
    type: 'NAK',
    yiaddr: 0,
    ciaddr: 0,
    options: [{ code: OPT.MESSAGE, data: text(why) }],
  });

  switch (type) {
    case DhcpMessageType.DISCOVER:
      return reply({ type: 'OFFER', yiaddr: resolved.ip, ciaddr: 0, options: configOptions(resolved, true, warnings) });
    case DhcpMessageType.REQUEST: {
      const serverId = ipOption(req, OPT.SERVER_ID);
      const requested = ipOption(req, OPT.REQUESTED_IP);
      let wanted: number;
      if (serverId !== null) {
        if (serverId !== resolved.serverIp) {
          return ignored(`REQUEST from ${mac} selects server ${formatIpv4(serverId)}, not us (${lease.serverIp})`);
        }
        wanted = requested ?? req.ciaddr;
      } else if (requested !== null) {
        wanted = requested;
      } else {
        wanted = req.ciaddr;
      }
      if (wanted === 0) return ignored(`REQUEST from ${mac} carries neither a requested IP (option 50) nor ciaddr`);
      if (wanted !== resolved.ip) return reply(nak(`address ${formatIpv4(wanted)} is not assigned to ${mac}`));
      return reply(ack());
    }
    case DhcpMessageType.DECLINE: {
      const declined = ipOption(req, OPT.REQUESTED_IP) ?? req.ciaddr;
      return { kind: 'declined', mac, ip: formatIpv4(declined) };
    }
    case DhcpMessageType.RELEASE:
      return { kind: 'released', mac, ip: formatIpv4(req.ciaddr) };
    case DhcpMessageType.INFORM:
      // §3.4: configuration only; the client already has its address (in ciaddr).
      return reply({ type: 'ACK', yiaddr: 0, ciaddr: req.ciaddr, options: configOptions(resolved, false, warnings) });
    default:
      return ignored(`${typeName} from ${mac} is not a client message`);
  }
}
