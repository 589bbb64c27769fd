// Issue 13, "HTTP edge cases": the host registry's routes answer every malformed request with a 4xx and
// a code, and register nothing. Wrong JSON shapes once created hosts named "0", "1", "2"; agent
// addresses with port 0 or 99999 and an IP of 999.999.999.999 were accepted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { silentLogger } from '../log';
import { ControlHandle, startControl } from '../server';
import { embeddedConfig, httpJson } from '../testing/fixtures';

async function withControl(fn: (base: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-control-hosts-'));
  let ctl: ControlHandle | null = null;
  try {
    ctl = await startControl(embeddedConfig(dir), silentLogger);
    await fn(`http://127.0.0.1:${ctl.httpPort}`);
  } finally {
    await ctl?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function hostCount(base: string): Promise<number> {
  return ((await httpJson(base, 'GET', '/v1/hosts')).json as { count: number }).count;
}

/** A raw request, so bodies that are not JSON (or not what httpJson would write) can be sent. */
async function raw(
  base: string,
  method: string,
  urlPath: string,
  body?: string,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(base + urlPath, {
    method,
    ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

test('issue 13 defect "wrong JSON shapes create hosts named 0, 1, 2": refused with BAD_HOST_IP, nothing registered', async () => {
  await withControl(async (base) => {
    for (const body of [
      '["10.0.0.1:50001","10.0.0.2:50001"]',
      '[1,2,3]',
      '"10.0.0.1"',
      '{"0":"10.0.0.1:50001"}',
      '[[]]',
    ]) {
      const r = await raw(base, 'POST', '/v1/hosts', body);
      assert.ok(r.status >= 400 && r.status < 500, `${body}: ${r.status}`);
      assert.ok(
        ['BAD_HOST_IP', 'BAD_AGENT'].includes((r.json as { code: string }).code),
        `${body}: ${JSON.stringify(r.json)}`,
      );
    }
    assert.is(await hostCount(base), 0);
  });
});

test('issue 13 defect "agent addresses with port 0 or 99999, or IP 999.999.999.999, are accepted": refused with BAD_AGENT', async () => {
  await withControl(async (base) => {
    for (const agent of ['10.0.0.1:0', '10.0.0.1:99999', '999.999.999.999:50001', '10.0.0.1', 'a b:1', ':50001', 42]) {
      const r = await httpJson(base, 'PUT', '/v1/hosts/10.1.0.1', { agent });
      assert.is(r.status, 400, `${JSON.stringify(agent)}: ${JSON.stringify(r.json)}`);
      assert.is((r.json as { code: string }).code, 'BAD_AGENT');
    }
    const badHost = await httpJson(base, 'PUT', '/v1/hosts/not-an-ip', { agent: '127.0.0.1:50001' });
    assert.is(badHost.status, 400);
    assert.is((badHost.json as { code: string }).code, 'BAD_HOST_IP');
    assert.is(await hostCount(base), 0);
    // what an operator does write still works: an IPv4 address or a DNS name, a real port
    for (const agent of ['127.0.0.1:50001', 'agent-1.example:50001', '[::1]:50001']) {
      const r = await httpJson(base, 'PUT', '/v1/hosts/10.1.0.1', { agent });
      assert.is(r.status, 200, `${agent}: ${JSON.stringify(r.json)}`);
    }
  });
});

test('fuzz: random paths and JSON bodies on the host routes end in a status below 500 and a code', async () => {
  const seed = Number(process.env['FUZZ_SEED'] ?? 2024);
  const runs = Number(process.env['FUZZ_RUNS'] ?? 150);
  console.log(`fuzz: seed=${seed} runs=${runs} (replay: FUZZ_SEED=${seed} node ${process.argv[1]})`);
  await withControl(async (base) => {
    const segment = fc.oneof(
      fc.constantFrom('v1', 'hosts', 'result', 'repush', 'shards', '%', '%zz', '%2F', '..', '10.0.0.1'),
      fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH'),
        fc.array(segment, { maxLength: 4 }),
        fc.option(fc.json({ maxDepth: 3 }), { nil: undefined }),
        async (method, segs, body) => {
          const r = await raw(base, method, `/${segs.join('/')}`, method === 'GET' ? undefined : body);
          assert.ok(
            r.status < 500,
            `${method} /${segs.join('/')} ${body ?? ''}: ${r.status} ${JSON.stringify(r.json)}`,
          );
          if (r.status >= 400) assert.type((r.json as { code?: unknown }).code, 'string');
        },
      ),
      { seed, numRuns: runs },
    );
  });
});

test.run();
