// Numeric protocol constants: OpenFlow 1.3.5 spec (§7, "openflow.h") with the OpenFlow 1.4.1
// additions we use (bundles, §7.3.9), plus the Nicira (OVS) extensions from ovs-actions(7) and
// ovs-fields(7). Names are kept as in the specs so they can be grepped there.

export const OFP13_VERSION = 0x04;
export const OFP14_VERSION = 0x05;
export type OfVersion = typeof OFP13_VERSION | typeof OFP14_VERSION;

export const OFP_HEADER_LEN = 8;
export const OFP_MAX_MESSAGE_LEN = 0xffff;

/** ofp_type (OpenFlow 1.3 §7.1, 1.4 §7.1). */
export const OFPT = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  EXPERIMENTER: 4,
  FEATURES_REQUEST: 5,
  FEATURES_REPLY: 6,
  GET_CONFIG_REQUEST: 7,
  GET_CONFIG_REPLY: 8,
  SET_CONFIG: 9,
  PACKET_IN: 10,
  FLOW_REMOVED: 11,
  PORT_STATUS: 12,
  PACKET_OUT: 13,
  FLOW_MOD: 14,
  GROUP_MOD: 15,
  PORT_MOD: 16,
  TABLE_MOD: 17,
  MULTIPART_REQUEST: 18,
  MULTIPART_REPLY: 19,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
  ROLE_REQUEST: 24,
  ROLE_REPLY: 25,
  GET_ASYNC_REQUEST: 26,
  GET_ASYNC_REPLY: 27,
  SET_ASYNC: 28,
  METER_MOD: 29,
  // OpenFlow 1.4 only.
  ROLE_STATUS: 30,
  TABLE_STATUS: 31,
  REQUESTFORWARD: 32,
  BUNDLE_CONTROL: 33,
  BUNDLE_ADD_MESSAGE: 34,
} as const;

/** Hello element types (OpenFlow 1.3 §7.5.1). */
export const OFPHET_VERSIONBITMAP = 1;

/** ofp_flow_mod_command (§7.3.4.1). */
export const OFPFC = { ADD: 0, MODIFY: 1, MODIFY_STRICT: 2, DELETE: 3, DELETE_STRICT: 4 } as const;
export type FlowModCommand = 'add' | 'modify_strict' | 'delete_strict';
/** And `delete` (not strict): every flow of the table that the match and the cookie mask select (agent/ovs-warm-up.ts). */
export type AnyFlowModCommand = FlowModCommand | 'delete';
export const FLOW_MOD_COMMAND_CODE: Readonly<Record<AnyFlowModCommand, number>> = {
  add: OFPFC.ADD,
  modify_strict: OFPFC.MODIFY_STRICT,
  delete_strict: OFPFC.DELETE_STRICT,
  delete: OFPFC.DELETE,
};

/** ofp_flow_mod_flags (§7.3.4.1). */
export const OFPFF = {
  SEND_FLOW_REM: 1 << 0,
  CHECK_OVERLAP: 1 << 1,
  RESET_COUNTS: 1 << 2,
  NO_PKT_COUNTS: 1 << 3,
  NO_BYT_COUNTS: 1 << 4,
} as const;

export const OFP_NO_BUFFER = 0xffffffff;
export const OFPTT_ALL = 0xff;
export const OFPG_ANY = 0xffffffff;

/** ofp_port_no reserved values (§7.2.1), 32-bit as in OpenFlow 1.1+. */
export const OFPP = {
  MAX: 0xffffff00,
  IN_PORT: 0xfffffff8,
  TABLE: 0xfffffff9,
  NORMAL: 0xfffffffa,
  FLOOD: 0xfffffffb,
  ALL: 0xfffffffc,
  CONTROLLER: 0xfffffffd,
  LOCAL: 0xfffffffe,
  ANY: 0xffffffff,
} as const;

/** ofp_controller_max_len: 0xffff asks for the whole packet with no buffering (§7.2.5). */
export const OFPCML_NO_BUFFER = 0xffff;

