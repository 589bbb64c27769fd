// OVSDB JSON-RPC framing (RFC 7047 §4): messages are JSON objects written back to back on a stream, with no length
// prefix or delimiter. The splitter finds where each top-level object ends by tracking brace/bracket depth outside
// strings, so it copes with chunks cut anywhere (inside a string, an escape, a multi-byte UTF-8 character).
//
// Scanning bytes is safe for UTF-8: every byte of a multi-byte character is >= 0x80, so it can never be mistaken
// for `{`, `}`, `"` or `\`.

export const DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024 * 1024;
/**
 * Deepest nesting of arrays and objects accepted. RFC 7047 messages nest about ten levels (a table-updates
 * notification: params, table, row, column, ["map", [[key, value]]]); thousands of levels would overflow the
 * stack of whatever walks the parsed value recursively (JSON.stringify included).
 */
export const MAX_NESTING_DEPTH = 128;

export class OvsdbFramingError extends Error {
  constructor(
    readonly code: 'OVSDB_FRAMING' | 'OVSDB_MESSAGE_TOO_LARGE',
    message: string,
  ) {
    super(message);
    this.name = 'OvsdbFramingError';
  }
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isJsonWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** Splits a byte stream into complete top-level JSON object texts. No I/O; keeps partial state between calls. */
export class JsonMessageSplitter {
  readonly #maxMessageBytes: number;
  /** Pieces of the message being read (only while depth > 0). */
  #parts: Buffer[] = [];
  #partsBytes = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;

  constructor(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** True while a message has started but not ended. */
  get midMessage(): boolean {
    return this.#depth > 0;
  }

  /** Feeds one chunk; returns the texts of every object completed by it. Throws OvsdbFramingError on garbage. */
  write(chunk: Buffer): string[] {
    const out: string[] = [];
    let start = this.#depth > 0 ? 0 : -1; // where the current message begins inside `chunk`
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (this.#depth === 0) {
        if (isJsonWhitespace(b)) continue;
        if (b !== OPEN_BRACE) {
          throw new OvsdbFramingError(
            'OVSDB_FRAMING',
            `expected '{' to start a JSON-RPC message, got byte 0x${b.toString(16)}`,
          );
        }
        this.#depth = 1;
        start = i;
        continue;
      }
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (b === BACKSLASH) this.#escaped = true;
        else if (b === QUOTE) this.#inString = false;
        continue;
      }
      if (b === QUOTE) {
        this.#inString = true;
      } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        this.#depth += 1;
        if (this.#depth > MAX_NESTING_DEPTH) {
          throw new OvsdbFramingError(
            'OVSDB_FRAMING',
            `JSON-RPC message nests deeper than ${MAX_NESTING_DEPTH} levels`,
          );
        }
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        this.#depth -= 1;
        if (this.#depth === 0) {
          out.push(this.#take(chunk.subarray(start, i + 1)));
          start = -1;
        }
      }
    }
    if (this.#depth > 0 && start >= 0) {
      const rest = chunk.subarray(start);
      this.#partsBytes += rest.length;
      if (this.#partsBytes > this.#maxMessageBytes) {
        throw new OvsdbFramingError(
          'OVSDB_MESSAGE_TOO_LARGE',
          `JSON-RPC message exceeds ${this.#maxMessageBytes} bytes`,
        );
      }
      // Copy: the caller may reuse the chunk's memory.
      this.#parts.push(Buffer.from(rest));
    }
    return out;
  }

  /** Forgets any partial message (after a reconnect). */
  reset(): void {
    this.#parts = [];
    this.#partsBytes = 0;
    this.#depth = 0;
    this.#inString = false;
    this.#escaped = false;
  }

  #take(tail: Buffer): string {
    if (this.#parts.length === 0) {
      // A message wholly inside one chunk is bounded by the same limit as one spread over many.
      if (tail.length > this.#maxMessageBytes) {
        throw new OvsdbFramingError(
          'OVSDB_MESSAGE_TOO_LARGE',
          `JSON-RPC message exceeds ${this.#maxMessageBytes} bytes`,
        );
      }
      return tail.toString('utf8');
    }
    const whole = Buffer.concat([...this.#parts, tail]);
    this.#parts = [];
    this.#partsBytes = 0;
    if (whole.length > this.#maxMessageBytes) {
      throw new OvsdbFramingError('OVSDB_MESSAGE_TOO_LARGE', `JSON-RPC message exceeds ${this.#maxMessageBytes} bytes`);
    }
    return whole.toString('utf8');
  }
}
