// Protobuf varints for the hand-written encoders (the agent's reply, the control service's
// per-host messages): non-negative integers up to 2^53, seven bits per byte, low bits first
// (https://protobuf.dev/programming-guides/encoding/#varints).

/** Bytes the varint of `v` takes. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x20_0000) return 3;
  if (v < 0x1000_0000) return 4;
  let len = 4;
  for (let x = Math.floor(v / 0x1000_0000); x > 0; x = Math.floor(x / 128)) len++;
  return len;
}

/** Writes the varint of `v` at `at`; returns the position after it. */
export function writeVarint(out: Uint8Array, at: number, v: number): number {
  let pos = at;
  let x = v;
  while (x > 0x7f) {
    out[pos++] = (x & 0x7f) | 0x80;
    x = Math.floor(x / 128);
  }
  out[pos++] = x;
  return pos;
}