/** ofp_match_type (§7.2.2). */
export const OFPMT_OXM = 1;

/** OXM classes (§7.2.3.1) and the OVS ones from ovs-fields(7). */
export const OFPXMC = {
  NXM_0: 0x0000,
  NXM_1: 0x0001,
  OPENFLOW_BASIC: 0x8000,
  EXPERIMENTER: 0xffff,
} as const;

/** Experimenter ids. */
export const NX_VENDOR_ID = 0x00002320;
/** ONF experimenter id: OVS carries tcp_flags in OF1.3/1.4 as ONFOXM_ET_TCP_FLAGS under it. */
export const ONF_VENDOR_ID = 0x4f4e4600;

/** ofp_instruction_type (§7.2.4). */
export const OFPIT = {
  GOTO_TABLE: 1,
  WRITE_METADATA: 2,
  WRITE_ACTIONS: 3,
  APPLY_ACTIONS: 4,
  CLEAR_ACTIONS: 5,
  METER: 6,
  EXPERIMENTER: 0xffff,
} as const;

/** ofp_action_type (§7.2.5). */
export const OFPAT = {
  OUTPUT: 0,
  COPY_TTL_OUT: 11,
  COPY_TTL_IN: 12,
  SET_MPLS_TTL: 15,
  DEC_MPLS_TTL: 16,
  PUSH_VLAN: 17,
  POP_VLAN: 18,
  PUSH_MPLS: 19,
  POP_MPLS: 20,
  SET_QUEUE: 21,
  GROUP: 22,
  SET_NW_TTL: 23,
  DEC_NW_TTL: 24,
  SET_FIELD: 25,
  PUSH_PBB: 26,
  POP_PBB: 27,
  EXPERIMENTER: 0xffff,
} as const;

/** Nicira extension action subtypes (ovs-actions(7); OVS include/openflow/nicira-ext.h). */
export const NXAST = {
  RESUBMIT: 1,
  REG_MOVE: 6,
  REG_LOAD: 7,
  NOTE: 8,
  RESUBMIT_TABLE: 14,
  LEARN: 16,
  DEC_TTL: 18,
  CONTROLLER: 20,
  REG_LOAD2: 33,
  CONJUNCTION: 34,
  CT: 35,
  NAT: 36,
  CONTROLLER2: 37,
  CT_CLEAR: 43,
} as const;

/** NXAST_CT flags and the "no recirculation" table value. */
export const NX_CT_F_COMMIT = 1 << 0;
export const NX_CT_F_FORCE = 1 << 1;
export const NX_CT_RECIRC_NONE = 0xff;

/** NXAST_RESUBMIT_TABLE in_port value meaning "keep the packet's in_port" (OFPP_IN_PORT, 16-bit). */
export const NX_RESUBMIT_IN_PORT = 0xfff8;

/** ofp_multipart_type (§7.3.5). */
export const OFPMP = {
  DESC: 0,
  FLOW: 1,
  AGGREGATE: 2,
  TABLE: 3,
  PORT_STATS: 4,
  QUEUE: 5,
  GROUP: 6,
  GROUP_DESC: 7,
  GROUP_FEATURES: 8,
  METER: 9,
  METER_CONFIG: 10,
  METER_FEATURES: 11,
  TABLE_FEATURES: 12,
  PORT_DESC: 13,
  EXPERIMENTER: 0xffff,
} as const;
export const OFPMPF_REQ_MORE = 1;
export const OFPMPF_REPLY_MORE = 1;

/** ofp_config_flags (§7.3.2). */
export const OFPC_FRAG_NORMAL = 0;

/** ofp_packet_in_reason (§7.4.1); OF1.4 renamed some, numbers unchanged. */
export const OFPR_NAMES: readonly string[] = ['no_match', 'action', 'invalid_ttl', 'action_set', 'group', 'packet_out'];

