// A punt's VNI is read through the declared register field (core/pipeline/fields.ts), so moving
// the VNI to another register or bit range moves the agent's reading with it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MatchField } from '../core/flow';
import { VniField, matchReg, type RegField } from '../core/pipeline/fields';
import type { PacketIn } from './openflow/session';
import { fieldOf } from './packet-in';

function packetIn(match: readonly MatchField[]): PacketIn {
  return {
    kind: 'packet_in',
    version: 5,
    xid: 0,
    bufferId: 0xffffffff,
    totalLen: 0,
    reason: 0,
    reasonName: 'no_match',
    tableId: 0,
    cookie: 0n,
    match,
    inPort: 1,
    data: Buffer.alloc(0),
  };
}

test('the VNI comes from VniField as the classifier writes it', () => {
  const p = packetIn([{ field: 'in_port', value: 1 }, matchReg(VniField, 5001)]);
  assert.is(fieldOf(p, VniField), 5001);
  assert.is(fieldOf(packetIn([{ field: 'in_port', value: 1 }]), VniField), 0, 'absent register: 0');
});

test('a field that is part of a register is shifted and masked out of it', () => {
  const part: RegField = { name: 'Part', reg: 'reg6', start: 8, end: 15 };
  assert.is(fieldOf(packetIn([{ field: 'reg6', value: 0xffab12cd }]), part), 0x12);
  const whole: RegField = { name: 'Whole', reg: 'reg6', start: 0, end: 31 };
  assert.is(fieldOf(packetIn([{ field: 'reg6', value: 0xffab12cd }]), whole), 0xffab12cd);
});

test.run();
