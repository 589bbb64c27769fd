// alcor-bench ebpf: placeholder until the benchmark is written; replace `command` with the real module.
import { notImplemented } from '../../core/cli/commands';

export const command = notImplemented('alcor-bench', 'ebpf', 'eBPF map update and datapath speed');
