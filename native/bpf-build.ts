// Where our compiled XDP objects live, and compiling them on demand (tests, dev runs). The objects are never shipped
// prebuilt: `npm run build:bpf` (same clang command as below) builds them into build/bpf/.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from './index';

export type BpfProgramName = 'arp_responder' | 'xdp_pass';

const SOURCE_DIR = path.join('native', 'bpf');
const OBJECT_DIR = path.join('build', 'bpf');

export function bpfObjectPath(name: BpfProgramName): string {
  return path.join(packageRoot(), OBJECT_DIR, `${name}.o`);
}

/** The clang invocation `npm run build:bpf` uses, for one program. */
export function bpfCompileArgs(sourceFile: string, objectFile: string): string[] {
  return [
    '-O2',
    '-g',
    '-Wall',
    '-target',
    'bpf',
    '-I/usr/include/x86_64-linux-gnu',
    '-c',
    sourceFile,
    '-o',
    objectFile,
  ];
}

function newestSourceMtimeMs(root: string, name: BpfProgramName): number {
  const dir = path.join(root, SOURCE_DIR);
  const files = [`${name}.c`, ...fs.readdirSync(dir).filter((f) => f.endsWith('.h'))];
  return Math.max(...files.map((f) => fs.statSync(path.join(dir, f)).mtimeMs));
}

/** Path of the compiled object, compiling it first when it is missing or older than its sources. */
export function ensureBpfObject(name: BpfProgramName): string {
  const root = packageRoot();
  const object = bpfObjectPath(name);
  const source = path.join(root, SOURCE_DIR, `${name}.c`);
  if (!fs.existsSync(source)) {
    // Installed without sources: only a prebuilt object from `npm run build:bpf` can be used.
    if (fs.existsSync(object)) return object;
    throw Object.assign(new Error(`BPF source ${source} and object ${object} are both missing`), { code: 'ENOENT' });
  }
  if (fs.existsSync(object) && fs.statSync(object).mtimeMs >= newestSourceMtimeMs(root, name)) return object;
  fs.mkdirSync(path.dirname(object), { recursive: true });
  const r = spawnSync('clang', bpfCompileArgs(source, object), { encoding: 'utf8' });
  if (r.status !== 0) {
    const why = r.error !== undefined ? r.error.message : r.stderr.trim();
    throw Object.assign(new Error(`clang failed to compile ${source}: ${why}`), { code: 'EBPFBUILD' });
  }
  return object;
}
