// OVSDB wire values (RFC 7047 §5.1): atoms, ["uuid",…], ["named-uuid",…], ["set",[…]], ["map",[[k,v]…]],
// plus the database operations (§5.2) we use, as typed values.

export type OvsdbAtom = string | number | boolean | readonly ['uuid', string] | readonly ['named-uuid', string];
export type OvsdbSet = readonly ['set', readonly OvsdbAtom[]];
export type OvsdbMap = readonly ['map', readonly (readonly [OvsdbAtom, OvsdbAtom])[]];
export type OvsdbValue = OvsdbAtom | OvsdbSet | OvsdbMap;
export type OvsdbRow = Readonly<Record<string, OvsdbValue>>;

export type Condition = readonly [
  column: string,
  fn: '==' | '!=' | 'includes' | 'excludes' | '<' | '<=' | '>' | '>=',
  value: OvsdbValue,
];
export type Mutation = readonly [
  column: string,
  mutator: 'insert' | 'delete' | '+=' | '-=' | '*=' | '/=' | '%=',
  value: OvsdbValue,
];

export type Operation =
  | {
      readonly op: 'select';
      readonly table: string;
      readonly where: readonly Condition[];
      readonly columns?: readonly string[];
    }
  | { readonly op: 'insert'; readonly table: string; readonly row: OvsdbRow; readonly 'uuid-name'?: string }
  | { readonly op: 'update'; readonly table: string; readonly where: readonly Condition[]; readonly row: OvsdbRow }
  | {
      readonly op: 'mutate';
      readonly table: string;
      readonly where: readonly Condition[];
      readonly mutations: readonly Mutation[];
    }
  | { readonly op: 'delete'; readonly table: string; readonly where: readonly Condition[] }
  | {
      readonly op: 'wait';
      readonly table: string;
      readonly where: readonly Condition[];
      readonly columns: readonly string[];
      readonly until: '==' | '!=';
      readonly rows: readonly OvsdbRow[];
      readonly timeout?: number;
    }
  | { readonly op: 'comment'; readonly comment: string };

/** One entry of a transact reply; on error only `error`/`details` are set (RFC 7047 §4.1.3). */
export interface OperationResult {
  readonly rows?: readonly OvsdbRow[];
  readonly uuid?: readonly ['uuid', string];
  readonly count?: number;
  readonly error?: string;
  readonly details?: string;
}

export const uuid = (id: string): readonly ['uuid', string] => ['uuid', id];
export const namedUuid = (name: string): readonly ['named-uuid', string] => ['named-uuid', name];
export const set = (atoms: readonly OvsdbAtom[]): OvsdbSet => ['set', atoms];
export function map(entries: Readonly<Record<string, string>>): OvsdbMap {
  return [
    'map',
    Object.keys(entries)
      .sort()
      .map((k) => [k, entries[k] ?? ''] as const),
  ];
}

function isTagged(v: unknown, tag: string): v is readonly [string, unknown] {
  return Array.isArray(v) && v.length === 2 && v[0] === tag;
}

/**
 * Elements of a set-typed column. OVSDB writes a one-element set as the bare atom (§5.1), so an atom is a set of one.
 */
export function setValues(v: OvsdbValue | undefined): OvsdbAtom[] {
  if (v === undefined) return [];
  if (isTagged(v, 'set')) return [...(v[1] as readonly OvsdbAtom[])];
  return [v as OvsdbAtom];
}

/** A map-typed column as string keys -> string values (non-string atoms are stringified). */
export function mapValues(v: OvsdbValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined || !isTagged(v, 'map')) return out;
  for (const [k, val] of v[1] as readonly (readonly [OvsdbAtom, OvsdbAtom])[]) out[atomText(k)] = atomText(val);
  return out;
}

/** The text of an atom: a uuid's id, otherwise String(). */
export function atomText(a: OvsdbAtom): string {
  if (Array.isArray(a)) return (a as readonly [string, string])[1];
  return String(a);
}

export function uuidOf(v: OvsdbValue | undefined): string | null {
  return isTagged(v, 'uuid') ? (v[1] as string) : null;
}

/** The one string of an optional (0..1) string column, or null. */
export function optionalString(v: OvsdbValue | undefined): string | null {
  const s = setValues(v);
  const first = s[0];
  return typeof first === 'string' ? first : null;
}

/** The one integer of an optional (0..1) integer column, or null. */
export function optionalInteger(v: OvsdbValue | undefined): number | null {
  const s = setValues(v);
  const first = s[0];
  return typeof first === 'number' ? first : null;
}

export function sameStringMap(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);
}
