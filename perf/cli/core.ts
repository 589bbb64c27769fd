// alcor-bench core: placeholder until the benchmark is written; replace `command` with the real module.
import { notImplemented } from '../../core/cli/commands';

export const command = notImplemented('alcor-bench', 'core', 'goal-state decode and flow compilation speed (no OVS)');
