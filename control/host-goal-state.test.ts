// encodeHostGoalState writes the whole message in one buffer with its lengths counted first. Held here against the
// plain way to encode it (parts built one by one and concatenated, as the control service did before), byte for
// byte: every kind, multi-byte ids, no keys, long lists, and the error for a bad key.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { oneByteTag, fieldNumber, WIRE_LEN } from '../core/wire/schema';
import { varintSize, writeVarint } from '../core/wire/varint';
import { encodeHostGoalState, encodeResourceEntry, parseResourceKey, RESOURCE_KINDS } from './resources';

/** One field at a time, each a fresh Buffer: slow and obvious. */
function plainEncoding(hostIp: string, keys: readonly string[], entries: readonly Uint8Array[]): Buffer {
  const varint = (n: number): Buffer => {
    const b = Buffer.alloc(varintSize(n));
    writeVarint(b, 0, n);
    return b;
  };
  const lenField = (tag: number, body: Buffer): Buffer => Buffer.concat([varint(tag), varint(body.length), body]);
  const text = (s: string): Buffer => Buffer.from(s, 'utf8');
  const parts: Buffer[] = [Buffer.from([oneByteTag('GoalStateV2', 'format_version'), 102])];
  if (keys.length > 0) {
    const list = keys.map((key) => {
      const { kind, id } = parseResourceKey(key);
      const type = kind.type === 0 ? [] : [Buffer.from([oneByteTag('ResourceIdType', 'type')]), varint(kind.type)];
      return lenField(
        oneByteTag('HostResources', 'resources'),
        Buffer.concat([...type, lenField(oneByteTag('ResourceIdType', 'id'), text(id))]),
      );
    });
    // A map entry is {key = 1, value = 2}, both length-delimited: tags 0x0a and 0x12.
    const entry = Buffer.concat([lenField(0x0a, text(hostIp)), lenField(0x12, Buffer.concat(list))]);
    parts.push(lenField((fieldNumber('GoalStateV2', 'host_resources') << 3) | WIRE_LEN, entry));
  }
  return Buffer.concat([...parts, ...entries]);
}

function keysOf(n: number, seed: number): string[] {
  const ids = ['a', 'é', '€x', '𝄞', 'port-00000000-0000-0000-0000-000000000001', 'x'.repeat(200)];
  return Array.from({ length: n }, (_, i) => {
    const kind = RESOURCE_KINDS[(i * 7 + seed) % RESOURCE_KINDS.length]?.name as string;
    return `${kind}/${ids[(i + seed) % ids.length] as string}${i}`;
  });
}

test('the same bytes as the plain encoding', () => {
  for (const [n, host] of [
    [0, '10.0.0.1'],
    [1, '10.0.0.2'],
    [111, '192.168.100.200'],
    [3000, 'fd00::1'],
  ] as const) {
    const keys = keysOf(n, n);
    const entries = keys.map((k, i) => encodeResourceEntry(k, new Uint8Array(i % 300).fill(i & 0xff)));
    assert.equal(encodeHostGoalState(host, keys, entries), plainEncoding(host, keys, entries), `${n} keys`);
    // Entries without keys (deletes only) and keys without entries, as a merged delta can have.
    assert.equal(encodeHostGoalState(host, [], entries), plainEncoding(host, [], entries));
    assert.equal(encodeHostGoalState(host, keys, []), plainEncoding(host, keys, []));
  }
});

test('a bad key throws as parseResourceKey does', () => {
  assert.throws(() => encodeHostGoalState('h', ['nokind'], []), /bad resource key/);
  assert.throws(() => plainEncoding('h', ['nokind'], []), /bad resource key/);
});

test.run();
