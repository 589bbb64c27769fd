// alcor-bench mix: a mix of kinds at a fixed offered rate, per-kind latency (see perf/mix.ts).
export { command } from '../mix';
