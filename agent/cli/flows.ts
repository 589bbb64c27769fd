// alcor-agent flows: placeholder until the subcommand is written; replace `command` with the real module.
import { notImplemented } from '../../core/cli/commands';

export const command = notImplemented('alcor-agent', 'flows', 'show the flows a running agent has installed');
