// alcor-agent status: placeholder until the subcommand is written; replace `command` with the real module.
import { notImplemented } from '../../core/cli/commands';

export const command = notImplemented('alcor-agent', 'status', "show a running agent's state and counters");
