// The OpenFlow flow as a value: the contract between the pipeline compiler (core/pipeline),
// the flow table and diff (core/flowtable), and the OpenFlow codec (core/openflow).
//
// A flow is identified by its key (table, priority, match), as OpenFlow itself identifies flows
// for MODIFY_STRICT / DELETE_STRICT; everything else (cookie, actions, goto) is its body.
// Values are plain numbers: every field we match or set is at most 48 bits wide, which a double
// holds exactly. Only the cookie needs 64 bits.

/** OXM / NXM fields the pipeline matches or writes. Names follow ovs-fields(7). */
export type FieldName =
  | 'in_port'
  | 'eth_src'
  | 'eth_dst'
  | 'eth_type'
  | 'vlan_vid'
  | 'ip_proto'
  | 'ip_dscp'
  | 'ip_ttl'
  | 'ipv4_src'
  | 'ipv4_dst'
  | 'tcp_src'
  | 'tcp_dst'
  | 'tcp_flags'
  | 'udp_src'
  | 'udp_dst'
  | 'icmpv4_type'
  | 'icmpv4_code'
  | 'arp_op'
  | 'arp_spa'
  | 'arp_tpa'
  | 'arp_sha'
  | 'arp_tha'
  | 'tun_id'
  | 'tun_ipv4_src'
  | 'tun_ipv4_dst'
  | 'metadata'
  | 'reg0'
  | 'reg1'
  | 'reg2'
  | 'reg3'
  | 'reg4'
  | 'reg5'
  | 'reg6'
  | 'reg7'
  | 'reg8'
  | 'reg9'
  | 'ct_state'
  | 'ct_zone'
  | 'ct_mark'
  | 'conj_id';

/** One match entry. A missing mask means an exact match on the whole field. */
export interface MatchField {
  readonly field: FieldName;
  readonly value: number;
  readonly mask?: number;
}

/** Reserved OpenFlow 1.3 port numbers used by the pipeline (OpenFlow 1.3 §7.2.1, ofp_port_no). */
export const OFPP_IN_PORT = 0xfffffff8;
export const OFPP_CONTROLLER = 0xfffffffd;
export const OFPP_LOCAL = 0xfffffffe;

/** Actions, as a union with a literal `kind` (see ovs-actions(7)). */
export type Action =
  | { readonly kind: 'output'; readonly port: number }
  /** Packet-in to the controller; `maxLen` bytes of the packet (0xffff = whole packet). */
  | { readonly kind: 'controller'; readonly maxLen: number }
  /** set_field: writes the whole field (OXM set-field). */
  | { readonly kind: 'set_field'; readonly field: FieldName; readonly value: number }
  /** load: writes `nBits` bits at bit offset `ofs` of `field` (Nicira NXAST_REG_LOAD). */
  | {
      readonly kind: 'load';
      readonly field: FieldName;
      readonly value: number;
      readonly ofs: number;
      readonly nBits: number;
    }
  /** move: copies bits between fields (Nicira NXAST_REG_MOVE). */
  | {
      readonly kind: 'move';
      readonly src: FieldName;
      readonly srcOfs: number;
      readonly dst: FieldName;
      readonly dstOfs: number;
      readonly nBits: number;
    }
  /** resubmit(,table): runs `table` and comes back (Nicira NXAST_RESUBMIT_TABLE). */
  | { readonly kind: 'resubmit'; readonly table: number }
  /** ct(): conntrack (Nicira NXAST_CT). `table` recirculates after conntrack; `setMark` is ct(commit,exec(set_field:..->ct_mark)). */
  | {
      readonly kind: 'ct';
      readonly commit: boolean;
      readonly zone: number;
      readonly table?: number;
      readonly setMark?: number;
    }
  /** conjunction(id, clause/nClauses) (Nicira NXAST_CONJUNCTION); `clause` counts from 1 as in ovs-ofctl. */
  | { readonly kind: 'conjunction'; readonly id: number; readonly clause: number; readonly nClauses: number }
  | { readonly kind: 'dec_ttl' }
  /** group:id (OpenFlow 1.3 OFPAT_GROUP): hand the packet to a group (core/pipeline/groups.ts). */
  | { readonly kind: 'group'; readonly id: number }
  /**
   * Starts a bucket. Only in a group entry (GROUP_TABLE): the actions up to the next marker are one
   * bucket's. Never written as an action.
   */
  | { readonly kind: 'bucket' };

