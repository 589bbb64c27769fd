// Node speaks OpenFlow 1.3 to a sandboxed br-int over its `br-int.mgmt` unix socket, with hand-built bytes
// (deliberately independent of core/openflow, so it checks the wire format against OVS itself).
// Layouts follow the OpenFlow 1.3.5 spec: header §7.1, HELLO elements §7.5.1, FEATURES §7.3.1, SET_CONFIG §7.3.2,
// FLOW_MOD §7.3.4.1, OXM TLVs §7.2.3, instructions §7.2.4, OUTPUT action §7.2.5, BARRIER §7.3.8.
import * as net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from './prereq';
import { OvsSandbox } from './sandbox';
import { ofpMessage } from './ofp-message';

const OFP_VERSION_13 = 0x04;
const OFPT = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  FEATURES_REQUEST: 5,
  FEATURES_REPLY: 6,
  SET_CONFIG: 9,
  FLOW_MOD: 14,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
} as const;
const OFPHET_VERSIONBITMAP = 1;
const OFPXMC_OPENFLOW_BASIC = 0x8000;
const OFPXMT_OFB_IN_PORT = 0;
const OFPXMT_OFB_ETH_TYPE = 5;
const OFPMT_OXM = 1;
const OFPIT_APPLY_ACTIONS = 4;
const OFPAT_OUTPUT = 0;
const OFP_NO_BUFFER = 0xffffffff;
const OFPP_ANY = 0xffffffff;
const OFPG_ANY = 0xffffffff;
const DATAPATH_ID = 0x0000_0000_00a1_c0f1n;

interface OfMessage {
  readonly version: number;
  readonly type: number;
  readonly xid: number;
  readonly body: Buffer; // bytes after the 8-byte header
}

/** An OpenFlow 1.3 message (ofp_header, §7.1, then the body). */
function message(type: number, xid: number, body: Buffer = Buffer.alloc(0)): Buffer {
  return ofpMessage(OFP_VERSION_13, type, xid, body);
}

/** HELLO carrying one OFPHET_VERSIONBITMAP element with only bit 4 (OF1.3) set, so 1.3 is negotiated. */
function hello(xid: number): Buffer {
  const elem = Buffer.alloc(8);
  elem.writeUInt16BE(OFPHET_VERSIONBITMAP, 0);
  elem.writeUInt16BE(8, 2); // element length: 4-byte header + one 32-bit bitmap
  elem.writeUInt32BE(1 << OFP_VERSION_13, 4);
  return message(OFPT.HELLO, xid, elem);
}

function setConfig(xid: number, missSendLen: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt16BE(0, 0); // flags: OFPC_FRAG_NORMAL
  body.writeUInt16BE(missSendLen, 2);
  return message(OFPT.SET_CONFIG, xid, body);
}

/** One OXM TLV: class(16) | field(7) hasmask(1) | length(8), then the value. */
function oxm(field: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(OFPXMC_OPENFLOW_BASIC, 0);
  head.writeUInt8(field << 1, 2); // hasmask = 0
  head.writeUInt8(value.length, 3);
  return Buffer.concat([head, value]);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v, 0);
  return b;
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
}

function pad8(b: Buffer): Buffer {
  const rem = b.length % 8;
  return rem === 0 ? b : Buffer.concat([b, Buffer.alloc(8 - rem)]);
}

/** FLOW_MOD ADD: table 0, priority 123, cookie 0x1234, match in_port=1,eth_type=0x0806, apply_actions(output:2). */
function flowModAdd(xid: number): Buffer {
  const fixed = Buffer.alloc(40);
  fixed.writeBigUInt64BE(0x1234n, 0); // cookie
  fixed.writeBigUInt64BE(0n, 8); // cookie_mask (only used by modify/delete)
  fixed.writeUInt8(0, 16); // table_id
  fixed.writeUInt8(0, 17); // command: OFPFC_ADD
  fixed.writeUInt16BE(0, 18); // idle_timeout
  fixed.writeUInt16BE(0, 20); // hard_timeout
  fixed.writeUInt16BE(123, 22); // priority
  fixed.writeUInt32BE(OFP_NO_BUFFER, 24);
  fixed.writeUInt32BE(OFPP_ANY, 28); // out_port (delete filter only)
  fixed.writeUInt32BE(OFPG_ANY, 32); // out_group
  fixed.writeUInt16BE(0, 36); // flags
  // 2 bytes pad at 38

  const fields = Buffer.concat([oxm(OFPXMT_OFB_IN_PORT, u32(1)), oxm(OFPXMT_OFB_ETH_TYPE, u16(0x0806))]);
  const matchHead = Buffer.alloc(4);
  matchHead.writeUInt16BE(OFPMT_OXM, 0);
  matchHead.writeUInt16BE(4 + fields.length, 2); // length excludes the trailing padding (§7.2.2)
  const match = pad8(Buffer.concat([matchHead, fields]));

  const output = Buffer.alloc(16);
  output.writeUInt16BE(OFPAT_OUTPUT, 0);
  output.writeUInt16BE(16, 2);
  output.writeUInt32BE(2, 4); // port
  output.writeUInt16BE(0, 8); // max_len (only for OFPP_CONTROLLER)
  const instr = Buffer.alloc(8);
  instr.writeUInt16BE(OFPIT_APPLY_ACTIONS, 0);
  instr.writeUInt16BE(8 + output.length, 2);

  return message(OFPT.FLOW_MOD, xid, Buffer.concat([fixed, match, instr, output]));
}

