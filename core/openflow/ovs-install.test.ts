// The codec against real OVS: negotiate OF1.4 over br-int.mgmt, install one atomic bundle
// holding every match field and action kind Flow has, then check that
//  - `ovs-ofctl dump-flows` prints, per flow, exactly formatFlow(flow);
//  - a flow-stats multipart dump decoded with decodeFlowStats gives back the very Flow values;
//  - one bad flow-mod makes the whole bundle's COMMIT fail with a decoded ERROR naming the
//    problem, and none of that bundle's flows is installed.
import * as net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Action, canonicalMatch, flowKey, OFPP_IN_PORT, OFPP_LOCAL, type Flow } from '../flow';
import { requirePrereqs } from '../../test/prereq';
import { OvsSandbox } from '../../test/sandbox';
import {
  ByteWriter,
  OFP13_VERSION,
  OFP14_VERSION,
  OFPFF,
  OFPMP,
  BUNDLE_ATOMIC_ORDERED,
  writeBundledFlowMod,
  negotiateVersion,
  OpenFlowFramer,
  decodeFlowStats,
  decodeMessage,
  describeError,
  encodeBarrierRequest,
  encodeBundleControl,
  encodeBundledFlowMods,
  encodeFeaturesRequest,
  encodeFlowStatsRequest,
  encodeHello,
  encodeEchoReply,
  formatFlow,
  normalizeDumpLine,
  type OfMessage,
} from './index';
import { MATCH_FIELDS } from './oxm';

/** Just enough of a connection for the test: framing, a mailbox, echo replies. */
class TestConnection {
  readonly #framer = new OpenFlowFramer();
  readonly #inbox: OfMessage[] = [];
  #wake: (() => void) | null = null;
  #closed: Error | null = null;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const raw of this.#framer.push(chunk)) {
          const m = decodeMessage(raw);
          if (m.kind === 'echo_request') this.send(encodeEchoReply(m.xid, OFP14_VERSION, m.data));
          else this.#inbox.push(m);
        }
      } catch (e: unknown) {
        this.#closed = e instanceof Error ? e : new Error(String(e));
      }
      this.#notify();
    });
    sock.on('error', (e: Error) => {
      this.#closed ??= e;
      this.#notify();
    });
    sock.on('close', () => {
      this.#closed ??= new Error('connection closed');
      this.#notify();
    });
  }

  static open(path: string): Promise<TestConnection> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(path);
      sock.once('connect', () => resolve(new TestConnection(sock)));
      sock.once('error', reject);
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  send(b: Buffer): void {
    this.sock.write(b);
  }

  /** Waits for the first message satisfying `pred`; earlier non-matching ones stay queued. */
  async next(pred: (m: OfMessage) => boolean, timeoutMs = 5000): Promise<OfMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#inbox.findIndex(pred);
      if (i >= 0) return this.#inbox.splice(i, 1)[0] as OfMessage;
      if (this.#closed) throw this.#closed;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout; inbox: ${this.#inbox.map((m) => m.kind).join(',')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  drain(): OfMessage[] {
    return this.#inbox.splice(0);
  }

  close(): void {
    this.sock.destroy();
  }
}

const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
const mac = (s: string): number => parseInt(s.replace(/:/g, ''), 16);
const TAP_PORT = 7;

