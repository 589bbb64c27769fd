// The goal-state log's file contract: what a restart replays, and when it must not trust the log.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateLog, listSegments, readGoalStateLog, segmentFile } from './goalstate-log';
import type { Logger } from './log';

const quiet: Logger = () => undefined;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'alcor-gslog-'));
}

async function logged(l: GoalStateLog, version: 1 | 2, body: string, committed: boolean): Promise<void> {
  l.begin(version, bytes(body));
  assert.ok(await l.written());
  await l.end(committed);
}

test('committed goal states replay in order; aborted ones do not', async () => {
  const dir = tmpDir();
  const l = await GoalStateLog.open(dir, 0, quiet);
  await logged(l, 2, 'first', true);
  await logged(l, 2, 'refused', false);
  await logged(l, 1, 'third', true);
  await l.close();
  const r = await readGoalStateLog(dir, 0);
  assert.ok(r.complete, r.problem);
  assert.equal(
    r.goalStates.map((g) => [g.version, text(g.bytes)]),
    [
      [2, 'first'],
      [1, 'third'],
    ],
  );
  assert.is(l.records, 3);
});

test('a goal state without an outcome (killed while applying) makes the log incomplete', async () => {
  const dir = tmpDir();
  const l = await GoalStateLog.open(dir, 0, quiet);
  await logged(l, 2, 'done', true);
  l.begin(2, bytes('in flight'));
  assert.ok(await l.written());
  await l.close();
  const r = await readGoalStateLog(dir, 0);
  assert.not.ok(r.complete);
  assert.match(r.problem ?? '', /no outcome/);
  assert.equal(
    r.goalStates.map((g) => text(g.bytes)),
    ['done'],
  );
});

test('a torn tail (a full disk) or a missing segment makes the log incomplete', async () => {
  const dir = tmpDir();
  const l = await GoalStateLog.open(dir, 3, quiet);
  await logged(l, 2, 'a goal state', true);
  await l.close();
  const file = segmentFile(dir, 3);
  const whole = fs.readFileSync(file);
  fs.writeFileSync(file, whole.subarray(0, whole.length - 3));
  assert.match((await readGoalStateLog(dir, 3)).problem ?? '', /torn/);
  fs.writeFileSync(file, whole);
  assert.ok((await readGoalStateLog(dir, 3)).complete);
  assert.match((await readGoalStateLog(dir, 2)).problem ?? '', /segment 2 is missing/);
  fs.writeFileSync(segmentFile(dir, 5), '');
  assert.match((await readGoalStateLog(dir, 3)).problem ?? '', /segment 4 is missing/);
});

test('rotation: a new segment, counters reset; removeBefore drops what a snapshot covers', async () => {
  const dir = tmpDir();
  const l = await GoalStateLog.open(dir, 0, quiet, { records: 10, bytes: 100 });
  await logged(l, 2, 'old', true);
  assert.is(l.records, 11);
  assert.is(await l.rotate(), 1);
  assert.is(l.records, 0);
  await logged(l, 2, 'new', true);
  assert.equal(await listSegments(dir), [0, 1]);
  await l.removeBefore(1);
  assert.equal(await listSegments(dir), [1]);
  await l.close();
  const r = await readGoalStateLog(dir, 1);
  assert.equal(
    r.goalStates.map((g) => text(g.bytes)),
    ['new'],
  );
});

test('an append that fails breaks the log until the next rotation, and asks for compaction', async () => {
  const parent = tmpDir();
  const dir = path.join(parent, 'state');
  const l = await GoalStateLog.open(dir, 0, quiet);
  // The directory goes away under the open segment: rotation cannot create the next one.
  fs.rmSync(dir, { recursive: true });
  fs.writeFileSync(dir, 'a file where the state dir was');
  await l.rotate();
  assert.ok(l.broken);
  assert.ok(l.compactionDue);
  l.begin(2, bytes('lost'));
  assert.not.ok(await l.written(), 'nothing is appended to a broken log');
  await l.end(true);
  await l.close();
});

test.run();
