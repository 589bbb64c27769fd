// Security-group flows of a local port: rule matches, remote-group conjunctions, per-direction flows.

import { canonicalMatch, type Action, type Flow, type MatchField } from '../flow';
import type { Ipv4, Port, SecurityGroupRule } from '../model';
import { CT_NEW, TargetOfportField, ctZoneOf, matchReg } from './fields';
import { CONJ_RULES_PER_PORT, IP_PROTO, M_IPV4, flow } from './flow-parts';
import { Priority } from './priorities';
import { cidrMatch, rangeMatches } from './ranges';
import { TABLES } from './tables';
import type { PipelineView } from './view';

type Direction = 'egress' | 'ingress';

/** The L4 part of a rule as alternative match lists (a port range becomes several value/mask matches). */
export function ruleL4Matches(rule: SecurityGroupRule): MatchField[][] | undefined {
  switch (rule.protocol) {
    case undefined:
      return [[]];
    case 'tcp':
    case 'udp': {
      const proto: MatchField = { field: 'ip_proto', value: IP_PROTO[rule.protocol] };
      const anyPort = rule.portMin === 0 && rule.portMax === 0;
      if (anyPort) return [[proto]];
      if (!(rule.portMin >= 0 && rule.portMax <= 0xffff && rule.portMin <= rule.portMax)) return undefined;
      const field = rule.protocol === 'tcp' ? 'tcp_dst' : 'udp_dst';
      return rangeMatches(field, rule.portMin, rule.portMax).map((m) => (m === undefined ? [proto] : [proto, m]));
    }
    case 'icmp': {
      // Neutron carries the ICMP type in port_range_min and the code in port_range_max; 0/0 and
      // 0/65535 mean "any" (so "type 0 only" cannot be expressed, as in the goal-state encoding).
      const proto: MatchField = { field: 'ip_proto', value: IP_PROTO.icmp };
      const anyType = (rule.portMin === 0 && (rule.portMax === 0 || rule.portMax === 0xffff)) || rule.portMin > 0xff;
      if (anyType) return [[proto]];
      const m: MatchField[] = [proto, { field: 'icmpv4_type', value: rule.portMin }];
      if (rule.portMax > 0 && rule.portMax <= 0xff) m.push({ field: 'icmpv4_code', value: rule.portMax });
      return [m];
    }
    default: {
      const never: never = rule.protocol;
      return never;
    }
  }
}

/** IPv4 addresses of a remote group's members (held ports listing the group), sorted, unique. */
export function remoteGroupMembers(sgId: string, view: PipelineView): Ipv4[] {
  const ips = new Set<number>();
  for (const p of view.portsInSecurityGroup(sgId)) for (const f of p.fixedIps) ips.add(f.ip);
  return [...ips].sort((a, b) => a - b);
}

/**
 * Stateful security groups for one direction of one port (Neutron semantics: allow-list, stateful).
 *  - conntrack table: the port's IPv4 goes through ct() in the port's zone, then the rule table;
 *  - rule table: ct_state=+new packets matching a rule are committed and continue
 *    (established/related/invalid are handled by the shared conntrackStateFlows);
 *  - a rule with remote_group_id uses a conjunctive match (ovs-fields(7) "Conjunctive Match"):
 *    clause 1/2 = one flow per member IP, clause 2/2 = one flow per protocol/port mask, so the cost is
 *    members + masks instead of members x masks; conj_id=N commits.
 * A port with security groups that are not held yet gets the conntrack flow but no rules: default deny.
 */
export function securityGroupFlows(
  direction: Direction,
  port: Port,
  ofport: number,
  view: PipelineView,
  cookie: bigint,
  conjIndex: { next: number },
): Flow[] {
  const egress = direction === 'egress';
  const ctTable = egress ? TABLES.EgressSgConntrack : TABLES.IngressSgConntrack;
  const rulesTable = egress ? TABLES.EgressSgRules : TABLES.IngressSgRules;
  const accepted = egress ? TABLES.L3Routing : TABLES.Output;
  const remoteField = egress ? 'ipv4_dst' : 'ipv4_src';
  const zone = ctZoneOf(ofport);
  const portMatch: MatchField = egress ? { field: 'in_port', value: ofport } : matchReg(TargetOfportField, ofport);
  const commit: readonly Action[] = [{ kind: 'ct', commit: true, zone }];
  const out: Flow[] = [
    flow(
      ctTable,
      Priority.Normal,
      cookie,
      [portMatch, M_IPV4],
      [{ kind: 'ct', commit: false, zone, table: rulesTable.id }],
    ),
  ];
  const base: MatchField[] = [portMatch, CT_NEW, M_IPV4];
  for (const sgId of port.securityGroupIds) {
    const sg = view.securityGroup(sgId);
    if (sg === undefined) continue;
    for (const rule of sg.rules) {
      if (rule.direction !== direction) continue;
      const l4 = ruleL4Matches(rule);
      if (l4 === undefined) continue;
      const prefix = rule.remoteIpPrefix === undefined ? undefined : cidrMatch(remoteField, rule.remoteIpPrefix);
      const withPrefix = (m: MatchField[]): MatchField[] => (prefix === undefined ? m : [...m, prefix]);
      if (rule.remoteGroupId === undefined) {
        for (const m of l4)
          out.push(
            flow(rulesTable, Priority.SgRule, cookie, canonicalMatch([...base, ...withPrefix(m)]), commit, accepted),
          );
        continue;
      }
      const members = remoteGroupMembers(rule.remoteGroupId, view);
      if (members.length === 0) continue;
      if (conjIndex.next >= CONJ_RULES_PER_PORT) continue;
      const id = ofport * CONJ_RULES_PER_PORT + conjIndex.next++;
      for (const ip of members) {
        out.push(
          flow(
            rulesTable,
            Priority.SgConjunction,
            cookie,
            [...base, { field: remoteField, value: ip }],
            [{ kind: 'conjunction', id, clause: 1, nClauses: 2 }],
          ),
        );
      }
      for (const m of l4) {
        out.push(
          flow(rulesTable, Priority.SgConjunction, cookie, canonicalMatch([...base, ...withPrefix(m)]), [
            { kind: 'conjunction', id, clause: 2, nClauses: 2 },
          ]),
        );
      }
      // ct() needs an IP prerequisite in the match (OFPBAC_MATCH_INCONSISTENT otherwise).
      out.push(
        flow(rulesTable, Priority.SgConjunction, cookie, [{ field: 'conj_id', value: id }, M_IPV4], commit, accepted),
      );
    }
  }
  return mergeSameKey(out);
}

/**
 * Two rules can yield the same match (e.g. two remote-group rules with the same member, or duplicate
 * rules across groups). OpenFlow holds one flow per match, so conjunction clauses are merged into one
 * flow with several conjunction actions (allowed by ovs-fields(7)), and duplicate accepts collapse.
 */
function mergeSameKey(flows: readonly Flow[]): Flow[] {
  const byKey = new Map<string, Flow>();
  for (const f of flows) {
    const key = `${f.table}/${f.priority}/${JSON.stringify(f.match)}`;
    const prev = byKey.get(key);
    if (prev === undefined) {
      byKey.set(key, f);
      continue;
    }
    const conj = (a: Action): boolean => a.kind === 'conjunction';
    if (prev.actions.every(conj) && f.actions.every(conj)) {
      const merged = [...prev.actions, ...f.actions].sort((a, b) =>
        a.kind === 'conjunction' && b.kind === 'conjunction' ? a.id - b.id || a.clause - b.clause : 0,
      );
      byKey.set(key, { ...prev, actions: merged });
    }
  }
  return [...byKey.values()];
}
