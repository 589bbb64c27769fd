// Content equality: everything but revision and requestId. A field that is undefined equals a
// field that is absent, so resources read back from a JSON snapshot compare equal to fresh ones.

import type { Resource } from '../model';

export function sameContent(a: Resource, b: Resource): boolean {
  if (a === b) return true;
  if (a.kind !== b.kind || a.id !== b.id) return false;
  return sameFields(a, b, true);
}

function sameFields(a: object, b: object, skipMeta: boolean): boolean {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let definedInA = 0;
  for (const key in ra) {
    const va = ra[key];
    if (va === undefined) continue;
    definedInA++;
    if (skipMeta && (key === 'revision' || key === 'requestId')) continue;
    if (!sameValue(va, rb[key])) return false;
  }
  let definedInB = 0;
  for (const key in rb) if (rb[key] !== undefined) definedInB++;
  return definedInA === definedInB;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  return sameFields(a, b, false);
}
