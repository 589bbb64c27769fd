// Flows as text, exactly as `ovs-ofctl -O OpenFlow14 dump-flows` prints them (OVS 3.1), which
// `ovs-ofctl add-flows` also reads back. The one flow formatter: the `alcor-agent compile` CLI, the agent's
// /flows, the pipeline's golden tests (with table names) and the tests that compare our encoding with what
// OVS actually installed all print flows with it. Not a hot path.
//
// OVS prints a match in its own field order (not ours) with its own names (ip -> nw_src,
// tcp_dst -> tp_dst, eth_src -> dl_src, ip_dscp -> nw_tos shifted back), folds eth_type/ip_proto
// into shorthands (ip, tcp, arp, ...), and omits priority=32768 (OFP_DEFAULT_PRIORITY).

import { groupBuckets, isGroupEntry, type Action, type FieldName, type Flow, type MatchField } from '../flow';
import { formatIpv4, formatMac } from '../goalstate/addr';
import { OFPP } from './constants';

export interface FormatOptions {
  /** OpenFlow port numbers to interface names: `in_port=tapX`, `output:tapX`. */
  readonly portNames?: ReadonlyMap<number, string>;
  /**
   * Table ids to names (`table=ArpResponder`, `resubmit(,L3Resolve)`, `goto_table:Output`) for debug output;
   * core/pipeline's `tableNameOf` gives the pipeline's. Without it tables print as numbers, as OVS prints them.
   */
  readonly tableNames?: (id: number) => string | undefined;
}

function table(id: number, opts: FormatOptions | undefined): string {
  return opts?.tableNames?.(id) ?? String(id);
}

type ValueStyle = 'dec' | 'hex' | 'mac' | 'ipv4' | 'port';

interface FieldText {
  /** Name in set_field (ovs-fields(7) field name as OVS prints it). */
  readonly setName: string;
  /** Name in load/move subfield syntax (the NXM/OXM header name OVS prints). */
  readonly nxmName: string;
  /** Width OVS gives the field, for deciding between `[]` and `[a..b]`. */
  readonly bits: number;
  readonly style: ValueStyle;
}

function t(setName: string, nxmName: string, bits: number, style: ValueStyle): FieldText {
  return { setName, nxmName, bits, style };
}

const REG_TEXT = (i: number): FieldText => t(`reg${i}`, `NXM_NX_REG${i}`, 32, 'hex');

