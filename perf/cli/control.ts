// alcor-bench control: time until every agent acknowledged a push to many hosts (see perf/control.ts).
export { command } from '../control';
