// Read-back helpers: deletes taken out of converge flow-mods byte for byte, our flows counted by
// owner kind from a dump, the state directory's marker, and when the full state counts as known.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Flow } from '../core/flow';
import { writeBundledFlowMod } from '../core/openflow/messages';
import { OFP14_VERSION } from '../core/openflow/constants';
import { ByteWriter } from '../core/openflow/writer';
import { encodeCookie } from '../core/pipeline/cookie';
import {
  FullStateWatch,
  clearReadBack,
  flowsByOwnerKind,
  markReadBack,
  readBackMarked,
  withoutDeletes,
  type RestartAnswer,
} from './read-back';

const flow = (priority: number, cookie: bigint): Flow => ({
  table: 0,
  priority,
  cookie,
  match: [{ field: 'in_port', value: priority }],
  actions: [],
});

function encode(items: readonly ['add' | 'modify_strict' | 'delete_strict', number][]): Uint8Array {
  const w = new ByteWriter();
  let xid = 1;
  for (const [cmd, prio] of items)
    writeBundledFlowMod(w, xid++, OFP14_VERSION, 7, flow(prio, encodeCookie('port', `p${prio}`)), cmd);
  return w.toBuffer();
}

test('withoutDeletes keeps adds and modifies byte for byte and drops every delete', () => {
  const mixed = encode([
    ['add', 1],
    ['delete_strict', 2],
    ['modify_strict', 3],
    ['delete_strict', 4],
    ['delete_strict', 5],
    ['add', 6],
  ]);
  const r = withoutDeletes([mixed, new Uint8Array(0), encode([['delete_strict', 9]])]);
  assert.is(r.kept, 3);
  assert.is(r.held, 4);
  // Same bytes as encoding only the kept ones, except the xids (kept from the original messages).
  const only = encode([
    ['add', 1],
    ['modify_strict', 3],
    ['add', 6],
  ]);
  const got = Buffer.concat(r.deltas);
  assert.is(got.length, only.length);
  const xids: number[] = [];
  for (let at = 0; at < got.length; at += got.readUInt16BE(at + 2)) xids.push(got.readUInt32BE(at + 4));
  assert.equal(xids, [1, 3, 6]);
  assert.equal(withoutDeletes([encode([['add', 1]])]).deltas, [encode([['add', 1]])]);
});

test('flowsByOwnerKind counts our flows by the kind their cookie names', () => {
  const entry = (cookie: bigint): Buffer => {
    const b = Buffer.alloc(56);
    b.writeUInt16BE(56, 0);
    b.writeBigUInt64BE(cookie, 24);
    return b;
  };
  const body = Buffer.concat([
    entry(encodeCookie('port', 'a')),
    entry(encodeCookie('neighbor', 'n1')),
    entry(encodeCookie('neighbor', 'n2')),
    entry(0x1234n),
  ]);
  assert.equal(flowsByOwnerKind([body, Buffer.alloc(0)]), { port: 1, neighbor: 2 });
});

test('the read-back marker: absent, marked, cleared; no state dir is never marked', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-read-back-'));
  try {
    const stateDir = path.join(dir, 'br-int');
    assert.is(await readBackMarked(stateDir), false);
    await markReadBack(stateDir, 'test');
    assert.is(await readBackMarked(stateDir), true);
    await clearReadBack(stateDir);
    assert.is(await readBackMarked(stateDir), false);
    assert.is(await readBackMarked(undefined), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A watch whose control answers from a script; `arrived` stands for the agent's arrival counter. */
function harness(answers: (() => RestartAnswer | Error)[]) {
  let arrived = 0;
  let sweeps = 0;
  const asked: number[] = [];
  const watch = new FullStateWatch({
    lastArrivedSeq: () => arrived,
    sweep: async () => {
      sweeps++;
    },
    log: () => undefined,
  });
  const ask = async (): Promise<RestartAnswer> => {
    asked.push(arrived);
    const next = answers.shift();
    if (next === undefined) return 'success';
    const a = next();
    if (a instanceof Error) throw a;
    return a;
  };
  return {
    watch,
    ask,
    asked,
    arrive: () => ++arrived,
    get sweeps() {
      return sweeps;
    },
  };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

test('full state: only a goal state that arrived after a SUCCESS answer triggers the sweep, once', async () => {
  const h = harness([]);
  const before = h.arrive(); // a delta that came before the agent asked
  h.watch.start(h.ask);
  h.watch.applied(before);
  await settle();
  assert.is(h.sweeps, 0, 'a goal state from before the answer proves nothing');
  const full = h.arrive();
  h.watch.applied(full);
  await settle();
  assert.is(h.sweeps, 1);
  h.watch.applied(h.arrive());
  await settle();
  assert.is(h.sweeps, 1, 'one sweep');
  assert.is(h.watch.state, 'done');
});

test('full state: a goal state crossing the request makes the agent ask again; FAILURE keeps waiting', async () => {
  const crossing = { arrive: (): number => 0 };
  const h = harness([
    () => {
      crossing.arrive(); // the full push itself may have crossed the answer
      return 'success';
    },
  ]);
  crossing.arrive = h.arrive;
  h.watch.start(h.ask);
  await settle();
  assert.is(h.asked.length, 2, 'asked again');
  const f = harness([() => 'failure']);
  f.watch.start(f.ask);
  await settle();
  f.watch.applied(f.arrive());
  await settle();
  assert.is(f.sweeps, 0, 'FAILURE: nothing is known');
  f.watch.stop();
});

test('without --control nothing is ever swept by inference', async () => {
  const h = harness([]);
  h.watch.start(undefined);
  for (let i = 0; i < 3; i++) h.watch.applied(h.arrive());
  await settle();
  assert.is(h.sweeps, 0);
});

test.run();
