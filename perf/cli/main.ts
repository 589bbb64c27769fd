// alcor-bench: benchmark runner. bin/alcor-bench.js calls main(process.argv.slice(2)). Each benchmark prints JSON.
// Adding a benchmark: one entry below plus its own module exporting `command: SubcommandModule`.
import { dispatch, ioFromProcess, type BinarySpec, type CliIo, type SubcommandEntry } from '../../core/cli/commands';
import { VERSION } from '../../core/index';

export const BENCH_SUBCOMMANDS: readonly SubcommandEntry[] = [
  { name: 'core', summary: 'goal-state decode and flow compilation speed (no OVS)', load: () => import('./core') },
  { name: 'ovs', summary: 'flow programming speed against a sandboxed Open vSwitch', load: () => import('./ovs') },
  {
    name: 'ovn',
    summary: 'the same segment on our agent and on OVN (ovn-controller), in one run',
    load: () => import('./ovn'),
  },
  {
    name: 'restart',
    summary: 'kill -9 and restart of an agent holding N neighbors: time to ready, flow-mods sent',
    load: () => import('./restart'),
  },
  { name: 'control', summary: 'control-service throughput and latency over gRPC', load: () => import('./control') },
  {
    name: 'api',
    summary: 'resource API latency per kind, until every affected agent acknowledged',
    load: () => import('./api'),
  },
  {
    name: 'ramp',
    summary: 'open-loop port create+delete at rising rates: the highest rate that holds the SLO',
    load: () => import('./ramp'),
  },
  { name: 'mix', summary: 'a mix of resource kinds at a fixed rate, latency per kind', load: () => import('./mix') },
  {
    name: 'vms',
    summary: 'VMs on sandboxed OVS hosts with real agents: time to ACTIVE, lease and first ping',
    load: () => import('./vms'),
  },
  {
    name: 'neighbors',
    summary: "one port's update as its VPC grows to 100k neighbors, until a real agent acknowledged",
    load: () => import('./neighbors'),
  },
  { name: 'ebpf', summary: 'eBPF map update and datapath speed', load: () => import('./ebpf') },
  {
    name: 'southbound',
    summary: 'one VPC-wide change reaching N agents over gRPC or NATS JetStream',
    load: () => import('./southbound'),
  },
];

export const BENCH_BINARY: BinarySpec = {
  bin: 'alcor-bench',
  description: 'Alcor benchmarks: each prints one JSON document with its measurements.',
  subcommands: BENCH_SUBCOMMANDS,
  version: VERSION,
};

export function main(argv: readonly string[], io: CliIo = ioFromProcess(process)): Promise<number> {
  return dispatch(BENCH_BINARY, argv, io);
}
