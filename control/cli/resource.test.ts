// The resource CLI against a real embedded control service: tables, --json, errors with their code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../log';
import { startControl } from '../server';
import { main } from './main';

test('vpc/subnet/port/router/sg create, list, show, update, delete', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-cli-'));
  const ctl = await startControl(
    {
      listen: '127.0.0.1:0',
      http: '127.0.0.1:0',
      etcd: null,
      dataDir: dir,
      replicaId: 'cli',
      prefix: '/c/',
      leaseTtlSec: 5,
      ackMode: 'agents',
      resultTimeoutMs: 2000,
      replyTimeoutMs: 2000,
      backoffMaxMs: 200,
      logLevel: 'warn',
      agents: new Map(),
    },
    silentLogger,
  );
  const api = `http://127.0.0.1:${ctl.httpPort}`;
  const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await main([...args, '--api', api], {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      env: {},
    });
    return { code, out, err };
  };
  try {
    assert.is((await cli('vpc', 'create', '--id', 'v1', '--cidr', '10.5.0.0/16')).code, 0);
    const sn = await cli(
      'subnet',
      'create',
      '--id',
      's1',
      '--vpc',
      'v1',
      '--cidr',
      '10.5.1.0/24',
      '--dns',
      '10.5.0.53',
    );
    assert.is(sn.code, 0, sn.err);
    assert.match(sn.out, /gatewayIp\s+10\.5\.1\.1/);
    const p = await cli('port', 'create', '--id', 'p1', '--subnet', 's1', '--json');
    assert.is(p.code, 0, p.err);
    assert.is((JSON.parse(p.out) as { ip: string }).ip, '10.5.1.2');
    const list = await cli('port', 'list', '--subnet', 's1');
    assert.match(list.out, /^ID\s+SUBNET\s+HOST\s+IP\s+MAC\s+STATUS\s+REV\n/);
    assert.match(list.out, /p1\s+s1\s+-\s+10\.5\.1\.2\s+fa:16:3e:\S+\s+PENDING\s+1/);
    const sg = await cli('sg', 'create', '--id', 'g', '--rules', '[{"direction":"ingress","ethertype":"IPv6"}]');
    assert.is(sg.code, 0, sg.err);
    assert.match((await cli('sg', 'list')).out, /g\s+1\s+1\s+1/);
    const upd = await cli('port', 'update', 'p1', '--sg', 'g', '--if-match', '1');
    assert.is(upd.code, 0, upd.err);
    const stale = await cli('port', 'update', 'p1', '--device', 'x', '--if-match', '1');
    assert.is(stale.code, 1);
    assert.match(stale.err, 'REVISION_MISMATCH');
    const bad = await cli('subnet', 'delete', 's1');
    assert.is(bad.code, 1);
    assert.match(bad.err, 'SUBNET_IN_USE');
    assert.is((await cli('router', 'create', '--id', 'r', '--subnets', 's1')).code, 0);
    for (const args of [
      ['router', 'delete', 'r'],
      ['port', 'delete', 'p1'],
      ['sg', 'delete', 'g'],
      ['subnet', 'delete', 's1'],
      ['vpc', 'delete', 'v1'],
    ]) {
      const r = await cli(...args);
      assert.is(r.code, 0, `${args.join(' ')}: ${r.err}`);
    }
    assert.is((await cli('vpc', 'list', '--json')).out.replace(/\s/g, ''), '{"items":[]}');
    assert.is((await cli('vpc', 'show')).code, 2);
    assert.is((await cli('vpc', 'frobnicate')).code, 2);
  } finally {
    await ctl.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
