// Protobuf wire-format walker: validates a buffer against a WireSchema (schema.ts) before anything decodes it,
// and reports the FIRST problem with its absolute byte offset and the field path that leads to it. Generated
// decoders throw "index out of range" or silently skip mistyped fields; an operator looking at a corrupt goal
// state needs to know where and what.
//
// Encoding facts follow https://protobuf.dev/programming-guides/encoding/ : a tag is the varint
// (field_number << 3 | wire_type); wire types 0 VARINT, 1 I64, 2 LEN, 3 SGROUP, 4 EGROUP, 5 I32; 6 and 7 do
// not exist; field number 0 is reserved and the maximum is 2^29 - 1; a varint has at most 10 bytes.
// Unknown fields are legal in proto3 and are only checked for well-formed framing.

import { ALCOR_WIRE_SCHEMA, type WireField, type WireMessage, type WireSchema } from './schema';

export type WireProblemCode =
  | 'E_WIRE_TRUNCATED_VARINT'
  | 'E_WIRE_VARINT_OVERFLOW'
  | 'E_WIRE_BAD_WIRE_TYPE'
  | 'E_WIRE_BAD_FIELD_NUMBER'
  | 'E_WIRE_TRUNCATED_LENGTH'
  | 'E_WIRE_TRUNCATED_FIXED'
  | 'E_WIRE_WIRE_TYPE_MISMATCH'
  | 'E_WIRE_BAD_UTF8'
  | 'E_WIRE_BAD_GROUP'
  | 'E_WIRE_TOO_DEEP';

export interface WireProblem {
  readonly code: WireProblemCode;
  /** Absolute offset in the scanned buffer where the offending item starts. */
  readonly offset: number;
  /** Dotted path of the message holding the problem, e.g. `neighbor_states[3].value.configuration` ('' = top). */
  readonly path: string;
  /** What is wrong, e.g. `length-delimited field 7 (neighbor_states) needs 212 bytes, 40 left`. */
  readonly detail: string;
}

export type WireScanResult =
  { readonly kind: 'ok'; readonly fieldCount: number } | { readonly kind: 'corrupt'; readonly problem: WireProblem };

export interface WireScanOptions {
  readonly schema?: WireSchema;
  /** Validate UTF-8 of string fields (default true; ASCII-heavy goal states make this cheap). */
  readonly checkUtf8?: boolean;
}

const MAX_FIELD_NUMBER = 0x1fffffff;
/** Same nesting limit as the generated decoders (ts-proto's recursion limit). */
const MAX_DEPTH = 100;

const WIRE_TYPE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'] as const;

/** Validates `buf` as one `messageName` message (name relative to package alcor.schema, e.g. `GoalStateV2`). */
export function scanMessage(buf: Uint8Array, messageName: string, options: WireScanOptions = {}): WireScanResult {
  const schema = options.schema ?? ALCOR_WIRE_SCHEMA;
  const root = schema[messageName];
  if (root === undefined) throw new Error(`scanMessage: no schema for message ${messageName}`);
  const scanner = new Scanner(buf, schema, options.checkUtf8 ?? true);
  try {
    scanner.scanMessage(0, buf.length, root, undefined, 0);
    return { kind: 'ok', fieldCount: scanner.fieldCount };
  } catch (e: unknown) {
    if (e instanceof ProblemSignal) return { kind: 'corrupt', problem: e.problem };
    throw e;
  }
}

/** One line for humans: `corrupt GoalStateV2 at byte 1834 in neighbor_states[3].value: <detail>`. */
export function describeWireProblem(messageName: string, problem: WireProblem): string {
  const where = problem.path === '' ? '' : ` in ${problem.path}`;
  return `corrupt ${messageName} at byte ${problem.offset}${where}: ${problem.detail}`;
}

