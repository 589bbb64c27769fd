// Counts a protobuf message's top-level fields as its bytes arrive, chunk by chunk, so a receiver
// can refuse a message with absurdly many fields (core/engine/split.ts MAX_TOP_LEVEL_FIELDS) after
// the first few MiB instead of after receiving hundreds. Length-delimited fields are skipped
// without looking inside, so a real goal state (mostly neighbor entries) costs little per byte.
// Malformed framing (field number 0, wire types 6 and 7, a varint over 10 bytes) stops the count:
// the decoder reports it, with its offset, once the message is in.

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const enum Want {
  Tag,
  Value,
  Length,
  Skip,
  Done,
}

export class TopLevelFieldCounter {
  /** Top-level fields whose tag has been seen. */
  fields = 0;
  /** Bytes fed so far. */
  offset = 0;
  #want = Want.Tag;
  #value = 0;
  #scale = 1;
  #varintBytes = 0;
  #skip = 0;

  constructor(readonly limit: number) {}

  /** Feeds the next bytes of the message; returns the offset of the first field past the limit, or -1. */
  feed(chunk: Uint8Array): number {
    let i = 0;
    const n = chunk.length;
    while (i < n && this.#want !== Want.Done) {
      if (this.#want === Want.Skip) {
        const take = Math.min(this.#skip, n - i);
        this.#skip -= take;
        i += take;
        if (this.#skip === 0) this.#want = Want.Tag;
        continue;
      }
      const b = chunk[i++] ?? 0;
      if (this.#varintBytes === 0 && this.#want === Want.Tag && ++this.fields > this.limit) {
        this.#want = Want.Done;
        return this.offset + i - 1;
      }
      this.#value += (b & 0x7f) * this.#scale;
      this.#scale *= 128;
      if (++this.#varintBytes > 10) {
        this.#want = Want.Done;
        break;
      }
      if (b >= 0x80) continue;
      const v = this.#value;
      this.#value = 0;
      this.#scale = 1;
      this.#varintBytes = 0;
      this.#next(v);
    }
    this.offset += n;
    return -1;
  }

  #next(v: number): void {
    switch (this.#want) {
      case Want.Tag: {
        const wire = v % 8;
        // Field number 0 is not protobuf (the generated decoders stop reading at it).
        if (v < 8) this.#want = Want.Done;
        else if (wire === WIRE_VARINT) this.#want = Want.Value;
        else if (wire === WIRE_LEN) this.#want = Want.Length;
        else if (wire === WIRE_I64 || wire === WIRE_I32) {
          this.#skip = wire === WIRE_I64 ? 8 : 4;
          this.#want = Want.Skip;
        } else if (wire === 6 || wire === 7) this.#want = Want.Done;
        // Group tags (3, 4) are fields of their own here; nothing follows them.
        break;
      }
      case Want.Value:
        this.#want = Want.Tag;
        break;
      case Want.Length:
        this.#skip = v;
        this.#want = v === 0 ? Want.Tag : Want.Skip;
        break;
      default:
        break;
    }
  }
}
