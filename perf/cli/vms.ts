// alcor-bench vms: VMs on sandboxed OVS hosts with real agents, end to end (see perf/vms.ts).
export { command } from '../vms';
