// The switch's own floor for a goal state: the bundle the agent would send for it (the engine's
// BUNDLE_ADD_MESSAGE bytes, the same code and the same host facts), replayed pre-encoded over the
// bridge's management socket by the smallest client that can: HELLO, then OPEN, every flow-mod,
// COMMIT and a BARRIER, timed from the OPEN until the barrier's reply. Nothing is computed while the
// clock runs, so what it measures is what OVS needs to parse and install the flows; the agent can only
// approach it. `alcor-bench ovs` reports agentMs / floorMs (issue 15).
import * as net from 'node:net';
import { Engine } from '../core/engine/engine';
import { parseIpv4 } from '../core/goalstate/addr';
import {
  OFP14_VERSION,
  OpenFlowFramer,
  decodeMessage,
  encodeBarrierRequest,
  encodeBundleControl,
  encodeHello,
} from '../core/openflow';

export interface FloorBundle {
  readonly bundleId: number;
  readonly deltas: readonly Uint8Array[];
  readonly bytes: number;
  /** Flows the bundle adds (the agent's start-up flows, installed before any goal state, are not in it). */
  readonly flows: number;
}

/** The flow-mods the agent's engine plans for `goalState` (a GoalStateV2), as one bundle's messages. */
export async function floorBundle(
  goalState: Uint8Array,
  host: { readonly tunnelIp: string; readonly tunnelOfport: number; readonly ofports: ReadonlyMap<string, number> },
  workers: number,
  arpAnswers: 'flows' | 'none' = 'flows',
): Promise<FloorBundle> {
  const engine = await Engine.create({
    workers,
    arpAnswers,
    localTunnelIp: parseIpv4(host.tunnelIp),
    tunnelOfport: host.tunnelOfport,
    ofports: new Map(host.ofports),
  });
  try {
    const prepared = await engine.prepare(goalState, 2);
    const bytes = prepared.deltas.reduce((n, d) => n + d.length, 0);
    return { bundleId: prepared.bundleId, deltas: prepared.deltas, bytes, flows: prepared.add };
  } finally {
    await engine.close();
  }
}

/** Replays `bundle` on the OpenFlow socket `socketPath`; resolves with the milliseconds to the barrier reply. */
export function replayBundle(socketPath: string, bundle: FloorBundle): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    const framer = new OpenFlowFramer();
    const barrierXid = 0x7fff0003;
    let t0 = 0;
    const fail = (e: Error): void => {
      sock.destroy();
      reject(e);
    };
    sock.on('error', fail);
    sock.on('connect', () => sock.write(encodeHello(0x7fff0001, [OFP14_VERSION])));
    sock.on('data', (chunk: Buffer) => {
      for (const raw of framer.push(chunk)) {
        const m = decodeMessage(raw);
        if (m.kind === 'hello') {
          t0 = performance.now();
          void send().catch(fail);
        } else if (m.kind === 'error') {
          fail(new Error(`OVS refused the floor bundle: ${m.typeName}/${m.codeName}`));
        } else if (m.kind === 'barrier_reply' && m.xid === barrierXid) {
          const ms = performance.now() - t0;
          sock.end();
          resolve(ms);
        }
      }
    });
    const write = (b: Uint8Array): Promise<void> =>
      sock.write(b) ? Promise.resolve() : new Promise((r) => sock.once('drain', () => r()));
    const send = async (): Promise<void> => {
      await write(encodeBundleControl(0x7fff0002, OFP14_VERSION, bundle.bundleId, 'open'));
      for (const d of bundle.deltas) await write(d);
      await write(encodeBundleControl(0x7fff0004, OFP14_VERSION, bundle.bundleId, 'commit'));
      await write(encodeBarrierRequest(barrierXid, OFP14_VERSION));
    };
  });
}
