// Issue 13 defect "rejected input looks accepted": a goal state refused as bad input with no
// resource to name is a gRPC INVALID_ARGUMENT, on the v1 unary call and on the v2 stream, not an
// OK reply without statuses (which a sender cannot tell from a valid empty goal state).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { GoalStateOperationReply } from '../../proto';
import { pushRawV2 } from '../e2e-helpers';
import { GoalStateServer, GoalStateValidationError, type GoalStateApplier } from './server';

const refuse = async (): Promise<GoalStateOperationReply> => {
  throw new GoalStateValidationError('GOALSTATE_WIRE: truncated tag at byte 5');
};
const applier: GoalStateApplier = { applyV1: refuse, applyV2: refuse };

function pushRawV1(port: number, bytes: Buffer): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/alcor.schema.GoalStateProvisioner/PushNetworkResourceStates',
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (err) => {
        client.close();
        resolve(err);
      },
    );
  });
}

test('issue 13 defect "rejected input looks accepted": v1 and v2 get INVALID_ARGUMENT with the reason', async () => {
  const server = new GoalStateServer(applier, { address: '127.0.0.1:0', requestMode: 'raw' });
  const port = await server.start();
  try {
    const v1 = await pushRawV1(port, Buffer.from([0x0a, 0xff]));
    assert.is(v1?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(v1?.details ?? '', 'at byte 5');
    const v2 = await pushRawV2(port, Uint8Array.from([0x0a, 0xff])).then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    assert.is(v2?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(v2?.details ?? '', 'goal state #0 of this stream: GOALSTATE_WIRE: truncated tag at byte 5');
  } finally {
    await server.stop(500);
  }
});

test.run();
