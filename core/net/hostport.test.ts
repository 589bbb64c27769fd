import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { joinHostPort, parseHostPort, splitHostPort } from './hostport';

test('IPv4, names and bracketed IPv6 split at the last colon and join back', () => {
  assert.equal(parseHostPort('127.0.0.1:50001'), { host: '127.0.0.1', port: 50001 });
  assert.equal(parseHostPort('agent-7:0'), { host: 'agent-7', port: 0 });
  assert.equal(parseHostPort('[::1]:9090'), { host: '::1', port: 9090 });
  assert.is(joinHostPort('::1', 9090), '[::1]:9090');
  assert.is(joinHostPort('10.0.0.1', 1), '10.0.0.1:1');
});

test('parseHostPort refuses a missing host or port and ports out of range; splitHostPort does not judge', () => {
  for (const bad of ['50001', ':50001', 'host:x', 'host:65536', 'host:-1', 'host:1.5']) {
    assert.is(parseHostPort(bad), undefined, bad);
  }
  assert.ok(Number.isNaN(splitHostPort('host:x').port));
});

test.run();
