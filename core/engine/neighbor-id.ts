// Where a neighbor entry's id is, read the way the generated decoder reads it, without decoding the
// entry: the splitter places the entry by it (split.ts, placement.ts) and names the statuses a partition
// sends as bare codes by it (statuses.ts).
//
// Why it must be the decoder's id: a neighbor planned in another partition than its id's is held twice
// (its old partition keeps it), contests its own flow keys across partitions, and moving it to partition 0
// settles nothing, because the next split sends it back (found by fuzzing: a v1 neighbor whose
// revision_number was a legal 10-byte varint, which the old scanner could not skip, was placed by an
// empty id: ENGINE_CONTEST with 2 workers, SUCCESS inline).
//
// The decoder keeps the last of a repeated field: the last map key (v2), the last id of the last
// configuration (v1; each configuration replaces the one before). Those levels are read here with its
// rules (wire.ts readTag). What lies deeper (a value, a fixed IP) names no id, unless it is not protobuf
// at all: a field 0 or an end-group tag inside it makes the decoder stop there and read on in the parent,
// a tag or length past 32 bits is cut to 32 bits. Scanning every byte of every entry for that costs the
// main thread about as much as the rest of the split, so the partition checks it instead, where it is
// free: the fast path reads every field of what it takes (with readTag), and for the entries it leaves to
// the ordinary decoder, decode.ts compares the decoded id with this one and refuses the goal state when
// they differ (whatever the worker count, so the inline engine answers the same).

import {
  type Cursor,
  MAP_KEY_FIELD,
  WIRE_I32,
  WIRE_I64,
  WIRE_LEN,
  WIRE_VARINT,
  fieldNumber,
  readTag,
  readVarint,
} from './wire';

const STATE_CONFIGURATION = fieldNumber('NeighborState', 'configuration');
const CONFIG_ID = fieldNumber('NeighborConfiguration', 'id');

/** The longest varint the generated decoder reads (a 64-bit value): 10 bytes. */
const MAX_VARINT_BYTES = 10;

/** Reads entries one after another; the answer of the last read stays in `start` and `end`. */
export class NeighborIdReader {
  /** The id's bytes in the message, [start, end); empty when the entry names none. */
  start = 0;
  end = 0;
  readonly #c: Cursor = { pos: 0, value: 0 };
  /** The last field `#level` was asked to find besides the id. */
  #subStart = -1;
  #subEnd = -1;

  /**
   * Finds the id of the neighbor entry whose payload (a NeighborState in v1, a map entry in v2) is
   * bytes[start, end). False when the levels that hold it do not read here as they do to the generated
   * decoder (damaged or unusual framing: then only that decoder can say, see split.ts).
   */
  locate(bytes: Uint8Array, start: number, end: number, version: 1 | 2): boolean {
    this.start = this.end = start;
    if (version === 2) return this.#level(bytes, start, end, MAP_KEY_FIELD, 0);
    if (!this.#level(bytes, start, end, 0, STATE_CONFIGURATION)) return false;
    if (this.#subStart < 0) return true;
    const [s, e] = [this.#subStart, this.#subEnd];
    this.start = this.end = s;
    return this.#level(bytes, s, e, CONFIG_ID, 0);
  }

  /**
   * Reads the fields of one message level at bytes[start, end): the last length-delimited `idField` goes
   * to start/end, the last `subField` to #subStart/#subEnd (-1: none). False on anything the generated
   * decoder reads otherwise, or not at all.
   */
  #level(bytes: Uint8Array, start: number, end: number, idField: number, subField: number): boolean {
    const c = this.#c;
    this.#subStart = this.#subEnd = -1;
    c.pos = start;
    while (c.pos < end) {
      if (!readTag(bytes, end, c)) return false;
      const field = Math.floor(c.value / 8);
      const wire = c.value % 8;
      if (wire === WIRE_VARINT) {
        // Any legal varint: the value is not read, only skipped, as the decoder does.
        let i = c.pos;
        while (i < end && i - c.pos < MAX_VARINT_BYTES && bytes[i] >= 0x80) i++;
        if (i >= end || i - c.pos >= MAX_VARINT_BYTES) return false;
        c.pos = i + 1;
      } else if (wire === WIRE_LEN) {
        if (!readVarint(bytes, end, c)) return false;
        const s = c.pos;
        const e = s + c.value;
        if (e > end) return false;
        if (field === idField) {
          this.start = s;
          this.end = e;
        } else if (field === subField) {
          this.#subStart = s;
          this.#subEnd = e;
        }
        c.pos = e;
      } else {
        c.pos += wire === WIRE_I64 ? 8 : wire === WIRE_I32 ? 4 : end;
        if (c.pos > end) return false;
      }
    }
    return true;
  }
}
