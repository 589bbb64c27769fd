// Rendezvous (highest-random-weight) hashing: a host belongs to the live replica with the highest
// hash(replica, host). When a replica leaves, only its hosts move, each to its own next-best replica,
// so the load of a dead replica spreads over all survivors instead of landing on one neighbor.

/** 64-bit FNV-1a over the UTF-16 code units of `a \0 b`, as a bigint-free pair of 32-bit halves. */
function score(replica: string, host: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  const s = `${replica}\u0000${host}`;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  // final avalanche so that near-identical inputs spread (murmur3 fmix32)
  h1 ^= h2 >>> 15;
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b);
  h1 = Math.imul(h1 ^ (h1 >>> 13), 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0x85ebca6b);
  h2 ^= h2 >>> 13;
  return (h1 >>> 0) * 0x100000 + ((h2 >>> 0) & 0xfffff);
}

/** The owner of `host` among `replicas` (null when there is none). Ties break on the replica id. */
export function ownerOf(host: string, replicas: readonly string[]): string | null {
  let best: string | null = null;
  let bestScore = -1;
  for (const r of replicas) {
    const s = score(r, host);
    if (s > bestScore || (s === bestScore && best !== null && r < best)) {
      best = r;
      bestScore = s;
    }
  }
  return best;
}

/**
 * The replica that gets `host` if its owner leaves: the second best among `replicas` (null with fewer than
 * two). Removing the owner leaves every other score unchanged, so this is exactly the next owner.
 */
export function runnerUpOf(host: string, replicas: readonly string[]): string | null {
  let first: string | null = null;
  let firstScore = -1;
  let second: string | null = null;
  let secondScore = -1;
  for (const r of replicas) {
    const s = score(r, host);
    if (beats(r, s, first, firstScore)) {
      second = first;
      secondScore = firstScore;
      first = r;
      firstScore = s;
    } else if (beats(r, s, second, secondScore)) {
      second = r;
      secondScore = s;
    }
  }
  return second;
}

/** The same order as ownerOf: higher score, then the smaller id. */
function beats(r: string, s: number, other: string | null, otherScore: number): boolean {
  return other === null || s > otherScore || (s === otherScore && r < other);
}