/** Exported for the coverage test only; a Record, so a new FieldName fails to compile here. */
export const FIELD_TEXT: Readonly<Record<FieldName, FieldText>> = {
  in_port: t('in_port', 'OXM_OF_IN_PORT', 32, 'port'),
  eth_src: t('eth_src', 'NXM_OF_ETH_SRC', 48, 'mac'),
  eth_dst: t('eth_dst', 'NXM_OF_ETH_DST', 48, 'mac'),
  eth_type: t('eth_type', 'NXM_OF_ETH_TYPE', 16, 'hex'),
  vlan_vid: t('vlan_vid', 'OXM_OF_VLAN_VID', 12, 'dec'),
  ip_proto: t('nw_proto', 'NXM_OF_IP_PROTO', 8, 'dec'),
  ip_dscp: t('ip_dscp', 'OXM_OF_IP_DSCP', 6, 'dec'),
  ip_ttl: t('nw_ttl', 'NXM_NX_IP_TTL', 8, 'dec'),
  ipv4_src: t('ip_src', 'NXM_OF_IP_SRC', 32, 'ipv4'),
  ipv4_dst: t('ip_dst', 'NXM_OF_IP_DST', 32, 'ipv4'),
  tcp_src: t('tcp_src', 'NXM_OF_TCP_SRC', 16, 'dec'),
  tcp_dst: t('tcp_dst', 'NXM_OF_TCP_DST', 16, 'dec'),
  tcp_flags: t('tcp_flags', 'NXM_NX_TCP_FLAGS', 12, 'hex'),
  udp_src: t('udp_src', 'NXM_OF_UDP_SRC', 16, 'dec'),
  udp_dst: t('udp_dst', 'NXM_OF_UDP_DST', 16, 'dec'),
  icmpv4_type: t('icmp_type', 'NXM_OF_ICMP_TYPE', 8, 'dec'),
  icmpv4_code: t('icmp_code', 'NXM_OF_ICMP_CODE', 8, 'dec'),
  arp_op: t('arp_op', 'NXM_OF_ARP_OP', 16, 'dec'),
  arp_spa: t('arp_spa', 'NXM_OF_ARP_SPA', 32, 'ipv4'),
  arp_tpa: t('arp_tpa', 'NXM_OF_ARP_TPA', 32, 'ipv4'),
  arp_sha: t('arp_sha', 'NXM_NX_ARP_SHA', 48, 'mac'),
  arp_tha: t('arp_tha', 'NXM_NX_ARP_THA', 48, 'mac'),
  tun_id: t('tun_id', 'NXM_NX_TUN_ID', 64, 'hex'),
  tun_ipv4_src: t('tun_src', 'NXM_NX_TUN_IPV4_SRC', 32, 'ipv4'),
  tun_ipv4_dst: t('tun_dst', 'NXM_NX_TUN_IPV4_DST', 32, 'ipv4'),
  metadata: t('metadata', 'OXM_OF_METADATA', 64, 'hex'),
  reg0: REG_TEXT(0),
  reg1: REG_TEXT(1),
  reg2: REG_TEXT(2),
  reg3: REG_TEXT(3),
  reg4: REG_TEXT(4),
  reg5: REG_TEXT(5),
  reg6: REG_TEXT(6),
  reg7: REG_TEXT(7),
  reg8: REG_TEXT(8),
  reg9: REG_TEXT(9),
  ct_state: t('ct_state', 'NXM_NX_CT_STATE', 32, 'hex'),
  ct_zone: t('ct_zone', 'NXM_NX_CT_ZONE', 16, 'dec'),
  ct_mark: t('ct_mark', 'NXM_NX_CT_MARK', 32, 'hex'),
  conj_id: t('conj_id', 'NXM_NX_CONJ_ID', 32, 'dec'),
};

/** `%#x` as OVS prints it: "0" for zero, else "0x..". */
function hex(v: number): string {
  return v === 0 ? '0' : `0x${v.toString(16)}`;
}

const ipv4 = formatIpv4;
const mac = (v: number): string => formatMac(v);

const RESERVED_PORT_NAMES: ReadonlyMap<number, string> = new Map([
  [OFPP.IN_PORT, 'IN_PORT'],
  [OFPP.TABLE, 'TABLE'],
  [OFPP.NORMAL, 'NORMAL'],
  [OFPP.FLOOD, 'FLOOD'],
  [OFPP.ALL, 'ALL'],
  [OFPP.CONTROLLER, 'CONTROLLER'],
  [OFPP.LOCAL, 'LOCAL'],
  [OFPP.ANY, 'ANY'],
]);

function port(p: number, opts: FormatOptions | undefined): string {
  const reserved = RESERVED_PORT_NAMES.get(p);
  if (reserved !== undefined) return reserved;
  const name = opts?.portNames?.get(p);
  return name ?? String(p);
}

function valueText(style: ValueStyle, v: number, opts: FormatOptions | undefined): string {
  switch (style) {
    case 'dec':
      return String(v);
    case 'hex':
      return hex(v);
    case 'mac':
      return mac(v);
    case 'ipv4':
      return ipv4(v);
    case 'port':
      return port(v, opts);
    default: {
      const never: never = style;
      return String(never);
    }
  }
}

/** ip_format_masked: CIDR when the mask is a prefix, dotted mask otherwise. */
function ipMasked(v: number, mask: number | undefined): string {
  if (mask === undefined || mask === 0xffffffff) return ipv4(v);
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) === 0) {
    let prefix = 0;
    for (let m = mask >>> 0; m & 0x80000000; m = (m << 1) >>> 0) prefix++;
    return `${ipv4(v)}/${prefix}`;
  }
  return `${ipv4(v)}/${ipv4(mask)}`;
}

function macMasked(v: number, mask: number | undefined): string {
  return mask === undefined || mask === 0xffff_ffff_ffff ? mac(v) : `${mac(v)}/${mac(mask)}`;
}

/** format_uint32_masked / format_be64_masked: `%#x` and `/%#x` unless the mask is full. */
function hexMasked(v: number, mask: number | undefined, full: number): string {
  return mask === undefined || mask === full ? hex(v) : `${hex(v)}/${hex(mask)}`;
}

