import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadRunConfig } from './config';

test('flags, defaults and embedded mode', () => {
  const c = loadRunConfig(['--listen', '127.0.0.1:1', '--http', '127.0.0.1:2', '--data-dir', '/d'], {});
  assert.ok(c);
  assert.is(c.etcd, null);
  assert.is(c.listen, '127.0.0.1:1');
  assert.is(c.ackMode, 'agents');
  assert.is(loadRunConfig(['--help'], {}), null);
});

test('config file with agents; flags win over the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-cfg-'));
  try {
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        etcd: 'http://127.0.0.1:1,http://127.0.0.1:2',
        ack: 'durable',
        listen: '0.0.0.0:9',
        agents: { '10.0.0.1': '127.0.0.1:50001' },
      }),
    );
    const c = loadRunConfig(['--config', file, '--listen', '127.0.0.1:5'], {});
    assert.ok(c);
    assert.equal(c.etcd, ['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    assert.is(c.ackMode, 'durable');
    assert.is(c.listen, '127.0.0.1:5');
    assert.equal([...c.agents], [['10.0.0.1', '127.0.0.1:50001']]);
    fs.writeFileSync(file, JSON.stringify({ agents: { '10.0.0.1': 'nope' } }));
    assert.throws(() => loadRunConfig(['--config', file], {}), /HOST:PORT/);
    fs.writeFileSync(file, JSON.stringify({ lisen: 'x' }));
    assert.throws(() => loadRunConfig(['--config', file], {}), /did you mean "listen"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('peer liveness: default (the --listen host, any port), explicit, off', () => {
  const base = ['--etcd', 'http://127.0.0.1:1'];
  assert.is(loadRunConfig(base, {})?.peerListen, undefined);
  assert.is(loadRunConfig([...base, '--peer-listen', '0.0.0.0:7000'], {})?.peerListen, '0.0.0.0:7000');
  assert.is(loadRunConfig([...base, '--peer-listen', 'off'], {})?.peerListen, null);
  assert.is(
    loadRunConfig([...base, '--peer-advertise', 'ctl-1.example:7001'], {})?.peerAdvertise,
    'ctl-1.example:7001',
  );
  assert.throws(() => loadRunConfig([...base, '--peer-listen', 'nowhere'], {}), /--peer-listen/);
});

test('bad values are usage errors', () => {
  assert.throws(() => loadRunConfig(['--ack', 'maybe'], {}), /--ack/);
  assert.throws(() => loadRunConfig(['--listen', 'nowhere'], {}), /HOST:PORT/);
  assert.throws(() => loadRunConfig(['--bogus'], {}), /unknown option/);
});

test.run();