/** Every match field and action kind of core/flow.ts, in flows OVS accepts (prerequisites present). */
const FLOWS: readonly Flow[] = [
  {
    table: 20,
    priority: 50,
    cookie: 0x5n,
    match: [
      { field: 'reg6', value: 0x14 },
      { field: 'eth_type', value: 0x0806 },
      { field: 'arp_op', value: 1 },
      { field: 'arp_tpa', value: ip('10.0.0.5') },
    ],
    actions: [
      { kind: 'move', src: 'eth_src', srcOfs: 0, dst: 'eth_dst', dstOfs: 0, nBits: 48 },
      { kind: 'set_field', field: 'eth_src', value: mac('02:00:00:00:00:77') },
      { kind: 'set_field', field: 'arp_op', value: 2 },
      { kind: 'move', src: 'arp_sha', srcOfs: 0, dst: 'arp_tha', dstOfs: 0, nBits: 48 },
      { kind: 'move', src: 'arp_spa', srcOfs: 0, dst: 'arp_tpa', dstOfs: 0, nBits: 32 },
      { kind: 'set_field', field: 'arp_sha', value: mac('02:00:00:00:00:77') },
      { kind: 'set_field', field: 'arp_spa', value: ip('10.200.0.77') },
      { kind: 'output', port: OFPP_IN_PORT },
    ],
  },
  {
    table: 20,
    priority: 40,
    cookie: 0x6n,
    match: [
      { field: 'eth_type', value: 0x0806 },
      { field: 'arp_spa', value: ip('10.1.0.0'), mask: 0xffff0000 },
      { field: 'arp_sha', value: mac('02:00:00:00:00:01') },
      { field: 'arp_tha', value: mac('02:00:00:00:00:00'), mask: mac('ff:ff:ff:00:00:00') },
    ],
    actions: [{ kind: 'output', port: TAP_PORT }],
  },
  {
    table: 1,
    priority: 10,
    cookie: 0x1_0000_0001n,
    match: [
      { field: 'in_port', value: TAP_PORT },
      { field: 'ct_state', value: 0x22, mask: 0x23 },
      { field: 'ct_zone', value: 5 },
      { field: 'ct_mark', value: 0x1, mask: 0x1 },
      { field: 'eth_type', value: 0x0800 },
      { field: 'ip_proto', value: 6 },
      { field: 'ipv4_src', value: ip('10.0.0.0'), mask: 0xff000000 },
      { field: 'ipv4_dst', value: ip('10.0.1.0'), mask: 0xff00ff00 },
      { field: 'tcp_src', value: 0x400, mask: 0xfc00 },
      { field: 'tcp_dst', value: 80 },
      { field: 'tcp_flags', value: 0x002, mask: 0x012 },
    ],
    actions: [{ kind: 'ct', commit: true, zone: 5, table: 30, setMark: 1 }],
    goto: 5,
  },
  {
    table: 1,
    priority: 11,
    cookie: 0xffff_ffff_ffff_fff0n,
    match: [
      { field: 'eth_type', value: 0x0800 },
      { field: 'ip_proto', value: 17 },
      { field: 'ip_dscp', value: 10 },
      { field: 'ip_ttl', value: 3 },
      { field: 'udp_src', value: 5 },
      { field: 'udp_dst', value: 0x50, mask: 0xfff0 },
    ],
    actions: [
      { kind: 'dec_ttl' },
      { kind: 'set_field', field: 'ip_dscp', value: 8 },
      { kind: 'set_field', field: 'ip_ttl', value: 9 },
    ],
  },
  {
    table: 1,
    priority: 12,
    cookie: 0x7n,
    match: [
      { field: 'eth_src', value: mac('02:00:00:00:00:01') },
      { field: 'eth_dst', value: mac('02:00:00:00:00:00'), mask: mac('ff:ff:ff:00:00:00') },
      { field: 'eth_type', value: 0x0800 },
      { field: 'vlan_vid', value: 0x1000 | 10 },
      { field: 'ip_proto', value: 1 },
      { field: 'icmpv4_type', value: 8 },
      { field: 'icmpv4_code', value: 0 },
    ],
    actions: [
      { kind: 'load', field: 'reg6', value: 5, ofs: 0, nBits: 16 },
      { kind: 'load', field: 'reg0', value: 1, ofs: 0, nBits: 32 },
      { kind: 'load', field: 'reg0', value: 1, ofs: 5, nBits: 1 },
      { kind: 'load', field: 'reg7', value: 0, ofs: 0, nBits: 32 },
      { kind: 'move', src: 'reg0', srcOfs: 0, dst: 'reg1', dstOfs: 8, nBits: 8 },
      { kind: 'resubmit', table: 30 },
      { kind: 'set_field', field: 'tun_ipv4_dst', value: ip('10.1.1.1') },
      { kind: 'set_field', field: 'ipv4_src', value: ip('10.9.9.9') },
      { kind: 'controller', maxLen: 0xffff },
      { kind: 'output', port: OFPP_LOCAL },
      { kind: 'output', port: TAP_PORT },
    ],
  },
  {
    table: 2,
    priority: 13,
    cookie: 0x8n,
    match: [
      { field: 'metadata', value: 0x5, mask: 0xff },
      { field: 'reg9', value: 0x3, mask: 0xf },
      { field: 'tun_id', value: 0x64 },
      { field: 'tun_ipv4_src', value: ip('1.1.1.1') },
      { field: 'tun_ipv4_dst', value: ip('2.2.2.0'), mask: 0xffffff00 },
      { field: 'conj_id', value: 7 },
    ],
    actions: [
      { kind: 'controller', maxLen: 128 },
      { kind: 'set_field', field: 'reg6', value: 0x10 },
      { kind: 'load', field: 'tun_id', value: 2, ofs: 0, nBits: 64 },
      { kind: 'set_field', field: 'metadata', value: 5 },
      { kind: 'set_field', field: 'tun_id', value: 0x123456789a },
      { kind: 'set_field', field: 'tun_ipv4_src', value: ip('3.3.3.3') },
    ],
  },
  {
    table: 4,
    priority: 17,
    cookie: 0x9n,
    match: [{ field: 'eth_type', value: 0x0800 }],
    actions: [
      { kind: 'conjunction', id: 7, clause: 1, nClauses: 2 },
      { kind: 'conjunction', id: 8, clause: 2, nClauses: 3 },
    ],
  },
  { table: 0, priority: 0x8000, cookie: 0n, match: [], actions: [] },
  { table: 0, priority: 0, cookie: 0n, match: [], actions: [], goto: 1 },
  {
    table: 2,
    priority: 15,
    cookie: 0xan,
    match: [
      { field: 'eth_type', value: 0x0800 },
      { field: 'ipv4_dst', value: ip('1.2.3.4') },
    ],
    actions: [{ kind: 'ct', commit: false, zone: 7, table: 3 }],
  },
  {
    table: 2,
    priority: 0,
    cookie: 0xbn,
    match: [{ field: 'eth_type', value: 0x0800 }],
    actions: [{ kind: 'ct', commit: false, zone: 0 }],
  },
  {
    table: 3,
    priority: 100,
    cookie: 0xcn,
    match: [
      { field: 'ct_state', value: 0x21, mask: 0xff },
      { field: 'eth_type', value: 0x0800 },
      { field: 'ip_proto', value: 6 },
      { field: 'tcp_flags', value: 0x012, mask: 0xfff },
    ],
    actions: [{ kind: 'ct', commit: true, zone: 9 }],
  },
  {
    table: 3,
    priority: 101,
    cookie: 0xdn,
    match: [
      { field: 'vlan_vid', value: 0x1000, mask: 0x1000 },
      { field: 'eth_type', value: 0x86dd },
      { field: 'ip_proto', value: 6 },
    ],
    actions: [{ kind: 'output', port: 1 }],
  },
  {
    table: 3,
    priority: 103,
    cookie: 0xfn,
    match: [
      { field: 'reg1', value: 1 },
      { field: 'reg2', value: 2 },
      { field: 'reg3', value: 3, mask: 0xff },
      { field: 'reg4', value: 4 },
      { field: 'reg5', value: 5 },
      { field: 'reg7', value: 7 },
      { field: 'reg8', value: 0x80000000, mask: 0x80000000 },
    ],
    actions: [{ kind: 'load', field: 'reg8', value: 1, ofs: 31, nBits: 1 }],
  },
  {
    table: 3,
    priority: 102,
    cookie: 0xen,
    match: [
      { field: 'reg0', value: 0 },
      { field: 'ct_mark', value: 0 },
      { field: 'eth_type', value: 0x1234 },
    ],
    actions: [{ kind: 'resubmit', table: 4 }],
    goto: 4,
  },
];

