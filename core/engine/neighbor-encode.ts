// Byte templates for the flow-mods of neighbor records (neighbor-flows.ts): a record's two flows
// differ from any other record's only in a few fixed-width values (VNI, MAC, IP, host IP, tunnel
// ofport, cookie) and the message's xid and bundle id, so each BUNDLE_ADD_MESSAGE(FLOW_MOD) is a
// copy of a template with those bytes patched. Same bytes as writeBundledFlowMod for the Flow
// compileNeighbor builds, without building the Flow (a test compares them on random records).
//
// The template is derived from writeBundledFlowMod itself, not written by hand: the message is
// encoded once with every value's bytes set to 0x11, then once per value byte set to 0xEE, and
// the bytes that changed are where that value byte goes. A value whose encoding is not a plain
// big-endian copy at fixed offsets would fail the self-check, and the encoder then falls back to
// writeBundledFlowMod.

import {
  type FlowModCommand,
  BUNDLE_ATOMIC_ORDERED,
  ByteWriter,
  OFP14_VERSION,
  writeBundledFlowMod,
} from '../openflow';
import { encodeCookie, hash32 } from '../pipeline';
import { ARP_FAMILY, type FlowFamily, L2_FAMILY, L3_FLOW, type NeighborRecord, recordFlow } from './neighbor-flows';

/** The patched values, in this order; widths in bytes. */
const FIELDS = ['xid', 'bundleId', 'cookieHi', 'cookieLo', 'vni', 'mac', 'ip', 'hostIp', 'tunnelOfport'] as const;
type FieldName = (typeof FIELDS)[number];
const WIDTH: Readonly<Record<FieldName, number>> = {
  xid: 4,
  bundleId: 4,
  cookieHi: 4,
  cookieLo: 4,
  vni: 3,
  mac: 6,
  ip: 4,
  hostIp: 4,
  tunnelOfport: 4,
};

type Values = Record<FieldName, number>;

function fill(width: number, byte: number): number {
  let v = 0;
  for (let i = 0; i < width; i++) v = v * 256 + byte;
  return v;
}

function encodeWith(family: FlowFamily, command: FlowModCommand, v: Values): Uint8Array {
  const r: NeighborRecord = {
    id: '',
    vni: v.vni,
    mac: v.mac,
    ip: v.ip,
    hostIp: v.hostIp,
    tunnelOfport: v.tunnelOfport,
  };
  const cookie = (BigInt(v.cookieHi) << 32n) | BigInt(v.cookieLo);
  const w = new ByteWriter(512);
  writeBundledFlowMod(
    w,
    v.xid,
    OFP14_VERSION,
    v.bundleId,
    recordFlow(r, family, cookie),
    command,
    BUNDLE_ATOMIC_ORDERED,
  );
  return w.toBuffer();
}

interface Template {
  readonly bytes: Uint8Array;
  /** Per field: positions in `bytes`, and which value byte goes there. */
  readonly at: readonly Int32Array[];
  readonly byteIndex: readonly Int32Array[];
}

function buildTemplate(family: FlowFamily, command: FlowModCommand): Template | undefined {
  const base = {} as Values;
  for (const f of FIELDS) base[f] = fill(WIDTH[f], 0x11);
  const bytes = encodeWith(family, command, base);
  const at: Int32Array[] = [];
  const byteIndex: Int32Array[] = [];
  for (const f of FIELDS) {
    const pos: number[] = [];
    const idx: number[] = [];
    for (let k = 0; k < WIDTH[f]; k++) {
      const shift = 2 ** (8 * (WIDTH[f] - 1 - k));
      const varied = { ...base, [f]: base[f] + (0xee - 0x11) * shift };
      const b = encodeWith(family, command, varied);
      if (b.length !== bytes.length) return undefined;
      for (let i = 0; i < b.length; i++) {
        if (b[i] === bytes[i]) continue;
        if (bytes[i] !== 0x11 || b[i] !== 0xee) return undefined;
        pos.push(i);
        idx.push(k);
      }
    }
    at.push(Int32Array.from(pos));
    byteIndex.push(Int32Array.from(idx));
  }
  return { bytes, at, byteIndex };
}

/**
 * A neighbor's cookie as two 32-bit halves without BigInt work per flow: the high half is the same
 * for every neighbor and the low half is the id hash (core/pipeline/cookie.ts); checked at load,
 * with the BigInt path as the fallback.
 */
const NEIGHBOR_COOKIE_HI = Number(encodeCookie('neighbor', '') >> 32n);
const COOKIE_SPLIT_HOLDS = ['', 'a', 'nbr-1', 'f37810eb-7f83-45fa-a4d4-1b31e75399d4'].every(
  (id) => encodeCookie('neighbor', id) === ((BigInt(NEIGHBOR_COOKIE_HI) << 32n) | BigInt(hash32(id))),
);

