// The goal state an engine plans once at start and takes back (Engine.warmUp): the first real push
// to a fresh agent is the one that matters most (a restart's full state), and without this it ran
// every hot loop of the split, the neighbor lane and the encoder for the first time, interpreted,
// and grew every buffer pool from nothing. Planned and aborted, it leaves nothing behind but
// optimised code and pooled buffers.
//
// Its shape is the usual big goal state: one VPC, one subnet, one local port and many L2 neighbors
// on remote hosts, so the code it warms is the code those take. Its addresses come from the shared
// address space (100.64.0.0/10: neighbors in 100.100–127.x.x) and its ids say what they are;
// nothing of it is ever installed.

import {
  GoalStateV2,
  NeighborType,
  NetworkType,
  OperationType,
  UpdateType,
  type NeighborState,
  type PortState,
} from '../../proto';

const VPC = 'warm-up-vpc';
const SUBNET = 'warm-up-subnet';
const PORT = 'warm-up-port';
const VNI = 1;

/** Neighbor i's three base-100 digits, each written as two decimal characters everywhere it appears. */
const MAX_NEIGHBORS = 28 * 100 * 100;
const DIGITS = 3;
const digitOf = (i: number, d: number): number => Math.floor(i / 100 ** (DIGITS - 1 - d)) % 100;
const dd = (n: number): string => String(n).padStart(2, '0');

function neighborEntry(i: number, operation: OperationType): NeighborState {
  const [a, b, c] = [dd(digitOf(i, 0)), dd(digitOf(i, 1)), dd(digitOf(i, 2))];
  const id = `warm-up-neighbor-${a}${b}${c}`;
  return {
    operationType: operation,
    configuration: {
      revisionNumber: 1,
      requestId: '',
      id,
      updateType: UpdateType.DELTA,
      vpcId: VPC,
      name: id,
      // Decimal digits are hex digits: a valid MAC of fixed width. The constant octets hold hex
      // letters, both cases: MAC parsing compiled for digits alone was thrown away (deoptimised) on
      // the first real MAC with a letter, in the first real push.
      macAddress: `02:ab:cd:${a}:${b}:${c}`,
      hostMacAddress: `02:EF:00:${a}:${b}:${c}`,
      hostIpAddress: `10.1${a}.1${b}.1${c}`,
      fixedIps: [
        {
          neighborType: NeighborType.L2,
          subnetId: SUBNET,
          ipAddress: `100.1${a}.1${b}.1${c}`,
          arionGroup: '',
          tunnelId: VNI,
        },
      ],
      allowAddressPairs: [],
    },
  };
}

const encodeEntry = (i: number, operation: OperationType): Uint8Array => {
  const n = neighborEntry(i, operation);
  return GoalStateV2.encode({
    ...GoalStateV2.fromPartial({}),
    neighborStates: { [n.configuration?.id ?? '']: n },
  }).finish();
};

/**
 * `neighbors` entries of the neighbor_states map, encoded. Every string that differs between
 * neighbors has the same length for all of them, so neighbor 0's entry is a template: each entry
 * is a copy with its digits written in. Where each digit's tens and units go is found by encoding
 * neighbors that differ from 0 in that place alone. (The generated encoder took ~10x the engine's
 * own warm-up time for 8k neighbors.)
 */
function neighborEntries(neighbors: number, operation: OperationType): Uint8Array {
  const template = encodeEntry(0, operation);
  // places[2d]: where digit d's tens go; places[2d + 1]: its units.
  const places: number[][] = [];
  for (let d = 0; d < DIGITS; d++) {
    for (const unit of [10, 1]) {
      const probe = encodeEntry(unit * 100 ** (DIGITS - 1 - d), operation);
      places.push(Array.from(template.keys()).filter((k) => template[k] !== probe[k]));
    }
  }
  const size = template.length;
  const out = new Uint8Array(size * neighbors);
  for (let i = 0; i < neighbors; i++) {
    const base = i * size;
    out.set(template, base);
    for (let d = 0; d < DIGITS; d++) {
      const v = digitOf(i, d);
      for (const k of places[2 * d]) out[base + k] = 0x30 + Math.floor(v / 10);
      for (const k of places[2 * d + 1]) out[base + k] = 0x30 + (v % 10);
    }
  }
  // The scheme holds only if the last neighbor is what the generated encoder writes for it.
  const last = encodeEntry(neighbors - 1, operation);
  if (last.length !== size || Buffer.compare(out.subarray(out.length - size), last) !== 0) {
    throw new Error('warm-up: neighbor entries are not fixed-width');
  }
  return out;
}

/**
 * One port on `localHost` and `neighbors` remote neighbors (1 to 280,000), encoded; every resource
 * with `operation` (CREATE, or DELETE to take a committed warm-up state back).
 */
export function warmUpGoalState(
  neighbors: number,
  localHost: string,
  operation: OperationType = OperationType.CREATE,
): Uint8Array {
  if (!Number.isInteger(neighbors) || neighbors < 1 || neighbors > MAX_NEIGHBORS) {
    throw new RangeError(`warm-up neighbors must be 1 to ${MAX_NEIGHBORS}, got ${neighbors}`);
  }
  const port: PortState = {
    operationType: operation,
    configuration: {
      revisionNumber: 1,
      requestId: '',
      id: PORT,
      updateType: UpdateType.FULL,
      vpcId: VPC,
      name: PORT,
      deviceId: '',
      deviceOwner: 'compute:nova',
      macAddress: '02:02:00:00:00:01',
      adminStateUp: true,
      hostInfo: { ipAddress: localHost, macAddress: '02:03:00:00:00:01' },
      fixedIps: [{ subnetId: SUBNET, ipAddress: '100.127.255.1' }],
      allowAddressPairs: [],
      securityGroupIds: [],
    },
  };
  // fromPartial copies each message it is given: the neighbors, already complete, go around it.
  const others = GoalStateV2.fromPartial({
    formatVersion: 102,
    vpcStates: {
      [VPC]: {
        operationType: operation,
        configuration: {
          revisionNumber: 1,
          id: VPC,
          updateType: UpdateType.DELTA,
          cidr: '100.64.0.0/10',
          tunnelId: VNI,
        },
      },
    },
    subnetStates: {
      [SUBNET]: {
        operationType: operation,
        configuration: {
          revisionNumber: 1,
          id: SUBNET,
          updateType: UpdateType.DELTA,
          networkType: NetworkType.VXLAN,
          vpcId: VPC,
          cidr: '100.64.0.0/10',
          tunnelId: VNI,
          gateway: { ipAddress: '100.127.255.254', macAddress: '02:02:00:00:00:fe' },
          dhcpEnable: false,
        },
      },
    },
    portStates: { [PORT]: port },
  });
  // Map entries are fields of the top-level message: the others' bytes and the entries concatenate.
  const head = GoalStateV2.encode(others).finish();
  const entries = neighborEntries(neighbors, operation);
  const out = new Uint8Array(head.length + entries.length);
  out.set(head, 0);
  out.set(entries, head.length);
  return out;
}