/** format_be16_masked: decimal when exact, `0x../0x..` when masked. */
function u16Masked(v: number, mask: number | undefined): string {
  return mask === undefined || mask === 0xffff ? String(v) : `0x${v.toString(16)}/0x${mask.toString(16)}`;
}

const CT_STATE_BITS: readonly string[] = ['new', 'est', 'rel', 'rpl', 'inv', 'trk', 'snat', 'dnat'];
const TCP_FLAG_BITS: readonly string[] = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr', 'ns'];

/** format_flags / format_flags_masked: `a|b` when every flag is matched, `+a-b` otherwise. */
function flagsText(names: readonly string[], allBits: number, v: number, mask: number | undefined): string {
  if (mask === undefined || (mask & allBits) === allBits) {
    const set: string[] = [];
    for (let b = 0; b < names.length; b++) if ((v >>> b) & 1) set.push(names[b]);
    return set.length === 0 ? '0' : set.join('|');
  }
  let s = '';
  for (let b = 0; b < names.length; b++) if ((mask >>> b) & 1) s += `${(v >>> b) & 1 ? '+' : '-'}${names[b]}`;
  return s;
}

/** OVS's vlan_tci rendering of an OF1.3 vlan_vid match (VID | OFPVID_PRESENT 0x1000). */
function vlanText(v: number, mask: number | undefined): string {
  const m = mask ?? 0x1fff;
  const vidMask = m & 0x0fff;
  if (m & 0x1000 && v & 0x1000 && (vidMask === 0 || vidMask === 0x0fff) && vidMask !== 0)
    return `dl_vlan=${v & 0x0fff}`;
  const h4 = (x: number): string => x.toString(16).padStart(4, '0');
  return `vlan_tci=0x${h4(v)}/0x${h4(m)}`;
}

const PROTO_SHORTHAND_V4: ReadonlyMap<number, string> = new Map([
  [1, 'icmp'],
  [2, 'igmp'],
  [6, 'tcp'],
  [17, 'udp'],
  [132, 'sctp'],
]);
const PROTO_SHORTHAND_V6: ReadonlyMap<number, string> = new Map([
  [58, 'icmp6'],
  [6, 'tcp6'],
  [17, 'udp6'],
  [132, 'sctp6'],
]);
const ETH_SHORTHAND: ReadonlyMap<number, string> = new Map([
  [0x0806, 'arp'],
  [0x8035, 'rarp'],
  [0x8847, 'mpls'],
  [0x8848, 'mplsm'],
]);

