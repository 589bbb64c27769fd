// A full collection of this thread's V8 heap, on request. After a goal state of hundreds of MB the
// garbage it leaves (the request, chunk copies, the reply's statuses) is mostly ArrayBuffers outside
// the heap, and an idle agent's small heap gives V8 no reason to collect it: the memory stays
// resident for minutes. A hypervisor's memory is sold to VMs, so the agent asks once it is idle.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

let collect: (() => void) | null | undefined;

/** Runs a full collection if V8 lets us have one (it always does on Node 20); false if not. */
export function fullCollection(): boolean {
  if (collect === undefined) {
    try {
      // The flag makes a new context get a `gc` global; the process's own flags are not changed
      // for code already running.
      v8.setFlagsFromString('--expose-gc');
      const gc: unknown = vm.runInNewContext('gc');
      collect = typeof gc === 'function' ? (gc as () => void) : null;
    } catch {
      collect = null;
    }
  }
  if (collect === null) return false;
  collect();
  return true;
}
