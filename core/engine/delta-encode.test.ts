import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GROUP_TABLE, type Flow } from '../flow';
import { OFPT } from '../openflow';
import { encodeDelta } from './delta-encode';

const group = (id: number): Flow => ({
  table: GROUP_TABLE,
  priority: id,
  cookie: 1n,
  match: [],
  actions: [{ kind: 'bucket' }, { kind: 'output', port: 100 }],
});
const flowTo = (g: number, reg6: number): Flow => ({
  table: 60,
  priority: 20,
  cookie: 1n,
  match: [{ field: 'reg6', value: reg6 }],
  actions: [{ kind: 'group', id: g }],
});

/** Inner message type and (for GROUP_MOD/FLOW_MOD) command of each BUNDLE_ADD_MESSAGE. */
function messages(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let at = 0; at < bytes.length;) {
    const len = (bytes[at + 2] << 8) | bytes[at + 3];
    const inner = at + 16;
    const type = bytes[inner + 1];
    if (type === OFPT.GROUP_MOD) out.push(`group:${(bytes[inner + 8] << 8) | bytes[inner + 9]}`);
    else out.push(`flow:${bytes[inner + 25]}`);
    at += len;
  }
  return out;
}

test('groups are added and modified before every flow-mod and deleted after them', () => {
  const { delta, messages: m } = encodeDelta(
    { add: [flowTo(5, 1), group(5)], modify: [group(6)], delete: [group(4), flowTo(4, 2)] },
    { bundleId: 1, firstXid: 10 },
  );
  // GROUP_MOD commands: 0x8000 ADD_OR_MOD, 1 MODIFY, 2 DELETE; FLOW_MOD: 0 ADD, 4 DELETE_STRICT.
  assert.equal(messages(delta.bytes), ['group:32768', 'group:1', 'flow:4', 'flow:0', 'group:2']);
  assert.equal(
    m.flows.map((f) => `${f.table}/${f.priority}`),
    [`${GROUP_TABLE}/5`, `${GROUP_TABLE}/6`, '60/20', '60/20', `${GROUP_TABLE}/4`],
    'message i names its entry',
  );
  assert.equal([delta.add, delta.modify, delta.delete], [2, 1, 2]);
});

test('a delta without groups is encoded as before', () => {
  const { delta } = encodeDelta(
    { add: [flowTo(5, 1)], modify: [], delete: [flowTo(4, 2)] },
    { bundleId: 1, firstXid: 1 },
  );
  assert.equal(messages(delta.bytes), ['flow:4', 'flow:0']);
});

test.run();
