import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  COOKIE_MASK,
  COOKIE_MARKER_BITS,
  cookieToString,
  decodeCookie,
  encodeCookie,
  hash32,
  isOurCookie,
} from './cookie';

test('encode/decode round trip for every kind', () => {
  for (const kind of ['infra', 'port', 'neighbor', 'router', 'flood'] as const) {
    const c = encodeCookie(kind, 'abc');
    assert.equal(decodeCookie(c), { ours: true, kind, hash: hash32('abc') });
    assert.ok(isOurCookie(c));
    assert.is(c & COOKIE_MASK, COOKIE_MARKER_BITS);
  }
});

test('layout: marker in bits 63..48, kind in 47..40, reserved zero, hash in 31..0', () => {
  const c = encodeCookie('neighbor', 'x');
  assert.is(c >> 48n, 0xa1c0n);
  assert.is((c >> 40n) & 0xffn, 3n);
  assert.is((c >> 32n) & 0xffn, 0n);
  assert.is(Number(c & 0xffffffffn), hash32('x'));
  assert.ok(c < 1n << 64n);
});

test('foreign cookies are not ours and print as hex', () => {
  assert.not.ok(isOurCookie(0n));
  assert.not.ok(isOurCookie(0x1234_0000_0000_0001n));
  assert.equal(decodeCookie(0x1234n).kind, undefined);
  assert.is(cookieToString(0x1234n), '0x1234');
  assert.is(cookieToString(encodeCookie('port', 'p')), `port#${hash32('p').toString(16).padStart(8, '0')}`);
});

test('FNV-1a 32 known values', () => {
  assert.is(hash32(''), 0x811c9dc5);
  assert.is(hash32('a'), 0xe40c292c);
  assert.is(hash32('foobar'), 0xbf9cf968);
});

test.run();
