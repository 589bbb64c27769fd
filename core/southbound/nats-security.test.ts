import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { natsConnectError, natsConnectOptions, natsSecurityProblem } from './nats-security';

test('bad combinations of NATS TLS and credential flags are named', () => {
  assert.match(natsSecurityProblem({ cert: 'c.pem' }, 'nats') ?? '', '--nats-cert and --nats-key go together');
  assert.match(natsSecurityProblem({ user: 'u' }, 'southbound') ?? '', '--southbound-user and --southbound-password');
  assert.match(natsSecurityProblem({ token: 't', creds: 'x.creds' }, 'nats') ?? '', 'give one of');
  assert.is(natsSecurityProblem({ ca: 'ca.pem', cert: 'c.pem', key: 'k.pem', token: 't' }, 'nats'), null);
});

test('connection options: TLS files, user and password, token', () => {
  const o = natsConnectOptions({ ca: 'ca.pem', cert: 'c.pem', key: 'k.pem', user: 'u', password: 'p' }, () => {
    throw new Error('no creds file to read');
  });
  assert.equal(o.tls, { caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'k.pem' });
  assert.is(o.user, 'u');
  assert.is(o.pass, 'p');
  assert.equal(
    natsConnectOptions(undefined, () => new Uint8Array()),
    {},
  );
  assert.is(natsConnectOptions({ token: 't' }, () => new Uint8Array()).token, 't');
});

test('a certificate failure says which CA did not trust the server', () => {
  const e = Object.assign(new Error('self-signed certificate in certificate chain'), {
    code: 'SELF_SIGNED_CERT_IN_CHAIN',
  });
  assert.match(natsConnectError(e, { ca: '/etc/ca.pem' }), 'not trusted by /etc/ca.pem');
  assert.match(natsConnectError(new Error('Authorization Violation'), {}), 'refused the credentials');
});

test.run();
