// Operator HTTP/JSON API (on --http):
//   GET    /healthz                      liveness + whether this replica may push and the store is healthy
//   GET    /metrics                      Prometheus text
//   GET    /v1/hosts                     every known host: agent, owner, stream state, version, last result
//   GET    /v1/hosts/<ip>                one host
//   GET    /v1/hosts/<ip>/result         that host's last apply result
//   PUT    /v1/hosts/<ip>                register an agent: {"agent":"HOST:PORT"?, "transport":"grpc|nats"}
//   POST   /v1/hosts                     register many: [{"hostIp":..,"agent":..}] or {"<ip>":"<addr>"}
//   DELETE /v1/hosts/<ip>                unregister
//   POST   /v1/hosts/<ip>/repush         full re-push of that host
//   GET    /v1/shards                    replicas and how many hosts each owns
//   POST   /v1/goalstates                a GoalStateV2 as JSON (proto3 JSON names); replies GoalStateOperationReply JSON
//   /v1/vpcs, /v1/subnets, /v1/ports, /v1/routers, /v1/security-groups: the resource API (http/resources.ts)
// Errors: {"code","message","field"?} (and the same under "error", as this API always answered).
// With --tls-cert/--tls-key it is HTTPS only; --tls-ca requires client certificates. With --http-token-file every
// mutating call (any method but GET/HEAD/OPTIONS) needs `Authorization: Bearer <token>`: 401 without, 403 wrong
// (control/http/auth.ts).
import * as http from 'node:http';
import * as https from 'node:https';
import type { ReloadableTls } from '../../agent/tls';
import type { BearerTokenAuth } from './auth';
import { GoalStateOperationReply, GoalStateV2 } from '../../proto';
import { Controller } from '../controller';
import { Logger } from '../log';
import { ControlMetrics } from '../metrics';
import { httpStatusOf } from '../../agent/grpc/status';
import { decodeRegistration, registrationFrom } from '../southbound/host-transport';
import { INVALID, parseIpv4 } from '../../core/goalstate/addr';
import { parseHostPort } from '../../core/net/hostport';
import { ControlError, controlErrorKind } from '../resources';
import { ControlStore } from '../store/store';
import { ApiError } from '../resources/errors';
import { isResourceKind, ResourceRouteDeps, routeResources } from './resources';

const MAX_BODY_BYTES = 256 * 1024 * 1024;

