// A throwaway PKI for TLS tests, made with the openssl CLI: a CA, server certificates for 127.0.0.1/localhost,
// a client certificate signed by that CA, and a client certificate signed by another CA (which a mutual-TLS
// server must refuse).
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA every server and the good client are signed by. */
  readonly ca: string;
  /** Server certificate (SAN 127.0.0.1, ::1, localhost; also usable as a client certificate), signed by `ca`. */
  readonly server: CertFiles;
  /** A second server certificate signed by `ca`, for reload tests. */
  readonly server2: CertFiles;
  /** Client certificate signed by `ca`. */
  readonly client: CertFiles;
  /** Another CA, and a client certificate it signed: not trusted by anything configured with `ca`. */
  readonly otherCa: string;
  readonly rogueClient: CertFiles;
  remove(): void;
}

export function opensslAvailable(): boolean {
  return spawnSync('openssl', ['version']).status === 0;
}

function openssl(args: readonly string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): CertFiles {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  openssl([
    'req',
    '-x509',
    ...EC,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

function makeLeaf(dir: string, name: string, ca: CertFiles, usage: 'serverAuth' | 'clientAuth'): CertFiles {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  openssl(['req', '-new', ...EC, '-subj', `/CN=${name}`, '-keyout', key, '-out', csr]);
  fs.writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      // Server certificates are host identities: the agent also presents its own when it calls the control.
      `extendedKeyUsage=${usage === 'serverAuth' ? 'serverAuth,clientAuth' : usage}`,
      ...(usage === 'serverAuth' ? ['subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost'] : []),
      '',
    ].join('\n'),
  );
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    String(Date.now() * 1000 + Math.floor(Math.random() * 1000)),
    '-days',
    '1',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return { cert, key };
}

export function makeTestPki(prefix = 'alcor-tls-'): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const ca = makeCa(dir, 'ca');
  const other = makeCa(dir, 'other-ca');
  return {
    dir,
    ca: ca.cert,
    server: makeLeaf(dir, 'server', ca, 'serverAuth'),
    server2: makeLeaf(dir, 'server2', ca, 'serverAuth'),
    client: makeLeaf(dir, 'client', ca, 'clientAuth'),
    otherCa: other.cert,
    rogueClient: makeLeaf(dir, 'rogue-client', other, 'clientAuth'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** SHA-256 fingerprint of a PEM certificate file, as Node prints it (AA:BB:...). */
export function fingerprintOf(certFile: string): string {
  return new crypto.X509Certificate(fs.readFileSync(certFile)).fingerprint256;
}

export interface TlsClientOptions {
  /** CA file the server's certificate is verified against. */
  readonly ca: string;
  /** A client certificate to present (mutual TLS). */
  readonly client?: CertFiles;
}

function clientTlsOptions(o: TlsClientOptions): tls.ConnectionOptions {
  return {
    ca: fs.readFileSync(o.ca),
    ...(o.client === undefined ? {} : { cert: fs.readFileSync(o.client.cert), key: fs.readFileSync(o.client.key) }),
  };
}

/** The fingerprint of the certificate a TLS server on 127.0.0.1:port presents to a new connection. */
export function servedFingerprint(port: number, o: TlsClientOptions, alpn: 'h2' | 'http/1.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: [alpn], ...clientTlsOptions(o) }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.once('error', reject);
  });
}

/** gRPC channel credentials from the test PKI. */
export function grpcCredentials(o: TlsClientOptions): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    fs.readFileSync(o.ca),
    o.client === undefined ? null : fs.readFileSync(o.client.key),
    o.client === undefined ? null : fs.readFileSync(o.client.cert),
  );
}

/** One HTTPS request on a fresh connection (no pooling: each call does its own TLS handshake). */
export function httpsRequest(
  port: number,
  method: string,
  urlPath: string,
  o: TlsClientOptions & { readonly headers?: Record<string, string>; readonly body?: unknown },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent: false,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...o.headers },
        ...clientTlsOptions(o),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}
