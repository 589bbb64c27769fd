// Shared by `alcor-agent status` and `alcor-agent flows`: GET a JSON document from a running agent's
// HTTP server (the address given to `alcor-agent run --metrics`).
import * as http from 'node:http';
import type { OptionSpec } from '../../core/cli/args';
import { CliError } from '../../core/cli/commands';
import { parseHostPort } from '../../core/net/hostport';

export const AGENT_HTTP_OPTIONS = [
  {
    name: 'metrics',
    type: 'string',
    env: 'ALCOR_AGENT_METRICS',
    metavar: 'HOST:PORT',
    help: "the running agent's --metrics address",
  },
  { name: 'timeout-ms', type: 'number', default: 10000, metavar: 'MS', help: 'give up after this long' },
] as const satisfies readonly OptionSpec[];

export function getJson(address: string | undefined, urlPath: string, timeoutMs: number): Promise<unknown> {
  if (address === undefined) {
    throw new CliError('E_CLI_BAD_VALUE', 'missing --metrics HOST:PORT (the address the agent was started with)');
  }
  const hp = parseHostPort(address);
  if (hp === undefined) throw new CliError('E_CLI_BAD_VALUE', `--metrics: expected HOST:PORT, got "${address}"`);
  const { host, port } = hp;
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: urlPath, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          const v: unknown = JSON.parse(body);
          if (res.statusCode !== 200) reject(new Error(`agent answered ${res.statusCode}: ${body.trim()}`));
          else resolve(v);
        } catch {
          reject(new Error(`agent answered ${res.statusCode} with non-JSON: ${body.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${address} in ${timeoutMs} ms`)));
    req.on('error', (e: Error) => reject(new Error(`cannot reach the agent at ${address}: ${e.message}`)));
  });
}
