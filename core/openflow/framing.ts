// Splits a byte stream into whole OpenFlow messages (OpenFlow 1.3 §7.1: every message starts
// with an 8-byte ofp_header whose 16-bit `length` counts the header too). No I/O: the
// connection feeds socket chunks in and gets complete messages out, as grpc-js stream-decoder does.

import { OFP_HEADER_LEN } from './constants';
import { OpenFlowError } from './errors';

export class OpenFlowFramer {
  /** Bytes of an incomplete message carried over from earlier chunks. */
  #pending: Buffer = Buffer.alloc(0);
  #failed = false;

  /**
   * Feeds one chunk; returns every message it completes, each a Buffer holding exactly one
   * message. Messages that sit wholly inside `chunk` are returned as views into it (no copy).
   * After an error the stream is unusable (framing is lost), so later calls throw too.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.#failed) throw new OpenFlowError('OF_FRAME_BAD_LENGTH', 'OpenFlow stream already failed framing');
    let data = chunk;
    if (this.#pending.length > 0) {
      data = Buffer.concat([this.#pending, chunk]);
      this.#pending = Buffer.alloc(0);
    }
    const out: Buffer[] = [];
    let at = 0;
    while (data.length - at >= OFP_HEADER_LEN) {
      const len = (data[at + 2] << 8) | data[at + 3];
      if (len < OFP_HEADER_LEN) {
        this.#failed = true;
        throw new OpenFlowError(
          'OF_FRAME_BAD_LENGTH',
          `OpenFlow message at stream offset ${at} claims length ${len}, below the 8-byte header`,
        );
      }
      if (data.length - at < len) break;
      out.push(data.subarray(at, at + len));
      at += len;
    }
    if (at < data.length) this.#pending = Buffer.from(data.subarray(at));
    return out;
  }

  /** Bytes held back waiting for the rest of a message. */
  get pendingBytes(): number {
    return this.#pending.length;
  }
}