/**
 * The high half of every neighbor cookie, when a cookie is (that, hash32(id)); undefined when the
 * cookie layout is something else (then only neighborCookieHalves knows).
 */
export const NEIGHBOR_COOKIE_HIGH: number | undefined = COOKIE_SPLIT_HOLDS ? NEIGHBOR_COOKIE_HI : undefined;

/** [high, low] 32-bit halves of encodeCookie('neighbor', id). */
export function neighborCookieHalves(id: string, out: Float64Array): void {
  if (COOKIE_SPLIT_HOLDS) {
    out[0] = NEIGHBOR_COOKIE_HI;
    out[1] = hash32(id);
    return;
  }
  const c = encodeCookie('neighbor', id);
  out[0] = Number(c >> 32n);
  out[1] = Number(c & 0xffff_ffffn);
}

const COMMAND_INDEX: Readonly<Record<FlowModCommand, number>> = {
  add: 0,
  modify_strict: 1,
  delete_strict: 2,
};

/** Writes record flow-mods from templates; templates are built on first use. */
export class RecordEncoder {
  /** [family * 3 + command]: the template, null when it failed its self-check. */
  readonly #templates: (CompiledTemplate | null | undefined)[] = [];
  readonly #values = new Float64Array(FIELDS.length);

  #template(family: FlowFamily, command: FlowModCommand): CompiledTemplate | undefined {
    const k = family * 3 + COMMAND_INDEX[command];
    let t = this.#templates[k];
    if (t === undefined) {
      const built = buildTemplate(family, command);
      const compiled = built === undefined ? undefined : compile(built);
      t = compiled !== undefined && selfCheck(compiled, family, command) ? compiled : null;
      this.#templates[k] = t;
    }
    return t ?? undefined;
  }

  /** Bytes of the messages of these families' flows with `command`. */
  bytesFor(families: readonly FlowFamily[], command: FlowModCommand): number {
    let l2 = 0;
    let arp = 0;
    for (let i = 0; i < families.length; i++) {
      if (families[i] === L2_FAMILY) l2++;
      else if (families[i] === ARP_FAMILY) arp++;
    }
    const l3 = families.length - l2 - arp;
    return (
      l2 * this.#length(L2_FAMILY, command) +
      arp * this.#length(ARP_FAMILY, command) +
      (l3 > 0 ? l3 * this.#length(L3_FLOW, command) : 0)
    );
  }

  #length(family: FlowFamily, command: FlowModCommand): number {
    const t = this.#template(family, command);
    if (t !== undefined) return t.bytes.length;
    const probe: NeighborRecord = { id: '', vni: 0, mac: 0, ip: 0, hostIp: 0, tunnelOfport: 0 };
    const w = new ByteWriter(512);
    writeBundledFlowMod(w, 0, OFP14_VERSION, 0, recordFlow(probe, family, 0n), command, BUNDLE_ATOMIC_ORDERED);
    return w.pos;
  }

  /**
   * Writes the BUNDLE_ADD_MESSAGE(FLOW_MOD) of record `r`'s `family` flow at out[pos]; returns the
   * position after it. `out` must have room (bytesFor).
   */
  writeAt(
    out: Uint8Array,
    pos: number,
    xid: number,
    bundleId: number,
    r: NeighborRecord,
    family: FlowFamily,
    command: FlowModCommand,
    cookieHi: number,
    cookieLo: number,
  ): number {
    const t = this.#template(family, command);
    if (t === undefined) {
      const cookie = (BigInt(cookieHi) << 32n) | BigInt(cookieLo);
      const w = new ByteWriter(512);
      writeBundledFlowMod(
        w,
        xid,
        OFP14_VERSION,
        bundleId,
        recordFlow(r, family, cookie),
        command,
        BUNDLE_ATOMIC_ORDERED,
      );
      out.set(w.view(), pos);
      return pos + w.pos;
    }
    const v = this.#values;
    v[0] = xid;
    v[1] = bundleId;
    v[2] = cookieHi;
    v[3] = cookieLo;
    v[4] = r.vni;
    v[5] = r.mac;
    v[6] = r.ip;
    v[7] = r.hostIp;
    v[8] = r.tunnelOfport;
    return patchAt(out, pos, t, v);
  }

  /** Appends the BUNDLE_ADD_MESSAGE(FLOW_MOD) of record `r`'s `family` flow. */
  write(
    w: ByteWriter,
    xid: number,
    bundleId: number,
    r: NeighborRecord,
    family: FlowFamily,
    command: FlowModCommand,
    cookie: bigint,
  ): void {
    w.ensure(512);
    w.pos = this.writeAt(
      w.buffer,
      w.pos,
      xid,
      bundleId,
      r,
      family,
      command,
      Number(cookie >> 32n),
      Number(cookie & 0xffff_ffffn),
    );
  }
}

