// encodeHostMessage: byte for byte encodeHostGoalState, for every kind, multi-byte ids, no keys, long lists.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeHostGoalState, encodeResourceEntry, RESOURCE_KINDS } from '../resources';
import { encodeHostMessage } from './host-message';

function keysOf(n: number, seed: number): string[] {
  const ids = ['a', 'é', '€x', '𝄞', 'port-00000000-0000-0000-0000-000000000001', 'x'.repeat(200)];
  return Array.from({ length: n }, (_, i) => {
    const kind = RESOURCE_KINDS[(i * 7 + seed) % RESOURCE_KINDS.length]?.name as string;
    return `${kind}/${ids[(i + seed) % ids.length] as string}${i}`;
  });
}

test('the same bytes as encodeHostGoalState', () => {
  for (const [n, host] of [
    [0, '10.0.0.1'],
    [1, '10.0.0.2'],
    [111, '192.168.100.200'],
    [3000, 'fd00::1'],
  ] as const) {
    const keys = keysOf(n, n);
    const entries = keys.map((k, i) => encodeResourceEntry(k, new Uint8Array(i % 300).fill(i & 0xff)));
    assert.equal(encodeHostMessage(host, keys, entries), encodeHostGoalState(host, keys, entries), `${n} keys`);
    // Entries without keys (deletes only) and keys without entries, as a merged delta can have.
    assert.equal(encodeHostMessage(host, [], entries), encodeHostGoalState(host, [], entries));
    assert.equal(encodeHostMessage(host, keys, []), encodeHostGoalState(host, keys, []));
  }
});

test('a bad key throws as encodeHostGoalState does', () => {
  assert.throws(() => encodeHostMessage('h', ['nokind'], []), /bad resource key/);
  assert.throws(() => encodeHostGoalState('h', ['nokind'], []), /bad resource key/);
});

test.run();
