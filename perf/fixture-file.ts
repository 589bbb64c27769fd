// The benchmarks' big input, built in a child process and kept in a file, so the process being
// measured never holds the fixture's objects (a million neighbors built as JS objects cost more
// memory and GC than the engine being measured). Files are cached per size under the temp dir.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tapNameFor } from '../agent/ovsdb';
import { NEIGHBORS_PORT, neighborsGoalStateV2Bytes } from '../test/fixtures/goalstates';
import type { OvsSandbox, Vm } from '../test/sandbox';

const run = promisify(execFile);
/** Bump when the fixture's content changes, so stale cached files are not reused. */
const FIXTURE_VERSION = 1;

/** Path of an encoded GoalStateV2 with 1 port and `neighbors` neighbors (no host_resources). */
export async function neighborsFixtureFile(neighbors: number): Promise<string> {
  const dir = path.join(os.tmpdir(), 'alcor-bench-fixtures');
  const file = path.join(dir, `neighbors-v${FIXTURE_VERSION}-${neighbors}.bin`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await run(process.execPath, ['--max-old-space-size=8192', __filename, String(neighbors), tmp], {
    maxBuffer: 1 << 20,
  });
  fs.renameSync(tmp, file);
  return file;
}

/** The VM behind the fixture's one port (NEIGHBORS_PORT), on a sandboxed OVS. */
export function addNeighborsPortVm(sb: OvsSandbox): Promise<Vm> {
  return sb.addVm({
    name: 'vm1',
    mac: NEIGHBORS_PORT.mac,
    ip: `${NEIGHBORS_PORT.ip}/8`,
    iface: tapNameFor(NEIGHBORS_PORT.id),
  });
}

if (require.main === module) {
  const [n, out] = process.argv.slice(2);
  fs.writeFileSync(out, neighborsGoalStateV2Bytes(Number(n), { hostResources: false }));
}
