// Settling flow keys contested across partitions (placement.ts): find the keys two partitions hold,
// name the neighbors outside partition 0 that want them, and move those to partition 0. The engine
// plans a goal state again after a move; this module owns the rules of when and what moves.

import { EngineError, expect, type Backend } from './backend';
import { KeyList } from './key-filter';
import type { ReleasedNeighbors } from './partition';
import { CONTEST_PARTITION, type Placement } from './placement';

/**
 * Plans of one goal state (or host facts) at most: the first, and one after each move of
 * contesting neighbors to partition 0. A second move is already unexpected (the first moves every
 * claimant of every contested key); this bounds it.
 */
const MAX_CONTEST_MOVES = 3;

export class Contests {
  readonly #parts: readonly Backend[];
  readonly #placement: Placement;

  constructor(parts: readonly Backend[], placement: Placement) {
    this.#parts = parts;
    this.#placement = placement;
  }

  /**
   * Keys that partitions contest, after the active partitions planned (or, `all`, in everything
   * held): each active partition lists the keys it took that another's filter may hold (`early`:
   * already listed), and every partition says which of those it holds or let go of; undefined if
   * no key is in two partitions.
   */
  async contestedKeys(
    active: readonly number[],
    all: boolean,
    early: readonly (Float64Array | undefined)[] = [],
  ): Promise<Float64Array | undefined> {
    const lists = await Promise.all(
      active.map(
        async (p, i) => early[i] ?? expect(await this.#parts[p].run({ type: 'contestCandidates', all }), 'keys').keys,
      ),
    );
    const keys = concatKeys(lists);
    if (keys.length === 0) return undefined;
    const holds = await Promise.all(
      this.#parts.map(async (b) => expect(await b.run({ type: 'holds', keys }), 'holds').holds),
    );
    const contested = new KeyList();
    for (let i = 0; i < keys.length / 3; i++) {
      let holders = 0;
      for (const h of holds) holders += h[i];
      if (holders > 1) contested.push(keys[3 * i], keys[3 * i + 1], keys[3 * i + 2]);
    }
    return contested.size === 0 ? undefined : contested.toArray();
  }

  /** The neighbors outside partition 0 that want these keys. */
  async claimants(keys: Float64Array): Promise<string[]> {
    const asked = keys;
    const owners = await Promise.all(
      this.#parts.map(async (b, p) =>
        p === CONTEST_PARTITION ? [] : expect(await b.run({ type: 'claimants', keys: asked }), 'claimants').owners,
      ),
    );
    const ids = new Set<string>();
    for (const list of owners)
      for (const o of list) if (o.startsWith('neighbor:')) ids.add(o.slice('neighbor:'.length));
    return [...ids];
  }

  /**
   * Pins neighbors to partition 0 and moves the ones held elsewhere there, with every neighbor
   * sharing a key with them: flows as installed, so nothing is sent. Between transactions only.
   */
  async move(ids: readonly string[]): Promise<void> {
    const released: ReleasedNeighbors = { lane: [], ordinary: [] };
    const replies = await Promise.all(
      this.#parts.map(async (b, p) =>
        p === CONTEST_PARTITION ? undefined : expect(await b.run({ type: 'release', ids }), 'released').neighbors,
      ),
    );
    for (const r of replies) {
      released.lane.push(...(r?.lane ?? []));
      released.ordinary.push(...(r?.ordinary ?? []));
    }
    const moved = [...released.lane, ...released.ordinary];
    const pinned = this.#placement.pin([...ids, ...moved.map((n) => n.id)]);
    await Promise.all(this.#parts.map((b) => b.run({ type: 'pin', ids: pinned })));
    if (moved.length > 0) await this.#parts[CONTEST_PARTITION].run({ type: 'adopt', neighbors: released });
  }

  /**
   * After plan number `moves` found `contested` keys: takes the plan back (`abort`) and moves every
   * claimant, those that wanted a key with this plan and those that held one before, to partition 0.
   * Throws ENGINE_CONTEST when the moves did not settle it (MAX_CONTEST_MOVES).
   */
  async moveClaimants(contested: Float64Array, moves: number, abort: () => Promise<void>): Promise<void> {
    const ids = await this.claimants(contested);
    await abort();
    for (const id of await this.claimants(contested)) if (!ids.includes(id)) ids.push(id);
    if (moves === MAX_CONTEST_MOVES) {
      throw new EngineError(
        'ENGINE_CONTEST',
        `key contests still span partitions after ${moves} moves: ${ids.join(', ')}`,
      );
    }
    await this.move(ids);
  }
}

/**
 * The (family, VNI, value) triples of several lists, one after the other. A key listed twice is
 * asked twice, with the same answers: cheaper than building a string per key to drop repeats.
 */
function concatKeys(lists: readonly Float64Array[]): Float64Array {
  if (lists.length === 1) return lists[0];
  let n = 0;
  for (const l of lists) n += l.length;
  const out = new Float64Array(n);
  let at = 0;
  for (const l of lists) {
    out.set(l, at);
    at += l.length;
  }
  return out;
}
