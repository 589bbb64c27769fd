// The gRPC face of the control plane, on --listen: `GoalStateProvisioner` as Alcor's NCM serves it.
// PushGoalStatesStream (DPM -> NCM): one reply per GoalStateV2, in order; the message is read as raw bytes
// (the controller splits it without a decode/re-encode). RequestGoalStates (agent -> NCM): on-demand
// neighbors and AGENT_RESTARTED full re-pushes.
import * as grpc from '@grpc/grpc-js';
import { GoalStateOperationReply, GoalStateProvisionerService, HostRequest, HostRequestReply } from '../../proto';
import { Controller } from '../controller';
import { Logger } from '../log';
import { grpcStatusOf as grpcStatusOfKind } from '../../agent/grpc/status';
import { ControlError, controlErrorKind } from '../resources';
import { AGENT_MAX_MESSAGE_BYTES } from './validate';
import { encodeGoalStateOperationReply } from '../../core/wire/operation-reply';

const S = GoalStateProvisionerService;

/** gRPC status for a controller error: bad input vs. not durable vs. our fault (agent/grpc/status.ts). */
export function grpcStatusOf(err: unknown): grpc.status {
  return grpcStatusOfKind(controlErrorKind(err));
}

function serviceError(err: unknown): Partial<grpc.ServiceError> {
  const code = grpcStatusOf(err);
  const details = err instanceof ControlError ? `${err.code}: ${err.message}` : String((err as Error).message ?? err);
  return { code, details, message: details, name: 'ControlError', metadata: new grpc.Metadata() };
}

/** Host IP of an agent's call: the `x-alcor-host-ip` metadata (agents behind NAT or on loopback), else the peer address. */
export function callerHostIp(call: grpc.ServerUnaryCall<unknown, unknown>): string {
  const md = call.metadata.get('x-alcor-host-ip')[0];
  if (typeof md === 'string' && md !== '') return md;
  const peer = call.getPeer().replace(/^ipv[46]:/, '');
  const m = /^\[(.*)\]:\d+$/.exec(peer) ?? /^(.*):\d+$/.exec(peer);
  return m?.[1] ?? peer;
}

export function northboundDefinition(): grpc.ServiceDefinition {
  return {
    pushNetworkResourceStates: S.pushNetworkResourceStates,
    pushGoalStatesStream: {
      ...S.pushGoalStatesStream,
      requestDeserialize: (b: Buffer): Buffer => b,
      // The same bytes as the generated encoder, in one buffer: a bulk create's reply has 100k+ statuses.
      responseSerialize: encodeGoalStateOperationReply,
    },
    requestGoalStates: S.requestGoalStates,
    pushGoalstates: S.pushGoalstates,
  } as unknown as grpc.ServiceDefinition;
}

export function northboundHandlers(controller: Controller, log: Logger): grpc.UntypedServiceImplementation {
  const unimplemented = (what: string) => (_call: unknown, cb: grpc.sendUnaryData<GoalStateOperationReply>) =>
    cb({
      code: grpc.status.UNIMPLEMENTED,
      details: `${what} is not served by alcor-control (use PushGoalStatesStream)`,
    });
  return {
    pushNetworkResourceStates: unimplemented('PushNetworkResourceStates (message version 101)'),
    pushGoalstates: unimplemented('PushGoalstates (Arion neighbor rules)'),
    pushGoalStatesStream: (call: grpc.ServerDuplexStream<Buffer, GoalStateOperationReply>) => {
      let chain: Promise<void> = Promise.resolve();
      let failed = false;
      call.on('data', (msg: Buffer) => {
        chain = chain.then(async () => {
          if (failed) return;
          try {
            call.write(await controller.submit(msg));
          } catch (err: unknown) {
            failed = true;
            log.warn('goal state refused', { error: (err as Error).message });
            call.emit('error', serviceError(err));
          }
        });
      });
      call.on('end', () => {
        void chain.then(() => {
          if (!failed) call.end();
        });
      });
      call.on('error', () => undefined);
    },
    requestGoalStates: (
      call: grpc.ServerUnaryCall<HostRequest, HostRequestReply>,
      cb: grpc.sendUnaryData<HostRequestReply>,
    ) => {
      const host = callerHostIp(call);
      controller.hostRequest(call.request, host).then(
        (reply) => cb(null, reply),
        (err: unknown) => cb(serviceError(err)),
      );
    },
  };
}

export async function startGrpcServer(
  controller: Controller,
  listen: string,
  log: Logger,
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
  maxMessageBytes = AGENT_MAX_MESSAGE_BYTES,
): Promise<{ server: grpc.Server; port: number }> {
  // Nothing over the agents' limit is read at all: grpc-js answers RESOURCE_EXHAUSTED itself.
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': -1,
  });
  server.addService(northboundDefinition(), northboundHandlers(controller, log));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port };
}