async function handshake(conn: TestConnection): Promise<void> {
  conn.send(encodeHello(1));
  const hello = await conn.next((m) => m.kind === 'hello');
  assert.ok(
    hello.kind === 'hello' && negotiateVersion([OFP13_VERSION, OFP14_VERSION], hello) === OFP14_VERSION,
    'OF1.4 negotiable',
  );
  conn.send(encodeFeaturesRequest(2, OFP14_VERSION));
  const features = await conn.next((m) => m.kind === 'features_reply' || m.kind === 'error');
  assert.is(features.kind, 'features_reply');
  assert.is(features.version, OFP14_VERSION, 'OF1.4 negotiated');
}

/** OPEN, ADD×N, COMMIT, BARRIER; returns the commit reply (bundle_control or error) and all errors. */
async function installBundle(
  conn: TestConnection,
  bundleId: number,
  flows: readonly Flow[],
  firstXid: number,
): Promise<{ commit: OfMessage; errors: OfMessage[] }> {
  const w = new ByteWriter();
  w.bytes(encodeBundleControl(firstXid, OFP14_VERSION, bundleId, 'open'));
  const next = encodeBundledFlowMods(w, bundleId, flows, 'add', OFP14_VERSION, firstXid + 1);
  w.bytes(encodeBundleControl(next, OFP14_VERSION, bundleId, 'commit'));
  w.bytes(encodeBarrierRequest(next + 1, OFP14_VERSION));
  conn.send(w.toBuffer());
  const open = await conn.next((m) => m.xid === firstXid);
  assert.ok(
    open.kind === 'bundle_control' && open.ctrlTypeName === 'open_reply',
    `open reply: ${JSON.stringify(open.kind)}`,
  );
  const commit = await conn.next((m) => m.xid === next && (m.kind === 'bundle_control' || m.kind === 'error'));
  await conn.next((m) => m.kind === 'barrier_reply' && m.xid === next + 1);
  return { commit, errors: conn.drain().filter((m) => m.kind === 'error') };
}

