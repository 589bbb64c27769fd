// ArpAnswers: keeping arp_table by changes must leave it exactly where a full sync from the same answers would,
// whatever the order of the changes, with conflicts resolved the same way in both.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ArpAnswers, arpKeyString, arpValueString, type ArpAnswerChange } from './arp-answers';
import { encodeArpKey, encodeArpValue } from './arp-responder';
import { byteString, planMapSync, type MapSyncPlan } from './ebpf-dataplane';

function applied(current: Map<string, string>, plan: MapSyncPlan): Map<string, string> {
  const out = new Map(current);
  for (const k of plan.deletes) out.delete(k);
  for (const [k, v] of plan.upserts) out.set(k, v);
  return out;
}

test('keys and values are the bytes the responder reads', () => {
  assert.is(arpKeyString(0x00abcdef, 0x0a000105), byteString(encodeArpKey(0x00abcdef, '10.0.1.5')));
  assert.is(arpValueString(0x02aabbccddee), byteString(encodeArpValue('02:aa:bb:cc:dd:ee')));
  assert.is(arpValueString(0xffffffffffff), byteString(encodeArpValue('ff:ff:ff:ff:ff:ff')));
  assert.throws(() => arpKeyString(-1, 1), /not a u32/);
});

test('a conflict keeps the MAC the map holds while something answers with it, else the lowest', () => {
  const a = new ArpAnswers();
  const key = arpKeyString(7, 0x0a000001);
  const [low, high] = [arpValueString(0x020000000001), arpValueString(0x020000000009)];
  let map = new Map<string, string>();
  let touched = a.apply([[7, 0x0a000001, 0x020000000009, 1]]);
  map = applied(map, a.planFor(touched, map));
  assert.is(map.get(key), high);
  touched = a.apply([[7, 0x0a000001, 0x020000000001, 1]]);
  map = applied(map, a.planFor(touched, map));
  assert.is(map.get(key), high, 'held, though a lower one arrived');
  assert.is(a.conflicts, 1);
  touched = a.apply([[7, 0x0a000001, 0x020000000009, -1]]);
  map = applied(map, a.planFor(touched, map));
  assert.is(map.get(key), low);
  assert.is(a.conflicts, 0);
  touched = a.apply([[7, 0x0a000001, 0x020000000001, -1]]);
  map = applied(map, a.planFor(touched, map));
  assert.is(map.has(key), false);
  assert.is(a.size, 0);
});

const change = fc.tuple(
  fc.integer({ min: 1, max: 3 }),
  fc.integer({ min: 1, max: 6 }),
  fc.integer({ min: 1, max: 3 }),
  fc.boolean(),
);

test('plans by touched keys end where full syncs end (random add/remove sequences)', () => {
  fc.assert(
    fc.property(fc.array(fc.array(change, { maxLength: 8 }), { maxLength: 12 }), (steps) => {
      const answers = new ArpAnswers();
      // The multiset the changes describe, so removals only take away what is there.
      const held = new Map<string, number>();
      let incremental = new Map<string, string>();
      let full = new Map<string, string>();
      for (const step of steps) {
        const changes: ArpAnswerChange[] = [];
        for (const [scope, ip, mac, add] of step) {
          const k = `${scope}/${ip}/${mac}`;
          const n = held.get(k) ?? 0;
          if (!add && n === 0) continue;
          held.set(k, n + (add ? 1 : -1));
          changes.push([scope, ip, 0x020000000000 + mac, add ? 1 : -1]);
        }
        const touched = answers.apply(changes);
        incremental = applied(incremental, answers.planFor(touched, incremental));
        full = applied(full, planMapSync(answers.desired(full), full));
        assert.equal([...incremental].sort(), [...full].sort());
      }
    }),
    { numRuns: 300 },
  );
});

test.run();
