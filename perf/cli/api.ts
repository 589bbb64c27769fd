// alcor-bench api: resource API latency until every affected agent acknowledged (see perf/api.ts).
export { command } from '../api';
