// One mapping from error kind to gRPC/HTTP status, and the allowlists that decide the kind.
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GOALSTATE_INPUT_CODES, errorKind } from '../core/errors';
import { ControlError, controlErrorKind } from '../control/resources';
import { grpcStatusOf as controlGrpcStatusOf } from '../control/northbound/grpc';
import { grpcStatusOf, httpStatusOf } from '../agent/grpc/status';

test('kind -> gRPC and HTTP status', () => {
  assert.is(grpcStatusOf('input'), grpc.status.INVALID_ARGUMENT);
  assert.is(grpcStatusOf('unavailable'), grpc.status.UNAVAILABLE);
  assert.is(grpcStatusOf('internal'), grpc.status.INTERNAL);
  assert.equal([httpStatusOf('input'), httpStatusOf('unavailable'), httpStatusOf('internal')], [400, 503, 500]);
});

test('control: listed codes are input/unavailable; unlisted codes and plain errors are internal', () => {
  assert.is(controlGrpcStatusOf(new ControlError('BAD_GOAL_STATE', 'x')), grpc.status.INVALID_ARGUMENT);
  assert.is(controlGrpcStatusOf(new ControlError('BAD_RESOURCE_KEY', 'x')), grpc.status.INVALID_ARGUMENT);
  assert.is(controlGrpcStatusOf(new ControlError('STORE_UNAVAILABLE', 'x')), grpc.status.UNAVAILABLE);
  assert.is(controlGrpcStatusOf(new ControlError('STORE_CORRUPT', 'x')), grpc.status.INTERNAL);
  assert.is(controlGrpcStatusOf(new Error('a bug')), grpc.status.INTERNAL);
  // A BAD_-looking code from elsewhere is not input just by its spelling.
  assert.is(controlErrorKind(Object.assign(new Error('x'), { code: 'BAD_MAC' })), 'internal');
});

test('agent: an engine failure is input only with a goal-state input code', () => {
  const coded = (code: string): Error => Object.assign(new Error('x'), { code });
  assert.is(errorKind(coded('GOALSTATE_DECODE'), GOALSTATE_INPUT_CODES), 'input');
  assert.is(errorKind(coded('GOALSTATE_WIRE'), GOALSTATE_INPUT_CODES), 'input');
  assert.is(errorKind(coded('ENGINE_REPLY'), GOALSTATE_INPUT_CODES), 'internal');
  assert.is(errorKind(new Error('partition used before init'), GOALSTATE_INPUT_CODES), 'internal');
});

test.run();
