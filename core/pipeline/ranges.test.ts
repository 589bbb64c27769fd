import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cidrContains, cidrMatch, prefixMask, rangeMatches, rangeToMasks } from './ranges';

function covered(min: number, max: number, bits = 16): boolean {
  const masks = rangeToMasks(min, max, bits);
  const full = 2 ** bits;
  for (let v = 0; v < full; v++) {
    const hit = masks.some((m) => (v & m.mask) === m.value);
    if (hit !== (v >= min && v <= max)) return false;
  }
  return true;
}

test('range -> masks: known cases', () => {
  assert.equal(rangeToMasks(0, 65535), [{ value: 0, mask: 0 }]);
  assert.equal(rangeToMasks(80, 80), [{ value: 80, mask: 0xffff }]);
  assert.equal(rangeToMasks(22, 23), [{ value: 22, mask: 0xfffe }]);
  assert.equal(rangeToMasks(1024, 65535), [
    { value: 1024, mask: 0xfc00 },
    { value: 2048, mask: 0xf800 },
    { value: 4096, mask: 0xf000 },
    { value: 8192, mask: 0xe000 },
    { value: 16384, mask: 0xc000 },
    { value: 32768, mask: 0x8000 },
  ]);
  assert.is(rangeToMasks(1, 65534).length, 30, 'the worst case is 2*16-2 masks');
  assert.equal(rangeToMasks(0, 7, 3), [{ value: 0, mask: 0 }]);
});

test('range -> masks: union is exactly the range (exhaustive over 16 bits, sampled ranges)', () => {
  let seed = 7;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 16;
  };
  const cases: [number, number][] = [
    [0, 0],
    [65535, 65535],
    [1, 65534],
    [1000, 1999],
    [32767, 32768],
    [0, 1],
  ];
  for (let i = 0; i < 30; i++) {
    const a = rnd();
    const b = rnd();
    cases.push([Math.min(a, b), Math.max(a, b)]);
  }
  for (const [min, max] of cases) assert.ok(covered(min, max), `[${min}, ${max}]`);
});

test('range -> masks: blocks are disjoint and minimal in count', () => {
  const m = rangeToMasks(1000, 1999);
  assert.is(m.length, 7);
  let total = 0;
  for (const x of m) total += 0x10000 - x.mask;
  assert.is(total, 1000);
});

test('bad ranges throw with a code', () => {
  for (const [a, b] of [
    [5, 4],
    [-1, 3],
    [0, 70000],
    [1.5, 2],
  ] as [number, number][]) {
    try {
      rangeToMasks(a, b);
      assert.unreachable();
    } catch (e: unknown) {
      assert.is((e as { code?: string }).code, 'BAD_RANGE');
    }
  }
});

test('rangeMatches drops full masks and the any-mask', () => {
  assert.equal(rangeMatches('tcp_dst', 80, 80), [{ field: 'tcp_dst', value: 80 }]);
  assert.equal(rangeMatches('tcp_dst', 0, 65535), [undefined]);
  assert.equal(rangeMatches('udp_dst', 22, 23), [{ field: 'udp_dst', value: 22, mask: 0xfffe }]);
});

test('cidr helpers', () => {
  assert.is(prefixMask(24), 0xffffff00);
  assert.is(prefixMask(0), 0);
  assert.is(prefixMask(32), 0xffffffff);
  const c = { addr: 0x0a000105, prefix: 24 };
  assert.equal(cidrMatch('ipv4_dst', c), { field: 'ipv4_dst', value: 0x0a000100, mask: 0xffffff00 });
  assert.equal(cidrMatch('ipv4_dst', { addr: 0x0a000105, prefix: 32 }), { field: 'ipv4_dst', value: 0x0a000105 });
  assert.is(cidrMatch('ipv4_src', { addr: 0, prefix: 0 }), undefined);
  assert.ok(cidrContains(c, 0x0a0001ff));
  assert.not.ok(cidrContains(c, 0x0a000201));
  assert.ok(cidrContains({ addr: 0xc0a80000, prefix: 16 }, 0xc0a8ffff), 'high-bit addresses');
});

test.run();
