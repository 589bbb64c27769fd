import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OFPT } from '../openflow';
import { GROUP_ID_SPAN } from '../pipeline/gateway-flows';
import { STALE_GROUP_XID, encodeGroupDeletes, ownsGroupId, staleGroupIds } from './stale-groups';

test('stale groups: ours (1..GROUP_ID_SPAN) and not desired, ascending, once each', () => {
  assert.ok(ownsGroupId(1) && ownsGroupId(GROUP_ID_SPAN));
  assert.not.ok(ownsGroupId(0) || ownsGroupId(GROUP_ID_SPAN + 1) || ownsGroupId(0xffffff00));
  assert.equal(staleGroupIds([9, 7, 0xfffffff0, 3, 7, 0], [3]), [7, 9]);
  assert.equal(staleGroupIds([], [3]), []);
});

test('stale groups: one BUNDLE_ADD(GROUP_MOD DELETE) per id, in the given bundle, xids from STALE_GROUP_XID', () => {
  const bytes = Buffer.from(encodeGroupDeletes([7, 9], 42));
  assert.is(bytes.length, 2 * 32);
  for (const [i, id] of [7, 9].entries()) {
    const m = bytes.subarray(i * 32, i * 32 + 32);
    assert.is(m[1], OFPT.BUNDLE_ADD_MESSAGE);
    assert.is(m.readUInt32BE(4), STALE_GROUP_XID + i);
    assert.is(m.readUInt32BE(8), 42);
    assert.is(m[17], OFPT.GROUP_MOD);
    assert.is(m.readUInt16BE(24), 2, 'OFPGC_DELETE');
    assert.is(m.readUInt32BE(28), id);
  }
  assert.is(encodeGroupDeletes([], 1).length, 0);
});

test.run();
