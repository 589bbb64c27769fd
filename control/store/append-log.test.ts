// AppendLog on a real file: an append that fails halfway (part of its record already in the file, as a full
// disk leaves it) is cut off again, so the records appended after it replay, and so does the log.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AppendLog } from './append-log';
import { readJsonLines } from './json-lines';

const failureOf = (p: Promise<void>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e as Error).message,
  );

function tempLog(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'append-log-')), 'x.log');
}

test('a failed append leaves nothing: the next record is on its own line and the log replays', async () => {
  const file = tempLog();
  const log = await AppendLog.open(file);
  await log.appendText('{"n":1}\n');
  const failure = log.append(async (put) => {
    await put(Buffer.from('{"n":2,"b":"half of a rec'));
    throw new Error('no space left on device');
  });
  assert.match(await failureOf(failure), /no space/);
  assert.is(fs.readFileSync(file, 'utf8'), '{"n":1}\n', 'the torn part is cut off');
  await log.appendText('{"n":3}\n');
  await log.close();
  assert.equal(await readJsonLines(file), [{ n: 1 }, { n: 3 }]);
});

test('an append continues a file that has records, at its end', async () => {
  const file = tempLog();
  fs.writeFileSync(file, '{"n":1}\n');
  const log = await AppendLog.open(file);
  const failure = log.append(async (put) => {
    await put(Buffer.from('{"n":2'));
    await put(Buffer.from(',"more":'));
    throw new Error('EIO');
  });
  assert.match(await failureOf(failure), /EIO/);
  await log.append(async (put) => {
    await put(Buffer.from('{"n":3}\nXXXX'), 8); // only the first 8 bytes
  });
  await log.close();
  assert.is(fs.readFileSync(file, 'utf8'), '{"n":1}\n{"n":3}\n');
});

test('an append that writes nothing changes nothing', async () => {
  const file = tempLog();
  const log = await AppendLog.open(file);
  await log.append(async () => undefined);
  await log.appendText('{"n":1}\n');
  await log.close();
  assert.equal(await readJsonLines(file), [{ n: 1 }]);
});

test.run();
