// Structure-aware damage to protobuf messages for the fuzz suites: a message is read into a tree of fields
// (a length-delimited field whose bytes read as a message becomes a subtree), one field anywhere in the tree is
// repeated, dropped, retyped or given a hostile value, and the tree is written back with every enclosing length
// fixed up, so the damage reaches validation instead of stopping at framing. A `hugeLength` edit does the opposite
// on purpose: one length prefix claims far more bytes than follow.
// Written from the wire format (https://protobuf.dev/programming-guides/encoding/), independent of the decoders.
import fc from 'fast-check';
import { concat } from './fuzz';

export interface PbField {
  readonly field: number;
  readonly wire: number;
  /** The value's bytes: varint bytes, 8 or 4 fixed bytes, or a length-delimited payload (without its length). */
  readonly value: Uint8Array;
  /** For a length-delimited payload that reads as a message. */
  readonly children?: readonly PbField[];
}

/** Pseudo wire type of a field whose `value` is written verbatim after a wire-type-2 tag (the lying length). */
const HUGE = 2 + 8;

function readVarint(b: Uint8Array, at: number): { value: number; end: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < b.length && i < at + 10; i++) {
    value += (b[i] & 0x7f) * scale;
    scale *= 128;
    if ((b[i] & 0x80) === 0) return { value, end: i + 1 };
  }
  return undefined;
}

export function varint(v: number | bigint): Uint8Array {
  let x = BigInt(v);
  if (x < 0n) x += 1n << 64n;
  const out: number[] = [];
  while (x > 0x7fn) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Uint8Array.from(out);
}

/** The fields of `b` as a message, or undefined when it does not read as one. */
export function parseMessage(b: Uint8Array, depth = 0): PbField[] | undefined {
  const out: PbField[] = [];
  let at = 0;
  while (at < b.length) {
    const tag = readVarint(b, at);
    if (tag === undefined) return undefined;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (field === 0) return undefined;
    at = tag.end;
    let end: number;
    let valueStart = at;
    if (wire === 0) {
      const v = readVarint(b, at);
      if (v === undefined) return undefined;
      end = v.end;
    } else if (wire === 1) end = at + 8;
    else if (wire === 5) end = at + 4;
    else if (wire === 2) {
      const len = readVarint(b, at);
      if (len === undefined) return undefined;
      valueStart = len.end;
      end = len.end + len.value;
    } else return undefined;
    if (end > b.length) return undefined;
    const value = b.subarray(valueStart, end);
    const children = wire === 2 && depth < 16 && value.length > 0 ? parseMessage(value, depth + 1) : undefined;
    out.push(children === undefined ? { field, wire, value } : { field, wire, value, children });
    at = end;
  }
  return out;
}

function encodeField(f: PbField): Uint8Array {
  if (f.wire === HUGE) return concat([varint(f.field * 8 + 2), f.value]);
  const tag = varint(f.field * 8 + f.wire);
  if (f.wire !== 2) return concat([tag, f.value]);
  const payload = f.children === undefined ? f.value : encodeMessage(f.children);
  return concat([tag, varint(payload.length), payload]);
}

export function encodeMessage(fields: readonly PbField[]): Uint8Array {
  return concat(fields.map(encodeField));
}

/** One structural edit; `at` picks a field in depth-first order (modulo the field count). */
export type PbEdit =
  | { readonly kind: 'repeat'; readonly at: number; readonly times: number }
  | { readonly kind: 'drop'; readonly at: number }
  | { readonly kind: 'retype'; readonly at: number; readonly wire: number }
  | { readonly kind: 'varint'; readonly at: number; readonly value: bigint }
  | { readonly kind: 'bytes'; readonly at: number; readonly value: Uint8Array }
  | { readonly kind: 'hugeLength'; readonly at: number; readonly length: number };

