// agent/tls.ts: TLS files are checked when loaded, with errors that name the file and the flag to fix; a reload
// with bad files keeps the previous material; half a flag triple is refused.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requirePrereqs } from '../test/prereq';
import { fingerprintOf, makeTestPki, type TestPki } from '../test/tls-pki';
import { runOptions } from './cli/run';
import {
  AGENT_CLIENT_TLS_FLAGS,
  isLoopbackHost,
  loadTlsMaterial,
  ReloadableTls,
  tlsClientFilesFromFlags,
  tlsFilesFromFlags,
} from './tls';

function codeOf(fn: () => unknown): { code: unknown; message: string } {
  try {
    fn();
  } catch (e: unknown) {
    return { code: (e as { code?: unknown }).code, message: (e as Error).message };
  }
  return { code: 'no error', message: '' };
}

test('flag triples: none is plaintext, cert+key (+CA) is TLS, anything else says what is missing', () => {
  assert.is(tlsFilesFromFlags({}), undefined);
  assert.equal(tlsFilesFromFlags({ cert: 'c', key: 'k' }), { certFile: 'c', keyFile: 'k' });
  assert.equal(tlsFilesFromFlags({ cert: 'c', key: 'k', ca: 'a' }), { certFile: 'c', keyFile: 'k', caFile: 'a' });
  const noKey = codeOf(() => tlsFilesFromFlags({ cert: 'c' }));
  assert.is(noKey.code, 'TLS_INCOMPLETE');
  assert.match(noKey.message, /--tls-cert given without --tls-key/);
  assert.is(codeOf(() => tlsFilesFromFlags({ ca: 'a' })).code, 'TLS_INCOMPLETE');
  // Clients: the CA is what the server is checked against, so it is the one required piece.
  assert.equal(tlsClientFilesFromFlags({ ca: 'a' }, AGENT_CLIENT_TLS_FLAGS), { caFile: 'a' });
  const noCa = codeOf(() => tlsClientFilesFromFlags({ cert: 'c', key: 'k' }, AGENT_CLIENT_TLS_FLAGS));
  assert.is(noCa.code, 'TLS_NO_CA');
  assert.match(noCa.message, /--agent-tls-ca/);
});

test('alcor-agent run: --tls-* flags and config-file keys reach the daemon options; half a setting is refused', async () => {
  assert.is((await runOptions([], {})).tls, undefined, 'plaintext by default');
  const o = await runOptions(['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-ca', 'ca.pem'], {});
  assert.equal(o.tls, { certFile: 'c.pem', keyFile: 'k.pem', caFile: 'ca.pem' });
  const fromFile = await runOptions(['--config', 'agent.json'], {}, (f) =>
    f === 'agent.json'
      ? Promise.resolve(JSON.stringify({ 'tls-cert': 'c.pem', 'tls-key': 'k.pem' }))
      : Promise.reject(new Error('ENOENT')),
  );
  assert.equal(fromFile.tls, { certFile: 'c.pem', keyFile: 'k.pem' });
  const half = await runOptions(['--tls-ca', 'ca.pem'], {}).then(
    () => null,
    (e: unknown) => e as { code?: string; message: string },
  );
  assert.is(half?.code, 'E_CLI_BAD_VALUE');
  assert.match(half?.message ?? '', /without --tls-cert/);
});

test('loopback addresses', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.0.2.1', 'example.org']) assert.not.ok(isLoopbackHost(h), h);
});

if (requirePrereqs(['openssl'])) {
  let pki: TestPki;
  test.before(() => {
    pki = makeTestPki('alcor-tls-unit-');
  });
  test.after(() => pki.remove());

  test('errors say which file and which flag: missing, not PEM, swapped, key of another certificate', () => {
    const missing = codeOf(() => loadTlsMaterial({ certFile: pki.server.cert, keyFile: '/nonexistent/server.key' }));
    assert.is(missing.code, 'TLS_FILE');
    assert.match(missing.message, /\/nonexistent\/server\.key \(--tls-key\): no such file/);
    const swapped = codeOf(() => loadTlsMaterial({ certFile: pki.server.key, keyFile: pki.server.cert }));
    assert.is(swapped.code, 'TLS_BAD_PEM');
    assert.match(swapped.message, /swapped/);
    const mismatch = codeOf(() => loadTlsMaterial({ certFile: pki.server.cert, keyFile: pki.client.key }));
    assert.is(mismatch.code, 'TLS_KEY_MISMATCH');
    assert.match(mismatch.message, /does not belong to the certificate .*server\.crt \(--tls-cert/);
    const badCa = codeOf(() =>
      loadTlsMaterial({ certFile: pki.server.cert, keyFile: pki.server.key, caFile: pki.server.key }),
    );
    assert.is(badCa.code, 'TLS_BAD_PEM');
    assert.match(badCa.message, /--tls-ca/);
  });

  test('reload: new files are served; bad ones keep the previous material', () => {
    const dir = path.join(pki.dir, 'reload');
    fs.mkdirSync(dir);
    const cert = path.join(dir, 'tls.crt');
    const key = path.join(dir, 'tls.key');
    fs.copyFileSync(pki.server.cert, cert);
    fs.copyFileSync(pki.server.key, key);
    const tls = new ReloadableTls({ certFile: cert, keyFile: key, caFile: pki.ca });
    assert.ok(tls.mutual);
    const seen: string[] = [];
    tls.addIdentityCertificateListener((u) => seen.push(u === null ? 'none' : u.certificate.toString()));
    assert.equal(tls.reload(), { fingerprint: fingerprintOf(pki.server.cert), changed: false });
    fs.writeFileSync(key, 'half-written');
    assert.is(codeOf(() => tls.reload()).code, 'TLS_BAD_PEM');
    assert.is(tls.material.fingerprint, fingerprintOf(pki.server.cert), 'still the previous certificate');
    fs.copyFileSync(pki.server2.cert, cert);
    fs.copyFileSync(pki.server2.key, key);
    assert.equal(tls.reload(), { fingerprint: fingerprintOf(pki.server2.cert), changed: true });
    assert.equal(seen, [fs.readFileSync(pki.server2.cert, 'utf8')], 'listeners hear about the change');
  });
}

test.run();
