// alcor-bench neighbors: one port's update as its VPC grows, with a real agent (see perf/neighbors.ts).
export { command } from '../neighbors';