/** The match part of a dump-flows line, in OVS's match_format order. */
export function formatMatch(match: readonly MatchField[], priority: number, opts?: FormatOptions): string {
  const by = new Map<FieldName, MatchField>();
  for (const m of match) by.set(m.field, m);
  const parts: string[] = [];
  const get = (f: FieldName): MatchField | undefined => by.get(f);
  if (priority !== 0x8000) parts.push(`priority=${priority}`);

  const conj = get('conj_id');
  if (conj) parts.push(`conj_id=${conj.value}`);
  const ctState = get('ct_state');
  if (ctState) parts.push(`ct_state=${flagsText(CT_STATE_BITS, 0xff, ctState.value, ctState.mask)}`);
  const ctZone = get('ct_zone');
  if (ctZone) parts.push(`ct_zone=${u16Masked(ctZone.value, ctZone.mask)}`);
  const ctMark = get('ct_mark');
  if (ctMark) parts.push(`ct_mark=${hexMasked(ctMark.value, ctMark.mask, 0xffffffff)}`);

  const ethType = get('eth_type')?.value;
  const ipProto = get('ip_proto')?.value;
  const isIp = ethType === 0x0800;
  const isArp = ethType === 0x0806 || ethType === 0x8035;
  let skipType = false;
  let skipProto = false;
  if (ethType !== undefined) {
    skipType = true;
    if (ethType === 0x0800 || ethType === 0x86dd) {
      const short =
        ipProto === undefined ? undefined : (ethType === 0x0800 ? PROTO_SHORTHAND_V4 : PROTO_SHORTHAND_V6).get(ipProto);
      if (short !== undefined) {
        parts.push(short);
        skipProto = true;
      } else {
        parts.push(ethType === 0x0800 ? 'ip' : 'ipv6');
      }
    } else {
      const short = ETH_SHORTHAND.get(ethType);
      if (short !== undefined) parts.push(short);
      else skipType = false;
    }
  }
  for (let i = 0; i <= 9; i++) {
    const r = get(`reg${i}` as FieldName);
    if (r) parts.push(`reg${i}=${hexMasked(r.value, r.mask, 0xffffffff)}`);
  }
  const tunId = get('tun_id');
  if (tunId) parts.push(`tun_id=${hexMasked(tunId.value, tunId.mask, Number.MAX_SAFE_INTEGER)}`);
  const tunSrc = get('tun_ipv4_src');
  if (tunSrc) parts.push(`tun_src=${ipMasked(tunSrc.value, tunSrc.mask)}`);
  const tunDst = get('tun_ipv4_dst');
  if (tunDst) parts.push(`tun_dst=${ipMasked(tunDst.value, tunDst.mask)}`);
  const metadata = get('metadata');
  if (metadata) parts.push(`metadata=${hexMasked(metadata.value, metadata.mask, Number.MAX_SAFE_INTEGER)}`);
  const inPort = get('in_port');
  if (inPort) parts.push(`in_port=${port(inPort.value, opts)}`);
  const vlan = get('vlan_vid');
  if (vlan) parts.push(vlanText(vlan.value, vlan.mask));
  const ethSrc = get('eth_src');
  if (ethSrc) parts.push(`dl_src=${macMasked(ethSrc.value, ethSrc.mask)}`);
  const ethDst = get('eth_dst');
  if (ethDst) parts.push(`dl_dst=${macMasked(ethDst.value, ethDst.mask)}`);
  if (!skipType && ethType !== undefined) parts.push(`dl_type=0x${ethType.toString(16).padStart(4, '0')}`);
  if (isArp) {
    const spa = get('arp_spa');
    if (spa) parts.push(`arp_spa=${ipMasked(spa.value, spa.mask)}`);
    const tpa = get('arp_tpa');
    if (tpa) parts.push(`arp_tpa=${ipMasked(tpa.value, tpa.mask)}`);
  } else {
    const src = get('ipv4_src');
    if (src) parts.push(`nw_src=${ipMasked(src.value, src.mask)}`);
    const dst = get('ipv4_dst');
    if (dst) parts.push(`nw_dst=${ipMasked(dst.value, dst.mask)}`);
  }
  if (!skipProto) {
    const op = get('arp_op');
    if (isArp && op) parts.push(`arp_op=${op.value}`);
    if (!isArp && ipProto !== undefined) parts.push(`nw_proto=${ipProto}`);
  }
  if (isArp) {
    const sha = get('arp_sha');
    if (sha) parts.push(`arp_sha=${macMasked(sha.value, sha.mask)}`);
    const tha = get('arp_tha');
    if (tha) parts.push(`arp_tha=${macMasked(tha.value, tha.mask)}`);
  }
  const dscp = get('ip_dscp');
  if (dscp) parts.push(`nw_tos=${dscp.value << 2}`);
  const ttl = get('ip_ttl');
  if (ttl) parts.push(`nw_ttl=${ttl.value}`);
  if (isIp && ipProto === 1) {
    const type = get('icmpv4_type');
    if (type) parts.push(`icmp_type=${type.value}`);
    const code = get('icmpv4_code');
    if (code) parts.push(`icmp_code=${code.value}`);
  } else {
    const src = get('tcp_src') ?? get('udp_src');
    if (src) parts.push(`tp_src=${u16Masked(src.value, src.mask)}`);
    const dst = get('tcp_dst') ?? get('udp_dst');
    if (dst) parts.push(`tp_dst=${u16Masked(dst.value, dst.mask)}`);
  }
  const tcpFlags = get('tcp_flags');
  if (tcpFlags && ipProto === 6)
    parts.push(`tcp_flags=${flagsText(TCP_FLAG_BITS, 0xfff, tcpFlags.value, tcpFlags.mask)}`);
  return parts.join(',');
}

