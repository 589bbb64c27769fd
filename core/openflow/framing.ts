// Splits a byte stream into whole OpenFlow messages (OpenFlow 1.3 §7.1: every message starts
// with an 8-byte ofp_header whose 16-bit `length` counts the header too). No I/O: the
// connection feeds socket chunks in and gets complete messages out, as grpc-js stream-decoder does.

import { OFP_HEADER_LEN } from './constants';
import { OpenFlowError } from './errors';

export class OpenFlowFramer {
  /** Chunks of an incomplete message, oldest first; joined only once the message is complete. */
  #held: Buffer[] = [];
  /** Bytes in #held. */
  #heldBytes = 0;
  /** Length of the message at the head of #held, once its header is complete (0 = not yet). */
  #need = 0;
  #failed = false;

  /**
   * Feeds one chunk; returns every message it completes, each a Buffer holding exactly one
   * message. Messages that sit wholly inside `chunk` are views into it (no copy), so the caller
   * must not reuse `chunk` (Node's socket chunks are fresh). A message spread over many chunks is
   * copied once, when complete. After an error framing is lost: every later call throws too.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.#failed) throw new OpenFlowError('OF_FRAME_BAD_LENGTH', 'OpenFlow stream already failed framing');
    let data = chunk;
    if (this.#heldBytes > 0) {
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      if (this.#need === 0) {
        if (this.#heldBytes < OFP_HEADER_LEN) return [];
        const head = Buffer.concat(this.#held);
        this.#held = [head];
        this.#need = this.#lengthAt(head, 0, 0);
      }
      if (this.#heldBytes < this.#need) return [];
      data = Buffer.concat(this.#held, this.#heldBytes);
      this.#held = [];
      this.#heldBytes = 0;
      this.#need = 0;
    }
    const out: Buffer[] = [];
    let at = 0;
    while (data.length - at >= OFP_HEADER_LEN) {
      const len = this.#lengthAt(data, at, at);
      if (data.length - at < len) {
        this.#need = len;
        break;
      }
      out.push(data.subarray(at, at + len));
      at += len;
    }
    if (at < data.length) {
      this.#held = [Buffer.from(data.subarray(at))];
      this.#heldBytes = data.length - at;
    }
    return out;
  }

  #lengthAt(buf: Buffer, at: number, streamOffset: number): number {
    const len = (buf[at + 2] << 8) | buf[at + 3];
    if (len < OFP_HEADER_LEN) {
      this.#failed = true;
      throw new OpenFlowError(
        'OF_FRAME_BAD_LENGTH',
        `OpenFlow message at chunk offset ${streamOffset} claims length ${len}, below the 8-byte header`,
      );
    }
    return len;
  }

  /** Bytes held back waiting for the rest of a message. */
  get pendingBytes(): number {
    return this.#heldBytes;
  }
}
