// On-demand: a VM ARPs for an IP no flow knows; the pipeline punts the request, and the agent (run with
// --control) asks the control service with RequestGoalStates(ON_DEMAND) for that destination in the VM's VNI.
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  GoalStateProvisionerService,
  HostRequestReply,
  OperationStatus,
  RequestType,
  type HostRequest,
} from '../proto';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { VNI, goalState, startAgent, until, type AgentProcess, type PortSpec } from './e2e-helpers';
import { onDemandRequestOf } from './ondemand';
import { tapNameFor } from './ovsdb';

const HOST_IP = '192.0.2.53';
const P1: PortSpec = { id: '11111111-eeee-4000-8000-000000000001', mac: '02:00:00:25:00:01', ip: '10.215.0.11' };
const UNKNOWN_IP = '10.215.0.99';

test('a non-ARP, non-IP frame asks nothing', () => {
  const frame = new Uint8Array(60);
  frame[12] = 0x86;
  frame[13] = 0xdd;
  assert.is(onDemandRequestOf(frame, 5, 'r'), undefined);
});

if (requirePrereqs(['root', 'ovs', 'netns'])) {
  test('an ARP for an unknown IP becomes RequestGoalStates ON_DEMAND', async () => {
    const got: HostRequest[] = [];
    const control = new grpc.Server();
    control.addService(GoalStateProvisionerService, {
      pushNetworkResourceStates: (_c: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb({ code: grpc.status.UNIMPLEMENTED }),
      pushGoalStatesStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
      pushGoalstates: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.UNIMPLEMENTED }),
      requestGoalStates: (
        call: grpc.ServerUnaryCall<HostRequest, HostRequestReply>,
        cb: grpc.sendUnaryData<HostRequestReply>,
      ) => {
        got.push(call.request);
        cb(null, HostRequestReply.fromPartial({ formatVersion: 1 }));
      },
    });
    const controlPort = await new Promise<number>((resolve, reject) =>
      control.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) =>
        e ? reject(e) : resolve(port),
      ),
    );
    let sb: OvsSandbox | undefined;
    let agent: AgentProcess | undefined;
    try {
      sb = await OvsSandbox.start({ name: 'agondemand' });
      const vm = await sb.addVm({ name: 'vm1', mac: P1.mac, ip: `${P1.ip}/24`, ofport: 1, iface: tapNameFor(P1.id) });
      agent = await startAgent(sb, ['--tunnel-ip', HOST_IP, '--control', `127.0.0.1:${controlPort}`]);
      const r = await agent.push(
        goalState({ hostIp: HOST_IP, cidr: '10.215.0.0/24', gatewayIp: '10.215.0.1', ports: [P1] }),
      );
      assert.ok(
        r.operationStatuses.every((s) => s.operationStatus === OperationStatus.SUCCESS),
        JSON.stringify(r),
      );
      await vm.exec(['ping', '-c1', '-W1', UNKNOWN_IP]);
      await until('the control service got the on-demand request', async () => got.length > 0, 5000);
      const req = got[0].stateRequests[0];
      assert.is(req.requestType, RequestType.ON_DEMAND);
      assert.is(req.destinationIp, UNKNOWN_IP);
      assert.is(req.sourceIp, P1.ip);
      assert.is(req.tunnelId, VNI);
    } finally {
      await agent?.stop();
      await sb?.stop();
      control.forceShutdown();
    }
  });
}

test.run();
