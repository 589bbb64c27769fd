// The operations the load scenarios (ramp, mix) send: one create+delete pair of a kind, so the system's size
// stays flat however long the run. Every resource gets a fresh id; subnets get distinct /24s.
import { hostIp } from '../../control/testing/fixtures';
import type { Bed } from './bed';
import type { OpOutcome } from './open-loop';

export const LOAD_KINDS = ['port', 'subnet', 'vpc', 'router', 'sg'] as const;
export type LoadKind = (typeof LOAD_KINDS)[number];

const PATHS: Readonly<Record<LoadKind, string>> = {
  port: 'ports',
  subnet: 'subnets',
  vpc: 'vpcs',
  router: 'routers',
  sg: 'security-groups',
};

/** The VPC, port subnet and security group the pairs use. */
export async function setupLoadVpc(bed: Bed): Promise<void> {
  for (const [p, body] of [
    ['/v1/vpcs', { id: 'vpc', cidr: '10.64.0.0/10' }],
    ['/v1/subnets', { id: 'net', vpc: 'vpc', cidr: '10.64.0.0/14' }],
    ['/v1/security-groups', { id: 'default', rules: [{ direction: 'ingress', remoteCidr: '10.64.0.0/10' }] }],
  ] as const) {
    const r = await bed.call('POST', `${p}?wait=true`, body);
    if (r.status !== 201) throw new Error(`setting up the VPC: POST ${p}: ${r.status} ${JSON.stringify(r.json)}`);
  }
}

function createBody(kind: LoadKind, id: string, n: number, hosts: number): Record<string, unknown> {
  switch (kind) {
    case 'port':
      return { id, subnet: 'net', host: hostIp((n % hosts) + 1), securityGroups: ['default'] };
    case 'subnet': {
      // 8,192 distinct /24s in 10.96.0.0/11 (inside the VPC, clear of the port subnet).
      const j = n % 8192;
      return { id, vpc: 'vpc', cidr: `10.${96 + (j >> 8)}.${j & 255}.0/24` };
    }
    case 'vpc':
      return { id, cidr: '10.200.0.0/16' };
    case 'router':
      return { id, subnets: [] };
    case 'sg':
      return { id, rules: [{ direction: 'egress' }] };
  }
}

/**
 * Creates then deletes one resource. Marks: `create` (create answered) and `pair` (delete answered), both
 * timed by the caller from the scheduled start. With `wait`, each call waits for every affected agent.
 */
export async function pairOp(
  bed: Bed,
  kind: LoadKind,
  tag: string,
  n: number,
  wait: boolean,
  onError: (what: string) => void,
): Promise<OpOutcome> {
  const id = `${kind}-${tag}-${n}`;
  const q = wait ? '?wait=true' : '';
  const c = await bed.call('POST', `/v1/${PATHS[kind]}${q}`, createBody(kind, id, n, bed.agents.length));
  const created = process.hrtime.bigint();
  if (c.status !== 201) {
    onError(`create ${kind}: ${c.status} ${JSON.stringify(c.json).slice(0, 200)}`);
    return { ok: false, marks: [{ name: 'create', atNs: created }] };
  }
  const d = await bed.call('DELETE', `/v1/${PATHS[kind]}/${id}${q}`);
  const deleted = process.hrtime.bigint();
  if (d.status !== 200) onError(`delete ${kind}: ${d.status} ${JSON.stringify(d.json).slice(0, 200)}`);
  return {
    ok: d.status === 200,
    marks: [
      { name: 'create', atNs: created },
      { name: 'pair', atNs: deleted },
    ],
  };
}

/** Untimed pairs before the first step: JIT, connection pools and the agents' first messages are not the load. */
export async function warmUp(bed: Bed, kinds: readonly LoadKind[], pairs: number): Promise<void> {
  for (let i = 0; i < pairs; i++) {
    const r = await pairOp(bed, kinds[i % kinds.length] as LoadKind, 'warm', i, true, () => undefined);
    if (!r.ok) throw new Error(`warm-up pair ${i} failed: the API or the agents are not working`);
  }
}
