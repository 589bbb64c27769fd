// The flow-mods of lane neighbors (neighbor-lane.ts) as they are planned: each change is written
// straight from the lane's columns through the record templates (neighbor-encode.ts) into one
// growing buffer, so a million neighbors become BUNDLE_ADD_MESSAGE(FLOW_MOD)s without a Flow
// object or a key string. The row of each message is kept to name its owner if OVS rejects it.

import type { FlowModCommand } from '../openflow';
import { NEIGHBOR_COOKIE_HIGH, type RecordEncoder } from './neighbor-encode';
import type { FlowFamily, NeighborRecord } from './neighbor-flows';
import { IntList, type NeighborLane } from './neighbor-lane';

/** Bytes one record flow-mod can take (the ARP add is the longest, 256). */
const MAX_MESSAGE = 512;

export class LaneDelta {
  #buf: Uint8Array;
  #pos = 0;
  #xid: number;
  add = 0;
  modify = 0;
  delete = 0;
  /** The lane row of each message, in message order; -1 for a delete (a deleted flow has no owner). */
  readonly rows = new IntList();
  readonly #record: { -readonly [K in keyof NeighborRecord]: NeighborRecord[K] } = {
    id: '',
    vni: 0,
    mac: 0,
    ip: 0,
    hostIp: 0,
    tunnelOfport: 0,
  };

  constructor(
    private readonly encoder: RecordEncoder,
    private readonly bundleId: number,
    firstXid: number,
    tunnelOfport: number,
    /** The buffer to start with, sized for the expected messages (growing later means copying). */
    buffer: Uint8Array,
    /** Count the messages and keep their rows, write no bytes (the flows are installed: a restore). */
    private readonly countOnly = false,
  ) {
    this.#buf = buffer.length >= MAX_MESSAGE || countOnly ? buffer : new Uint8Array(MAX_MESSAGE);
    this.#xid = firstXid >>> 0;
    this.#record.tunnelOfport = tunnelOfport;
  }

  get count(): number {
    return this.rows.length;
  }

  /** Writes the `family` flow of `row` with `command`. */
  write(lane: NeighborLane, row: number, family: FlowFamily, command: FlowModCommand): void {
    if (this.countOnly) {
      this.#count(row, command);
      return;
    }
    if (this.#pos + MAX_MESSAGE > this.#buf.length) {
      const grown = new Uint8Array(this.#buf.length * 2 + MAX_MESSAGE);
      grown.set(this.#buf.subarray(0, this.#pos));
      this.#buf = grown;
    }
    const r = this.#record;
    r.vni = lane.vni(row);
    r.mac = lane.mac(row);
    r.ip = lane.ip(row);
    r.hostIp = lane.hostIp(row);
    this.#pos = this.encoder.writeAt(
      this.#buf,
      this.#pos,
      this.#xid,
      this.bundleId,
      r,
      family,
      command,
      NEIGHBOR_COOKIE_HIGH ?? 0,
      lane.idHash(row),
    );
    this.#count(row, command);
  }

  #count(row: number, command: FlowModCommand): void {
    this.#xid = (this.#xid + 1) >>> 0;
    this.rows.push(command === 'delete_strict' ? -1 : row);
    if (command === 'add') this.add++;
    else if (command === 'modify_strict') this.modify++;
    else this.delete++;
  }

  /** Everything written (a view; valid until the next write). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }
}
