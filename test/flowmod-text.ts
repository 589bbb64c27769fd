// Test helper: the flow-mods of engine deltas as comparable text. Two deltas that install the same
// flows compare equal whatever their order and xids.

/**
 * Sorted hex of every FLOW_MOD body in `deltas` (BUNDLE_ADD_MESSAGEs): the 16-byte bundle header and
 * the inner 8-byte OpenFlow header (which holds the xid) are left out.
 */
export function flowModTexts(deltas: readonly Uint8Array[]): string[] {
  const out: string[] = [];
  for (const d of deltas) {
    for (let at = 0; at < d.length;) {
      const len = (d[at + 2] << 8) | d[at + 3];
      out.push(Buffer.from(d.subarray(at + 24, at + len)).toString('hex'));
      at += len;
    }
  }
  return out.sort();
}
