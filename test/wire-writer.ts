// A tiny protobuf wire writer for tests, independent of every protobuf library: bytes are built by hand from
// field numbers and wire types (https://protobuf.dev/programming-guides/encoding/), so tests can check what the
// generated codecs read and what the scanner reports.

export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_SGROUP = 3;
export const WT_EGROUP = 4;
export const WT_I32 = 5;

/** Varint bytes of a non-negative integer (bigint for values beyond 2^53). */
export function varint(value: number | bigint): number[] {
  let v = BigInt(value);
  if (v < 0n) v = BigInt.asUintN(64, v); // negative int32/int64 are 10-byte two's complement
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

export function tag(field: number, wireType: number): number[] {
  return varint(field * 8 + wireType);
}

const utf8 = new TextEncoder();

/** One field as bytes. */
export type Part = readonly number[];

export const u = (field: number, value: number | bigint | boolean): Part => [
  ...tag(field, WT_VARINT),
  ...varint(typeof value === 'boolean' ? (value ? 1 : 0) : value),
];
export const s = (field: number, value: string): Part => len(field, [...utf8.encode(value)]);
export const len = (field: number, content: readonly number[]): Part => [
  ...tag(field, WT_LEN),
  ...varint(content.length),
  ...content,
];
/** A sub-message field from its already-encoded fields. */
export const m = (field: number, ...parts: Part[]): Part => len(field, parts.flat());
/** A map<string, Message> entry: key = field 1, value = field 2 (protobuf map encoding). */
export const entry = (field: number, key: string, ...valueParts: Part[]): Part =>
  m(field, s(1, key), m(2, ...valueParts));

export function bytes(...parts: Part[]): Uint8Array {
  return Uint8Array.from(parts.flat());
}
