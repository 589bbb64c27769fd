// alcor-bench ebpf: map update rates through the addon against bpftool (see perf/ebpf.ts).
export { command } from '../ebpf';
