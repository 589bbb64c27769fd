// The arp_responder XDP program (native/bpf/arp_responder.c) from the agent's side: its map layouts and codecs, its
// counters, and loading/attaching it with maps pinned in bpffs so entries survive agent restarts.
//
// Map layouts (must match the C source):
//   arp_table  hash         key {scope u32 host order, ipv4 u32 network order} (8 B) -> value {mac[6], pad[2]} (8 B)
//   arp_scope  hash         ifindex u32 -> scope u32 (an interface without an entry uses its ifindex as scope)
//   arp_stats  percpu_array ifindex (slot 0 = ifindex >= 4096) -> {rx, arp_replied, arp_missed, passed} u64 each
import * as path from 'node:path';
import {
  BpfMap,
  type MapSpec,
  type NetnsOption,
  type XdpAttachResult,
  type XdpMode,
  type XdpProgram,
  closeFd,
  loadXdpProgram,
  perCpuSlots,
  xdpAttach,
  xdpDetach,
} from './index';
import { ensureBpfObject } from './bpf-build';

export const ARP_TABLE_SPEC: MapSpec = {
  type: 'hash',
  keySize: 8,
  valueSize: 8,
  maxEntries: 262144,
  name: 'arp_table',
};
export const ARP_SCOPE_SPEC: MapSpec = { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 65536, name: 'arp_scope' };
export const ARP_STATS_SLOTS = 4096;
export const ARP_STATS_SPEC: MapSpec = {
  type: 'percpu_array',
  keySize: 4,
  valueSize: 32,
  maxEntries: ARP_STATS_SLOTS,
  name: 'arp_stats',
};

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/alcor';

export interface ArpEntry {
  /** ifindex of the port, or a VNI/port id shared through arp_scope. */
  readonly scope: number;
  /** Dotted IPv4. */
  readonly ip: string;
  /** aa:bb:cc:dd:ee:ff */
  readonly mac: string;
}

export interface ArpStats {
  readonly rx: number;
  readonly arpReplied: number;
  readonly arpMissed: number;
  readonly passed: number;
}

