// The hand-maintained wire schema must match proto/*.proto exactly, so it cannot drift from the contract.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as protobuf from 'protobufjs';
import { allMessageTypes, loadProtoRoot } from '../../test/protos';
import {
  ALCOR_WIRE_SCHEMA,
  MAP_KEY_TAG,
  MAP_VALUE_TAG,
  PROTO_PACKAGE,
  fieldNumber,
  fieldTag,
  oneByteTag,
  type WireField,
} from './schema';

const SCALARS = new Set(['uint32', 'uint64', 'int32', 'bool', 'string', 'bytes']);
const prefix = `.${PROTO_PACKAGE}.`;

function relative(fullName: string): string {
  return fullName.startsWith(prefix) ? fullName.slice(prefix.length) : fullName;
}

/** What the table should say about one reflected field. */
function expectedField(f: protobuf.Field): WireField {
  if (f instanceof protobuf.MapField) {
    assert.ok(f.resolvedType instanceof protobuf.Type, `map ${f.fullName} has a message value`);
    return {
      name: f.name,
      type: 'map',
      message: relative(f.resolvedType.fullName),
      keyType: f.keyType as 'string',
      repeated: true,
    };
  }
  if (f.resolvedType instanceof protobuf.Enum) return { name: f.name, type: 'enum', repeated: f.repeated };
  if (f.resolvedType instanceof protobuf.Type) {
    return { name: f.name, type: 'message', message: relative(f.resolvedType.fullName), repeated: f.repeated };
  }
  assert.ok(SCALARS.has(f.type), `${f.fullName}: scalar type ${f.type} is known to the wire schema`);
  return { name: f.name, type: f.type as WireField['type'], repeated: f.repeated };
}

const types = allMessageTypes(loadProtoRoot(true), PROTO_PACKAGE);

test('the .proto files define the messages we expect to find', () => {
  assert.ok(types.has('GoalStateV2'));
  assert.ok(types.has('GatewayConfiguration.arion'));
  assert.ok(types.size >= 40, `found ${types.size} message types`);
});

test('every .proto message is in the wire schema with identical fields', () => {
  for (const [name, type] of types) {
    const table = ALCOR_WIRE_SCHEMA[name];
    assert.ok(table !== undefined, `wire schema lacks message ${name}`);
    assert.is(table.name, name);
    const expected: Record<number, WireField> = {};
    for (const f of type.fieldsArray) expected[f.id] = expectedField(f);
    const actual: Record<number, WireField> = {};
    for (const [num, f] of Object.entries(table.fields)) {
      actual[Number(num)] =
        f.type === 'map'
          ? { ...f }
          : {
              name: f.name,
              type: f.type,
              repeated: f.repeated,
              ...(f.message === undefined ? {} : { message: f.message }),
            };
    }
    assert.equal(actual, expected, `fields of ${name}`);
  }
});

test('the wire schema has no message the .proto files lack', () => {
  for (const name of Object.keys(ALCOR_WIRE_SCHEMA)) assert.ok(types.has(name), `${name} is not in proto/*.proto`);
});

test('every sub-message reference in the table resolves', () => {
  for (const msg of Object.values(ALCOR_WIRE_SCHEMA)) {
    for (const f of Object.values(msg.fields)) {
      if (f.message !== undefined)
        assert.ok(ALCOR_WIRE_SCHEMA[f.message] !== undefined, `${msg.name}.${f.name} -> ${f.message}`);
    }
  }
});

test('hand-written codecs get field numbers and tags from the schema; a wrong name fails at load', () => {
  assert.is(fieldNumber('GoalStateV2', 'neighbor_states'), 7);
  assert.is(fieldTag('GoalStateV2', 'format_version'), 0x08);
  assert.is(oneByteTag('GoalStateOperationReply.GoalStateOperationStatus', 'resource_type'), 0x10);
  assert.is(fieldTag('GoalStateV2', 'host_resources'), 0x12);
  assert.is(MAP_KEY_TAG, 0x0a);
  assert.is(MAP_VALUE_TAG, 0x12);
  assert.throws(() => fieldNumber('GoalStateV2', 'neighbour_states'), /no field neighbour_states/);
  assert.throws(() => fieldNumber('GoalStateV3', 'format_version'), /no message GoalStateV3/);
});

test.run();
