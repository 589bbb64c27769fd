// The xid plan of the engine's flow-mods: which partition and chunk sent a message, from its xid alone,
// so an OpenFlow ERROR names its owner without a table of every xid sent.

/**
 * xids of the engine's flow-mods: partition p's messages have xids from XID_BASE + p * XID_SPAN; in
 * a chunked goal state (prepare with `onDelta`), chunk 0 starts there and chunk k >= 1 at
 * CHUNK0_SPAN + (k - 1) * CHUNK_SPAN within the partition's span. The OpenFlow session keeps its
 * own xids below XID_BASE, so an ERROR's xid says where it came from.
 */
export const XID_BASE = 0x4000_0000;
export const XID_SPAN = 0x0400_0000;
/** At most this many chunks per partition and goal state; chunks grow past CHUNK_NEIGHBORS to fit. */
export const MAX_CHUNKS = 1024;
/** xids per later chunk: CHUNK_NEIGHBORS neighbors whose two keys all move (delete + add) need 4 each. */
const CHUNK_SPAN = 0x8000;
const CHUNK0_SPAN = XID_SPAN - (MAX_CHUNKS - 1) * CHUNK_SPAN;

/** The encoding context of partition `p`'s chunk `chunk` in bundle `bundleId`: where its xids start. */
export function chunkEnc(bundleId: number, p: number, chunk = 0): { bundleId: number; firstXid: number } {
  const offset = chunk === 0 ? 0 : CHUNK0_SPAN + (chunk - 1) * CHUNK_SPAN;
  return { bundleId, firstXid: XID_BASE + p * XID_SPAN + offset };
}

/** Which of `parts` partitions, which chunk and which message in it sent `xid`; undefined if not the engine. */
export function locateXid(
  xid: number,
  parts: number,
): { readonly partition: number; readonly chunk: number; readonly index: number } | undefined {
  if (xid < XID_BASE) return undefined;
  const partition = Math.floor((xid - XID_BASE) / XID_SPAN);
  if (partition >= parts) return undefined;
  const offset = (xid - XID_BASE) % XID_SPAN;
  const chunk = offset < CHUNK0_SPAN ? 0 : 1 + Math.floor((offset - CHUNK0_SPAN) / CHUNK_SPAN);
  const index = offset - (chunk === 0 ? 0 : CHUNK0_SPAN + (chunk - 1) * CHUNK_SPAN);
  return { partition, chunk, index };
}
