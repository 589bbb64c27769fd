// Fast paths for flow identity, with exactly the semantics of flowKey() / flowBody() in core/flow.ts.
// The flow table keys millions of flows; flowKey() copies and sorts the match and flowBody() runs
// JSON.stringify, which dominate the cost at that scale. Builders in core/pipeline emit matches
// already in canonical order, so the key can be built in one pass; anything else falls back.

import { flowKey, fieldOrder, type Action, type Flow } from '../flow';

/** Same string as flowKey(flow), without copying or sorting when the match is already canonical. */
export function fastFlowKey(flow: Pick<Flow, 'table' | 'priority' | 'match'>): string {
  const m = flow.match;
  let s = flow.table + '/' + flow.priority + '/';
  let prev = -1;
  for (let i = 0; i < m.length; i++) {
    const f = m[i];
    if (f === undefined) break;
    const order = fieldOrder(f.field);
    if (order < prev) return flowKey(flow);
    prev = order;
    s += f.mask === undefined ? f.field + '=' + f.value + ',' : f.field + '=' + f.value + '/' + f.mask + ',';
  }
  return s;
}

function sameAction(a: Action, b: Action): boolean {
  switch (a.kind) {
    case 'output':
      return b.kind === 'output' && a.port === b.port;
    case 'controller':
      return b.kind === 'controller' && a.maxLen === b.maxLen;
    case 'set_field':
      return b.kind === 'set_field' && a.field === b.field && a.value === b.value;
    case 'load':
      return b.kind === 'load' && a.field === b.field && a.value === b.value && a.ofs === b.ofs && a.nBits === b.nBits;
    case 'move':
      return (
        b.kind === 'move' &&
        a.src === b.src &&
        a.srcOfs === b.srcOfs &&
        a.dst === b.dst &&
        a.dstOfs === b.dstOfs &&
        a.nBits === b.nBits
      );
    case 'resubmit':
      return b.kind === 'resubmit' && a.table === b.table;
    case 'ct':
      return (
        b.kind === 'ct' && a.commit === b.commit && a.zone === b.zone && a.table === b.table && a.setMark === b.setMark
      );
    case 'conjunction':
      return b.kind === 'conjunction' && a.id === b.id && a.clause === b.clause && a.nClauses === b.nClauses;
    case 'dec_ttl':
      return b.kind === 'dec_ttl';
    case 'group':
      return b.kind === 'group' && a.id === b.id;
    case 'bucket':
      return b.kind === 'bucket';
    default: {
      const never: never = a;
      return never;
    }
  }
}

/** Actions and goto equal (the part MODIFY_STRICT changes). */
export function sameActions(a: Pick<Flow, 'actions' | 'goto'>, b: Pick<Flow, 'actions' | 'goto'>): boolean {
  if (a.goto !== b.goto) return false;
  const x = a.actions;
  const y = b.actions;
  if (x === y) return true;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const ax = x[i];
    const ay = y[i];
    if (ax === ay) continue;
    if (ax === undefined || ay === undefined || !sameAction(ax, ay)) return false;
  }
  return true;
}

/** Same answer as flowBody(a) === flowBody(b). */
export function sameBody(
  a: Pick<Flow, 'cookie' | 'actions' | 'goto'>,
  b: Pick<Flow, 'cookie' | 'actions' | 'goto'>,
): boolean {
  return a.cookie === b.cookie && sameActions(a, b);
}
