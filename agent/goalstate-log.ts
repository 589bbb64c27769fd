// The goal-state log: the state directory's record of every goal state since the last snapshot.
//
// Why: a snapshot of the whole held state after each commit made every push pay for the state's
// size (a full pass over 100k neighbors after a one-neighbor push), and a JSON snapshot of a
// million neighbors takes minutes to write and to restore. The log costs O(message): the bytes a
// goal state arrived as are appended while the engine plans it, and a one-byte-payload outcome
// record follows once OVS confirmed (or refused) its bundle. A restart restores the snapshot, then
// replays the committed goal states through the engine's own fast path (engine.prepare), in order.
// A snapshot (compaction) is taken only when the log has grown enough to make a replay slower than
// a snapshot restore would be.
//
// Files, in the state directory: `goalstates.<N>.log`, segments numbered from 0. A snapshot names
// the first segment to replay after it (`logFrom`); rotation opens segment N+1 before the snapshot
// that names it is read, so the snapshot plus segments ≥ logFrom is the held state at every moment.
// Segments before logFrom are removed once that snapshot is on disk.
//
// Record: magic 'G' 'L', type (1: v1 goal state, 2: GoalStateV2, 3: committed, 4: aborted), a zero
// byte, u32 little-endian payload length, payload. Goal states run one at a time (the serial queue),
// so each goal record is followed by its outcome before the next goal record. A goal record with no
// outcome (killed between the commit and the outcome) or a torn record (a full disk) ends the
// replay as incomplete: the restart then keeps the installed flows (read-back) instead of trusting
// a state that may lack what OVS already holds.
//
// No fsync, like the snapshot: the log survives the agent's death (the page cache holds it), not
// the host's; OVS's own flow table does not survive a host reboot either.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { errorText } from '../core/errors';
import type { Logger } from './log';
import { NativeNotBuiltError, mapFile } from '../native';

const HEADER_BYTES = 8;
const MAGIC0 = 0x47; // 'G'
const MAGIC1 = 0x4c; // 'L'
const enum RecordType {
  GoalV1 = 1,
  GoalV2 = 2,
  Committed = 3,
  Aborted = 4,
}

/**
 * When a snapshot replaces the log: after this many goal states (each replayed one costs a round
 * trip to every worker), or once the log holds more bytes than this (a replay of one big message is
 * cheap: the engine's neighbor lane takes a million neighbors in seconds, while the JSON snapshot of
 * them takes minutes, so the byte bound is generous).
 */
export const COMPACT_AFTER_RECORDS = 4096;
export const COMPACT_AFTER_BYTES = 1024 * 1024 * 1024;

const SEGMENT_RE = /^goalstates\.(\d{8})\.log$/;

export function segmentFile(stateDir: string, segment: number): string {
  return path.join(stateDir, `goalstates.${String(segment).padStart(8, '0')}.log`);
}