/** Strings a network can not use, or a parser may choke on, for the `bytes` edit. */
const HOSTILE_TEXT = [
  '',
  '0.0.0.0',
  '255.255.255.255',
  '10.0.0.0/0',
  '10.0.0.1/8',
  '10.0.0.0/33',
  '999.999.999.999',
  '1.2.3',
  'ff:ff:ff:ff:ff:ff',
  '00:00:00:00:00:00',
  '01:00:5e:00:00:01',
  'zz:zz:zz:zz:zz:zz',
  '-1',
  '4294967296',
  'x'.repeat(5000),
  '\u0000\uffff\ud800',
  '10.0.0.1 ',
  ' 10.0.0.1',
  '0x0a000001',
];

const INTERESTING_VARINTS = [
  0n,
  1n,
  2n,
  3n,
  4n,
  5n,
  15n,
  16n,
  127n,
  128n,
  255n,
  256n,
  4095n,
  4096n,
  65535n,
  65536n,
].concat([0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, (1n << 53n) + 1n, (1n << 63n) - 1n, (1n << 64n) - 1n]);

export const pbEditArb: fc.Arbitrary<PbEdit> = fc.oneof(
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), times: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('retype' as const), at: fc.nat(), wire: fc.constantFrom(0, 1, 2, 5) }),
  fc.record({ kind: fc.constant('varint' as const), at: fc.nat(), value: fc.constantFrom(...INTERESTING_VARINTS) }),
  fc.record({
    kind: fc.constant('bytes' as const),
    at: fc.nat(),
    value: fc.oneof(
      fc.constantFrom(...HOSTILE_TEXT).map((s) => new TextEncoder().encode(s)),
      fc.uint8Array({ maxLength: 40 }),
    ),
  }),
  fc.record({
    kind: fc.constant('hugeLength' as const),
    at: fc.nat(),
    length: fc.constantFrom(2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 53 - 1),
  }),
);

function count(fields: readonly PbField[]): number {
  let n = 0;
  for (const f of fields) n += 1 + (f.children === undefined ? 0 : count(f.children));
  return n;
}

/** Applies `edit` to the field at depth-first index `target`; returns the new list (input untouched). */
function editAt(fields: readonly PbField[], target: { left: number }, edit: PbEdit): PbField[] {
  const out: PbField[] = [];
  for (const f of fields) {
    if (target.left < 0) {
      out.push(f);
      continue;
    }
    if (target.left === 0) {
      target.left = -1;
      out.push(...applyEdit(f, edit));
      continue;
    }
    target.left--;
    if (f.children !== undefined) {
      const children = editAt(f.children, target, edit);
      out.push({ ...f, children });
    } else out.push(f);
  }
  return out;
}

function applyEdit(f: PbField, edit: PbEdit): PbField[] {
  switch (edit.kind) {
    case 'repeat':
      return Array.from({ length: edit.times + 1 }, () => f);
    case 'drop':
      return [];
    case 'retype': {
      const value = f.children === undefined ? f.value : encodeMessage(f.children);
      const fixed = edit.wire === 1 ? 8 : edit.wire === 5 ? 4 : 0;
      const padded =
        fixed > 0
          ? concat([value, new Uint8Array(8)]).subarray(0, fixed)
          : edit.wire === 0
            ? varint(value.length)
            : value;
      return [{ field: f.field, wire: edit.wire, value: padded }];
    }
    case 'varint':
      return [{ field: f.field, wire: 0, value: varint(edit.value) }];
    case 'bytes':
      return [{ field: f.field, wire: 2, value: edit.value }];
    case 'hugeLength': {
      // Written as raw bytes: the tag, the lying length, then the real payload.
      const payload = f.children === undefined ? f.value : encodeMessage(f.children);
      return [{ field: f.field, wire: HUGE, value: concat([varint(edit.length), payload]) }];
    }
    default: {
      const never: never = edit;
      return never;
    }
  }
}

/** `bytes` with the edits applied in turn (each picks its field in the tree the previous one left). */
export function editMessage(bytes: Uint8Array, edits: readonly PbEdit[]): Uint8Array {
  let fields = parseMessage(bytes);
  if (fields === undefined) return bytes;
  for (const edit of edits) {
    const n = count(fields);
    if (n === 0) break;
    fields = editAt(fields, { left: edit.at % n }, edit);
  }
  return encodeMessage(fields);
}
