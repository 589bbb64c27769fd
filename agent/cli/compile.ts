// alcor-agent compile: placeholder until the subcommand is written; replace `command` with the real module.
import { notImplemented } from '../../core/cli/commands';

export const command = notImplemented(
  'alcor-agent',
  'compile',
  'compile a goal-state file to OpenFlow flows without touching OVS',
);
