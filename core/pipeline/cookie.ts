// The 64-bit flow cookie: which agent and which resource a flow belongs to.
//
//   bits 63..48  marker 0xA1C0 ("Alcor"): every flow this agent installs has it, so dumps, stale
//                sweeps and reconcile touch only our flows (OpenFlow 1.3 §A.3.4.1: a cookie/mask in
//                FLOW_MOD DELETE and FLOW_STATS selects flows; COOKIE_MASK selects all of ours).
//   bits 47..40  owner kind (OwnerKind below).
//   bits 39..32  reserved, zero.
//   bits 31..0   FNV-1a hash of the owner id: lets an operator find a resource's flows with
//                `ovs-ofctl dump-flows br-int cookie=0x.../-1`. Collisions only make that search show
//                extra flows; correctness never depends on the hash (the flow table tracks owners).

export type OwnerKind = 'infra' | 'port' | 'neighbor' | 'router' | 'flood' | 'gateway';

const KIND_CODES: Readonly<Record<OwnerKind, number>> = {
  infra: 1,
  port: 2,
  neighbor: 3,
  router: 4,
  flood: 5,
  gateway: 6,
};
const KIND_BY_CODE: ReadonlyMap<number, OwnerKind> = new Map(
  (Object.keys(KIND_CODES) as OwnerKind[]).map((k) => [KIND_CODES[k], k]),
);

export const COOKIE_MARKER = 0xa1c0n;
export const COOKIE_MARKER_SHIFT = 48n;
/** Select every flow of this agent: cookie & COOKIE_MASK === COOKIE_MARKER_BITS. */
export const COOKIE_MASK = 0xffffn << COOKIE_MARKER_SHIFT;
export const COOKIE_MARKER_BITS = COOKIE_MARKER << COOKIE_MARKER_SHIFT;

/** FNV-1a, 32-bit, over UTF-16 code units (ids are ASCII UUIDs in practice). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function encodeCookie(kind: OwnerKind, ownerId: string): bigint {
  // kind * 2^40 + hash stays below 2^48: exact in a double, so one BigInt conversion per owner.
  return COOKIE_MARKER_BITS | BigInt(KIND_CODES[kind] * 0x100_0000_0000 + hash32(ownerId));
}

export interface DecodedCookie {
  readonly ours: boolean;
  readonly kind: OwnerKind | undefined;
  readonly hash: number;
}

export function isOurCookie(cookie: bigint): boolean {
  return (cookie & COOKIE_MASK) === COOKIE_MARKER_BITS;
}

export function decodeCookie(cookie: bigint): DecodedCookie {
  const ours = isOurCookie(cookie);
  const kindCode = Number((cookie >> 40n) & 0xffn);
  const hash = Number(cookie & 0xffff_ffffn);
  return { ours, kind: ours ? KIND_BY_CODE.get(kindCode) : undefined, hash };
}

/** 0xa1c0020012ab34cd -> "port#12ab34cd"; foreign cookies print as hex. */
export function cookieToString(cookie: bigint): string {
  const d = decodeCookie(cookie);
  if (!d.ours || d.kind === undefined) return `0x${cookie.toString(16)}`;
  return `${d.kind}#${d.hash.toString(16).padStart(8, '0')}`;
}
