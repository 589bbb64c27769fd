// alcor-bench control: placeholder until the benchmark is written; replace `command` with the real module.
import { notImplemented } from '../../core/cli/commands';

export const command = notImplemented('alcor-bench', 'control', 'control-service throughput and latency over gRPC');
