// The agent's HTTP endpoints (--metrics): /metrics (Prometheus text), /status and /flows (JSON).
//
// Why it is a module of its own: these are read-only views for operators and for `alcor-agent
// status|flows`; they answer from what the other parts expose and change nothing, so they can grow
// (new endpoints, TLS) without touching the apply path.

import * as http from 'node:http';
import type { Engine } from '../core/engine/engine';
import { errorText } from '../core/errors';
import { isGroupEntry } from '../core/flow';
import { decodeFlowStatsEntries, formatFlow } from '../core/openflow';
import { parseHostPort } from '../core/net/hostport';
import { COOKIE_MARKER_BITS, COOKIE_MASK } from '../core/pipeline/cookie';
import { DaemonError } from './errors';
import type { OpenFlowSession } from './openflow/session';
import type { SerialQueue } from './serial-queue';
import type { DirectPathReport } from './zeta-direct-paths';
import { staleGroupIds } from '../core/zeta/stale-groups';

/** Up to this many missing/unexpected flows are listed in /flows. */
const LIST_MAX = 50;

export interface HttpSources {
  /** Prometheus text for /metrics. */
  metricsText(): string;
  /** The /status object. */
  status(): Promise<Record<string, unknown>>;
  /** The /flows object. */
  flowsReport(): Promise<Record<string, unknown>>;
}

export function splitHostPort(text: string): { host: string; port: number } {
  const hp = parseHostPort(text);
  if (hp === undefined) throw new DaemonError('DAEMON_BAD_OPTIONS', `expected HOST:PORT, got "${text}"`);
  return hp;
}

/** Listens on `listen` (HOST:PORT; port 0 = any) and serves the endpoints from `src`. */
export async function startHttp(listen: string, src: HttpSources): Promise<http.Server> {
  const { host, port } = splitHostPort(listen);
  const server = http.createServer((req, res) => {
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    const json = (p: Promise<Record<string, unknown>>): void => {
      p.then(
        (v) => send(200, 'application/json', JSON.stringify(v) + '\n'),
        (e: unknown) => send(503, 'application/json', JSON.stringify({ error: errorText(e) }) + '\n'),
      );
    };
    switch (req.url) {
      case '/metrics':
        send(200, 'text/plain; version=0.0.4', src.metricsText());
        return;
      case '/status':
        json(src.status());
        return;
      case '/flows':
        json(src.flowsReport());
        return;
      default:
        send(404, 'text/plain', 'not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

export async function stopHttp(server: http.Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
}

export function httpPort(server: http.Server | undefined): number | undefined {
  const a = server?.address();
  return a !== null && typeof a === 'object' ? a.port : undefined;
}

/**
 * /flows: desired vs installed (ours), compared by the engine's reconcile — the flow-mods a
 * converge would send, and the stale groups it would delete; with the ZETA direct paths' counts
 * (installed, expired, removed by reason). Runs in the serial queue, so it never sees a transaction half-done.
 */
export function flowsReport(
  engine: Engine,
  session: OpenFlowSession,
  queue: SerialQueue,
  directPaths?: DirectPathReport,
): Promise<Record<string, unknown>> {
  return queue.run(async () => {
    const bodies = await session.dumpFlows(COOKIE_MARKER_BITS, COOKIE_MASK);
    const [all, installedGroups, stats] = await Promise.all([
      engine.desiredFlows(),
      session.dumpGroups(),
      engine.stats(),
    ]);
    // Groups of our id range no gateway wants: a converge deletes them (core/zeta/stale-groups.ts).
    const staleGroups = staleGroupIds(
      installedGroups.map((g) => g.groupId),
      stats.groups,
    );
    // Groups (ZETA gateways) are not in a flow dump: listed apart, so desired and installed count flows.
    const desired = all.filter((f) => !isGroupEntry(f)).map((f) => formatFlow(f));
    const groups = all.filter(isGroupEntry).map((f) => formatFlow(f));
    const installed: string[] = [];
    for (const b of bodies)
      for (const e of decodeFlowStatsEntries(b))
        installed.push(
          e.kind === 'flow'
            ? formatFlow(e.flow)
            : `cookie=0x${e.cookie.toString(16)}, table=${e.table}, priority=${e.priority} (${e.code}: ${e.reason})`,
        );
    // The engine's own diff decides "in sync"; the text lists are for a human reading the output.
    const r = await engine.reconcile(bodies);
    const have = new Set(installed);
    const want = new Set(desired);
    return {
      desired: desired.length,
      groups,
      installed: installed.length,
      differences: r.flowMods + staleGroups.length,
      inSync: r.flowMods === 0 && staleGroups.length === 0,
      staleGroups: staleGroups.map((id) => `group_id=${id}`),
      ...(directPaths === undefined ? {} : { zetaDirectPaths: directPaths }),
      missing: desired.filter((f) => !have.has(f)).slice(0, LIST_MAX),
      unexpected: installed.filter((f) => !want.has(f)).slice(0, LIST_MAX),
    };
  });
}
