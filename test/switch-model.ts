// Test helper: a switch's flow table as far as the engine's flow-mods change it, so engines that
// reach the same flows by different flow-mods (or partitions) compare equal by what they leave
// installed. Semantics as OVS applies them (OpenFlow 1.4 §6.4): ADD replaces the flow with the same
// table, priority and match; MODIFY_STRICT changes an existing one (nothing if there is none);
// DELETE_STRICT removes it, if its cookie matches under the cookie mask.

const ADD = 0;
const MODIFY_STRICT = 2;
const DELETE_STRICT = 4;

const hex = (b: Uint8Array, s: number, e: number): string => Buffer.from(b.subarray(s, e)).toString('hex');

export class SwitchModel {
  /** "table/priority/match" -> "cookie instructions", all as hex. */
  readonly #flows = new Map<string, string>();

  /** Applies deltas of BUNDLE_ADD_MESSAGE(FLOW_MOD)s, in order. */
  apply(deltas: readonly Uint8Array[]): void {
    for (const d of deltas) {
      for (let at = 0; at < d.length;) {
        const len = (d[at + 2] << 8) | d[at + 3];
        this.#flowMod(d.subarray(at + 16, at + len));
        at += len;
      }
    }
  }

  #flowMod(m: Uint8Array): void {
    const cookie = hex(m, 8, 16);
    const mask = hex(m, 16, 24);
    const command = m[25];
    const matchLen = (m[50] << 8) | m[51];
    const instructionsAt = 48 + ((matchLen + 7) & ~7);
    const key = `${m[24]}/${(m[30] << 8) | m[31]}/${hex(m, 48, 48 + matchLen)}`;
    const body = `${cookie} ${hex(m, instructionsAt, m.length)}`;
    if (command === ADD) this.#flows.set(key, body);
    else if (command === MODIFY_STRICT) {
      if (this.#flows.has(key)) this.#flows.set(key, body);
    } else if (command === DELETE_STRICT) {
      const held = this.#flows.get(key);
      if (held !== undefined && cookieMatches(held.slice(0, 16), cookie, mask)) this.#flows.delete(key);
    } else throw new Error(`flow-mod command ${command} is not one the engine sends`);
  }

  /** The installed flows, sorted. */
  texts(): string[] {
    return [...this.#flows].map(([k, v]) => `${k} ${v}`).sort();
  }
}

function cookieMatches(held: string, cookie: string, mask: string): boolean {
  const m = BigInt('0x' + mask);
  return (BigInt('0x' + held) & m) === (BigInt('0x' + cookie) & m);
}
