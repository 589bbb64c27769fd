import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AddrError,
  INVALID,
  cidrContains,
  cidrProblem,
  formatCidr,
  formatIpv4,
  formatMac,
  ipv4Problem,
  looksLikeIpv6,
  macProblem,
  parseCidr,
  parseIpv4,
  parseMac,
  prefixMask,
  requireCidr,
  requireIpv4,
  requireMac,
} from './addr';

test('IPv4 text <-> uint32 round trips, including the extremes', () => {
  assert.is(parseIpv4('0.0.0.0'), 0);
  assert.is(parseIpv4('255.255.255.255'), 0xffffffff);
  assert.is(parseIpv4('10.0.0.1'), 0x0a000001);
  assert.is(parseIpv4('192.168.100.250'), 0xc0a864fa);
  for (const text of ['0.0.0.0', '1.2.3.4', '172.17.111.222', '255.255.255.255', '128.0.0.1']) {
    assert.is(formatIpv4(parseIpv4(text)), text);
  }
});

test('IPv4 parser is strict', () => {
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.256',
    '01.2.3.4',
    '1.2.3.04',
    '1..3.4',
    '.1.2.3',
    '1.2.3.4.',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3.a',
    '1.2.3.-1',
    '1.2.3.4/24',
    '1234.1.1.1',
    '::1',
    'fe80::1',
  ]) {
    assert.is(parseIpv4(bad), INVALID, bad);
  }
  assert.is(parseIpv4('0.0.0.0'), 0, 'a lone 0 is not a leading zero');
});

test('IPv4 problems say what is wrong', () => {
  assert.match(
    ipv4Problem('ip_address', '10.0.0.256'),
    "ip_address '10.0.0.256' is not an IPv4 address (part 4 (256) is over 255",
  );
  assert.match(ipv4Problem('ip_address', '10.0.0'), 'it has 3 dot-separated parts, not 4');
  assert.match(ipv4Problem('ip_address', '10.0.01.1'), "part 3 '01' has a leading zero");
  assert.match(ipv4Problem('ip_address', '10.0..1'), 'part 3 is empty');
  assert.match(ipv4Problem('ip_address', ''), 'ip_address is empty');
  assert.match(ipv4Problem('ip_address', 'fd00::5'), 'IPv6 is not supported yet');
  assert.not.match(ipv4Problem('ip_address', 'fa:16:3e:00:00:01'), 'IPv6', 'a MAC is not mistaken for IPv6');
  assert.ok(ipv4Problem('x', 'y'.repeat(10000)).length < 300, 'huge input is cut short in the message');
});

test('looksLikeIpv6 recognises IPv6 text', () => {
  assert.ok(looksLikeIpv6('::'));
  assert.ok(looksLikeIpv6('2001:db8::1'));
  assert.ok(looksLikeIpv6('fe80::1%eth0'));
  assert.ok(looksLikeIpv6('2001:db8::/64'));
  assert.ok(!looksLikeIpv6('10.0.0.1'));
  assert.ok(!looksLikeIpv6('fa:16:3e:00:00:01'));
});

test('CIDR parsing keeps the prefix and clears host bits', () => {
  assert.equal(parseCidr('10.0.0.0/24'), { addr: 0x0a000000, prefix: 24 });
  assert.equal(parseCidr('10.0.0.5/24'), { addr: 0x0a000000, prefix: 24 }, 'host bits are accepted and cleared');
  assert.equal(parseCidr('0.0.0.0/0'), { addr: 0, prefix: 0 });
  assert.equal(parseCidr('1.2.3.4/32'), { addr: 0x01020304, prefix: 32 });
  assert.equal(parseCidr('255.255.255.255/1'), { addr: 0x80000000, prefix: 1 });
  for (const bad of [
    '10.0.0.0',
    '10.0.0.0/',
    '10.0.0.0/33',
    '10.0.0.0/024',
    '10.0.0.0/2a',
    '10.0.0.0/-1',
    '/24',
    '10.0.0/24',
    'fd00::/64',
    '10.0.0.0/24/1',
  ]) {
    assert.is(parseCidr(bad), undefined, bad);
  }
  assert.equal(parseCidr('10.0.0.7', true), { addr: 0x0a000007, prefix: 32 }, 'bare address reads as /32 when allowed');
  assert.is(formatCidr({ addr: 0xc0a80000, prefix: 16 }), '192.168.0.0/16');
});

test('CIDR problems say what is wrong', () => {
  assert.match(cidrProblem('cidr', '10.0.0.0'), 'the /prefix is missing');
  assert.match(cidrProblem('cidr', '10.0.0.0/33'), "the prefix '33' is not a whole number 0-32");
  assert.match(cidrProblem('cidr', '10.0.300.0/24'), 'part 3 (300) is over 255');
  assert.match(cidrProblem('cidr', '10.0.0.0/'), 'the prefix after / is empty');
  assert.match(cidrProblem('cidr', 'fd00::/64'), 'IPv6 is not supported yet');
});

