// Value/mask arithmetic for matches: L4 port ranges and IPv4 prefixes.

import type { FieldName, MatchField } from '../flow';
import type { Cidr } from '../model';

export interface ValueMask {
  readonly value: number;
  /** Full-width mask (exact value) is given explicitly here; callers drop it when building a match. */
  readonly mask: number;
}

/**
 * The smallest set of value/mask pairs (aligned power-of-two blocks) whose union is exactly
 * [min, max] within a `bits`-wide field: the classic range-to-prefix split. A 16-bit range needs at
 * most 30 pairs (2 * 16 - 2). [0, 2^bits - 1] gives one pair with mask 0 (any value).
 * Throws on a range outside the field or min > max (a bug in the caller: the model validates ranges).
 */
export function rangeToMasks(min: number, max: number, bits = 16): ValueMask[] {
  const full = 2 ** bits - 1;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max > full || min > max) {
    throw Object.assign(new Error(`range [${min}, ${max}] is not within a ${bits}-bit field`), { code: 'BAD_RANGE' });
  }
  const out: ValueMask[] = [];
  let lo = min;
  while (lo <= max) {
    // Largest block size 2^k that is aligned at lo and fits in [lo, max].
    let size = 1;
    while (size * 2 <= full + 1 && lo % (size * 2) === 0 && lo + size * 2 - 1 <= max) size *= 2;
    out.push({ value: lo, mask: full - (size - 1) });
    lo += size;
  }
  return out;
}

/** Turns value/mask pairs into matches on `field`, dropping a full mask (exact) and skipping a zero mask (any). */
export function rangeMatches(field: FieldName, min: number, max: number, bits = 16): (MatchField | undefined)[] {
  const full = 2 ** bits - 1;
  return rangeToMasks(min, max, bits).map((vm) =>
    vm.mask === 0
      ? undefined
      : vm.mask === full
        ? { field, value: vm.value }
        : { field, value: vm.value, mask: vm.mask },
  );
}

/** Network mask of a prefix length, as a uint32 number. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The network address of the prefix (host bits cleared). */
export function cidrNetwork(c: Cidr): number {
  return (c.addr & prefixMask(c.prefix)) >>> 0;
}

/** A match on an IPv4 field for a prefix: /32 exact, /0 none (undefined). */
export function cidrMatch(field: 'ipv4_src' | 'ipv4_dst' | 'arp_spa' | 'arp_tpa', c: Cidr): MatchField | undefined {
  if (c.prefix === 0) return undefined;
  if (c.prefix === 32) return { field, value: c.addr >>> 0 };
  return { field, value: cidrNetwork(c), mask: prefixMask(c.prefix) };
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return (ip & prefixMask(c.prefix)) >>> 0 === cidrNetwork(c);
}
