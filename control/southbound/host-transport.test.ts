import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeRegistration, encodeRegistration, registrationFrom } from './host-transport';
import { loadRunConfig } from '../config';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const valid = (s: string): boolean => /^[\w.-]+:\d+$/.test(s);

test('registrations round-trip: gRPC, NATS only, NATS with a gRPC fallback', () => {
  for (const r of [
    { transport: 'grpc', agent: '10.0.0.1:50001' },
    { transport: 'nats', agent: null },
    { transport: 'nats', agent: '10.0.0.1:50001' },
  ] as const)
    assert.equal(decodeRegistration(encodeRegistration(r)), r);
  assert.equal(decodeRegistration('10.0.0.1:50001'), { transport: 'grpc', agent: '10.0.0.1:50001' });
});

test('registration input: transport defaults to grpc, which needs an agent; bad transports are refused', () => {
  assert.equal(registrationFrom('a:1', undefined, valid), { value: 'a:1' });
  assert.equal(registrationFrom(undefined, 'nats', valid), { value: 'nats' });
  assert.equal(registrationFrom('a:1', 'nats', valid), { value: 'nats+a:1' });
  assert.ok('error' in registrationFrom(undefined, 'grpc', valid));
  assert.ok('error' in registrationFrom('a:1', 'pulsar', valid));
  assert.ok('error' in registrationFrom('nope', 'nats', valid));
});

test('config file: agents take {agent, transport}; --nats is parsed and checked', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-cfg-'));
  const file = path.join(dir, 'c.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ agents: { '10.0.0.1': '10.0.0.1:50001', '10.0.0.2': { transport: 'nats' } } }),
  );
  try {
    const cfg = loadRunConfig(['--config', file, '--nats', 'nats://127.0.0.1:4222,nats://127.0.0.2:4222'], {});
    assert.is(cfg?.agents.get('10.0.0.1'), '10.0.0.1:50001');
    assert.is(cfg?.agents.get('10.0.0.2'), 'nats');
    assert.equal(cfg?.nats?.servers, ['nats://127.0.0.1:4222', 'nats://127.0.0.2:4222']);
    assert.throws(() => loadRunConfig(['--nats', 'http://x:1'], {}), /nats:\/\/HOST:PORT/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
