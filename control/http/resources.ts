// Routes of the resource API (/v1/vpcs, /v1/subnets, /v1/ports, /v1/routers, /v1/security-groups).
// Thin: parse the request, call the resource service, optionally wait for the DPM's agents, shape the reply.
import * as http from 'node:http';
import { Dpm } from '../dpm/dpm';
import { ApiError } from '../resources/errors';
import { Kind, KINDS } from '../resources/model';
import { ResourceService } from '../resources/service';

/** Bodies above this are refused with 413 (a bulk of 10,000 ports is ~2 MB). */
export const MAX_RESOURCE_BODY = 16 * 1024 * 1024;

export interface ResourceRouteDeps {
  readonly service: ResourceService;
  readonly dpm: Dpm;
}

export interface RouteReply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export function isResourceKind(k: string | undefined): k is Kind {
  return k !== undefined && (KINDS as readonly string[]).includes(k);
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) {
      req.resume(); // drain, so the 413 reaches the client instead of a reset
      reject(new ApiError(413, 'BODY_TOO_LARGE', `body of ${declared} bytes is over the ${limit}-byte limit`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(new ApiError(413, 'BODY_TOO_LARGE', `body is over the ${limit}-byte limit`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => reject(new ApiError(400, 'BAD_BODY', `cannot read the body: ${err.message}`)));
  });
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const body = await readBody(req, MAX_RESOURCE_BODY);
  if (body.length === 0) throw new ApiError(400, 'BAD_JSON', 'the body is empty (expected JSON)');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err: unknown) {
    throw new ApiError(400, 'BAD_JSON', `the body is not JSON: ${(err as Error).message}`);
  }
}

function waitParam(url: URL): boolean {
  const w = url.searchParams.get('wait');
  if (w === null || w === 'false' || w === '0') return false;
  if (w === 'true' || w === '1' || w === '') return true;
  throw new ApiError(400, 'BAD_QUERY', `wait=${JSON.stringify(w.slice(0, 20))}: use true or false`, 'wait');
}

/** If-Match: a revision number, optionally quoted (an ETag as we send it). */
function expectedRevision(req: http.IncomingMessage): number | undefined {
  const h = req.headers['if-match'];
  if (h === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(String(h));
  if (m === null)
    throw new ApiError(
      400,
      'BAD_IF_MATCH',
      `If-Match ${JSON.stringify(String(h).slice(0, 40))} is not a revision`,
      'revision',
    );
  return Number(m[1]);
}

const etag = (item: Record<string, unknown>): Record<string, string> => ({ etag: `"${String(item.revision)}"` });

export async function routeResources(
  req: http.IncomingMessage,
  url: URL,
  kind: Kind,
  id: string | undefined,
  deps: ResourceRouteDeps,
): Promise<RouteReply> {
  const { service, dpm } = deps;
  const method = req.method ?? 'GET';
  if (id === undefined) {
    if (method === 'GET') {
      const filters = new Map([...url.searchParams].filter(([k]) => k !== 'wait'));
      return { status: 200, body: { items: service.list(kind, filters) } };
    }
    if (method === 'POST') {
      const wait = waitParam(url);
      const json = await readJson(req);
      const { items, revision } = await service.create(kind, json);
      let out = items;
      if (wait) {
        await dpm.settled(revision);
        out = items.map((i) => service.get(kind, String(i.id)));
      }
      if (Array.isArray(json)) return { status: 201, body: { items: out } };
      const one = out[0] as Record<string, unknown>;
      return { status: 201, body: one, headers: etag(one) };
    }
    throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on /v1/${kind}`);
  }
  if (method === 'GET') {
    const item = service.get(kind, id);
    return { status: 200, body: item, headers: etag(item) };
  }
  if (method === 'PUT' || method === 'PATCH') {
    const wait = waitParam(url);
    const expected = expectedRevision(req);
    const json = await readJson(req);
    const { item, revision } = await service.update(kind, id, json, method === 'PUT' ? 'put' : 'patch', expected);
    let out = item;
    if (wait) {
      await dpm.settled(revision);
      out = service.get(kind, id);
    }
    return { status: 200, body: out, headers: etag(out) };
  }
  if (method === 'DELETE') {
    const wait = waitParam(url);
    const { revision } = await service.delete(kind, id, expectedRevision(req));
    if (wait) await dpm.settled(revision);
    return { status: 200, body: { id, deleted: true } };
  }
  throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on /v1/${kind}/<id>`);
}
