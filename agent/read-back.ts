// Read-back: what an agent does when it starts without a snapshot it can trust but finds our flows
// installed (a lost or corrupt state directory, a snapshot from a run that had itself read back).
//
// Why it is a module of its own: it is the one rule that keeps a restart from blackholing traffic.
// The installed flows are kept and counted by owner (their cookies name the owner's kind,
// core/pipeline/cookie.ts); converges may add and modify, but no converge deletes a flow until the
// agent knows its full state, because until then "not desired" only means "not told yet". OVN's
// ovn-controller waits in the same way before it clears flows it did not install itself.
//
// When the full state is known (docs/agent.md, "Restart semantics", has the reasoning):
//   - with --control: the control service answered AGENT_RESTARTED with SUCCESS, and then a goal
//     state that arrived after that answer was applied. The answer means the full state is on its way
//     (alcor-control sends it before anything else on the agent's stream), so the first goal state
//     after it is the full state or comes after it. If a goal state arrived while the request was in
//     flight, it may have been the full state itself, so the agent asks again (bounded): a repeated
//     full push changes no flow.
//   - without --control: never by inference. GoalStateV2 has no "full" flag, and a controller may
//     send a delta first (Alcor's NCM opens a new stream per message), so the first goal state
//     proves nothing. Read-back flows stay until a restart that can ask, or a snapshot taken after a
//     full state. A flow whose key a goal state programs is replaced in place by its ADD.
//
// A marker file in the state directory (`read-back`) says "the snapshot here is not a full state":
// it is written before the first snapshot of a read-back run and removed only after the sweep, so a
// second restart before the sweep reads back again instead of deleting what the partial snapshot
// lacks.

import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OFPFC, OFPT } from '../core/openflow/constants';
import { decodeCookie, type OwnerKind } from '../core/pipeline/cookie';

const MARKER_FILE = 'read-back';

/** OpenFlow header (8) + bundle_id, pad, flags (8): where a BUNDLE_ADD's inner message starts. */
const BUNDLE_ADD_INNER = 16;
/** In a FLOW_MOD: header (8), cookie (8), cookie_mask (8), table_id (1), then command. */
const FLOW_MOD_COMMAND = 25;

/** Flow-mods with the deletes taken out (the rest byte for byte), and how many of each there were. */
export interface WithoutDeletes {
  readonly deltas: Uint8Array[];
  readonly kept: number;
  readonly held: number;
}

function isDelete(buf: Uint8Array, at: number, len: number): boolean {
  if (buf[at + 1] !== OFPT.BUNDLE_ADD_MESSAGE || len < BUNDLE_ADD_INNER + FLOW_MOD_COMMAND + 1) return false;
  const inner = at + BUNDLE_ADD_INNER;
  if (buf[inner + 1] !== OFPT.FLOW_MOD) return false;
  const command = buf[inner + FLOW_MOD_COMMAND];
  return command === OFPFC.DELETE || command === OFPFC.DELETE_STRICT;
}

/**
 * The engine's converge flow-mods (concatenated BUNDLE_ADD_MESSAGEs) without the FLOW_MOD deletes.
 * Messages are cut by their header's length field (OpenFlow 1.4 §7.1); anything that is not a
 * BUNDLE_ADD(FLOW_MOD DELETE/DELETE_STRICT) is kept as it is.
 */
export function withoutDeletes(deltas: readonly Uint8Array[]): WithoutDeletes {
  const out: Uint8Array[] = [];
  let kept = 0;
  let held = 0;
  for (const buf of deltas) {
    const parts: Uint8Array[] = [];
    let runStart = 0;
    let at = 0;
    while (at + 8 <= buf.length) {
      const len = (buf[at + 2] << 8) | buf[at + 3];
      if (len < 8 || at + len > buf.length) break; // not framed: keep the rest as it is
      if (isDelete(buf, at, len)) {
        if (at > runStart) parts.push(buf.subarray(runStart, at));
        runStart = at + len;
        held++;
      } else {
        kept++;
      }
      at += len;
    }
    if (runStart < buf.length) parts.push(buf.subarray(runStart));
    if (parts.length === 1) out.push(parts[0] as Uint8Array);
    else if (parts.length > 1) out.push(Buffer.concat(parts));
  }
  return { deltas: out, kept, held };
}

/** Our installed flows by owner kind, from FLOW_STATS reply bodies (cookie at offset 24 of each entry). */
export function flowsByOwnerKind(bodies: readonly Uint8Array[]): Partial<Record<OwnerKind | 'unknown', number>> {
  const out: Partial<Record<OwnerKind | 'unknown', number>> = {};
  for (const b of bodies) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let at = 0; at + 32 <= b.length;) {
      const len = view.getUint16(at);
      if (len === 0) break;
      const d = decodeCookie(view.getBigUint64(at + 24));
      if (d.ours) {
        const k = d.kind ?? 'unknown';
        out[k] = (out[k] ?? 0) + 1;
      }
      at += len;
    }
  }
  return out;
}

