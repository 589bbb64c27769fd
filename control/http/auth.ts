// Bearer-token check of the operator HTTP API (--http-token-file).
//
// Mutating calls are every method that is not a read: POST, PUT, PATCH, DELETE (register or remove agents,
// push goal states, force a re-push). They must carry `Authorization: Bearer <token>`. GET and HEAD (health,
// metrics, host and shard listings) stay open, as they were: monitoring keeps working without the secret.
// With --tls-ca the TLS handshake already refuses clients without a certificate from that CA, on every call;
// the token is checked on top of that when both are configured.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';

const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isMutating(method: string | undefined): boolean {
  return !READ_METHODS.has((method ?? 'GET').toUpperCase());
}

export class HttpAuthError extends Error {
  constructor(
    readonly code: 'AUTH_TOKEN_FILE',
    message: string,
  ) {
    super(message);
    this.name = 'HttpAuthError';
  }
}

/** Why a request was refused: 401 without credentials, 403 with wrong ones. */
export interface AuthRefusal {
  readonly status: 401 | 403;
  readonly code: 'UNAUTHENTICATED' | 'FORBIDDEN';
  readonly message: string;
}

export class BearerTokenAuth {
  #digest: Buffer;

  /** Reads the token now: a missing or empty file fails at startup. */
  constructor(readonly tokenFile: string) {
    this.#digest = digestOf(readToken(tokenFile));
  }

  /** Re-reads the token file (SIGHUP); on a bad file, throws and keeps the previous token. */
  reload(): void {
    this.#digest = digestOf(readToken(this.tokenFile));
  }

  /** Null when the request may proceed. */
  check(req: http.IncomingMessage): AuthRefusal | null {
    if (!isMutating(req.method)) return null;
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (m === null) {
      return {
        status: 401,
        code: 'UNAUTHENTICATED',
        message: `${req.method ?? ''} needs an "Authorization: Bearer <token>" header (--http-token-file)`,
      };
    }
    // Compare digests of equal length in constant time: the token's length and content do not leak.
    if (!crypto.timingSafeEqual(digestOf(m[1] ?? ''), this.#digest)) {
      return { status: 403, code: 'FORBIDDEN', message: 'the bearer token is not the one configured' };
    }
    return null;
  }
}

function readToken(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e: unknown) {
    throw new HttpAuthError(
      'AUTH_TOKEN_FILE',
      `cannot read the HTTP token file ${file} (--http-token-file): ${(e as Error).message}`,
    );
  }
  const token = text.trim();
  if (token === '' || /\s/.test(token)) {
    throw new HttpAuthError(
      'AUTH_TOKEN_FILE',
      `${file} (--http-token-file) must hold one token: non-empty, without spaces inside`,
    );
  }
  return token;
}

function digestOf(token: string): Buffer {
  return crypto.createHash('sha256').update(token, 'utf8').digest();
}
