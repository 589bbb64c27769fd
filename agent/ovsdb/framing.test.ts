import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JsonMessageSplitter } from './framing';

const messages = [
  { id: 1, method: 'echo', params: [] },
  {
    id: null,
    method: 'update',
    params: ['m', { Interface: { u: { new: { name: 'tap{]}"x', external_ids: ['map', [['k', 'v\\"}']]] } } } }],
  },
  { id: 'é-ü-😀', result: [{ rows: [] }, { count: 1 }], error: null },
  { id: 4, result: '}}}{{{[[[', error: null },
];
const stream = Buffer.from(messages.map((m) => JSON.stringify(m)).join(' \n'), 'utf8');

test('whole stream in one chunk -> every message, parsed back equal', () => {
  const s = new JsonMessageSplitter();
  const texts = s.write(stream);
  assert.equal(
    texts.map((t) => JSON.parse(t) as unknown),
    messages,
  );
  assert.is(s.midMessage, false);
});

test('split at every byte position (two chunks)', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const s = new JsonMessageSplitter();
    const texts = [...s.write(stream.subarray(0, cut)), ...s.write(stream.subarray(cut))];
    assert.equal(
      texts.map((t) => JSON.parse(t) as unknown),
      messages,
      `cut at ${cut}`,
    );
  }
});

test('one byte at a time, and three-way splits', () => {
  const s = new JsonMessageSplitter();
  const texts: string[] = [];
  for (let i = 0; i < stream.length; i++) texts.push(...s.write(stream.subarray(i, i + 1)));
  assert.equal(
    texts.map((t) => JSON.parse(t) as unknown),
    messages,
  );
  for (let a = 0; a < stream.length; a += 7) {
    for (let b = a; b <= stream.length; b += 5) {
      const s3 = new JsonMessageSplitter();
      const t3 = [
        ...s3.write(stream.subarray(0, a)),
        ...s3.write(stream.subarray(a, b)),
        ...s3.write(stream.subarray(b)),
      ];
      assert.is(t3.length, messages.length, `cuts ${a},${b}`);
    }
  }
});

test('the splitter does not keep references to caller chunks', () => {
  const s = new JsonMessageSplitter();
  const chunk = Buffer.from('{"a":"bc');
  s.write(chunk);
  chunk.fill(0x20);
  assert.equal(s.write(Buffer.from('d"}')), ['{"a":"bcd"}']);
});

test('garbage between messages -> framing error with a code', () => {
  const s = new JsonMessageSplitter();
  assert.throws(
    () => s.write(Buffer.from('{"a":1} x')),
    (e: unknown) => (e as { code?: string }).code === 'OVSDB_FRAMING',
  );
});

test('oversized message -> OVSDB_MESSAGE_TOO_LARGE', () => {
  const s = new JsonMessageSplitter(16);
  assert.throws(
    () => s.write(Buffer.from('{"aaaaaaaaaaaaaaaaaaaaaaaa')),
    (e: unknown) => (e as { code?: string }).code === 'OVSDB_MESSAGE_TOO_LARGE',
  );
});

test.run();