/** Whether the state directory holds the marker file `name` (false without a state directory). */
export async function stateMarkerPresent(stateDir: string | undefined, name: string): Promise<boolean> {
  if (stateDir === undefined) return false;
  try {
    await fs.access(path.join(stateDir, name));
    return true;
  } catch {
    return false;
  }
}

/** Whether the state directory says its snapshot is not a full state (a read-back run had not swept). */
export function readBackMarked(stateDir: string | undefined): Promise<boolean> {
  return stateMarkerPresent(stateDir, MARKER_FILE);
}

/** Marks the state directory (before any snapshot of this run is written). */
export async function markReadBack(stateDir: string | undefined, why: string): Promise<void> {
  if (stateDir === undefined) return;
  await fs.mkdir(stateDir, { recursive: true });
  await fs.writeFile(path.join(stateDir, MARKER_FILE), `${JSON.stringify({ since: new Date().toISOString(), why })}\n`);
}

/** After the sweep: the snapshot from now on is a full state. */
export async function clearReadBack(stateDir: string | undefined): Promise<void> {
  if (stateDir === undefined) return;
  await fs.rm(path.join(stateDir, MARKER_FILE), { force: true });
}

/** How the control service answered AGENT_RESTARTED. */
export type RestartAnswer = 'success' | 'failure';

export interface FullStateWatchParts {
  /** Arrival number of the newest goal state received (ApplyPath.lastArrivedSeq). */
  readonly lastArrivedSeq: () => number;
  /** Deletes what the full state does not want, makes the snapshot a full one, clears the marker. */
  readonly sweep: () => Promise<void>;
  readonly log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** Asks after a request whose answer may have crossed the full push itself, at most this many times. */
const MAX_ASKS = 3;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 10_000;

/**
 * Decides when a read-back agent knows its full state (the rule is in this file's header) and then
 * runs the sweep once.
 */
export class FullStateWatch {
  readonly #p: FullStateWatchParts;
  /** A goal state arriving after this number completes the full state; undefined until the control answered. */
  #armedAfter: number | undefined;
  #state: 'waiting' | 'sweeping' | 'done' | 'stopped' = 'waiting';
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  constructor(parts: FullStateWatchParts) {
    this.#p = parts;
  }

  get state(): string {
    return this.#state;
  }

  /**
   * Starts asking the control service: `ask` sends AGENT_RESTARTED and throws when it cannot be
   * reached. Without --control (`ask` undefined) it only says that it will wait.
   */
  start(ask: (() => Promise<RestartAnswer>) | undefined): void {
    if (ask === undefined) {
      this.#p.log('warn', 'read-back flows kept: without --control the full state cannot be asked for', {});
      return;
    }
    void this.#askLoop(ask);
  }

  /** A goal state OVS accepted (ApplyPath onApplied). */
  applied(seq: number): void {
    if (this.#state !== 'waiting' || this.#armedAfter === undefined || seq <= this.#armedAfter) return;
    this.#state = 'sweeping';
    this.#p.sweep().then(
      () => {
        if (this.#state === 'sweeping') this.#state = 'done';
      },
      (e: unknown) => {
        // Flows stay; the next goal state tries again.
        this.#p.log('error', 'sweep after the full state failed; flows kept', { error: String(e) });
        if (this.#state === 'sweeping') this.#state = 'waiting';
      },
    );
  }

  stop(): void {
    this.#state = 'stopped';
    clearTimeout(this.#timer);
    this.#wake?.();
  }

  async #askLoop(ask: () => Promise<RestartAnswer>): Promise<void> {
    const { log, lastArrivedSeq } = this.#p;
    let delay = RETRY_FIRST_MS;
    for (let asks = 1; this.#state === 'waiting';) {
      const before = lastArrivedSeq();
      let answer: RestartAnswer;
      try {
        answer = await ask();
      } catch (e: unknown) {
        log('warn', 'AGENT_RESTARTED not answered; asking again', { error: String(e), retryMs: delay });
        await this.#pause(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
        continue;
      }
      if (this.#state !== 'waiting') return;
      if (answer === 'failure') {
        // The control service holds nothing for this host (yet): nothing proves a flow stale.
        log('warn', 'AGENT_RESTARTED answered FAILURE (the control service knows no state for this host); flows kept', {
          retryMs: delay,
        });
        await this.#pause(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
        continue;
      }
      const after = lastArrivedSeq();
      if (after > before && asks < MAX_ASKS) {
        // A goal state crossed the request: it may have been the full state itself, so ask again
        // rather than wait for one that may never come (a repeated full push changes no flow).
        asks++;
        continue;
      }
      this.#armedAfter = after;
      log('info', 'AGENT_RESTARTED answered; stale flows go once the next goal state is applied', {
        afterSeq: after,
      });
      return;
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }
}
