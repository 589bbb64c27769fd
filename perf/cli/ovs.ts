// alcor-bench ovs: placeholder until the benchmark is written; replace `command` with the real module.
import { notImplemented } from '../../core/cli/commands';

export const command = notImplemented('alcor-bench', 'ovs', 'flow programming speed against a sandboxed Open vSwitch');
