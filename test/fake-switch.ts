// Test helper: a scripted OpenFlow 1.4 switch on a unix socket for the session tests. It does the handshake
// (HELLO, FEATURES_REPLY, the barrier after SET_CONFIG), answers echoes and plain barriers, records every message
// the session sends, and lets a test write any bytes to the session in pieces of its choosing. Replies are built
// by hand (test/ofp-message.ts), independent of the encoders under test.
import * as net from 'node:net';
import { decodeHeader, OpenFlowFramer } from '../core/openflow';
import { ofpMessage } from './ofp-message';

export const OFP14 = 0x05;
export const OFPT = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  FEATURES_REQUEST: 5,
  FEATURES_REPLY: 6,
  PACKET_IN: 10,
  PORT_STATUS: 12,
  MULTIPART_REQUEST: 18,
  MULTIPART_REPLY: 19,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
  BUNDLE_CONTROL: 33,
} as const;

export interface Received {
  readonly type: number;
  readonly xid: number;
  readonly bytes: Buffer;
}

export interface FakeSwitch {
  readonly socketPath: string;
  /** Every message the session sent, over every connection, in order. */
  readonly received: Received[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** The newest connection (undefined before the first). */
  readonly socket: net.Socket | undefined;
  /** Bytes the next connection gets before its HELLO, in these pieces (consumed by that connection). */
  handshakeGarbage: readonly Uint8Array[] | undefined;
  /** Writes `pieces` to the newest connection one at a time, each after the previous one was flushed. */
  writePieces(pieces: readonly Uint8Array[]): Promise<void>;
  close(): Promise<void>;
}

export function hello(xid: number): Buffer {
  // One version bitmap element (OpenFlow 1.4 §7.5.1): type 1, length 8, bitmap with bit 5 (1.4).
  const body = Buffer.alloc(8);
  body.writeUInt16BE(1, 0);
  body.writeUInt16BE(8, 2);
  body.writeUInt32BE(1 << OFP14, 4);
  return ofpMessage(OFP14, OFPT.HELLO, xid, body);
}

export function featuresReply(xid: number): Buffer {
  // datapath_id, n_buffers, n_tables, auxiliary_id, pad, capabilities, reserved (§7.3.1).
  const body = Buffer.alloc(24);
  body.writeBigUInt64BE(0xabcn, 0);
  body.writeUInt8(254, 12);
  return ofpMessage(OFP14, OFPT.FEATURES_REPLY, xid, body);
}

/** A FLOW multipart reply (§7.3.5): type, flags (MORE = 1), pad[4], then the body as given. */
export function flowStatsReply(xid: number, body: Uint8Array, more: boolean): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(1, 0);
  head.writeUInt16BE(more ? 1 : 0, 2);
  return ofpMessage(OFP14, OFPT.MULTIPART_REPLY, xid, Buffer.concat([head, body]));
}

const sleepTick = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function startFakeSwitch(socketPath: string): Promise<FakeSwitch> {
  const received: Received[] = [];
  let newest: net.Socket | undefined;
  let connections = 0;
  const all: net.Socket[] = [];
  const fake: FakeSwitch = {
    socketPath,
    received,
    get connections() {
      return connections;
    },
    get socket() {
      return newest;
    },
    handshakeGarbage: undefined,
    async writePieces(pieces) {
      const sock = newest;
      if (sock === undefined) return;
      for (const piece of pieces) {
        if (sock.destroyed) return;
        await new Promise<void>((resolve) => sock.write(piece, () => resolve()));
        await sleepTick();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of all) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((sock) => {
    connections++;
    newest = sock;
    all.push(sock);
    sock.on('error', () => undefined);
    const garbage = fake.handshakeGarbage;
    fake.handshakeGarbage = undefined;
    for (const piece of garbage ?? []) sock.write(piece);
    sock.write(hello(1));
    const framer = new OpenFlowFramer();
    sock.on('data', (chunk: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = framer.push(chunk);
      } catch {
        sock.destroy(); // the session sent something unframed: a test will see it in `received`
        return;
      }
      for (const m of msgs) {
        const h = decodeHeader(m);
        received.push({ type: h.type, xid: h.xid, bytes: Buffer.from(m) });
        if (h.type === OFPT.FEATURES_REQUEST) sock.write(featuresReply(h.xid));
        else if (h.type === OFPT.BARRIER_REQUEST) sock.write(ofpMessage(OFP14, OFPT.BARRIER_REPLY, h.xid));
        else if (h.type === OFPT.ECHO_REQUEST) sock.write(ofpMessage(OFP14, OFPT.ECHO_REPLY, h.xid, m.subarray(8)));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, () => resolve()));
  return fake;
}

/** Waits (event-loop turns, no fixed sleep) until `cond` holds; throws after `ms`. */
export async function waitUntil(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
