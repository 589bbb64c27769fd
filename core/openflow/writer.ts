// A growable big-endian byte writer. Encoders write straight into one preallocated Buffer;
// it doubles when full, so encoding two million flow-mods costs a few dozen reallocations, not
// two million small Buffers. Writes are plain indexed stores: no per-field objects.

const TWO_32 = 0x1_0000_0000;

export class ByteWriter {
  #buf: Buffer;
  /** Next write position; also the number of bytes written so far. */
  pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(Math.max(64, initialBytes));
  }

  /** The underlying buffer (valid until the next write that grows it). */
  get buffer(): Buffer {
    return this.#buf;
  }

  /** A view of everything written so far (no copy; invalid after reset/grow). */
  view(): Buffer {
    return this.#buf.subarray(0, this.pos);
  }

  /** A copy of everything written so far. */
  toBuffer(): Buffer {
    return Buffer.from(this.#buf.subarray(0, this.pos));
  }

  reset(): void {
    this.pos = 0;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.#buf.length) this.#grow(n);
  }

  #grow(n: number): void {
    let size = this.#buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.pos);
    this.#buf = next;
  }

  u8(v: number): void {
    if (this.pos + 1 > this.#buf.length) this.#grow(1);
    this.#buf[this.pos++] = v;
  }

  u16(v: number): void {
    if (this.pos + 2 > this.#buf.length) this.#grow(2);
    const b = this.#buf;
    const p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }

  u32(v: number): void {
    if (this.pos + 4 > this.#buf.length) this.#grow(4);
    const b = this.#buf;
    const p = this.pos;
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    this.pos = p + 4;
  }

  /** A 48-bit unsigned value held exactly in a double (MAC addresses). */
  u48(v: number): void {
    this.u16(Math.floor(v / TWO_32));
    this.u32(v >>> 0);
  }

  /** A 64-bit value held in a double (exact up to 2^53). */
  u64n(v: number): void {
    this.u32(Math.floor(v / TWO_32) >>> 0);
    this.u32(v >>> 0);
  }

  /** A 64-bit value as two 32-bit halves. */
  u64hl(hi: number, lo: number): void {
    this.u32(hi);
    this.u32(lo);
  }

  zeros(n: number): void {
    if (this.pos + n > this.#buf.length) this.#grow(n);
    const b = this.#buf;
    const end = this.pos + n;
    for (let p = this.pos; p < end; p++) b[p] = 0;
    this.pos = end;
  }

  /** Pads with zeros up to the next multiple of 8 counted from `start`. */
  pad8(start: number): void {
    const rem = (this.pos - start) & 7;
    if (rem !== 0) this.zeros(8 - rem);
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.#buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Overwrites a 16-bit value already written (lengths known only at the end). */
  patchU16(at: number, v: number): void {
    this.#buf[at] = v >>> 8;
    this.#buf[at + 1] = v;
  }
}

/** Reads a 48-bit big-endian value. */
export function readU48(buf: Uint8Array, at: number): number {
  return (
    (buf[at] * 256 + buf[at + 1]) * TWO_32 +
    ((buf[at + 2] << 24) >>> 0) +
    (buf[at + 3] << 16) +
    (buf[at + 4] << 8) +
    buf[at + 5]
  );
}

export function readU16(buf: Uint8Array, at: number): number {
  return (buf[at] << 8) | buf[at + 1];
}

export function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) >>> 0) + ((buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]);
}

/** Reads a 64-bit value into a double (exact up to 2^53). */
export function readU64n(buf: Uint8Array, at: number): number {
  return readU32(buf, at) * TWO_32 + readU32(buf, at + 4);
}

export function readU64(buf: Uint8Array, at: number): bigint {
  return (BigInt(readU32(buf, at)) << 32n) | BigInt(readU32(buf, at + 4));
}
