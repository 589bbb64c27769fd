// Benchmark: FLOW_MOD encode rate for a typical flow (3 match fields, 4 actions), plain and
// wrapped in BUNDLE_ADD_MESSAGE, written into one growable buffer. Prints one JSON line.
// Run: node dist/core/openflow/encode.bench.js [flows]   (belongs in perf/; see the report)

import type { Flow } from '../flow';
import { OFP13_VERSION, OFP14_VERSION } from './constants';
import { writeFlowMod } from './flowmod';
import { encodeBundledFlowMods } from './messages';
import { ByteWriter } from './writer';

function typicalFlows(n: number): Flow[] {
  const flows: Flow[] = [];
  for (let i = 0; i < n; i++) {
    flows.push({
      table: 20,
      priority: 100,
      cookie: BigInt(0x1000 + (i >> 4)),
      match: [
        { field: 'reg6', value: i & 0xffff },
        { field: 'eth_type', value: 0x0800 },
        { field: 'ipv4_dst', value: (0x0a000000 + i) >>> 0 },
      ],
      actions: [
        { kind: 'set_field', field: 'eth_dst', value: 0x020000000000 + i },
        { kind: 'load', field: 'reg7', value: i & 0xffff, ofs: 0, nBits: 16 },
        { kind: 'set_field', field: 'tun_ipv4_dst', value: 0xc0000201 },
        { kind: 'output', port: 3 },
      ],
      goto: undefined,
    });
  }
  return flows;
}

/**
 * Best of `rounds`. The machine is shared (load average above 10 on 2 cores while others build),
 * so besides wall time this reports the rate by this thread's CPU time, which contention does
 * not inflate.
 */
function rate(
  label: string,
  flows: readonly Flow[],
  rounds: number,
  encode: (w: ByteWriter) => void,
): { label: string; flowsPerSecWall: number; flowsPerSecCpu: number; bytesPerFlow: number } {
  const w = new ByteWriter(flows.length * 200);
  encode(w); // warm-up
  let bestWallNs = Infinity;
  let bestCpuUs = Infinity;
  for (let r = 0; r < rounds; r++) {
    w.reset();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    encode(w);
    const ns = Number(process.hrtime.bigint() - t0);
    const c = process.cpuUsage(c0);
    bestWallNs = Math.min(bestWallNs, ns);
    bestCpuUs = Math.min(bestCpuUs, c.user + c.system);
  }
  return {
    label,
    flowsPerSecWall: Math.round((flows.length * 1e9) / bestWallNs),
    flowsPerSecCpu: Math.round((flows.length * 1e6) / Math.max(1, bestCpuUs)),
    bytesPerFlow: w.pos / flows.length,
  };
}

function main(): void {
  const n = Number(process.argv[2] ?? 200_000);
  const flows = typicalFlows(n);
  const results = [
    rate('flow_mod_of13', flows, 10, (w) => {
      for (let i = 0; i < flows.length; i++) writeFlowMod(w, flows[i] as Flow, 'add', i, OFP13_VERSION);
    }),
    rate('bundle_add_flow_mod_of14', flows, 10, (w) => {
      encodeBundledFlowMods(w, 1, flows, 'add', OFP14_VERSION);
    }),
  ];
  console.log(JSON.stringify({ bench: 'openflow-encode', flows: n, results }));
}

main();
