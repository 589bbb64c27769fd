// Benchmark (not a test): compile N remote L2 neighbors and enter their flows into the desired flow
// table in one thread, then add one more neighbor incrementally. Prints one JSON line.
//   node --max-old-space-size=8192 dist/core/pipeline/neighbors.bench.js [N=500000]
// (Lives here because this task owns only core/pipeline and core/flowtable; perf/ may import it.)

import { FlowTable } from '../flowtable/table';
import type { Neighbor } from '../model';
import { compileNeighbor } from './remote-neighbor-flows';
import { MemoryView } from './memview';
import { formatMac } from '../goalstate/addr';
import { neighbor, subnet } from './testdata';
import { ownerKey, preferOwner } from './view';

function makeNeighbor(i: number): Neighbor {
  const hi = Math.floor(i / 65536);
  const lo = i % 65536;
  return neighbor(`nbr-${i.toString(36).padStart(8, '0')}-0000-0000-0000-000000000000`, {
    mac: formatMac(0x02_01_00_00_00_01 + hi * 0x1_00_00_00 + lo * 0x1_00),
    host: `172.16.${(i >> 8) & 255}.${i & 255}`,
    ips: [{ subnetId: `s${hi % 16}`, ip: `10.${hi}.${lo >> 8}.${lo & 255}` }],
  });
}

function makeNeighbors(n: number): Neighbor[] {
  const out: Neighbor[] = new Array<Neighbor>(n);
  for (let i = 0; i < n; i++) out[i] = makeNeighbor(i);
  return out;
}

/** CPU ms to allocate 1M small objects: how fast (or how loaded) this machine is right now. */
function calibrationCpuMs(): number {
  const u0 = process.cpuUsage();
  const keep: { a: number; b: number[] }[] = [];
  for (let i = 0; i < 1_000_000; i++) keep.push({ a: i, b: [i, i + 1] });
  const u1 = process.cpuUsage(u0);
  return Math.round((u1.user + u1.system) / 1000 + keep.length * 0);
}

function main(): void {
  const calibration = calibrationCpuMs();
  const n = Number(process.argv[2] ?? 500_000);
  const view = new MemoryView({ localTunnelIp: 0xc0000201, tunnelOfport: 100 });
  for (let s = 0; s < 16; s++) view.put(subnet(`s${s}`, { cidr: `10.${s}.0.0/16`, vni: 1000 + s }));
  const neighbors = makeNeighbors(n);

  // CPU time as well as wall time: the shared build machine is often heavily loaded.
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const c0 = cpu();
  const t0 = process.hrtime.bigint();
  const changes: { owner: string; flows: ReturnType<typeof compileNeighbor> }[] = new Array(n);
  let flowCount = 0;
  for (let i = 0; i < n; i++) {
    const nb = neighbors[i] as Neighbor;
    const flows = compileNeighbor(nb, view);
    flowCount += flows.length;
    changes[i] = { owner: ownerKey({ kind: 'neighbor', id: nb.id }), flows };
  }
  const t1 = process.hrtime.bigint();
  const c1 = cpu();
  const table = new FlowTable({ preferOwner });
  const delta = table.apply(changes);
  const t2 = process.hrtime.bigint();
  const c2 = cpu();

  const extra = makeNeighbor(n);
  const t3 = process.hrtime.bigint();
  const d1 = table.apply([
    { owner: ownerKey({ kind: 'neighbor', id: extra.id }), flows: compileNeighbor(extra, view) },
  ]);
  const t4 = process.hrtime.bigint();

  const ms = (a: bigint, b: bigint): number => Number(b - a) / 1e6;
  console.log(
    JSON.stringify({
      bench: 'pipeline.neighbors',
      neighbors: n,
      flows: flowCount,
      tableSize: table.size,
      added: delta.add.length,
      compileCpuMs: Math.round(c1 - c0),
      tableApplyCpuMs: Math.round(c2 - c1),
      cpuMsPer500k: Math.round(((c2 - c0) * 500_000) / n),
      compileMs: ms(t0, t1),
      tableApplyMs: ms(t1, t2),
      totalMs: ms(t0, t2),
      msPer500k: (ms(t0, t2) * 500_000) / n,
      oneMoreNeighbor: { adds: d1.add.length, ms: ms(t3, t4) },
      calibrationCpuMs: calibration,
      heapUsedMB: Math.round(process.memoryUsage().heapUsed / 1e6),
    }),
  );
}

main();