function subfield(field: FieldName, ofs: number, nBits: number): string {
  const f = FIELD_TEXT[field];
  if (ofs === 0 && nBits === f.bits) return `${f.nxmName}[]`;
  if (nBits === 1) return `${f.nxmName}[${ofs}]`;
  return `${f.nxmName}[${ofs}..${ofs + nBits - 1}]`;
}

export function formatAction(a: Action, opts?: FormatOptions): string {
  switch (a.kind) {
    case 'output':
      return a.port < OFPP.MAX
        ? `output:${port(a.port, opts)}`
        : a.port === OFPP.CONTROLLER
          ? 'CONTROLLER:65535'
          : port(a.port, opts);
    case 'controller':
      return `CONTROLLER:${a.maxLen}`;
    case 'set_field': {
      const f = FIELD_TEXT[a.field];
      return `set_field:${valueText(f.style, a.value, opts)}->${f.setName}`;
    }
    case 'load':
      return `load:${hex(a.value)}->${subfield(a.field, a.ofs, a.nBits)}`;
    case 'move':
      return `move:${subfield(a.src, a.srcOfs, a.nBits)}->${subfield(a.dst, a.dstOfs, a.nBits)}`;
    case 'resubmit':
      return `resubmit(,${table(a.table, opts)})`;
    case 'ct': {
      const args: string[] = [];
      if (a.commit) args.push('commit');
      if (a.table !== undefined) args.push(`table=${table(a.table, opts)}`);
      if (a.zone !== 0) args.push(`zone=${a.zone}`);
      if (a.setMark !== undefined) args.push(`exec(set_field:${hex(a.setMark)}->ct_mark)`);
      return `ct(${args.join(',')})`;
    }
    case 'conjunction':
      return `conjunction(${a.id},${a.clause}/${a.nClauses})`;
    case 'dec_ttl':
      return 'dec_ttl';
    case 'group':
      return `group:${a.id}`;
    case 'bucket':
      return 'bucket';
    default: {
      const never: never = a;
      return String(never);
    }
  }
}

export function formatActions(actions: readonly Action[], goto: number | undefined, opts?: FormatOptions): string {
  const parts = actions.map((a) => formatAction(a, opts));
  if (goto !== undefined) parts.push(`goto_table:${table(goto, opts)}`);
  return parts.length === 0 ? 'drop' : parts.join(',');
}

/**
 * One flow as `ovs-ofctl -O OpenFlow14 dump-flows` prints it, minus the statistics
 * (see normalizeDumpLine), e.g.
 * `cookie=0x5, table=20, priority=50,arp,reg6=0x14,arp_tpa=10.0.0.5,arp_op=1 actions=resubmit(,30)`.
 * `ovs-ofctl add-flows` accepts the same text.
 */
export function formatFlow(flow: Flow, opts?: FormatOptions): string {
  if (isGroupEntry(flow)) return formatGroup(flow, opts);
  const match = formatMatch(flow.match, flow.priority, opts);
  return `cookie=0x${flow.cookie.toString(16)}, table=${table(flow.table, opts)}, ${match}${match === '' ? '' : ' '}actions=${formatActions(flow.actions, flow.goto, opts)}`;
}

/**
 * A group entry (core/flow.ts GROUP_TABLE) as `ovs-ofctl -O OpenFlow14 dump-groups` prints it, e.g.
 * `group_id=7,type=select,bucket=actions=set_field:192.0.2.10->tun_dst,output:9`.
 */
export function formatGroup(flow: Flow, opts?: FormatOptions): string {
  const buckets = groupBuckets(flow).map((b) => `,bucket=actions=${formatActions(b, undefined, opts)}`);
  return `group_id=${flow.priority},type=select${buckets.join('')}`;
}

/** Sorted lines: the order-insensitive form of a flow set that golden tests compare. */
export function formatFlows(flows: Iterable<Flow>, opts?: FormatOptions): string[] {
  return [...flows].map((f) => formatFlow(f, opts)).sort();
}

/** A dump-flows line without its changing statistics (duration, counters, ages), trimmed. */
export function normalizeDumpLine(line: string): string {
  return line.trim().replace(/\b(duration=[0-9.]+s|n_packets=\d+|n_bytes=\d+|idle_age=\d+|hard_age=\d+), /g, '');
}
