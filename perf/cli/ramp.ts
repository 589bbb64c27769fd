// alcor-bench ramp: open-loop load at rising offered rates until the SLO breaks (see perf/ramp.ts).
export { command } from '../ramp';
