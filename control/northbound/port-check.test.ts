// The quick port check never calls a port valid that the ordinary check (decode + normalize) refuses:
// hand-made bad ports and thousands of byte-level mutations of good ones, each judged both ways.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationType, PortState, ResourceType, UpdateType } from '../../proto';
import type { ParsedResource } from '../resources';
import { portSurelyValid } from './port-check';
import { validateDecoded } from './validate';

const GOOD = {
  operationType: OperationType.CREATE,
  configuration: {
    revisionNumber: 3,
    id: 'p1',
    updateType: UpdateType.FULL,
    vpcId: 'vpc-1',
    name: 'port one',
    deviceId: 'vm-1',
    macAddress: '02:00:00:00:00:01',
    adminStateUp: true,
    hostInfo: { ipAddress: '192.0.2.10', macAddress: '' },
    fixedIps: [{ subnetId: 's1', ipAddress: '10.0.0.5' }],
    securityGroupIds: [{ id: 'sg-1' }],
  },
};

function encode(over: Partial<(typeof GOOD)['configuration']> = {}, op = GOOD.operationType): Uint8Array {
  return PortState.encode(
    PortState.fromPartial({ operationType: op, configuration: { ...GOOD.configuration, ...over } }),
  ).finish();
}

function ordinaryAccepts(state: Uint8Array, id = 'p1'): boolean {
  const r: ParsedResource = { key: `port/${id}`, type: ResourceType.PORT, id, state, operation: OperationType.CREATE };
  try {
    validateDecoded([r]);
    return true;
  } catch {
    return false;
  }
}

test('a plain, valid port passes the quick check', () => {
  assert.ok(portSurelyValid(encode(), 'p1'));
  assert.ok(portSurelyValid(encode({ id: '' }), 'p1'), 'an empty configuration id takes the map key');
  assert.ok(portSurelyValid(encode({ hostInfo: undefined, securityGroupIds: [] }), 'p1'));
  assert.ok(
    portSurelyValid(encode({ updateType: UpdateType.DELTA }, OperationType.UPDATE), 'p1'),
    'a DELTA update is fine',
  );
});

test('what the ordinary check refuses, the quick one does not accept', () => {
  const bad: Array<[string, Uint8Array, string?]> = [
    ['bad MAC', encode({ macAddress: 'zz' })],
    ['multicast MAC', encode({ macAddress: '01:00:5e:00:00:01' })],
    ['no MAC', encode({ macAddress: '' })],
    ['no fixed IP', encode({ fixedIps: [] })],
    ['fixed IP without subnet', encode({ fixedIps: [{ subnetId: '', ipAddress: '10.0.0.5' }] })],
    ['fixed IP not an address', encode({ fixedIps: [{ subnetId: 's1', ipAddress: '10.0.0' }] })],
    ['fixed IP not a host', encode({ fixedIps: [{ subnetId: 's1', ipAddress: '255.255.255.255' }] })],
    ['bad host IP', encode({ hostInfo: { ipAddress: '300.1.1.1', macAddress: '' } })],
    ['id differs from its key', encode({ id: 'p2' })],
    ['CREATE with DELTA', encode({ updateType: UpdateType.DELTA })],
    ['operation out of range', encode({}, 9 as OperationType)],
    ['update type out of range', encode({ updateType: 7 as UpdateType })],
    ['no configuration', PortState.encode({ operationType: OperationType.CREATE, configuration: undefined }).finish()],
  ];
  for (const [what, state] of bad) {
    assert.not.ok(ordinaryAccepts(state), `${what}: the ordinary check refuses it`);
    assert.not.ok(portSurelyValid(state, 'p1'), `${what}: the quick check must not accept it`);
  }
});

test('ports it does not read in full go the ordinary way (not sure = false)', () => {
  const pairs = encode({ allowAddressPairs: [{ ipAddress: '10.0.0.9', macAddress: '02:00:00:00:00:09' }] } as never);
  assert.not.ok(portSurelyValid(pairs, 'p1'));
  assert.ok(ordinaryAccepts(pairs), 'still valid, decided by the ordinary check');
  const twice = Buffer.concat([encode(), encode()]); // configuration given twice
  assert.not.ok(portSurelyValid(twice, 'p1'));
  const unknownField = Buffer.concat([encode(), Buffer.from([0x18, 0x01])]); // field 3, varint
  assert.not.ok(portSurelyValid(unknownField, 'p1'));
  const nonAscii = encode({ name: 'pört' });
  assert.not.ok(portSurelyValid(nonAscii, 'p1'));
  assert.ok(ordinaryAccepts(nonAscii));
});

test('mutated ports: whatever the quick check accepts, the ordinary check accepts too', () => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed % n;
  };
  const base = encode();
  const TEXT = Buffer.from('0123456789abcdef:./p');
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    const m = Buffer.from(base);
    const edits = 1 + rand(3);
    // Mostly text-like bytes, which keep the framing and change addresses, MACs and ids; sometimes any byte.
    for (let e = 0; e < edits; e++) m[rand(m.length)] = rand(4) === 0 ? rand(256) : (TEXT[rand(TEXT.length)] as number);
    const cut = rand(8) === 0 ? m.subarray(0, rand(m.length)) : m;
    if (!portSurelyValid(cut, 'p1')) continue;
    accepted++;
    assert.ok(ordinaryAccepts(cut), `quick check accepted what the ordinary check refuses: ${cut.toString('hex')}`);
  }
  assert.ok(accepted > 1000, `some mutations stay valid (${accepted})`);
});

test.run();
