// TLS and credentials for a NATS connection, the same for the control service (--nats-*) and the agent
// (--southbound-*): a CA to verify the servers by, a client certificate and key (servers that verify
// clients), and one way to authenticate: a creds file (NATS JWT + nkey seed), a user and password, or a
// token. Pure: the caller passes how files are read.
import { credsAuthenticator, type ConnectionOptions } from '@nats-io/nats-core';
import type { OptionSpec } from '../cli/args';

export interface NatsSecurity {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly creds?: string;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
}

/**
 * The seven flags `--<prefix>-ca ... --<prefix>-token`, with the password and the token also read from
 * `<envPrefix>_NATS_PASSWORD` and `<envPrefix>_NATS_TOKEN` (a flag shows in ps).
 */
export function natsSecurityOptions<P extends string, E extends string>(prefix: P, envPrefix: E) {
  return [
    {
      name: `${prefix}-ca` as const,
      type: 'string',
      metavar: 'FILE',
      help: "PEM CA bundle the NATS servers' certificates are verified against (TLS)",
    },
    {
      name: `${prefix}-cert` as const,
      type: 'string',
      metavar: 'FILE',
      help: `PEM client certificate for NATS servers that verify clients (with --${prefix}-key)`,
    },
    { name: `${prefix}-key` as const, type: 'string', metavar: 'FILE', help: `PEM private key of --${prefix}-cert` },
    {
      name: `${prefix}-creds` as const,
      type: 'string',
      metavar: 'FILE',
      help: 'NATS credentials file (user JWT and nkey seed)',
    },
    {
      name: `${prefix}-user` as const,
      type: 'string',
      metavar: 'USER',
      help: `NATS user (with --${prefix}-password)`,
    },
    {
      name: `${prefix}-password` as const,
      type: 'string',
      env: `${envPrefix}_NATS_PASSWORD` as const,
      metavar: 'PASSWORD',
      help: `password of --${prefix}-user (prefer the environment variable: a flag shows in ps)`,
    },
    {
      name: `${prefix}-token` as const,
      type: 'string',
      env: `${envPrefix}_NATS_TOKEN` as const,
      metavar: 'TOKEN',
      help: 'NATS token',
    },
  ] as const satisfies readonly OptionSpec[];
}

const NATS_SECURITY_FIELDS = ['ca', 'cert', 'key', 'creds', 'user', 'password', 'token'] as const;

/** The values of those flags that were given (`o` is parseArgs' result), as a NatsSecurity. */
export function natsSecurityFrom<P extends string>(
  o: { readonly [K in `${P}-${keyof NatsSecurity}`]?: string },
  prefix: P,
): NatsSecurity {
  const out: Record<string, string> = {};
  for (const field of NATS_SECURITY_FIELDS) {
    const v = o[`${prefix}-${field}`];
    if (v !== undefined) out[field] = v;
  }
  return out as NatsSecurity;
}

/** What is wrong with a combination of options (`prefix` names the flags), or null. */
export function natsSecurityProblem(s: NatsSecurity, prefix: string): string | null {
  if ((s.cert === undefined) !== (s.key === undefined))
    return `--${prefix}-cert and --${prefix}-key go together (a client certificate and its key)`;
  if ((s.user === undefined) !== (s.password === undefined))
    return `--${prefix}-user and --${prefix}-password go together`;
  const ways = [s.creds, s.user, s.token].filter((v) => v !== undefined).length;
  if (ways > 1) return `give one of --${prefix}-creds, --${prefix}-user/--${prefix}-password, --${prefix}-token`;
  return null;
}

/** The nats.js connection options for `s`; `read` reads the creds file. */
export function natsConnectOptions(
  s: NatsSecurity | undefined,
  read: (file: string) => Uint8Array,
): Partial<ConnectionOptions> {
  if (s === undefined) return {};
  const out: Partial<ConnectionOptions> = {};
  if (s.ca !== undefined || s.cert !== undefined) {
    out.tls = {
      ...(s.ca === undefined ? {} : { caFile: s.ca }),
      ...(s.cert === undefined ? {} : { certFile: s.cert, keyFile: s.key }),
    };
  }
  if (s.creds !== undefined) out.authenticator = credsAuthenticator(read(s.creds));
  if (s.user !== undefined) {
    out.user = s.user;
    out.pass = s.password;
  }
  if (s.token !== undefined) out.token = s.token;
  return out;
}

/** A connection error made readable: TLS verification failures say which file to look at. */
export function natsConnectError(e: unknown, s: NatsSecurity | undefined): string {
  const msg = (e as Error).message ?? String(e);
  const code = (e as { code?: string }).code ?? '';
  if (/certificate|self.signed|unable to verify|CERT_|DEPTH_ZERO/i.test(`${msg} ${code}`))
    return `TLS: the NATS server's certificate is not trusted${s?.ca === undefined ? ' (no CA given)' : ` by ${s.ca}`}: ${msg}`;
  if (/authorization|authentication/i.test(msg)) return `NATS refused the credentials: ${msg}`;
  return msg;
}
