// Registers and conntrack bits the pipeline uses, as named bit ranges (ovs-fields(7), "Register
// fields": reg0..reg15 are 32-bit scratch registers, zero when a packet enters the pipeline and kept
// across goto_table, resubmit and ct() recirculation).
//
// Layout (every declared range; fields.test.ts fails if two of them overlap without being listed in
// SHARED_RANGES):
//   reg0[0..1]  PacketSource: 1 = from a local VM port, 2 = from the tunnel. Set by Classifier.
//               L2Forwarding uses it so that nothing that came from the tunnel is tunnelled again,
//               and the punt flows use it so that only local VMs trigger on-demand requests.
//   reg0[2]     GatewaySent: 1 once a VM's broadcast went to its VPC's ZETA gateway group (L2Forwarding).
//   reg6[0..31] Vni: the network's VNI (VXLAN 24 bits). Set by Classifier, rewritten by L3Routing to the
//               destination subnet's VNI. Every per-network flow matches it.
//   reg7[0..31] TargetOfport: the OpenFlow port the packet will leave by. Set by L2Forwarding (or by the
//               per-VNI flood for each port in turn); IngressSgConntrack/IngressSgRules use it to find
//               the destination port's rules and zone, Output sends to it.
// Conntrack zones: one per local port, equal to its ofport (16-bit zones, ofports are < 0xff00), so
// no zone allocator is needed and a port's zone never changes while the port exists.

import type { Action, FieldName, MatchField } from '../flow';

export type RegName = 'reg0' | 'reg1' | 'reg2' | 'reg3' | 'reg4' | 'reg5' | 'reg6' | 'reg7' | 'reg8' | 'reg9';

export interface RegField {
  readonly name: string;
  readonly reg: RegName;
  /** Lowest bit, inclusive. */
  readonly start: number;
  /** Highest bit, inclusive. */
  readonly end: number;
}

export interface RegMark {
  readonly name: string;
  readonly field: RegField;
  readonly value: number;
}

function regField(name: string, reg: RegName, start: number, end: number): RegField {
  return { name, reg, start, end };
}

export const PacketSourceField = regField('PacketSource', 'reg0', 0, 1);
export const FromLocalMark: RegMark = { name: 'FromLocal', field: PacketSourceField, value: 1 };
export const FromTunnelMark: RegMark = { name: 'FromTunnel', field: PacketSourceField, value: 2 };

/**
 * reg0[2]: set once a VM's broadcast/multicast was handed to its VPC's ZETA gateway group, so that the
 * resubmit into L2Forwarding that floods it locally does not hand it over again (gateway-flows.ts).
 */
export const GatewaySentField = regField('GatewaySent', 'reg0', 2, 2);
export const GatewaySentMark: RegMark = { name: 'GatewaySent', field: GatewaySentField, value: 1 };
export const VniField = regField('Vni', 'reg6', 0, 31);
export const TargetOfportField = regField('TargetOfport', 'reg7', 0, 31);

/** Every register range in use. */
export const REG_FIELDS: readonly RegField[] = [PacketSourceField, GatewaySentField, VniField, TargetOfportField];
export const REG_MARKS: readonly RegMark[] = [FromLocalMark, FromTunnelMark, GatewaySentMark];

/** Pairs of field names allowed to overlap, with the reason. None today. */
export const SHARED_RANGES: readonly { readonly a: string; readonly b: string; readonly why: string }[] = [];

export function fieldWidth(f: RegField): number {
  return f.end - f.start + 1;
}

/** Mask of the field's bits within its register (exact in a double: at most 32 bits). */
export function fieldMask(f: RegField): number {
  return (2 ** fieldWidth(f) - 1) * 2 ** f.start;
}

/** Match `field == value`; a whole-register field is matched without a mask (OVS prints it that way). */
export function matchReg(f: RegField, value: number): MatchField {
  if (f.start === 0 && f.end === 31) return { field: f.reg as FieldName, value };
  return { field: f.reg as FieldName, value: value * 2 ** f.start, mask: fieldMask(f) };
}

export function matchMark(m: RegMark): MatchField {
  return matchReg(m.field, m.value);
}

/** load:value->reg[start..end] (NXAST_REG_LOAD). */
export function loadReg(f: RegField, value: number): Action {
  return { kind: 'load', field: f.reg as FieldName, value, ofs: f.start, nBits: fieldWidth(f) };
}

export function loadMark(m: RegMark): Action {
  return loadReg(m.field, m.value);
}

/** ct_state bits (ovs-fields(7), "Connection tracking fields"). */
export const CtState = {
  new: 0x01,
  est: 0x02,
  rel: 0x04,
  rpl: 0x08,
  inv: 0x10,
  trk: 0x20,
} as const;

/** ct_state=+trk+new (the rule tables' inv drop sits above it). */
export const CT_NEW: MatchField = {
  field: 'ct_state',
  value: CtState.trk | CtState.new,
  mask: CtState.trk | CtState.new,
};
/** ct_state=+trk+est-inv */
export const CT_EST: MatchField = {
  field: 'ct_state',
  value: CtState.trk | CtState.est,
  mask: CtState.trk | CtState.est | CtState.inv,
};
/** ct_state=+trk+rel-inv */
export const CT_REL: MatchField = {
  field: 'ct_state',
  value: CtState.trk | CtState.rel,
  mask: CtState.trk | CtState.rel | CtState.inv,
};
/** ct_state=+trk+inv */
export const CT_INV: MatchField = {
  field: 'ct_state',
  value: CtState.trk | CtState.inv,
  mask: CtState.trk | CtState.inv,
};

/** Conntrack zone of a local port (see the layout above). */
export function ctZoneOf(ofport: number): number {
  return ofport;
}
