// Command-line options every scalability scenario (api, ramp, mix, vms) takes the same way.
import type { OptionSpec } from '../../core/cli/args';

/** `--out DIR` (the HTML report and the raw samples) and `--json`. */
export const OUTPUT_OPTIONS = [
  { name: 'out', type: 'string', metavar: 'DIR', help: 'write report.html, samples.json and samples.csv there' },
  { name: 'json', type: 'boolean', help: 'print only the JSON result line (progress goes to stderr either way)' },
] as const satisfies readonly OptionSpec[];

/** `--hosts H` of the open-loop scenarios (ramp, mix): simulated agents. */
export const SIMULATED_HOSTS_OPTION = {
  name: 'hosts',
  type: 'number',
  default: 10,
  metavar: 'H',
  help: 'simulated agents; ports go round-robin over them',
} as const satisfies OptionSpec;
