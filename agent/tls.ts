// TLS material from PEM files (--tls-cert, --tls-key, --tls-ca and their --agent-tls-* twins in alcor-control),
// checked when loaded and reloadable while serving.
//
// One `ReloadableTls` per set of files feeds every consumer: gRPC server credentials, gRPC channel credentials
// (through grpc-js's CertificateProvider interface, so a reload reaches the listening socket and the next
// reconnection without a restart) and HTTPS servers (through `setSecureContext`). A reload only changes what new
// TLS handshakes present; connections already established, and the data plane, are untouched. A reload that
// fails (a half-written file, a key that does not match the certificate) keeps the previous material and says
// why, so a botched certificate rotation never takes a running server down.
//
// The CA file makes client certificates required on servers (mutual TLS) and is the trust root on clients.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as https from 'node:https';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { OptionSpec } from '../core/cli/args';

export interface TlsFiles {
  /** PEM certificate chain presented to peers. */
  readonly certFile: string;
  /** PEM private key of that certificate (unencrypted). */
  readonly keyFile: string;
  /** PEM CA bundle: verifies the peer's certificate (servers: makes client certificates required). */
  readonly caFile?: string;
}

/** A client's files: the CA to verify servers with, and optionally a certificate of its own (mutual TLS). */
export interface TlsClientFiles {
  readonly caFile: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/** Flag names used in error messages, so an operator knows which setting to fix. */
export interface TlsFlagNames {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export const SERVER_TLS_FLAGS: TlsFlagNames = { cert: '--tls-cert', key: '--tls-key', ca: '--tls-ca' };

/** alcor-control's flags for its connections to agents. */
export const AGENT_CLIENT_TLS_FLAGS: TlsFlagNames = {
  cert: '--agent-tls-cert',
  key: '--agent-tls-key',
  ca: '--agent-tls-ca',
};

/** `--tls-cert`, `--tls-key`, `--tls-ca`, as alcor-agent run and alcor-control run both take them. */
export const TLS_SERVER_OPTIONS = [
  { name: 'tls-cert', type: 'string', metavar: 'FILE', help: 'PEM certificate: serve TLS only (no plaintext)' },
  { name: 'tls-key', type: 'string', metavar: 'FILE', help: 'PEM private key of --tls-cert' },
  {
    name: 'tls-ca',
    type: 'string',
    metavar: 'FILE',
    help: 'PEM CA bundle: client certificates are required and verified against it (mutual TLS)',
  },
] as const satisfies readonly OptionSpec[];

export type TlsErrorCode = 'TLS_FILE' | 'TLS_BAD_PEM' | 'TLS_KEY_MISMATCH' | 'TLS_INCOMPLETE' | 'TLS_NO_CA';

export class TlsError extends Error {
  constructor(
    readonly code: TlsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TlsError';
  }
}

export interface TlsMaterial {
  /** Null only for a client without a certificate of its own. */
  readonly cert: Buffer | null;
  readonly key: Buffer | null;
  readonly ca: Buffer | null;
  /** SHA-256 fingerprint of the leaf certificate (for logs: which certificate is served now); '' without one. */
  readonly fingerprint: string;
}

/**
 * Reads and checks one set of TLS files: each readable, each PEM that parses, and the key belonging to the
 * certificate. Throws a TlsError naming the file and the flag to fix.
 */
export function loadTlsMaterial(files: TlsFiles | TlsClientFiles, flags: TlsFlagNames = SERVER_TLS_FLAGS): TlsMaterial {
  const ca = files.caFile === undefined ? null : readPem(files.caFile, 'CA bundle', flags.ca);
  if (ca !== null && files.caFile !== undefined) {
    try {
      new crypto.X509Certificate(ca);
    } catch (e: unknown) {
      throw new TlsError(
        'TLS_BAD_PEM',
        `${files.caFile} (${flags.ca}) is not a PEM CA certificate bundle: ${errorMessage(e)}`,
      );
    }
  }
  if (files.certFile === undefined || files.keyFile === undefined) {
    if (ca === null) throw new TlsError('TLS_INCOMPLETE', `TLS needs ${flags.cert} and ${flags.key}`);
    return { cert: null, key: null, ca, fingerprint: '' };
  }
  return { ...loadIdentity(files.certFile, files.keyFile, flags), ca };
}

function readPem(file: string, what: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e: unknown) {
    const why = (e as { code?: unknown }).code === 'ENOENT' ? 'no such file' : errorMessage(e);
    throw new TlsError('TLS_FILE', `cannot read the TLS ${what} ${file} (${flag}): ${why}`);
  }
}

function loadIdentity(
  certFile: string,
  keyFile: string,
  flags: TlsFlagNames,
): { cert: Buffer; key: Buffer; fingerprint: string } {
  const cert = readPem(certFile, 'certificate', flags.cert);
  const key = readPem(keyFile, 'private key', flags.key);
  const files = { certFile, keyFile };
  let leaf: crypto.X509Certificate;
  try {
    leaf = new crypto.X509Certificate(cert);
  } catch (e: unknown) {
    throw new TlsError(
      'TLS_BAD_PEM',
      `${files.certFile} (${flags.cert}) is not a PEM certificate: ${errorMessage(e)}` +
        (looksLikeKey(cert) ? ` (it holds a private key: are ${flags.cert} and ${flags.key} swapped?)` : ''),
    );
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch (e: unknown) {
    throw new TlsError(
      'TLS_BAD_PEM',
      `${files.keyFile} (${flags.key}) is not an unencrypted PEM private key: ${errorMessage(e)}`,
    );
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsError(
      'TLS_KEY_MISMATCH',
      `the private key ${files.keyFile} (${flags.key}) does not belong to the certificate ${files.certFile} ` +
        `(${flags.cert}, subject ${leaf.subject.replace(/\n/g, ', ')}); give the key the certificate was issued for`,
    );
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (e: unknown) {
    throw new TlsError('TLS_BAD_PEM', `OpenSSL refuses ${files.certFile} with ${files.keyFile}: ${errorMessage(e)}`);
  }
  return { cert, key, fingerprint: leaf.fingerprint256 };
}

type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

/** What a reload did: the fingerprint now served, and whether it changed. */
export interface TlsReloadResult {
  readonly fingerprint: string;
  readonly changed: boolean;
}

export class ReloadableTls implements grpc.experimental.CertificateProvider {
  readonly files: TlsFiles | TlsClientFiles;
  readonly flags: TlsFlagNames;
  #material: TlsMaterial;
  readonly #identityListeners = new Set<IdentityListener>();
  readonly #caListeners = new Set<CaListener>();
  readonly #httpsServers = new Set<https.Server>();

  /** Loads the files now: a bad file fails here, at startup, with a TlsError. */
  constructor(files: TlsFiles | TlsClientFiles, flags: TlsFlagNames = SERVER_TLS_FLAGS) {
    this.files = files;
    this.flags = flags;
    this.#material = loadTlsMaterial(files, flags);
  }

  get material(): TlsMaterial {
    return this.#material;
  }

  /** True when a CA is configured: servers require and verify client certificates. */
  get mutual(): boolean {
    return this.#material.ca !== null;
  }

  /**
   * Reads the files again and, when they are good, hands the new material to every server and channel using
   * it. When they are not, throws a TlsError and everything keeps the previous material.
   */
  reload(): TlsReloadResult {
    const next = loadTlsMaterial(this.files, this.flags);
    const prev = this.#material;
    const changed =
      !bufferOrNullEqual(next.cert, prev.cert) ||
      !bufferOrNullEqual(next.key, prev.key) ||
      !bufferOrNullEqual(next.ca, prev.ca);
    this.#material = next;
    if (changed) {
      for (const l of this.#identityListeners) l(this.#identityUpdate());
      for (const l of this.#caListeners) l(this.#caUpdate());
      for (const server of this.#httpsServers) server.setSecureContext(this.httpsContextOptions());
    }
    return { fingerprint: next.fingerprint, changed };
  }

  /**
   * gRPC server credentials. With a CA, client certificates are requested and (by default) required and
   * verified against it: mutual TLS.
   */
  serverCredentials(requireClientCert: boolean = this.mutual): grpc.ServerCredentials {
    this.#needIdentity();
    if (requireClientCert && !this.mutual) {
      throw new TlsError('TLS_NO_CA', `requiring client certificates needs ${this.flags.ca} to verify them against`);
    }
    // grpc-js names this function's first parameter the CA provider, but passes it on as the identity one.
    return grpc.experimental.createCertificateProviderServerCredentials(
      this,
      this.mutual ? this : null,
      requireClientCert,
    );
  }

  /**
   * gRPC channel credentials for a client: verifies the server against the CA (a client needs one: without it
   * there is nothing to check the server with) and presents this certificate, when there is one.
   */
  channelCredentials(): grpc.ChannelCredentials {
    if (!this.mutual) {
      throw new TlsError(
        'TLS_NO_CA',
        `${this.flags.ca} is needed: it is the CA the servers' certificates are checked against`,
      );
    }
    return grpc.experimental.createCertificateProviderChannelCredentials(
      this,
      this.#material.cert === null ? null : this,
    );
  }

  /** Options for https.createServer: this identity, and with a CA, client certificates required. */
  httpsServerOptions(): https.ServerOptions {
    this.#needIdentity();
    return { ...this.httpsContextOptions(), requestCert: this.mutual, rejectUnauthorized: this.mutual };
  }

  /** Keeps an HTTPS server's certificate in step with reload() until the server closes. */
  track(server: https.Server): void {
    this.#httpsServers.add(server);
    server.once('close', () => this.#httpsServers.delete(server));
  }

  httpsContextOptions(): tls.SecureContextOptions {
    const m = this.#material;
    return {
      ...(m.cert === null || m.key === null ? {} : { cert: m.cert, key: m.key }),
      ...(m.ca === null ? {} : { ca: m.ca }),
    };
  }

  // grpc-js CertificateProvider: a new listener gets the current material, then every change. The first call
  // is deferred to a microtask: grpc-js registers its server-side watcher only after adding these listeners,
  // so a synchronous first update would be lost and the server would refuse every handshake. A microtask
  // still runs before any connection can be accepted or made.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.#identityListeners.has(listener)) listener(this.#identityUpdate());
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    queueMicrotask(() => {
      if (this.#caListeners.has(listener)) listener(this.#caUpdate());
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }

  #needIdentity(): void {
    if (this.#material.cert === null) {
      throw new TlsError('TLS_INCOMPLETE', `a TLS server needs ${this.flags.cert} and ${this.flags.key}`);
    }
  }

  #identityUpdate(): grpc.experimental.IdentityCertificateUpdate | null {
    const m = this.#material;
    return m.cert === null || m.key === null ? null : { certificate: m.cert, privateKey: m.key };
  }

  #caUpdate(): grpc.experimental.CaCertificateUpdate | null {
    return this.#material.ca === null ? null : { caCertificate: this.#material.ca };
  }
}

/**
 * The TlsFiles named by a cert/key/CA flag triple, or undefined when none is set. Half a configuration (a
 * certificate without its key, a CA alone) is an error rather than a silent fall back to plaintext.
 */
export function tlsFilesFromFlags(
  values: { readonly cert?: string | undefined; readonly key?: string | undefined; readonly ca?: string | undefined },
  flags: TlsFlagNames = SERVER_TLS_FLAGS,
): TlsFiles | undefined {
  const { cert, key, ca } = values;
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    const missing = cert === undefined ? flags.cert : flags.key;
    const given = [
      cert === undefined ? null : flags.cert,
      key === undefined ? null : flags.key,
      ca === undefined ? null : flags.ca,
    ]
      .filter((f) => f !== null)
      .join(' and ');
    throw new TlsError('TLS_INCOMPLETE', `${given} given without ${missing}: TLS needs both a certificate and its key`);
  }
  return ca === undefined ? { certFile: cert, keyFile: key } : { certFile: cert, keyFile: key, caFile: ca };
}

/**
 * The client files named by a cert/key/CA flag triple, or undefined when none is set. The CA is required (it
 * is what the server is verified against); the certificate and key are optional but come together.
 */
export function tlsClientFilesFromFlags(
  values: { readonly cert?: string | undefined; readonly key?: string | undefined; readonly ca?: string | undefined },
  flags: TlsFlagNames,
): TlsClientFiles | undefined {
  const { cert, key, ca } = values;
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (ca === undefined) {
    throw new TlsError(
      'TLS_NO_CA',
      `${flags.ca} is needed with ${flags.cert}/${flags.key}: it is what the server's certificate is checked against`,
    );
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new TlsError(
      'TLS_INCOMPLETE',
      `${cert === undefined ? flags.key : flags.cert} given without ${cert === undefined ? flags.cert : flags.key}`,
    );
  }
  return cert === undefined || key === undefined ? { caFile: ca } : { caFile: ca, certFile: cert, keyFile: key };
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

function looksLikeKey(pem: Buffer): boolean {
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem.toString('latin1'));
}

function bufferOrNullEqual(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
