import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  REG_FIELDS,
  REG_MARKS,
  SHARED_RANGES,
  fieldMask,
  matchMark,
  matchReg,
  VniField,
  PacketSourceField,
} from './fields';
import { TABLES, TABLE_LIST, tableById } from './tables';
import { Priority } from './priorities';

test('no two register fields overlap unless declared as shared', () => {
  for (let i = 0; i < REG_FIELDS.length; i++) {
    for (let j = i + 1; j < REG_FIELDS.length; j++) {
      const a = REG_FIELDS[i];
      const b = REG_FIELDS[j];
      if (a === undefined || b === undefined || a.reg !== b.reg) continue;
      const overlap = a.start <= b.end && b.start <= a.end;
      const declared = SHARED_RANGES.some(
        (s) => (s.a === a.name && s.b === b.name) || (s.a === b.name && s.b === a.name),
      );
      assert.ok(!overlap || declared, `${a.name} and ${b.name} overlap in ${a.reg}`);
    }
  }
});

test('register fields fit in 32 bits and marks fit in their field', () => {
  for (const f of REG_FIELDS) assert.ok(f.start >= 0 && f.end <= 31 && f.start <= f.end, f.name);
  for (const m of REG_MARKS) assert.ok(m.value > 0 && m.value < 2 ** (m.field.end - m.field.start + 1), m.name);
  const names = new Set(REG_FIELDS.map((f) => f.name));
  assert.is(names.size, REG_FIELDS.length, 'field names are unique');
});

test('register matches: partial fields are masked, whole registers are not', () => {
  assert.equal(matchMark(REG_MARKS[0] ?? { name: '', field: PacketSourceField, value: 1 }), {
    field: 'reg0',
    value: 1,
    mask: 3,
  });
  assert.equal(matchReg(VniField, 5001), { field: 'reg6', value: 5001 });
  assert.is(fieldMask(PacketSourceField), 3);
});

test('tables: unique names and numbers, ascending in declaration order, jumps only forward', () => {
  const ids = TABLE_LIST.map((t) => t.id);
  assert.equal(
    [...ids].sort((a, b) => a - b),
    ids,
  );
  assert.is(new Set(ids).size, ids.length);
  assert.ok(ids.every((id) => id >= 0 && id < 255));
  for (const t of TABLE_LIST) {
    assert.is(tableById(t.id), t);
    if (t.miss.kind === 'goto') assert.ok(TABLES[t.miss.to].id > t.id, `${t.name} miss goes forward`);
  }
});

test('priorities: punts above the miss, below ordinary flows; SG state flows above SG rules', () => {
  assert.ok(Priority.Miss < Priority.Punt && Priority.Punt < Priority.Normal && Priority.Normal < Priority.High);
  assert.ok(Priority.SgConjunction < Priority.SgEstablished && Priority.SgRule < Priority.SgEstablished);
  assert.ok(Priority.SgEstablished < Priority.SgInvalid);
  assert.ok(Priority.RouteBase + 32 < Priority.RouteConnected && Priority.RouteConnected <= 0xffff);
});

test('docs/pipeline.md documents every table, register field and priority', () => {
  const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'pipeline.md'), 'utf8');
  for (const t of TABLE_LIST) assert.ok(doc.includes(t.name), `table ${t.name} missing from docs/pipeline.md`);
  for (const f of REG_FIELDS) assert.ok(doc.includes(f.name), `register field ${f.name} missing from docs/pipeline.md`);
  for (const p of Object.keys(Priority)) assert.ok(doc.includes(p), `priority ${p} missing from docs/pipeline.md`);
});

test.run();
