// Flows as one line of ovs-ofctl-like text with table names, for golden tests and debug output.
// (Not the OpenFlow codec's parser format: tables and cookies are printed by name.)

import type { Action, FieldName, Flow, MatchField } from '../flow';
import { OFPP_CONTROLLER, OFPP_IN_PORT, OFPP_LOCAL } from '../flow';
import { formatIpv4, formatMac } from '../goalstate/addr';
import { cookieToString } from './cookie';
import { tableNameOf } from './tables';

const MAC_FIELDS: ReadonlySet<FieldName> = new Set(['eth_src', 'eth_dst', 'arp_sha', 'arp_tha']);
const IP_FIELDS: ReadonlySet<FieldName> = new Set([
  'ipv4_src',
  'ipv4_dst',
  'arp_spa',
  'arp_tpa',
  'tun_ipv4_src',
  'tun_ipv4_dst',
]);

function prefixLength(mask: number): number | undefined {
  for (let p = 0; p <= 32; p++) if ((p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0) === mask) return p;
  return undefined;
}

function valueText(field: FieldName, v: number): string {
  if (MAC_FIELDS.has(field)) return formatMac(v);
  if (IP_FIELDS.has(field)) return formatIpv4(v);
  if (field === 'eth_type' || field === 'ct_state' || field.startsWith('reg') || field === 'tun_id')
    return `0x${v.toString(16)}`;
  return String(v);
}

function matchText(m: MatchField): string {
  if (m.mask === undefined) return `${m.field}=${valueText(m.field, m.value)}`;
  if (IP_FIELDS.has(m.field)) {
    const p = prefixLength(m.mask);
    if (p !== undefined) return `${m.field}=${formatIpv4(m.value)}/${p}`;
  }
  return `${m.field}=${valueText(m.field, m.value)}/${MAC_FIELDS.has(m.field) ? formatMac(m.mask) : `0x${m.mask.toString(16)}`}`;
}

function portText(p: number): string {
  if (p === OFPP_IN_PORT) return 'IN_PORT';
  if (p === OFPP_CONTROLLER) return 'CONTROLLER';
  if (p === OFPP_LOCAL) return 'LOCAL';
  return String(p);
}

function tableText(id: number): string {
  return tableNameOf(id) ?? String(id);
}

function actionText(a: Action): string {
  switch (a.kind) {
    case 'output':
      return `output:${portText(a.port)}`;
    case 'controller':
      return `controller(max_len=${a.maxLen})`;
    case 'set_field':
      return `set_field:${valueText(a.field, a.value)}->${a.field}`;
    case 'load':
      return `load:0x${a.value.toString(16)}->${a.field}[${a.ofs}..${a.ofs + a.nBits - 1}]`;
    case 'move':
      return `move:${a.src}[${a.srcOfs}..${a.srcOfs + a.nBits - 1}]->${a.dst}[${a.dstOfs}..${a.dstOfs + a.nBits - 1}]`;
    case 'resubmit':
      return `resubmit(,${tableText(a.table)})`;
    case 'ct': {
      const parts = [
        a.commit ? 'commit' : undefined,
        `zone=${a.zone}`,
        a.table === undefined ? undefined : `table=${tableText(a.table)}`,
      ];
      if (a.setMark !== undefined) parts.push(`exec(set_field:${a.setMark}->ct_mark)`);
      return `ct(${parts.filter((p) => p !== undefined).join(',')})`;
    }
    case 'conjunction':
      return `conjunction(${a.id},${a.clause}/${a.nClauses})`;
    case 'dec_ttl':
      return 'dec_ttl';
    default: {
      const never: never = a;
      return never;
    }
  }
}

export function formatFlow(f: Flow): string {
  const match = f.match.map(matchText).join(',');
  const acts = f.actions.map(actionText);
  if (f.goto !== undefined) acts.push(`goto_table:${tableText(f.goto)}`);
  return `table=${tableText(f.table)}, priority=${f.priority}, cookie=${cookieToString(f.cookie)}${match ? ', ' + match : ''} actions=${acts.length ? acts.join(',') : 'drop'}`;
}

/** Sorted lines: the order-insensitive golden form of a flow set. */
export function formatFlows(flows: Iterable<Flow>): string[] {
  return [...flows].map(formatFlow).sort();
}
