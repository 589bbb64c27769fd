// Fuzzing the Zeta OAM parser (issue 19): whatever arrives on a gateway's OAM port, parseOam and
// judgeOam end it in a message or a counted drop, never an exception. Random payloads, valid messages
// cut short (always `truncated`), and valid messages damaged byte by byte. Seeds: test/fuzz.ts.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzz, mutate, mutationArb, type Mutation } from '../../test/fuzz';
import { encodeOam, judgeOam, OAM_DELETE_LEN, parseOam, type OamParse } from './oam';

const u32 = fc.nat({ max: 0xffff_ffff });
const u16 = fc.nat({ max: 0xffff });
const mac = fc.nat({ max: 2 ** 48 - 1 });
const key = {
  srcIp: u32,
  dstIp: u32,
  srcPort: u16,
  dstPort: u16,
  proto: fc.constantFrom(1, 6, 17, 0, 255),
  vni: fc.nat({ max: 0xffffff }),
};
const messageArb = fc.oneof(
  fc.record({
    op: fc.constant('inject' as const),
    ...key,
    instIp: u32,
    instMac: mac,
    nodeIp: u32,
    nodeMac: mac,
    idleTimeout: u16,
  }),
  fc.record({ op: fc.constant('delete' as const), ...key }),
);
const REASONS = new Set(['truncated', 'unknown_op', 'bad_value', 'wrong_port', 'unknown_vni']);

/** A drop with a known reason, or a message whose fields are in range. */
function wellFormed(r: OamParse): void {
  if (r.op === 'drop') {
    assert.ok(REASONS.has(r.reason), r.reason);
    return;
  }
  assert.ok(r.vni >= 0 && r.vni <= 0xffffff && r.srcPort <= 0xffff && r.dstPort <= 0xffff);
  if (r.op === 'inject') assert.ok(r.idleTimeout >= 0 && r.idleTimeout <= 0xffff && r.nodeIp !== 0);
}

const judge = (r: OamParse, port: number): OamParse => judgeOam(r, port, (vni) => (vni % 2 === 0 ? 8300 : undefined));

test('oam fuzz: random payloads end in a message or a counted drop', () => {
  fuzz('random payloads', { runs: 3000, timeMs: 3000 }, [fc.uint8Array({ maxLength: 80 }), u16], (bytes, port) => {
    const r = parseOam(bytes);
    wellFormed(r);
    wellFormed(judge(r, port));
    if (bytes.length < OAM_DELETE_LEN) assert.equal(r, { op: 'drop', reason: 'truncated' });
  });
});

test('oam fuzz: valid messages cut short are dropped as truncated', () => {
  const arbs: [fc.Arbitrary<Uint8Array>, fc.Arbitrary<number>] = [messageArb.map(encodeOam), fc.nat()];
  fuzz('truncated messages', { runs: 2000, timeMs: 3000 }, arbs, (full, cut) => {
    assert.equal(parseOam(full.subarray(0, cut % full.length)), { op: 'drop', reason: 'truncated' });
  });
});

test('oam fuzz: valid messages damaged byte by byte', () => {
  const arbs: [fc.Arbitrary<Uint8Array>, fc.Arbitrary<Mutation[]>, fc.Arbitrary<number>] = [
    messageArb.map(encodeOam),
    fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
    u16,
  ];
  fuzz('damaged messages', { runs: 2000, timeMs: 3000 }, arbs, (bytes, ms, port) => {
    const damaged = ms.reduce((b, m) => mutate(b, m), bytes);
    const r = parseOam(damaged);
    wellFormed(r);
    wellFormed(judge(r, port));
  });
});

test('oam: a valid message survives encode and parse', () => {
  fuzz('round trip', { runs: 1000, timeMs: 2000 }, [messageArb], (m) => {
    const r = parseOam(encodeOam(m));
    if (r.op !== 'drop') assert.equal(r, { ...m });
  });
});

test.run();