/** Offset of the first byte that breaks UTF-8 in buf[start, end), or -1 when the range is valid UTF-8. */
export function findInvalidUtf8(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const b0 = buf[i] ?? 0;
    if (b0 < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      need = 1;
      min = 0x80;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      min = 0x800;
      cp = b0 & 0x0f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      min = 0x10000;
      cp = b0 & 0x07;
    } else {
      return i;
    }
    if (i + need >= end) return i;
    for (let k = 1; k <= need; k++) {
      const b = buf[i + k] ?? 0;
      if ((b & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (b & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points above U+10FFFF are not UTF-8 (RFC 3629 section 3).
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += need + 1;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------------------------

/** Path of the message being scanned, as a linked list so nothing is formatted unless there is a problem. */
interface PathNode {
  readonly parent: PathNode | undefined;
  readonly segment: string;
}

function formatPath(node: PathNode | undefined): string {
  const parts: string[] = [];
  for (let n = node; n !== undefined; n = n.parent) parts.push(n.segment);
  return parts.reverse().join('.').replace(/\.\[/g, '[');
}

class ProblemSignal {
  constructor(readonly problem: WireProblem) {}
}

function expectedWireType(field: WireField): number {
  switch (field.type) {
    case 'uint32':
    case 'uint64':
    case 'int32':
    case 'bool':
    case 'enum':
      return 0;
    case 'string':
    case 'bytes':
    case 'message':
    case 'map':
      return 2;
    default: {
      const never: never = field.type;
      throw new Error(`unknown field type ${String(never)}`);
    }
  }
}

type VarintRole = 'tag' | 'value' | 'length' | 'packed';

function describeVarint(role: VarintRole, fieldNo: number, field: WireField | undefined): string {
  switch (role) {
    case 'tag':
      return 'tag';
    case 'value':
      return fieldLabel(fieldNo, field);
    case 'length':
      return `length of ${fieldLabel(fieldNo, field)}`;
    case 'packed':
      return `packed ${fieldLabel(fieldNo, field)}`;
    default: {
      const never: never = role;
      return String(never);
    }
  }
}

function fieldLabel(fieldNo: number, field: WireField | undefined): string {
  return field === undefined ? `field ${fieldNo}` : `field ${fieldNo} (${field.name})`;
}

class Scanner {
  fieldCount = 0;
  private readonly entrySchemas = new Map<string, WireMessage>();

  constructor(
    private readonly buf: Uint8Array,
    private readonly schema: WireSchema,
    private readonly checkUtf8: boolean,
  ) {}

  private fail(code: WireProblemCode, offset: number, path: PathNode | undefined, detail: string): never {
    throw new ProblemSignal({ code, offset, path: formatPath(path), detail });
  }

  /** Position after the last varint read (a field, not a tuple return, to keep the hot loop allocation-free). */
  private next = 0;

  /**
   * Reads a varint at pos (not beyond end) and returns its value; the position after it is in this.next.
   * Values above 2^53 lose precision, which only matters for sizes that are out of range anyway.
   */
  private varint(
    pos: number,
    end: number,
    path: PathNode | undefined,
    role: VarintRole,
    fieldNo = 0,
    field?: WireField,
  ): number {
    const buf = this.buf;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const at = pos + i;
      if (at >= end) {
        this.fail(
          'E_WIRE_TRUNCATED_VARINT',
          pos,
          path,
          `${describeVarint(role, fieldNo, field)} varint is cut off after ${i} byte${i === 1 ? '' : 's'}`,
        );
      }
      const b = buf[at] ?? 0;
      if (i === 9 && b > 1)
        this.fail(
          'E_WIRE_VARINT_OVERFLOW',
          pos,
          path,
          `${describeVarint(role, fieldNo, field)} varint overflows 64 bits`,
        );
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.next = at + 1;
        return value;
      }
      scale *= 128;
    }
    return this.fail(
      'E_WIRE_VARINT_OVERFLOW',
      pos,
      path,
      `${describeVarint(role, fieldNo, field)} varint is longer than 10 bytes`,
    );
  }

  private entrySchema(field: WireField): WireMessage {
    const valueType = field.message ?? '';
    let entry = this.entrySchemas.get(valueType);
    if (entry === undefined) {
      entry = {
        name: `${valueType}Entry`,
        fields: {
          1: { name: 'key', type: field.keyType ?? 'string', repeated: false },
          2: { name: 'value', type: 'message', message: valueType, repeated: false },
        },
      };
      this.entrySchemas.set(valueType, entry);
    }
    return entry;
  }

  /**
   * Scans fields in [start, end). `msg` undefined means an unknown group: then `groupField` is the group's field
   * number and the scan returns the position after its end-group tag.
   */
  scanMessage(
    start: number,
    end: number,
    msg: WireMessage | undefined,
    path: PathNode | undefined,
    depth: number,
    groupField = 0,
  ): number {
    if (depth > MAX_DEPTH) this.fail('E_WIRE_TOO_DEEP', start, path, `nesting deeper than ${MAX_DEPTH} levels`);
    const buf = this.buf;
    let counts: Map<number, number> | undefined;
    let pos = start;
    while (pos < end) {
      const tagAt = pos;
      const tag = this.varint(pos, end, path, 'tag');
      pos = this.next;
      const wireType = tag % 8;
      const fieldNo = Math.floor(tag / 8);
      if (fieldNo === 0)
        this.fail('E_WIRE_BAD_FIELD_NUMBER', tagAt, path, `tag has field number 0 (wire type ${wireType})`);
      if (fieldNo > MAX_FIELD_NUMBER) {
        this.fail(
          'E_WIRE_BAD_FIELD_NUMBER',
          tagAt,
          path,
          `tag has field number ${fieldNo}, above the maximum ${MAX_FIELD_NUMBER}`,
        );
      }
      const field = msg?.fields[fieldNo];
      if (wireType === 6 || wireType === 7) {
        this.fail(
          'E_WIRE_BAD_WIRE_TYPE',
          tagAt,
          path,
          `${fieldLabel(fieldNo, field)} has invalid wire type ${wireType}`,
        );
      }
      this.fieldCount++;
      const packed = field !== undefined && field.repeated && wireType === 2 && expectedWireType(field) === 0;
      if (field !== undefined && wireType !== expectedWireType(field) && !packed) {
        const expected = expectedWireType(field);
        this.fail(
          'E_WIRE_WIRE_TYPE_MISMATCH',
          tagAt,
          path,
          `${fieldLabel(fieldNo, field)} has wire type ${wireType} (${WIRE_TYPE_NAMES[wireType] ?? '?'}), expected ${expected} (${WIRE_TYPE_NAMES[expected] ?? '?'})`,
        );
      }
      switch (wireType) {
        case 0:
          this.varint(pos, end, path, 'value', fieldNo, field);
          pos = this.next;
          break;
        case 1:
        case 5: {
          const size = wireType === 1 ? 8 : 4;
          if (end - pos < size) {
            this.fail(
              'E_WIRE_TRUNCATED_FIXED',
              tagAt,
              path,
              `${WIRE_TYPE_NAMES[wireType]} ${fieldLabel(fieldNo, field)} needs ${size} bytes, ${end - pos} left`,
            );
          }
          pos += size;
          break;
        }
        case 2: {
          const length = this.varint(pos, end, path, 'length', fieldNo, field);
          pos = this.next;
          if (length > end - pos) {
            this.fail(
              'E_WIRE_TRUNCATED_LENGTH',
              tagAt,
              path,
              `length-delimited ${fieldLabel(fieldNo, field)} needs ${length} bytes, ${end - pos} left`,
            );
          }
          const contentEnd = pos + length;
          if (field !== undefined) {
            let segment = field.name;
            if (field.repeated) {
              counts ??= new Map<number, number>();
              const index = counts.get(fieldNo) ?? 0;
              counts.set(fieldNo, index + 1);
              segment = `${field.name}[${index}]`;
            }
            if (packed) {
              for (let p = pos; p < contentEnd; p = this.next)
                this.varint(p, contentEnd, path, 'packed', fieldNo, field);
            } else if (field.type === 'string' && this.checkUtf8) {
              const bad = findInvalidUtf8(buf, pos, contentEnd);
              if (bad !== -1) {
                this.fail(
                  'E_WIRE_BAD_UTF8',
                  bad,
                  { parent: path, segment },
                  `string is not valid UTF-8 (byte 0x${(buf[bad] ?? 0).toString(16).padStart(2, '0')})`,
                );
              }
            } else if (field.type === 'message') {
              const sub = this.schema[field.message ?? ''];
              if (sub === undefined)
                throw new Error(
                  `wire schema: ${msg?.name ?? '?'}.${field.name} names unknown message ${field.message ?? ''}`,
                );
              this.scanMessage(pos, contentEnd, sub, { parent: path, segment }, depth + 1);
            } else if (field.type === 'map') {
              this.scanMessage(pos, contentEnd, this.entrySchema(field), { parent: path, segment }, depth + 1);
            }
          }
          pos = contentEnd;
          break;
        }
        case 3:
          pos = this.scanMessage(
            pos,
            end,
            undefined,
            { parent: path, segment: `group ${fieldNo}` },
            depth + 1,
            fieldNo,
          );
          break;
        case 4:
          if (groupField === fieldNo && msg === undefined) return pos;
          this.fail(
            'E_WIRE_BAD_GROUP',
            tagAt,
            path,
            `end-group tag for field ${fieldNo} without a matching start-group`,
          );
          break;
        default:
          this.fail('E_WIRE_BAD_WIRE_TYPE', tagAt, path, `field ${fieldNo} has invalid wire type ${wireType}`);
      }
    }
    if (groupField !== 0) this.fail('E_WIRE_BAD_GROUP', start, path, `group ${groupField} has no end-group tag`);
    return pos;
  }
}