async function dumpLines(sb: OvsSandbox, names: boolean): Promise<string[]> {
  const out = (await sb.ofctl([names ? '--names' : '--no-names', 'dump-flows', 'br-int'])).stdout;
  return out
    .split('\n')
    .filter((l) => l.includes('cookie='))
    .map(normalizeDumpLine)
    .sort();
}

async function multipartFlows(conn: TestConnection, xid: number): Promise<Flow[]> {
  conn.send(encodeFlowStatsRequest(xid, OFP14_VERSION));
  const flows: Flow[] = [];
  for (;;) {
    const m = await conn.next((x) => x.xid === xid);
    assert.ok(m.kind === 'multipart_reply' && m.mpType === OFPMP.FLOW, `flow stats reply, got ${m.kind}`);
    flows.push(...decodeFlowStats(m.body));
    if (!m.more) return flows;
  }
}

const byKey = (a: Flow, b: Flow): number => (flowKey(a) < flowKey(b) ? -1 : flowKey(a) > flowKey(b) ? 1 : 0);

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('the bundle below covers every match field and action kind', () => {
    const fields = new Set(FLOWS.flatMap((f) => f.match.map((m) => m.field)));
    assert.equal(
      MATCH_FIELDS.filter((f) => !fields.has(f)),
      [],
    );
    const kinds = new Set(FLOWS.flatMap((f) => f.actions.map((a) => a.kind)));
    const all: readonly Action['kind'][] = [
      'output',
      'controller',
      'set_field',
      'load',
      'move',
      'resubmit',
      'ct',
      'conjunction',
      'dec_ttl',
    ];
    assert.equal(
      all.filter((k) => !kinds.has(k)),
      [],
    );
    assert.ok(FLOWS.some((f) => f.goto !== undefined));
    assert.ok(
      FLOWS.some((f) =>
        f.actions.some(
          (a) => a.kind === 'ct' && a.commit && a.table !== undefined && a.zone !== 0 && a.setMark !== undefined,
        ),
      ),
    );
  });

  test('one OF1.4 bundle installs every field/action kind; dump-flows and flow stats agree with the codec', async () => {
    const sb = await OvsSandbox.start({ name: 'ofcodec' });
    let conn: TestConnection | null = null;
    try {
      await sb.vsctl([
        'add-port',
        'br-int',
        'tapofc',
        '--',
        'set',
        'interface',
        'tapofc',
        'type=internal',
        `ofport_request=${TAP_PORT}`,
      ]);
      conn = await TestConnection.open(sb.mgmtSocket('br-int'));
      await handshake(conn);

      const { commit, errors } = await installBundle(conn, 1, FLOWS, 100);
      assert.equal(
        errors.map((e) => (e.kind === 'error' ? describeError(e) : e.kind)),
        [],
      );
      assert.ok(commit.kind === 'bundle_control' && commit.ctrlTypeName === 'commit_reply', `commit: ${commit.kind}`);

      const want = FLOWS.map((f) => formatFlow(f)).sort();
      assert.equal(await dumpLines(sb, false), want);

      const named = FLOWS.map((f) => formatFlow(f, { portNames: new Map([[TAP_PORT, 'tapofc']]) })).sort();
      assert.equal(await dumpLines(sb, true), named);

      const got = (await multipartFlows(conn, 500)).sort(byKey);
      const sent = FLOWS.map((f) => ({ ...f, match: canonicalMatch(f.match) })).sort(byKey);
      assert.equal(got, sent);
    } finally {
      conn?.close();
      await sb.stop();
    }
  });

  test('a flow-mod that fails at COMMIT fails the whole bundle with a named error; nothing is installed', async () => {
    const sb = await OvsSandbox.start({ name: 'ofcodec2' });
    let conn: TestConnection | null = null;
    try {
      conn = await TestConnection.open(sb.mgmtSocket('br-int'));
      await handshake(conn);
      const a: Flow = {
        table: 0,
        priority: 5,
        cookie: 0x77n,
        match: [{ field: 'reg1', value: 1 }],
        actions: [{ kind: 'output', port: 1 }],
      };
      const c: Flow = { table: 0, priority: 7, cookie: 0x79n, match: [{ field: 'reg1', value: 3 }], actions: [] };
      // Same table and priority as `a`, overlapping match, OFPFF_CHECK_OVERLAP: OVS can only see
      // the overlap when it applies the bundle, so the COMMIT itself fails (OFPFMFC_OVERLAP).
      const overlapping: Flow = { table: 0, priority: 5, cookie: 0x78n, match: [], actions: [] };
      const w = new ByteWriter();
      w.bytes(encodeBundleControl(10, OFP14_VERSION, 9, 'open'));
      encodeBundledFlowMods(w, 9, [a], 'add', OFP14_VERSION, 11);
      writeBundledFlowMod(w, 12, OFP14_VERSION, 9, overlapping, 'add', BUNDLE_ATOMIC_ORDERED, {
        flags: OFPFF.CHECK_OVERLAP,
      });
      encodeBundledFlowMods(w, 9, [c], 'add', OFP14_VERSION, 13);
      w.bytes(encodeBundleControl(14, OFP14_VERSION, 9, 'commit'));
      w.bytes(encodeBarrierRequest(15, OFP14_VERSION));
      conn.send(w.toBuffer());
      await conn.next((m) => m.kind === 'barrier_reply' && m.xid === 15);
      const msgs = conn.drain();
      const errors = msgs.filter((m): m is Extract<OfMessage, { kind: 'error' }> => m.kind === 'error');
      const described = errors.map(describeError).join('; ');
      assert.ok(
        !msgs.some((m) => m.kind === 'bundle_control' && m.ctrlTypeName === 'commit_reply'),
        `no commit reply: ${described}`,
      );
      assert.ok(
        errors.some(
          (e) => e.typeName === 'OFPET_FLOW_MOD_FAILED' && e.codeName === 'OFPFMFC_OVERLAP' && e.failedXid === 12,
        ),
        `the overlap is named and points at the bad flow-mod: ${described}`,
      );
      assert.ok(
        errors.some((e) => e.xid === 14 && e.typeName === 'OFPET_BUNDLE_FAILED'),
        `the COMMIT (xid 14) fails: ${described}`,
      );
      assert.equal(await dumpLines(sb, false), [], 'no flow of the failed bundle is installed');
      assert.equal(await multipartFlows(conn, 900), []);
    } finally {
      conn?.close();
      await sb.stop();
    }
  });

  test('a flow-mod OVS rejects on BUNDLE_ADD is named with its xid; DISCARD then leaves nothing installed', async () => {
    const sb = await OvsSandbox.start({ name: 'ofcodec3' });
    let conn: TestConnection | null = null;
    try {
      conn = await TestConnection.open(sb.mgmtSocket('br-int'));
      await handshake(conn);
      const good: Flow = {
        table: 0,
        priority: 5,
        cookie: 0x77n,
        match: [{ field: 'reg1', value: 1 }],
        actions: [{ kind: 'output', port: 1 }],
      };
      // 0xffffff00 (OFPP_MAX) is neither a real port nor a reserved one.
      const bad: Flow = {
        table: 0,
        priority: 6,
        cookie: 0x78n,
        match: [{ field: 'reg1', value: 2 }],
        actions: [{ kind: 'output', port: 0xffffff00 }],
      };
      const w = new ByteWriter();
      w.bytes(encodeBundleControl(10, OFP14_VERSION, 9, 'open'));
      const next = encodeBundledFlowMods(w, 9, [good, bad, good], 'add', OFP14_VERSION, 11);
      // OVS checks each message as it is added and keeps the bundle open; a COMMIT would install
      // the rest. So: barrier, look for errors, then DISCARD instead of COMMIT.
      w.bytes(encodeBarrierRequest(next, OFP14_VERSION));
      conn.send(w.toBuffer());
      await conn.next((m) => m.kind === 'barrier_reply' && m.xid === next);
      const errors = conn.drain().filter((m): m is Extract<OfMessage, { kind: 'error' }> => m.kind === 'error');
      assert.is(errors.length, 1, errors.map(describeError).join('; '));
      const e = errors[0] as Extract<OfMessage, { kind: 'error' }>;
      assert.is(describeError(e), 'OFPET_BAD_ACTION / OFPBAC_BAD_OUT_PORT (xid 12)');
      assert.is(e.failedXid, 12, 'points at flows[1]');
      assert.is(e.failedType, 34, 'the echoed request is the BUNDLE_ADD_MESSAGE');
      conn.send(encodeBundleControl(20, OFP14_VERSION, 9, 'discard'));
      const discard = await conn.next((m) => m.xid === 20);
      assert.ok(discard.kind === 'bundle_control' && discard.ctrlTypeName === 'discard_reply', discard.kind);
      assert.equal(await dumpLines(sb, false), [], 'nothing installed');
    } finally {
      conn?.close();
      await sb.stop();
    }
  });

  test.run();
}