interface Deps {
  readonly controller: Controller;
  readonly store: ControlStore;
  readonly metrics: ControlMetrics;
  readonly log: Logger;
  /** The resource API; absent: those routes answer 404. */
  readonly resources?: ResourceRouteDeps;
  /** HTTPS (and with a CA, required client certificates) instead of plain HTTP. */
  readonly tls?: ReloadableTls;
  /** Bearer token that mutating calls must carry. */
  readonly auth?: BearerTokenAuth;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'BODY_TOO_LARGE', `body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err: unknown) {
    throw new HttpError(400, 'BAD_JSON', `body is not JSON: ${(err as Error).message}`);
  }
}

/** A DNS name: letters, digits, hyphens and dots (a dotted quad must be a real IPv4 address). */
const DNS_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

/** Whether `text` is a HOST:PORT an agent can listen on: a port 1-65535 and an IPv4 address, an IPv6 address or a DNS name. */
function usableAgentAddress(text: string): boolean {
  const hp = parseHostPort(text);
  if (hp === undefined || hp.port === 0) return false;
  if (/^[0-9.]+$/.test(hp.host)) return parseIpv4(hp.host) !== INVALID;
  if (text.startsWith('[')) return hp.host.includes(':');
  return DNS_NAME.test(hp.host);
}

function agentList(body: unknown): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const add = (host: unknown, agent: unknown, transport?: unknown): void => {
    if (typeof host !== 'string' || parseIpv4(host) === INVALID) {
      throw new HttpError(400, 'BAD_HOST_IP', `a host is named by its IPv4 address, got ${JSON.stringify(host)}`);
    }
    const r = registrationFrom(agent, transport, usableAgentAddress);
    if ('error' in r) throw new HttpError(400, 'BAD_AGENT', r.error);
    out.push([host, r.value]);
  };
  if (Array.isArray(body)) {
    for (const item of body) {
      const o = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      add(o.hostIp ?? o.host_ip, o.agent, o.transport);
    }
  } else if (typeof body === 'object' && body !== null) {
    for (const [host, v] of Object.entries(body)) {
      const o = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
      if (o === null) add(host, v);
      else add(host, o.agent, o.transport);
    }
  } else {
    throw new HttpError(400, 'BAD_AGENT', 'expected [{"hostIp","agent"}] or {"<ip>":"<addr>"}');
  }
  return out;
}

export function createApi(deps: Deps): http.Server | https.Server {
  const { controller, store, metrics, log } = deps;

  const route = async (
    req: http.IncomingMessage,
    url: URL,
  ): Promise<{ status: number; body: unknown; text?: string; headers?: Readonly<Record<string, string>> }> => {
    let parts: string[];
    try {
      parts = url.pathname
        .split('/')
        .filter((p) => p !== '')
        .map(decodeURIComponent);
    } catch {
      throw new HttpError(400, 'BAD_PATH', `malformed percent-escape in ${url.pathname.slice(0, 200)}`);
    }
    const method = req.method ?? 'GET';
    if (url.pathname === '/healthz' && method === 'GET') {
      return {
        status: 200,
        body: {
          ok: true,
          replica: controller.self,
          shard: controller.shardMap().active,
          storeHealthy: store.healthy(),
        },
      };
    }
    if (url.pathname === '/metrics' && method === 'GET')
      return { status: 200, body: null, text: metrics.registry.render() };
    if (parts[0] !== 'v1') throw new HttpError(404, 'NOT_FOUND', `no route ${url.pathname}`);
    const [, coll, id, sub] = parts;
    if (isResourceKind(coll) && deps.resources !== undefined) {
      if (sub !== undefined || parts.length > 3) throw new HttpError(404, 'NOT_FOUND', `no route ${url.pathname}`);
      return routeResources(req, url, coll, id, deps.resources);
    }
    if (coll === 'shards' && id === undefined && method === 'GET') return { status: 200, body: controller.shardMap() };
    if (coll === 'goalstates' && id === undefined && method === 'POST') {
      const json = await readJson(req);
      if (typeof json !== 'object' || json === null)
        throw new HttpError(400, 'BAD_GOAL_STATE', 'expected a GoalStateV2 JSON object');
      let bytes: Uint8Array;
      try {
        bytes = GoalStateV2.encode(GoalStateV2.fromJSON(json)).finish();
      } catch (err: unknown) {
        throw new HttpError(400, 'BAD_GOAL_STATE', (err as Error).message);
      }
      const reply = await controller.submit(bytes);
      return { status: 200, body: GoalStateOperationReply.toJSON(reply) };
    }
    if (coll !== 'hosts') throw new HttpError(404, 'NOT_FOUND', `no route ${url.pathname}`);
    if (id === undefined) {
      if (method === 'GET') {
        const hosts = controller.hosts();
        return { status: 200, body: { count: hosts.length, hosts } };
      }
      if (method === 'POST') {
        const list = agentList(await readJson(req));
        await store.putAgents(list);
        return { status: 200, body: { registered: list.length } };
      }
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} ${url.pathname}`);
    }
    if (sub === undefined) {
      if (method === 'GET') {
        const h = controller.host(id);
        if (h === null) throw new HttpError(404, 'UNKNOWN_HOST', `unknown host ${id}`);
        return { status: 200, body: h };
      }
      if (method === 'PUT') {
        const body = (await readJson(req)) as Record<string, unknown> | null;
        const list = agentList([{ hostIp: id, agent: body?.agent, transport: body?.transport }]);
        await store.putAgents(list);
        const reg = decodeRegistration(list[0]?.[1] ?? '');
        return { status: 200, body: { hostIp: id, agent: reg.agent, transport: reg.transport } };
      }
      if (method === 'DELETE') {
        await store.deleteAgent(id);
        return { status: 200, body: { hostIp: id, deleted: true } };
      }
    }
    if (sub === 'result' && method === 'GET') {
      const r = controller.lastResult(id);
      if (r === null) throw new HttpError(404, 'NO_RESULT', `no apply result for ${id} seen by this replica`);
      return { status: 200, body: r };
    }
    if (sub === 'repush' && method === 'POST') {
      await controller.repush(id);
      return { status: 202, body: { hostIp: id, repush: true } };
    }
    throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${url.pathname}`);
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      const message = 'the request target is not a valid URL path';
      res.end(JSON.stringify({ code: 'BAD_PATH', message, error: { code: 'BAD_PATH', message } }));
      return;
    }
    const refused = deps.auth?.check(req) ?? null;
    if (refused !== null) {
      res.writeHead(refused.status, {
        'content-type': 'application/json',
        ...(refused.status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
      });
      res.end(
        JSON.stringify({
          code: refused.code,
          message: refused.message,
          error: { code: refused.code, message: refused.message },
        }),
      );
      return;
    }
    route(req, url).then(
      ({ status, body, text, headers }) => {
        if (text !== undefined) {
          res.writeHead(status, { 'content-type': 'text/plain; version=0.0.4' });
          res.end(text);
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      },
      (err: unknown) => {
        let status = 500;
        let code = 'INTERNAL';
        let field: string | undefined;
        if (err instanceof ApiError) {
          status = err.status;
          code = err.code;
          field = err.field;
        } else if (err instanceof HttpError) {
          status = err.status;
          code = err.code;
        } else if (err instanceof ControlError) {
          code = err.code;
          status = httpStatusOf(controlErrorKind(err));
        }
        if (status >= 500) log.warn('http request failed', { path: url.pathname, error: (err as Error).message });
        const message = (err as Error).message;
        const head: Record<string, string> = { 'content-type': 'application/json' };
        if (status === 413) head.connection = 'close';
        res.writeHead(status, head);
        res.end(JSON.stringify({ code, message, ...(field === undefined ? {} : { field }), error: { code, message } }));
      },
    );
  };
  const server =
    deps.tls === undefined ? http.createServer(handler) : https.createServer(deps.tls.httpsServerOptions(), handler);
  // Node closes an idle keep-alive connection after 5 s; a client that picks it up again at that moment loses its
  // request (UND_ERR_SOCKET, seen with 150 POSTs at once on a busy machine). Far above the clients' own reuse
  // window, and below headersTimeout (60 s), as Node requires.
  server.keepAliveTimeout = 30_000;
  if (deps.tls !== undefined) deps.tls.track(server as https.Server);
  return server;
}