function badInput(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Writes dotted IPv4 `ip` as 4 bytes at out[offset]; a hand-rolled parser because the mirror parses millions. */
function writeIpv4(out: Buffer, offset: number, ip: string): void {
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 46; // treat the end as a final '.'
    if (c >= 48 && c <= 57 && digits < 3) {
      value = value * 10 + (c - 48);
      digits++;
    } else if (c === 46 && digits > 0 && value <= 255 && part < 4) {
      out[offset + part] = value;
      part++;
      value = 0;
      digits = 0;
    } else {
      throw badInput('EBADIP', `'${ip}' is not a dotted IPv4 address`);
    }
  }
  if (part !== 4) throw badInput('EBADIP', `'${ip}' is not a dotted IPv4 address`);
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Writes aa:bb:cc:dd:ee:ff (or with '-') as 6 bytes at out[offset]. */
function writeMac(out: Buffer, offset: number, mac: string): void {
  if (mac.length !== 17) throw badInput('EBADMAC', `'${mac}' is not a MAC address`);
  for (let i = 0; i < 6; i++) {
    const hi = hexNibble(mac.charCodeAt(3 * i));
    const lo = hexNibble(mac.charCodeAt(3 * i + 1));
    const sep = i < 5 ? mac.charCodeAt(3 * i + 2) : 58;
    if (hi < 0 || lo < 0 || (sep !== 58 && sep !== 45)) throw badInput('EBADMAC', `'${mac}' is not a MAC address`);
    out[offset + i] = (hi << 4) | lo;
  }
}

/** Throws EBADSCOPE unless `scope` fits arp_table's u32 scope. */
export function checkScope(scope: number): void {
  if (!Number.isInteger(scope) || scope < 0 || scope > 0xffffffff)
    throw badInput('EBADSCOPE', `scope ${scope} is not a u32`);
}

/** Writes the 8-byte arp_table key into out at offset. */
export function writeArpKey(out: Buffer, offset: number, scope: number, ip: string): void {
  checkScope(scope);
  out.writeUInt32LE(scope, offset); // BPF programs read it as a host-order u32; x86_64 and bpf target are little-endian
  writeIpv4(out, offset + 4, ip);
}

export function encodeArpKey(scope: number, ip: string): Buffer {
  const key = Buffer.alloc(8);
  writeArpKey(key, 0, scope, ip);
  return key;
}

export function writeArpValue(out: Buffer, offset: number, mac: string): void {
  writeMac(out, offset, mac);
  out[offset + 6] = 0;
  out[offset + 7] = 0;
}

export function encodeArpValue(mac: string): Buffer {
  const value = Buffer.alloc(8);
  writeArpValue(value, 0, mac);
  return value;
}

export function decodeArpKey(key: Uint8Array): { readonly scope: number; readonly ip: string } {
  if (key.length !== 8) throw badInput('EBADKEYSIZE', `arp_table key is 8 bytes, got ${key.length}`);
  const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return { scope: buf.readUInt32LE(0), ip: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}` };
}

export function decodeArpValue(value: Uint8Array): string {
  if (value.length < 6) throw badInput('EBADVALUESIZE', `arp_table value is 8 bytes, got ${value.length}`);
  return Array.from(value.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Sums the per-CPU counters of one stats value (as read from arp_stats). */
export function sumArpStats(value: Buffer): ArpStats {
  let rx = 0n;
  let replied = 0n;
  let missed = 0n;
  let passed = 0n;
  for (const slot of perCpuSlots(value, ARP_STATS_SPEC.valueSize)) {
    rx += slot.readBigUInt64LE(0);
    replied += slot.readBigUInt64LE(8);
    missed += slot.readBigUInt64LE(16);
    passed += slot.readBigUInt64LE(24);
  }
  return { rx: Number(rx), arpReplied: Number(replied), arpMissed: Number(missed), passed: Number(passed) };
}

export function statsSlot(ifindex: number): number {
  return ifindex > 0 && ifindex < ARP_STATS_SLOTS ? ifindex : 0;
}

/**
 * The responder's three maps, pinned under pinDir (opened if already pinned: an agent restart keeps its entries),
 * plus the loaded program. One instance serves any number of interfaces.
 */
export class ArpResponder {
  private constructor(
    readonly pinDir: string,
    readonly table: BpfMap,
    readonly scopes: BpfMap,
    readonly stats: BpfMap,
    readonly program: XdpProgram,
  ) {}

  static async open(opts: { readonly pinDir?: string; readonly objectPath?: string } = {}): Promise<ArpResponder> {
    const pinDir = opts.pinDir ?? DEFAULT_PIN_DIR;
    const opened: BpfMap[] = [];
    try {
      const table = BpfMap.openOrCreatePinned(path.join(pinDir, 'arp_table'), ARP_TABLE_SPEC).map;
      opened.push(table);
      const scopes = BpfMap.openOrCreatePinned(path.join(pinDir, 'arp_scope'), ARP_SCOPE_SPEC).map;
      opened.push(scopes);
      const stats = BpfMap.openOrCreatePinned(path.join(pinDir, 'arp_stats'), ARP_STATS_SPEC).map;
      opened.push(stats);
      const program = await loadXdpProgram({
        path: opts.objectPath ?? ensureBpfObject('arp_responder'),
        maps: { arp_table: table, arp_scope: scopes, arp_stats: stats },
      });
      return new ArpResponder(pinDir, table, scopes, stats, program);
    } catch (e: unknown) {
      for (const m of opened) m.close();
      throw e;
    }
  }

  attach(opts: { readonly ifname: string; readonly mode?: XdpMode } & NetnsOption): Promise<XdpAttachResult> {
    return xdpAttach({ ifname: opts.ifname, netns: opts.netns, mode: opts.mode, progFd: this.program.fd });
  }

  detach(opts: { readonly ifname: string } & NetnsOption): Promise<unknown> {
    return xdpDetach(opts);
  }

  set(entry: ArpEntry): void {
    this.table.update(encodeArpKey(entry.scope, entry.ip), encodeArpValue(entry.mac));
  }

  remove(scope: number, ip: string): boolean {
    return this.table.delete(encodeArpKey(scope, ip));
  }

  /** Makes an interface share the entries of `scope` (e.g. its VNI) instead of using its own ifindex. */
  setScope(ifindex: number, scope: number): void {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(ifindex);
    const v = Buffer.alloc(4);
    v.writeUInt32LE(scope);
    this.scopes.update(k, v);
  }

  statsFor(ifindex: number): ArpStats {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(statsSlot(ifindex));
    const v = this.stats.lookup(k);
    return v === null ? { rx: 0, arpReplied: 0, arpMissed: 0, passed: 0 } : sumArpStats(v);
  }

  /** Closes our fds; attached programs and pinned maps stay (that is what lets the data plane outlive the agent). */
  close(): void {
    closeFd(this.program.fd);
    this.table.close();
    this.scopes.close();
    this.stats.close();
  }
}