/** ofp_flow_removed_reason (§7.4.2; OpenFlow 1.4 §7.4.2 adds meter_delete and eviction). */
export const OFPRR_NAMES: readonly string[] = [
  'idle_timeout',
  'hard_timeout',
  'delete',
  'group_delete',
  'meter_delete',
  'eviction',
];

/** ofp_port_reason (§7.4.3). */
export const OFPPR_NAMES: readonly string[] = ['add', 'delete', 'modify'];

/** ofp_bundle_ctrl_type and flags (OpenFlow 1.4 §7.3.9.1). */
export const OFPBCT = {
  OPEN_REQUEST: 0,
  OPEN_REPLY: 1,
  CLOSE_REQUEST: 2,
  CLOSE_REPLY: 3,
  COMMIT_REQUEST: 4,
  COMMIT_REPLY: 5,
  DISCARD_REQUEST: 6,
  DISCARD_REPLY: 7,
} as const;
export type BundleCtrlType = 'open' | 'close' | 'commit' | 'discard';
export const OFPBF_ATOMIC = 1 << 0;
export const OFPBF_ORDERED = 1 << 1;

/** Error types (§7.4.4 and OF1.4 §7.5.4), each with its code names in order. */
export const OFPET_EXPERIMENTER = 0xffff;
interface ErrorTypeInfo {
  readonly name: string;
  readonly codes: readonly string[];
}
export const ERROR_TYPES: ReadonlyMap<number, ErrorTypeInfo> = new Map<number, ErrorTypeInfo>([
  [0, { name: 'OFPET_HELLO_FAILED', codes: ['OFPHFC_INCOMPATIBLE', 'OFPHFC_EPERM'] }],
  [
    1,
    {
      name: 'OFPET_BAD_REQUEST',
      codes: [
        'OFPBRC_BAD_VERSION',
        'OFPBRC_BAD_TYPE',
        'OFPBRC_BAD_MULTIPART',
        'OFPBRC_BAD_EXPERIMENTER',
        'OFPBRC_BAD_EXP_TYPE',
        'OFPBRC_EPERM',
        'OFPBRC_BAD_LEN',
        'OFPBRC_BUFFER_EMPTY',
        'OFPBRC_BUFFER_UNKNOWN',
        'OFPBRC_BAD_TABLE_ID',
        'OFPBRC_IS_SLAVE',
        'OFPBRC_BAD_PORT',
        'OFPBRC_BAD_PACKET',
        'OFPBRC_MULTIPART_BUFFER_OVERFLOW',
        'OFPBRC_MULTIPART_REQUEST_TIMEOUT',
        'OFPBRC_MULTIPART_REPLY_TIMEOUT',
      ],
    },
  ],
  [
    2,
    {
      name: 'OFPET_BAD_ACTION',
      codes: [
        'OFPBAC_BAD_TYPE',
        'OFPBAC_BAD_LEN',
        'OFPBAC_BAD_EXPERIMENTER',
        'OFPBAC_BAD_EXP_TYPE',
        'OFPBAC_BAD_OUT_PORT',
        'OFPBAC_BAD_ARGUMENT',
        'OFPBAC_EPERM',
        'OFPBAC_TOO_MANY',
        'OFPBAC_BAD_QUEUE',
        'OFPBAC_BAD_OUT_GROUP',
        'OFPBAC_MATCH_INCONSISTENT',
        'OFPBAC_UNSUPPORTED_ORDER',
        'OFPBAC_BAD_TAG',
        'OFPBAC_BAD_SET_TYPE',
        'OFPBAC_BAD_SET_LEN',
        'OFPBAC_BAD_SET_ARGUMENT',
      ],
    },
  ],
  [
    3,
    {
      name: 'OFPET_BAD_INSTRUCTION',
      codes: [
        'OFPBIC_UNKNOWN_INST',
        'OFPBIC_UNSUP_INST',
        'OFPBIC_BAD_TABLE_ID',
        'OFPBIC_UNSUP_METADATA',
        'OFPBIC_UNSUP_METADATA_MASK',
        'OFPBIC_BAD_EXPERIMENTER',
        'OFPBIC_BAD_EXP_TYPE',
        'OFPBIC_BAD_LEN',
        'OFPBIC_EPERM',
      ],
    },
  ],
  [
    4,
    {
      name: 'OFPET_BAD_MATCH',
      codes: [
        'OFPBMC_BAD_TYPE',
        'OFPBMC_BAD_LEN',
        'OFPBMC_BAD_TAG',
        'OFPBMC_BAD_DL_ADDR_MASK',
        'OFPBMC_BAD_NW_ADDR_MASK',
        'OFPBMC_BAD_WILDCARDS',
        'OFPBMC_BAD_FIELD',
        'OFPBMC_BAD_VALUE',
        'OFPBMC_BAD_MASK',
        'OFPBMC_BAD_PREREQ',
        'OFPBMC_DUP_FIELD',
        'OFPBMC_EPERM',
      ],
    },
  ],
  [
    5,
    {
      name: 'OFPET_FLOW_MOD_FAILED',
      codes: [
        'OFPFMFC_UNKNOWN',
        'OFPFMFC_TABLE_FULL',
        'OFPFMFC_BAD_TABLE_ID',
        'OFPFMFC_OVERLAP',
        'OFPFMFC_EPERM',
        'OFPFMFC_BAD_TIMEOUT',
        'OFPFMFC_BAD_COMMAND',
        'OFPFMFC_BAD_FLAGS',
        'OFPFMFC_CANT_SYNC',
        'OFPFMFC_BAD_PRIORITY',
        'OFPFMFC_IS_SYNC',
      ],
    },
  ],
  [
    6,
    {
      name: 'OFPET_GROUP_MOD_FAILED',
      codes: [
        'OFPGMFC_GROUP_EXISTS',
        'OFPGMFC_INVALID_GROUP',
        'OFPGMFC_WEIGHT_UNSUPPORTED',
        'OFPGMFC_OUT_OF_GROUPS',
        'OFPGMFC_OUT_OF_BUCKETS',
        'OFPGMFC_CHAINING_UNSUPPORTED',
        'OFPGMFC_WATCH_UNSUPPORTED',
        'OFPGMFC_LOOP',
        'OFPGMFC_UNKNOWN_GROUP',
        'OFPGMFC_CHAINED_GROUP',
        'OFPGMFC_BAD_TYPE',
        'OFPGMFC_BAD_COMMAND',
        'OFPGMFC_BAD_BUCKET',
        'OFPGMFC_BAD_WATCH',
        'OFPGMFC_EPERM',
      ],
    },
  ],
  [
    7,
    {
      name: 'OFPET_PORT_MOD_FAILED',
      codes: [
        'OFPPMFC_BAD_PORT',
        'OFPPMFC_BAD_HW_ADDR',
        'OFPPMFC_BAD_CONFIG',
        'OFPPMFC_BAD_ADVERTISE',
        'OFPPMFC_EPERM',
      ],
    },
  ],
  [8, { name: 'OFPET_TABLE_MOD_FAILED', codes: ['OFPTMFC_BAD_TABLE', 'OFPTMFC_BAD_CONFIG', 'OFPTMFC_EPERM'] }],
  [9, { name: 'OFPET_QUEUE_OP_FAILED', codes: ['OFPQOFC_BAD_PORT', 'OFPQOFC_BAD_QUEUE', 'OFPQOFC_EPERM'] }],
  [10, { name: 'OFPET_SWITCH_CONFIG_FAILED', codes: ['OFPSCFC_BAD_FLAGS', 'OFPSCFC_BAD_LEN', 'OFPSCFC_EPERM'] }],
  [11, { name: 'OFPET_ROLE_REQUEST_FAILED', codes: ['OFPRRFC_STALE', 'OFPRRFC_UNSUP', 'OFPRRFC_BAD_ROLE'] }],
  [
    12,
    {
      name: 'OFPET_METER_MOD_FAILED',
      codes: [
        'OFPMMFC_UNKNOWN',
        'OFPMMFC_METER_EXISTS',
        'OFPMMFC_INVALID_METER',
        'OFPMMFC_UNKNOWN_METER',
        'OFPMMFC_BAD_COMMAND',
        'OFPMMFC_BAD_FLAGS',
        'OFPMMFC_BAD_RATE',
        'OFPMMFC_BAD_BURST',
        'OFPMMFC_BAD_BAND',
        'OFPMMFC_BAD_BAND_VALUE',
        'OFPMMFC_OUT_OF_METERS',
        'OFPMMFC_OUT_OF_BANDS',
      ],
    },
  ],
  [
    13,
    {
      name: 'OFPET_TABLE_FEATURES_FAILED',
      codes: [
        'OFPTFFC_BAD_TABLE',
        'OFPTFFC_BAD_METADATA',
        'OFPTFFC_BAD_TYPE',
        'OFPTFFC_BAD_LEN',
        'OFPTFFC_BAD_ARGUMENT',
        'OFPTFFC_EPERM',
      ],
    },
  ],
  [
    14,
    {
      name: 'OFPET_BAD_PROPERTY',
      codes: [
        'OFPBPC_BAD_TYPE',
        'OFPBPC_BAD_LEN',
        'OFPBPC_BAD_VALUE',
        'OFPBPC_TOO_MANY',
        'OFPBPC_DUP_TYPE',
        'OFPBPC_BAD_EXPERIMENTER',
        'OFPBPC_BAD_EXP_TYPE',
        'OFPBPC_BAD_EXP_VALUE',
        'OFPBPC_EPERM',
      ],
    },
  ],
  [15, { name: 'OFPET_ASYNC_CONFIG_FAILED', codes: ['OFPACFC_INVALID', 'OFPACFC_UNSUPPORTED', 'OFPACFC_EPERM'] }],
  [
    16,
    {
      name: 'OFPET_FLOW_MONITOR_FAILED',
      codes: [
        'OFPMOFC_UNKNOWN',
        'OFPMOFC_MONITOR_EXISTS',
        'OFPMOFC_INVALID_MONITOR',
        'OFPMOFC_UNKNOWN_MONITOR',
        'OFPMOFC_BAD_COMMAND',
        'OFPMOFC_BAD_FLAGS',
        'OFPMOFC_BAD_TABLE_ID',
        'OFPMOFC_BAD_OUT',
      ],
    },
  ],
  [
    17,
    {
      name: 'OFPET_BUNDLE_FAILED',
      codes: [
        'OFPBFC_UNKNOWN',
        'OFPBFC_EPERM',
        'OFPBFC_BAD_ID',
        'OFPBFC_BUNDLE_EXIST',
        'OFPBFC_BUNDLE_CLOSED',
        'OFPBFC_OUT_OF_BUNDLES',
        'OFPBFC_BAD_TYPE',
        'OFPBFC_BAD_FLAGS',
        'OFPBFC_MSG_BAD_LEN',
        'OFPBFC_MSG_BAD_XID',
        'OFPBFC_MSG_UNSUP',
        'OFPBFC_MSG_CONFLICT',
        'OFPBFC_MSG_TOO_MANY',
        'OFPBFC_MSG_FAILED',
        'OFPBFC_TIMEOUT',
        'OFPBFC_BUNDLE_IN_PROGRESS',
      ],
    },
  ],
]);

/** Names for an error type/code pair; unknown numbers still get a readable name. */
export function errorNames(type: number, code: number): { readonly typeName: string; readonly codeName: string } {
  if (type === OFPET_EXPERIMENTER) return { typeName: 'OFPET_EXPERIMENTER', codeName: `exp_type ${code}` };
  const info = ERROR_TYPES.get(type);
  if (info === undefined) return { typeName: `OFPET_${type}`, codeName: `code ${code}` };
  return { typeName: info.name, codeName: info.codes[code] ?? `${info.name.replace('OFPET_', '')}_${code}` };
}