/** A minimal OpenFlow connection: frames messages by their length field, answers echo, records errors. */
class OfConnection {
  private buffered = Buffer.alloc(0);
  private readonly inbox: OfMessage[] = [];
  private waiter: (() => void) | null = null;
  readonly errors: OfMessage[] = [];
  private closedWith: Error | null = null;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (err: Error) => this.onClose(err));
    sock.on('close', () => this.onClose(new Error('connection closed')));
  }

  static open(path: string): Promise<OfConnection> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(path);
      sock.once('connect', () => resolve(new OfConnection(sock)));
      sock.once('error', reject);
    });
  }

  send(msg: Buffer): void {
    this.sock.write(msg);
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 8) {
      const length = this.buffered.readUInt16BE(2);
      if (length < 8) {
        this.onClose(new Error(`bad OpenFlow length ${length}`));
        return;
      }
      if (this.buffered.length < length) break;
      const msg: OfMessage = {
        version: this.buffered.readUInt8(0),
        type: this.buffered.readUInt8(1),
        xid: this.buffered.readUInt32BE(4),
        body: Buffer.from(this.buffered.subarray(8, length)),
      };
      this.buffered = this.buffered.subarray(length);
      if (msg.type === OFPT.ECHO_REQUEST) {
        this.send(message(OFPT.ECHO_REPLY, msg.xid, msg.body));
        continue;
      }
      if (msg.type === OFPT.ERROR) this.errors.push(msg);
      this.inbox.push(msg);
    }
    this.wake();
  }

  private onClose(err: Error): void {
    this.closedWith ??= err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Next received message of the given type; an OFPT_ERROR received first is thrown instead. */
  async expect(type: number, timeoutMs = 5000): Promise<OfMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type || m.type === OFPT.ERROR);
      if (i >= 0) {
        const [msg] = this.inbox.splice(i, 1);
        if (msg === undefined) continue;
        if (msg.type === OFPT.ERROR) {
          throw new Error(
            `OFPT_ERROR type=${msg.body.readUInt16BE(0)} code=${msg.body.readUInt16BE(2)} xid=${msg.xid}`,
          );
        }
        return msg;
      }
      if (this.closedWith !== null) throw this.closedWith;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for OpenFlow message type ${type}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('OF1.3 handshake, FLOW_MOD and BARRIER over br-int.mgmt; ovs-ofctl sees the flow', async () => {
    const sb = await OvsSandbox.start({ name: 'ofmgmt', datapathId: DATAPATH_ID.toString(16).padStart(16, '0') });
    let conn: OfConnection | null = null;
    try {
      conn = await OfConnection.open(sb.mgmtSocket('br-int'));
      conn.send(hello(1));
      const theirHello = await conn.expect(OFPT.HELLO);
      // OVS answers with its highest version plus a bitmap; the negotiated version is the highest common one.
      assert.ok(theirHello.version >= OFP_VERSION_13, `OVS hello version ${theirHello.version}`);

      conn.send(message(OFPT.FEATURES_REQUEST, 2));
      const features = await conn.expect(OFPT.FEATURES_REPLY);
      assert.is(features.version, OFP_VERSION_13);
      assert.is(features.xid, 2);
      assert.is(features.body.length, 24, 'OF1.3 features reply body is 24 bytes');
      assert.is(features.body.readBigUInt64BE(0), DATAPATH_ID);
      const fromDb = (await sb.vsctl(['get', 'bridge', 'br-int', 'datapath_id'])).stdout.trim().replace(/"/g, '');
      assert.is(BigInt(`0x${fromDb}`), DATAPATH_ID);

      conn.send(setConfig(3, 0xffff));
      conn.send(flowModAdd(4));
      conn.send(message(OFPT.BARRIER_REQUEST, 5));
      const barrier = await conn.expect(OFPT.BARRIER_REPLY);
      assert.is(barrier.xid, 5);
      assert.equal(conn.errors, [], 'no OFPT_ERROR received');

      const dump = (await sb.ofctl(['-O', 'OpenFlow13', 'dump-flows', 'br-int'])).stdout;
      const line = dump.split('\n').find((l) => l.includes('cookie=0x1234'));
      assert.ok(line !== undefined, `flow missing from dump:\n${dump}`);
      assert.match(line, /table=0\b/);
      assert.match(line, /priority=123,arp,in_port=1 actions=output:2/);
    } finally {
      conn?.close();
      await sb.stop();
    }
  });

  test.run();
}
