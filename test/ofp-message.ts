// Test helper: an OpenFlow message built by hand (ofp_header, OpenFlow 1.3 §7.1: version, type,
// total length, xid; then the body), independent of the codec under test.

export function ofpMessage(version: number, type: number, xid: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt8(version, 0);
  head.writeUInt8(type, 1);
  head.writeUInt16BE(8 + body.length, 2);
  head.writeUInt32BE(xid, 4);
  return Buffer.concat([head, body]);
}
