// alcor-agent run: placeholder until the subcommand is written; replace `command` with the real module.
import { notImplemented } from '../../core/cli/commands';

export const command = notImplemented(
  'alcor-agent',
  'run',
  'run the agent: serve goal states over gRPC and program OVS',
);