/**
 * A pseudo-table, outside OpenFlow's 0..254, for select groups held in the flow table like flows:
 * priority = group id, no match, actions = the buckets (each started by a `bucket` marker). Riding
 * in the flow table gives a group an owner, a diff, undo and statuses for free; the encoder turns
 * such an entry into a GROUP_MOD (core/openflow/groupmod.ts), never a FLOW_MOD.
 */
export const GROUP_TABLE = 0x100;

export function isGroupEntry(flow: Pick<Flow, 'table'>): boolean {
  return flow.table === GROUP_TABLE;
}

/** A group entry's buckets: its actions split at the `bucket` markers. */
export function groupBuckets(flow: Pick<Flow, 'actions'>): Action[][] {
  const out: Action[][] = [];
  for (const a of flow.actions) {
    if (a.kind === 'bucket') out.push([]);
    else if (out.length > 0) out[out.length - 1].push(a);
  }
  return out;
}

export interface Flow {
  readonly table: number;
  readonly priority: number;
  /** Names the resource that owns the flow; layout in core/pipeline/cookie.ts. */
  readonly cookie: bigint;
  readonly match: readonly MatchField[];
  /** Apply-actions, in order. Empty with no `goto` means drop. */
  readonly actions: readonly Action[];
  /** goto_table instruction, run after the actions. */
  readonly goto?: number;
}

/** Canonical order of match fields, so that two spellings of one match give one key. */
const FIELD_ORDER: ReadonlyMap<FieldName, number> = new Map(
  (
    [
      'in_port',
      'metadata',
      'reg0',
      'reg1',
      'reg2',
      'reg3',
      'reg4',
      'reg5',
      'reg6',
      'reg7',
      'reg8',
      'reg9',
      'tun_id',
      'tun_ipv4_src',
      'tun_ipv4_dst',
      'conj_id',
      'ct_state',
      'ct_zone',
      'ct_mark',
      'eth_src',
      'eth_dst',
      'eth_type',
      'vlan_vid',
      'arp_op',
      'arp_spa',
      'arp_tpa',
      'arp_sha',
      'arp_tha',
      'ip_proto',
      'ip_dscp',
      'ip_ttl',
      'ipv4_src',
      'ipv4_dst',
      'tcp_src',
      'tcp_dst',
      'tcp_flags',
      'udp_src',
      'udp_dst',
      'icmpv4_type',
      'icmpv4_code',
    ] as const
  ).map((f, i) => [f, i]),
);

export function fieldOrder(field: FieldName): number {
  return FIELD_ORDER.get(field) ?? 999;
}

/** The match sorted into canonical field order (a new array; the input is not changed). */
export function canonicalMatch(match: readonly MatchField[]): readonly MatchField[] {
  return [...match].sort((a, b) => fieldOrder(a.field) - fieldOrder(b.field));
}

function matchText(match: readonly MatchField[]): string {
  let s = '';
  for (const m of canonicalMatch(match)) {
    s += m.mask === undefined ? `${m.field}=${m.value},` : `${m.field}=${m.value}/${m.mask},`;
  }
  return s;
}

/**
 * The flow's identity: equal keys mean OpenFlow treats the two as the same flow
 * (MODIFY_STRICT and DELETE_STRICT address flows by exactly this).
 */
export function flowKey(flow: Pick<Flow, 'table' | 'priority' | 'match'>): string {
  return `${flow.table}/${flow.priority}/${matchText(flow.match)}`;
}

/** The flow's body, as a string that is equal exactly when cookie, actions and goto are equal. */
export function flowBody(flow: Pick<Flow, 'cookie' | 'actions' | 'goto'>): string {
  return `${flow.cookie}|${JSON.stringify(flow.actions)}|${flow.goto ?? ''}`;
}
