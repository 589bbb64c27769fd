// Test helper: engines with different worker counts driven by the same neighbor goal states, and
// what each leaves behind (statuses, flows installed on a modelled switch, desired flows), so
// tests can hold them to "same goal state in, same flows out, whatever the worker count".

import { GoalStateV2, NeighborType, type NeighborState, OperationType } from '../proto';
import { Engine } from '../core/engine/engine';
import { parseIpv4 } from '../core/goalstate/addr';
import { formatFlow } from '../core/openflow';
import type { Flow } from '../core/flow';
import { HOST_A, NEIGHBORS_PORT, PORT1_ID, PORT2_ID, neighborsGoalStateV2 } from './fixtures/goalstates';
import { SwitchModel } from './switch-model';

/** One neighbor change: its id, what it holds (indexes into small pools, so keys collide), the op. */
export interface NeighborChange {
  readonly id: string;
  readonly op: OperationType;
  /** 10.0.0.<ip> */
  readonly ip: number;
  /** 6c:dd:ee:00:01:<mac> */
  readonly mac: number;
  /** 123.0.0.<host> */
  readonly host: number;
  readonly revision: number;
  /** The fixed IP's tunnel id (default: the fixture's); a VNI of their own keeps runs apart. */
  readonly vni?: number;
  /** An L3 fixed IP (its subnet has a router: a third flow); default L2. */
  readonly l3?: boolean;
}

const base = neighborsGoalStateV2(1, { hostResources: false });
const template = Object.values(base.neighborStates)[0];

function neighborState(c: NeighborChange): NeighborState {
  const conf = template.configuration;
  if (conf === undefined) throw new Error('fixture neighbor without configuration');
  const hex = c.mac.toString(16).padStart(2, '0');
  return {
    operationType: c.op,
    configuration: {
      ...conf,
      id: c.id,
      name: c.id,
      revisionNumber: c.revision,
      macAddress: `6c:dd:ee:00:01:${hex}`,
      hostIpAddress: `123.0.0.${c.host}`,
      hostMacAddress: `52:54:00:00:01:${hex}`,
      fixedIps: conf.fixedIps.map((f) => ({
        ...f,
        ipAddress: `10.0.0.${c.ip}`,
        tunnelId: c.vni ?? f.tunnelId,
        neighborType: c.l3 === true ? NeighborType.L3 : f.neighborType,
      })),
    },
  };
}

/** The VPC, subnet and local port the neighbors live in. */
export function contextBytes(): Uint8Array {
  return GoalStateV2.encode({ ...base, neighborStates: {} }).finish();
}

/** A goal state of neighbor changes only (a v2 map: a later change of the same id replaces an earlier one). */
export function neighborChangesBytes(changes: readonly NeighborChange[]): Uint8Array {
  const neighborStates: Record<string, NeighborState> = {};
  for (const c of changes) neighborStates[c.id] = neighborState(c);
  return GoalStateV2.encode({ ...base, vpcStates: {}, subnetStates: {}, portStates: {}, neighborStates }).finish();
}

/** The neighbors fixture's port on its interface. */
export const NEIGHBORS_OFPORTS: ReadonlyMap<string, number> = new Map([[NEIGHBORS_PORT.id, 1]]);

/** Every port of the fixtures (neighbors and full goal states) on an interface. */
export const FIXTURE_OFPORTS: ReadonlyMap<string, number> = new Map([
  [NEIGHBORS_PORT.id, 1],
  [PORT1_ID, 2],
  [PORT2_ID, 3],
]);

/** An engine on HOST_A with `workers` workers (0: in this thread) and the given ports bound. */
export async function engineWith(workers: number, ofports = NEIGHBORS_OFPORTS): Promise<Engine> {
  return Engine.create({ workers, localTunnelIp: parseIpv4(HOST_A.ip), tunnelOfport: 100, ofports });
}

/** Flows as sorted text, for comparing engines. */
export function flowsText(flows: readonly Flow[]): string[] {
  return flows.map((f) => formatFlow(f)).sort();
}

/** What one step left behind, as comparable text. */
export interface StepResult {
  readonly statuses: string;
  readonly installed: readonly string[];
  readonly desired: readonly string[];
}

/** An engine and the switch it programs. */
export class Run {
  readonly switch = new SwitchModel();
  constructor(readonly engine: Engine) {}

  /**
   * Prepares, applies the flow-mods to the switch, commits; returns what it left behind (the
   * desired flows only with `desired`: they cost a round trip to every partition).
   */
  async step(bytes: Uint8Array, desired = true, vni?: number): Promise<StepResult> {
    let got: Uint8Array[] = [];
    let bundle = -1;
    const p = await this.engine.prepare(bytes, 2, {
      onDelta: (d, bundleId) => {
        // A new bundle id: the engine started over; what came before is dropped.
        if (bundleId !== bundle) got = [];
        bundle = bundleId;
        got.push(d.slice());
      },
    });
    this.switch.apply(got);
    await this.engine.commit(p.txns);
    return {
      statuses: JSON.stringify([...p.statuses]),
      installed: this.installed(vni),
      desired: desired ? await this.desired(vni) : [],
    };
  }

  /** The installed flows (only those matching VNI `vni`, if given). */
  installed(vni?: number): string[] {
    const all = this.switch.texts();
    if (vni === undefined) return all;
    // NXM reg6 (the VNI register) = vni, as an OXM in the match.
    const oxm = '00010c04' + vni.toString(16).padStart(8, '0');
    return all.filter((f) => f.includes(oxm));
  }

  /** The engine's desired flows, as sorted text (only those matching VNI `vni`, if given). */
  async desired(vni?: number): Promise<string[]> {
    const all = (await this.engine.desiredFlows()).map((f) => formatFlow(f)).sort();
    if (vni === undefined) return all;
    return all.filter((f) => f.includes(`reg6=0x${vni.toString(16)},`));
  }
}
