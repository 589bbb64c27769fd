// The tail of an append-only JSON-lines log (desired.log, resources.log): an append either lands whole and
// synced, or leaves nothing behind. A failed write can leave part of a record in the file (a full disk
// takes the first bytes and refuses the rest); the next record appended after it would then share its
// line, and the log would no longer replay: json-lines.ts forgives a torn *last* line only. So a failed
// append cuts the file back to where the last good one ended, and until that cut succeeds nothing more is
// appended (each append tries it again first) rather than writing good records after a torn one.
import * as fs from 'node:fs';

/** Writes `len` bytes of `buf` at the end of the file (a short write is continued, not lost). */
async function writeAll(fd: fs.promises.FileHandle, buf: Uint8Array, len: number): Promise<void> {
  for (let done = 0; done < len;) done += (await fd.write(buf, done, len - done)).bytesWritten;
}

/** Writes bytes at the end of the log, for AppendLog.append's callback. */
export type PutBytes = (buf: Uint8Array, len?: number) => Promise<void>;

export class AppendLog {
  /** Whether bytes past `end` may be in the file (a failed append whose cut did not succeed yet). */
  #torn = false;

  private constructor(
    private readonly fd: fs.promises.FileHandle,
    /** Where the last good append ended. */
    private end: number,
  ) {}

  /** Opens `file` for appending (creating it), at its current end. */
  static async open(file: string): Promise<AppendLog> {
    const fd = await fs.promises.open(file, 'a');
    try {
      return new AppendLog(fd, (await fd.stat()).size);
    } catch (err: unknown) {
      await fd.close();
      throw err;
    }
  }

  /**
   * Appends what `write` puts (through `put`, in order) and syncs it. Resolves once it is durable; on any
   * failure (of a write, of `write` itself, of the sync) the file is cut back and the error is thrown.
   */
  async append(write: (put: PutBytes) => Promise<void>): Promise<void> {
    if (this.#torn) await this.#cutBack();
    let written = 0;
    const put: PutBytes = async (buf, len = buf.length) => {
      this.#torn = true;
      await writeAll(this.fd, buf, len);
      written += len;
    };
    try {
      await write(put);
      if (written > 0) await this.fd.datasync();
    } catch (err: unknown) {
      await this.#cutBack().catch(() => undefined);
      throw err;
    }
    this.end += written;
    this.#torn = false;
  }

  /** Appends one string (UTF-8) and syncs it. */
  appendText(text: string): Promise<void> {
    return this.append((put) => put(Buffer.from(text, 'utf8')));
  }

  close(): Promise<void> {
    return this.fd.close();
  }

  async #cutBack(): Promise<void> {
    await this.fd.truncate(this.end);
    await this.fd.datasync();
    this.#torn = false;
  }
}