/** A template as flat arrays: for each patched byte, its offset, its value and its divisor. */
interface CompiledTemplate {
  readonly bytes: Uint8Array;
  readonly offset: Int32Array;
  readonly field: Int32Array;
  readonly divisor: Float64Array;
  /**
   * The same places as (field, offset, width) triples, when every occurrence of a value is a
   * whole big-endian run (then patching is a few shifts per value, not a division per byte).
   */
  readonly runs: Int32Array | undefined;
}

function compile(t: Template): CompiledTemplate {
  const offset: number[] = [];
  const field: number[] = [];
  const divisor: number[] = [];
  for (let f = 0; f < FIELDS.length; f++) {
    const width = WIDTH[FIELDS[f]];
    for (let i = 0; i < t.at[f].length; i++) {
      offset.push(t.at[f][i]);
      field.push(f);
      divisor.push(2 ** (8 * (width - 1 - t.byteIndex[f][i])));
    }
  }
  return {
    // A plain Uint8Array (not a Buffer), so that copies from it stay monomorphic.
    bytes: Uint8Array.from(t.bytes),
    offset: Int32Array.from(offset),
    field: Int32Array.from(field),
    divisor: Float64Array.from(divisor),
    runs: runsOf(t),
  };
}

/** CompiledTemplate.runs of a template, or undefined when some value is not in whole runs. */
function runsOf(t: Template): Int32Array | undefined {
  const runs: number[] = [];
  for (let f = 0; f < FIELDS.length; f++) {
    const width = WIDTH[FIELDS[f]];
    if (width > 4 && width !== 6) return undefined;
    const byOffset = [...t.at[f]].map((at, i) => [at, t.byteIndex[f][i]]).sort((a, b) => a[0] - b[0]);
    if (byOffset.length % width !== 0) return undefined;
    for (let i = 0; i < byOffset.length; i += width) {
      for (let k = 0; k < width; k++) {
        if (byOffset[i + k][1] !== k || byOffset[i + k][0] !== byOffset[i][0] + k) return undefined;
      }
      runs.push(f, byOffset[i][0], width);
    }
  }
  return Int32Array.from(runs);
}

function patchAt(out: Uint8Array, start: number, t: CompiledTemplate, v: Float64Array): number {
  const src = t.bytes;
  const len = src.length;
  out.set(src, start);
  const runs = t.runs;
  if (runs !== undefined) {
    for (let r = 0; r < runs.length; r += 3) {
      const value = v[runs[r]];
      const at = start + runs[r + 1];
      const width = runs[r + 2];
      // 48 bits (a MAC): the high 16 first; below 2^32 the shifts are exact.
      let low = value >>> 0;
      if (width === 6) {
        const high = Math.floor(value / 4294967296);
        out[at] = (high >>> 8) & 0xff;
        out[at + 1] = high & 0xff;
        for (let k = 5; k >= 2; k--, low >>>= 8) out[at + k] = low & 0xff;
      } else {
        for (let k = width - 1; k >= 0; k--, low >>>= 8) out[at + k] = low & 0xff;
      }
    }
    return start + len;
  }
  const { offset, field, divisor } = t;
  // Values are below 2^53, so value / 2^k truncated to an integer keeps the byte exactly.
  for (let i = 0; i < offset.length; i++) out[start + offset[i]] = Math.floor(v[field[i]] / divisor[i]) & 0xff;
  return start + len;
}

function writeCompiled(w: ByteWriter, t: CompiledTemplate, v: Float64Array): void {
  w.ensure(t.bytes.length);
  w.pos = patchAt(w.buffer, w.pos, t, v);
}

/** A few odd records through both paths; any difference disables the template. */
function selfCheck(t: CompiledTemplate, family: FlowFamily, command: FlowModCommand): boolean {
  const samples: NeighborRecord[] = [
    { id: 'a', vni: 1, mac: 0x020000000001, ip: 0x0a000001, hostIp: 0xc0000201, tunnelOfport: 100 },
    { id: 'b', vni: 0xffffff, mac: 0xffffffffffff, ip: 0xffffffff, hostIp: 1, tunnelOfport: 0xfffffff0 },
    { id: 'c', vni: 0, mac: 0, ip: 0, hostIp: 0, tunnelOfport: 1 },
  ];
  for (const r of samples) {
    const cookie = encodeCookie('neighbor', r.id);
    const want = new ByteWriter(512);
    writeBundledFlowMod(want, 7, OFP14_VERSION, 9, recordFlow(r, family, cookie), command, BUNDLE_ATOMIC_ORDERED);
    const got = new ByteWriter(512);
    const v = Float64Array.of(
      7,
      9,
      Number(cookie >> 32n),
      Number(cookie & 0xffff_ffffn),
      r.vni,
      r.mac,
      r.ip,
      r.hostIp,
      r.tunnelOfport,
    );
    writeCompiled(got, t, v);
    if (!want.view().equals(got.view())) return false;
  }
  return true;
}