test('prefixMask and cidrContains', () => {
  assert.is(prefixMask(0), 0);
  assert.is(prefixMask(8), 0xff000000);
  assert.is(prefixMask(24), 0xffffff00);
  assert.is(prefixMask(32), 0xffffffff);
  const net = { addr: 0x0a000000, prefix: 24 };
  assert.ok(cidrContains(net, 0x0a0000ff));
  assert.ok(!cidrContains(net, 0x0a000100));
  assert.ok(cidrContains({ addr: 0, prefix: 0 }, 0xffffffff));
  assert.ok(cidrContains({ addr: 0xc0000000, prefix: 2 }, 0xffffffff));
});

test('MAC text <-> 48-bit number, both separators, any case', () => {
  assert.is(parseMac('fa:16:3e:00:00:01'), 0xfa163e000001);
  assert.is(parseMac('FA-16-3E-00-00-01'), 0xfa163e000001);
  assert.is(parseMac('ff:ff:ff:ff:ff:ff'), 0xffffffffffff);
  assert.is(parseMac('00:00:00:00:00:00'), 0);
  assert.is(formatMac(0xfa163e000001), 'fa:16:3e:00:00:01');
  assert.is(formatMac(0xffffffffffff), 'ff:ff:ff:ff:ff:ff');
  assert.is(formatMac(0x0102030405a6, '-'), '01-02-03-04-05-a6');
  for (const text of ['00:00:00:00:00:00', '12:34:56:78:9a:bc', 'fe:16:11:00:00:00', '80:00:00:00:00:01']) {
    assert.is(formatMac(parseMac(text)), text);
  }
});

test('MAC parser is strict', () => {
  for (const bad of [
    '',
    'zz:16:3e:00:00:01',
    'fa:16:3e:00:00',
    'fa:16:3e:00:00:01:02',
    'fa:16-3e:00:00:01',
    'fa163e000001',
    'fa.16.3e.00.00.01',
    ' fa:16:3e:00:00:01',
    'fa:16:3e:00:00:0g',
    'fa:16:3e:0:00:001',
  ]) {
    assert.is(parseMac(bad), INVALID, bad);
  }
  assert.is(
    macProblem('mac_address', 'zz:16:3e:00:00:01'),
    "mac_address 'zz:16:3e:00:00:01' is not a MAC (want six hex pairs like fa:16:3e:00:00:01)",
  );
  assert.match(macProblem('mac_address', ''), 'mac_address is empty');
});

test('require* variants throw AddrError with a code', () => {
  assert.is(requireIpv4('ip', '1.2.3.4'), 0x01020304);
  assert.is(requireMac('mac', 'fa:16:3e:00:00:01'), 0xfa163e000001);
  assert.equal(requireCidr('cidr', '10.1.0.0/16'), { addr: 0x0a010000, prefix: 16 });
  const codeOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e: unknown) {
      if (e instanceof AddrError) return e.code;
      throw e;
    }
    return 'none';
  };
  assert.is(
    codeOf(() => requireIpv4('ip', '1.2.3')),
    'BAD_IPV4',
  );
  assert.is(
    codeOf(() => requireIpv4('ip', '::1')),
    'IPV6_UNSUPPORTED',
  );
  assert.is(
    codeOf(() => requireCidr('cidr', 'fd00::/8')),
    'IPV6_UNSUPPORTED',
  );
  assert.is(
    codeOf(() => requireCidr('cidr', '10.0.0.0/40')),
    'BAD_CIDR',
  );
  assert.is(
    codeOf(() => requireMac('mac', 'nope')),
    'BAD_MAC',
  );
});

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('random round trips and agreement with a reference reading', () => {
  const next = rng(42);
  for (let i = 0; i < 20000; i++) {
    const ip = Math.floor(next() * 4294967296);
    assert.is(parseIpv4(formatIpv4(ip)), ip);
    const mac = Math.floor(next() * 2 ** 48);
    assert.is(parseMac(formatMac(mac)), mac);
    assert.is(parseMac(formatMac(mac, '-').toUpperCase()), mac);
    const prefix = Math.floor(next() * 33);
    const c = parseCidr(formatIpv4(ip) + '/' + prefix);
    assert.is(c?.prefix, prefix);
    assert.is(c?.addr, (ip & prefixMask(prefix)) >>> 0);
  }
  // Random short strings over the characters that matter: the parser must agree with a slow,
  // obviously right reading.
  const alphabet = '0123456789.:/-afAFgz ';
  const reference = (t: string): number => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
    if (m === null) return INVALID;
    const parts = m.slice(1).map((p) => (p.length > 1 && p.startsWith('0') ? 256 : Number(p)));
    return parts.every((p) => p <= 255) ? parts.reduce((acc, p) => acc * 256 + p, 0) : INVALID;
  };
  for (let i = 0; i < 50000; i++) {
    const len = 1 + Math.floor(next() * 16);
    let t = '';
    for (let j = 0; j < len; j++) t += alphabet[Math.floor(next() * alphabet.length)];
    assert.is(parseIpv4(t), reference(t), JSON.stringify(t));
  }
});

test.run();
