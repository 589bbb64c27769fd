// alcor-control run: placeholder until the subcommand is written; replace `command` with the real module.
import { notImplemented } from '../../core/cli/commands';

export const command = notImplemented('alcor-control', 'run', 'run the control service: push goal states to agents over gRPC');
