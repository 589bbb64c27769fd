// Loads proto/*.proto with protobufjs reflection (a devDependency): an implementation of the contract that is
// independent of the ts-proto generated code, for tests that cross-check the two.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** The repository root, found from this compiled file (dist/test/protos.js) or its source (test/protos.ts). */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'proto'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the repository root above ${__dirname}`);
}

export function protoFiles(): string[] {
  const dir = path.join(repoRoot(), 'proto');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** All proto/*.proto in one resolved Root. keepCase=true keeps snake_case field names as written in the files. */
export function loadProtoRoot(keepCase: boolean): protobuf.Root {
  const root = new protobuf.Root();
  root.loadSync(protoFiles(), { keepCase });
  root.resolveAll();
  return root;
}

/** Every message type in the files, depth first, keyed by name relative to the package (`GatewayConfiguration.zeta`). */
export function allMessageTypes(root: protobuf.Root, pkg = 'alcor.schema'): Map<string, protobuf.Type> {
  const out = new Map<string, protobuf.Type>();
  const prefix = `.${pkg}.`;
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) {
        const full = nested.fullName;
        out.set(full.startsWith(prefix) ? full.slice(prefix.length) : full, nested);
      }
      if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) visit(nested);
    }
  };
  visit(root);
  return out;
}