/** The segment numbers present in `stateDir`, ascending. */
export async function listSegments(stateDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.readdir(stateDir);
  } catch {
    return [];
  }
  return names
    .map((n) => SEGMENT_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

function header(type: RecordType, length: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = MAGIC0;
  h[1] = MAGIC1;
  h[2] = type;
  h.writeUInt32LE(length, 4);
  return h;
}

/** A goal state the log says was committed: replay it with engine.prepare(bytes, version) + commit. */
export interface LoggedGoalState {
  readonly version: 1 | 2;
  readonly bytes: Uint8Array;
}

export interface LogReplay {
  /** Committed goal states, oldest first. */
  readonly goalStates: readonly LoggedGoalState[];
  /** False when the log may lack a goal state OVS holds (see `problem`): do not trust it. */
  readonly complete: boolean;
  readonly problem?: string;
  /** Bytes read, all segments. */
  readonly bytes: number;
  /** The segments replayed. */
  readonly segments: readonly number[];
}

/** Parses one segment's records onto `out`; returns a problem, or undefined if it ends cleanly. */
function parseSegment(buf: Buffer, out: LoggedGoalState[]): string | undefined {
  let at = 0;
  let open: LoggedGoalState | undefined;
  while (at < buf.length) {
    if (buf.length - at < HEADER_BYTES) return `torn record header at byte ${at}`;
    if (buf[at] !== MAGIC0 || buf[at + 1] !== MAGIC1) return `no record at byte ${at}`;
    const type = buf[at + 2] as RecordType;
    const length = buf.readUInt32LE(at + 4);
    const start = at + HEADER_BYTES;
    if (buf.length - start < length) return `torn record at byte ${at}`;
    const payload = buf.subarray(start, start + length);
    at = start + length;
    if (type === RecordType.GoalV1 || type === RecordType.GoalV2) {
      if (open !== undefined) return `goal state at byte ${at} follows one without an outcome`;
      open = { version: type === RecordType.GoalV1 ? 1 : 2, bytes: payload };
    } else if (type === RecordType.Committed || type === RecordType.Aborted) {
      if (open === undefined) return `outcome at byte ${at} without a goal state`;
      if (type === RecordType.Committed) out.push(open);
      open = undefined;
    } else {
      return `unknown record type ${type as number}`;
    }
  }
  return open === undefined ? undefined : 'the last goal state has no outcome (the agent stopped while applying it)';
}

/**
 * A segment's bytes: mapped by the native addon (no copy, no fresh memory: reading a 200 MB log
 * costs ~0.9 s on these VMs, mapping it almost nothing), or read where the addon is not built.
 */
async function readSegment(file: string): Promise<Buffer> {
  try {
    return mapFile(file);
  } catch (e: unknown) {
    if (e instanceof NativeNotBuiltError) return fs.readFile(file);
    throw e;
  }
}

/**
 * Reads segments `from`, `from`+1, … (all present from there on). Never throws: a missing first
 * segment, a gap, an unreadable file or a torn record make the replay incomplete.
 */
export async function readGoalStateLog(stateDir: string, from: number): Promise<LogReplay> {
  const present = (await listSegments(stateDir)).filter((s) => s >= from);
  const goalStates: LoggedGoalState[] = [];
  let bytes = 0;
  const incomplete = (problem: string): LogReplay => ({
    goalStates,
    complete: false,
    problem,
    bytes,
    segments: present,
  });
  if (present[0] !== from) return incomplete(`segment ${from} is missing`);
  for (let i = 0; i < present.length; i++) {
    if (present[i] !== from + i) return incomplete(`segment ${from + i} is missing`);
    let buf: Buffer;
    try {
      buf = await readSegment(segmentFile(stateDir, present[i]));
    } catch (e: unknown) {
      return incomplete(`segment ${present[i]}: ${errorText(e)}`);
    }
    bytes += buf.length;
    const problem = parseSegment(buf, goalStates);
    if (problem !== undefined) return incomplete(`segment ${present[i]}: ${problem}`);
  }
  return { goalStates, complete: true, bytes, segments: present };
}

/**
 * Appends goal states and their outcomes to the current segment. Never throws: a failed append
 * makes the log `broken` (nothing more is appended to that segment, whose tail may be torn) until
 * the next rotation; the caller then falls back to the snapshot-behind marker.
 */
export class GoalStateLog {
  readonly #stateDir: string;
  readonly #log: Logger;
  #segment: number;
  #fh: fs.FileHandle | undefined;
  #broken = false;
  /** The append of the goal state begun and not ended yet. */
  #pending: Promise<boolean> | undefined;
  #records = 0;
  #bytes = 0;
  #ops: Promise<unknown> = Promise.resolve();

  private constructor(stateDir: string, segment: number, log: Logger) {
    this.#stateDir = stateDir;
    this.#segment = segment;
    this.#log = log;
  }

  /**
   * Opens (creates) segment `segment` for appending. `replayed`: what the segments before it, since
   * the snapshot, already hold (they count towards compaction).
   */
  static async open(
    stateDir: string,
    segment: number,
    log: Logger,
    replayed: { readonly records: number; readonly bytes: number } = { records: 0, bytes: 0 },
  ): Promise<GoalStateLog> {
    const l = new GoalStateLog(stateDir, segment, log);
    l.#records = replayed.records;
    l.#bytes = replayed.bytes;
    await l.#openSegment();
    return l;
  }

  get segment(): number {
    return this.#segment;
  }

  /** An append failed since the last rotation: the log cannot be trusted until a snapshot replaces it. */
  get broken(): boolean {
    return this.#broken;
  }

  /** Goal states logged since the last snapshot. */
  get records(): number {
    return this.#records;
  }

  /** Bytes logged since the last snapshot. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether a snapshot should replace the log now. */
  get compactionDue(): boolean {
    return this.#broken || this.#records >= COMPACT_AFTER_RECORDS || this.#bytes >= COMPACT_AFTER_BYTES;
  }

  /** Starts appending a goal state as it arrived; the write runs while the engine plans it. */
  begin(version: 1 | 2, bytes: Uint8Array): void {
    this.#records++;
    this.#pending = this.#append([header(version === 1 ? RecordType.GoalV1 : RecordType.GoalV2, bytes.length), bytes]);
  }

  /** Whether the goal state begun is in the log (await before its bundle commits). */
  async written(): Promise<boolean> {
    return (await this.#pending) ?? false;
  }

  /** The goal state begun was committed (OVS confirmed) or not. */
  async end(committed: boolean): Promise<void> {
    if (this.#pending === undefined) return;
    this.#pending = undefined;
    await this.#append([header(committed ? RecordType.Committed : RecordType.Aborted, 0)]);
  }

  /**
   * Starts segment N+1 and returns N+1: the snapshot read right after this (in the serial queue,
   * with no goal state in flight) covers every segment before it. Never throws: a segment that
   * cannot be created leaves the log broken, and a snapshot naming it reads as incomplete.
   */
  async rotate(): Promise<number> {
    await this.#ops;
    await this.#fh?.close().catch(() => undefined);
    this.#fh = undefined;
    this.#segment++;
    this.#records = 0;
    this.#bytes = 0;
    this.#broken = false;
    await this.#openSegment();
    return this.#segment;
  }

  /** A snapshot naming `segment` is on disk: the segments before it are no longer needed. */
  async removeBefore(segment: number): Promise<void> {
    for (const s of await listSegments(this.#stateDir)) {
      if (s < segment) await fs.rm(segmentFile(this.#stateDir, s), { force: true }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.#ops;
    await this.#fh?.close().catch(() => undefined);
    this.#fh = undefined;
  }

  async #openSegment(): Promise<void> {
    try {
      await fs.mkdir(this.#stateDir, { recursive: true });
      this.#fh = await fs.open(segmentFile(this.#stateDir, this.#segment), 'a');
    } catch (e: unknown) {
      this.#fail(e);
    }
  }

  /** Appends in order (one write at a time: two could interleave); false if it was not written. */
  #append(parts: readonly Uint8Array[]): Promise<boolean> {
    const op = this.#ops.then(async () => {
      const fh = this.#fh;
      if (this.#broken || fh === undefined) return false;
      try {
        const want = parts.reduce((n, p) => n + p.length, 0);
        const { bytesWritten } = await fh.writev(parts as Uint8Array[]);
        // A short write is a full disk: the tail is torn, and the reader stops there.
        if (bytesWritten !== want) throw new Error(`wrote ${bytesWritten} of ${want} bytes`);
        this.#bytes += want;
        return true;
      } catch (e: unknown) {
        this.#fail(e);
        return false;
      }
    });
    this.#ops = op;
    return op;
  }

  #fail(e: unknown): void {
    if (!this.#broken) {
      this.#log('warn', 'goal-state log append failed; a snapshot will replace the log', {
        file: segmentFile(this.#stateDir, this.#segment),
        error: errorText(e),
      });
    }
    this.#broken = true;
  }
}
