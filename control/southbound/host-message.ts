// The GoalStateV2 one agent receives, assembled in one buffer: the same bytes as encodeHostGoalState
// (control/resources.ts), which builds an object and two substrings per key and concatenates ~100 parts per
// host. For a push to 1,000 hosts of 100 ports each that was 111k objects and 222k strings made before the
// first message could go; here a key costs its UTF-8 length, counted once, and one substring (its id).
import { parseResourceKey, RESOURCE_KINDS, type ResourceKind, writeMapEntryHead } from '../resources';
import { varintSize, writeVarint } from '../../core/wire/varint';
import { fieldNumber, oneByteTag, WIRE_LEN } from '../../core/wire/schema';

const HOST_RESOURCES_TAG = (fieldNumber('GoalStateV2', 'host_resources') << 3) | WIRE_LEN;
const HOST_RESOURCES_ENTRY_TAG = oneByteTag('HostResources', 'resources');
const RESOURCE_TYPE_TAG = oneByteTag('ResourceIdType', 'type');
const RESOURCE_ID_TAG = oneByteTag('ResourceIdType', 'id');
const FORMAT_VERSION_TAG = oneByteTag('GoalStateV2', 'format_version');
/** Alcor's V2 message version, as encodeHostGoalState writes it. */
const FORMAT_VERSION = 102;

/** The kind a store key names (`<kind>/<id>`), without slicing the name out; a bad key throws as parseResourceKey. */
function kindOf(key: string): ResourceKind {
  for (const k of RESOURCE_KINDS) {
    if (key.charCodeAt(k.name.length) === 47 /* '/' */ && key.startsWith(k.name)) return k;
  }
  return parseResourceKey(key).kind;
}

/** UTF-8 lengths of the ids of the message being assembled (grown as needed, reused: messages are made one by one). */
let idLens = new Int32Array(1024);

/**
 * host_resources for `hostIp` listing `keys`, then `entries` (pre-encoded map entries, see encodeResourceEntry),
 * byte for byte what encodeHostGoalState(hostIp, keys, entries) returns.
 */
export function encodeHostMessage(hostIp: string, keys: readonly string[], entries: readonly Uint8Array[]): Buffer {
  if (idLens.length < keys.length) idLens = new Int32Array(keys.length * 2);
  let valueLen = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const kind = kindOf(key);
    const idLen = Buffer.byteLength(key, 'utf8') - kind.name.length - 1; // the kind's name is ASCII
    idLens[i] = idLen;
    const bodyLen = (kind.type === 0 ? 0 : 1 + varintSize(kind.type)) + 1 + varintSize(idLen) + idLen;
    valueLen += 1 + varintSize(bodyLen) + bodyLen;
  }
  const hostLen = Buffer.byteLength(hostIp, 'utf8');
  const entryLen = 1 + varintSize(hostLen) + hostLen + 1 + varintSize(valueLen) + valueLen;
  let total = 2;
  if (keys.length > 0) total += varintSize(HOST_RESOURCES_TAG) + varintSize(entryLen) + entryLen;
  for (const e of entries) total += e.length;
  const out = Buffer.allocUnsafe(total);
  out[0] = FORMAT_VERSION_TAG;
  out[1] = FORMAT_VERSION;
  let pos = 2;
  if (keys.length > 0) {
    pos = writeVarint(out, pos, HOST_RESOURCES_TAG);
    pos = writeVarint(out, pos, entryLen);
    pos = writeMapEntryHead(out, pos, hostIp, hostLen, valueLen);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const kind = kindOf(key);
      const idLen = idLens[i] as number;
      const typeLen = kind.type === 0 ? 0 : 1 + varintSize(kind.type);
      out[pos++] = HOST_RESOURCES_ENTRY_TAG;
      pos = writeVarint(out, pos, typeLen + 1 + varintSize(idLen) + idLen);
      if (typeLen > 0) {
        out[pos++] = RESOURCE_TYPE_TAG;
        pos = writeVarint(out, pos, kind.type);
      }
      out[pos++] = RESOURCE_ID_TAG;
      pos = writeVarint(out, pos, idLen);
      pos += out.write(key.slice(kind.name.length + 1), pos, 'utf8');
    }
  }
  for (const e of entries) {
    out.set(e, pos);
    pos += e.length;
  }
  return out;
}
