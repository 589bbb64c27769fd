// What the control service and the agents agree on when goal states travel through NATS JetStream:
// stream and subject names, message headers, and how a message larger than the broker's max_payload is
// cut into chunks and put back together (with a SHA-256 of the whole message, checked before it is applied).
// Pure: no connection here (control/southbound/nats-link.ts and agent/nats/consumer.ts do the I/O).
import { createHash } from 'node:crypto';

export const STREAM = 'ALCOR_GS';
export const HOST_PREFIX = 'alcor.gs.host.';
export const VPC_PREFIX = 'alcor.gs.vpc.';
export const REPLY_PREFIX = 'alcor.gs.reply.';
/**
 * Where JetStream pushes a consumer's messages: alcor.gs.deliver.<durable name>. Push, not pull: a thousand
 * hosts' pull requests expire and are renewed all the time (and one that stalls waits for two missed
 * heartbeats), whereas a push consumer delivers as soon as a message is stored and costs nothing while idle.
 */
export const DELIVER_PREFIX = 'alcor.gs.deliver.';
export const STREAM_SUBJECTS = [`${HOST_PREFIX}*`, `${VPC_PREFIX}*`];
/**
 * "Applied, all succeeded" for a VPC-wide message: one small message per host on the message's one subject,
 * alcor.gs.ack.<message id>, body = the host's subject token, Nats-Msg-Id = ackMsgId (so an agent that
 * applies a redelivered message again is still counted once). A memory stream keeps them a minute. The
 * control service reads how many there are with one stream-info request (the subject's count), whatever
 * the number of hosts, and reads who they are only when some are missing (control/southbound/nats-acks.ts).
 */
export const ACK_STREAM = 'ALCOR_GS_ACKS';
export const ACK_PREFIX = 'alcor.gs.ack.';
export const ackSubject = (msgId: string): string => `${ACK_PREFIX}${subjectToken(msgId)}`;
export const ackMsgId = (msgId: string, hostIp: string): string => `${msgId}.${subjectToken(hostIp)}`;

export const H_MSG_ID = 'Alcor-Msg-Id';
/** `<index>/<count>`, index from 0. */
export const H_CHUNK = 'Alcor-Chunk';
/** Hex SHA-256 of the whole (reassembled) message. */
export const H_SHA256 = 'Alcor-Sha256';
/** Set on replies the agent could not apply (the message is refused, not retried). */
export const H_ERROR = 'Alcor-Error';
/**
 * On a host-subject message: the VPCs (ids, comma-separated) whose subjects the agent must consume from now
 * on. The agent makes those consumers before it replies, so once the control service has the reply every
 * later publish to the VPC reaches the host.
 */
export const H_VPCS = 'Alcor-Vpcs';
/**
 * On a VPC-subject message: the hosts (IPs, comma-separated) that must apply it. Every other consumer of the
 * VPC acks it without applying: a host that has left the VPC, or one owned by another control replica,
 * which sends that host the change itself.
 */
export const H_HOSTS = 'Alcor-Hosts';
/**
 * On a VPC-subject message, instead of H_HOSTS when the list is long: the digest of the list (hostsDigest),
 * which the control service stored first under alcor.gs.hosts.<digest> in HOSTS_STREAM. Each agent fetches
 * a list once and keeps whether it is on it, so a change to a thousand hosts carries ~40 bytes, not ~11 KB
 * to each of them, and a list travels again only when the VPC's hosts change.
 */
export const H_HOSTS_REF = 'Alcor-Hosts-Ref';
export const HOSTS_STREAM = 'ALCOR_GS_HOSTS';
export const HOSTS_PREFIX = 'alcor.gs.hosts.';
export const hostsSubject = (digest: string): string => HOSTS_PREFIX + digest;
/** Lists up to this many bytes go inline (H_HOSTS): one fetch per agent would cost more than the bytes. */
export const INLINE_HOSTS_MAX = 512;

/** A comma-separated host list's name: the first 128 bits of its SHA-256, hex (a subject token). */
export function hostsDigest(list: string): string {
  return createHash('sha256').update(list).digest('hex').slice(0, 32);
}

/** Does the comma-separated `list` name `item`? (No split: the list of a VPC-wide change may be long.) */
export function listHas(list: string, item: string): boolean {
  if (item === '') return false;
  let from = 0;
  for (;;) {
    const i = list.indexOf(item, from);
    if (i < 0) return false;
    const end = i + item.length;
    if ((i === 0 || list.charCodeAt(i - 1) === 44) && (end === list.length || list.charCodeAt(end) === 44)) return true;
    from = i + 1;
  }
}

/**
 * An agent's reply (on alcor.gs.reply.<host>) is one small binary record without NATS headers, so the
 * control service, which reads one per host for a VPC-wide change, spends little on each:
 * [kind u8][id length u8][id latin1][body]. REPLY_OK: every resource succeeded, body = u32 BE count;
 * REPLY_FULL: body = the GoalStateOperationReply; REPLY_REFUSED: body = the reason (utf-8), not retried.
 */
export const REPLY_OK = 1;
export const REPLY_FULL = 2;
export const REPLY_REFUSED = 3;
/** Not a reply but a request: this host's agent missed messages (see H_SEQ) and needs its full state. */
export const REPLY_RESYNC = 4;

/**
 * On a host-subject message: `<sender>.<n>`, n counting the messages one control process published to the
 * host. An agent that sees n jump (same sender) lost messages the stream dropped (max age or size) before
 * it consumed them, and asks for its full state (REPLY_RESYNC).
 */
export const H_SEQ = 'Alcor-Seq';

/** Is `a` an earlier message than `b` of the same sender (a redelivery)? */
export function seqBefore(a: string, b: string): boolean {
  const i = a.lastIndexOf('.');
  const j = b.lastIndexOf('.');
  return i >= 0 && j >= 0 && a.slice(0, i) === b.slice(0, j) && Number(a.slice(i + 1)) < Number(b.slice(j + 1));
}

/** A gap between the last `<sender>.<n>` seen and `next`: messages in between never arrived. */
export function seqGap(last: string | null, next: string): boolean {
  if (last === null) return false;
  const a = last.lastIndexOf('.');
  const b = next.lastIndexOf('.');
  if (a < 0 || b < 0 || last.slice(0, a) !== next.slice(0, b)) return false; // another sender: no reference
  return Number(next.slice(b + 1)) > Number(last.slice(a + 1)) + 1;
}

export function encodeReplyRecord(kind: number, id: string, body: Uint8Array): Buffer {
  const idLen = Buffer.byteLength(id, 'latin1');
  if (idLen > 255) throw new Error(`message id too long for a reply: ${idLen} bytes`);
  const out = Buffer.allocUnsafe(2 + idLen + body.length);
  out[0] = kind;
  out[1] = idLen;
  out.write(id, 2, 'latin1');
  out.set(body, 2 + idLen);
  return out;
}

export function okReplyBody(count: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(count >>> 0, 0);
  return b;
}

/** Kind, message id and where the body starts; null for anything that is not a reply record. */
export function replyRecordHead(data: Uint8Array): { kind: number; id: string; body: number } | null {
  if (data.length < 2) return null;
  const kind = data[0] as number;
  const body = 2 + (data[1] as number);
  if (kind < REPLY_OK || kind > REPLY_RESYNC || body > data.length) return null;
  return { kind, id: Buffer.from(data.buffer, data.byteOffset + 2, body - 2).toString('latin1'), body };
}

/** Room left in each chunk for the headers and the protocol line, below the server's max_payload. */
export const CHUNK_HEADROOM = 4096;

/** A subject token for a host IP or a VPC id: NATS tokens cannot hold '.', '*', '>' or spaces. */
export function subjectToken(s: string): string {
  if (s === '') throw new Error('empty subject token');
  return s.replace(/[.*> \t\r\n]/g, '_');
}

export const hostSubject = (hostIp: string): string => HOST_PREFIX + subjectToken(hostIp);
export const vpcSubject = (vpc: string | number): string => VPC_PREFIX + subjectToken(String(vpc));
export const replySubject = (hostIp: string): string => REPLY_PREFIX + subjectToken(hostIp);
/** Durable consumer name of a host (one per host and subject). */
export const durableName = (hostIp: string, vpc?: string | number): string =>
  vpc === undefined ? `h_${subjectToken(hostIp)}` : `h_${subjectToken(hostIp)}_v_${subjectToken(String(vpc))}`;

export interface Chunk {
  readonly index: number;
  readonly count: number;
  readonly data: Uint8Array;
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Cuts `message` into pieces of at most `maxPayload - CHUNK_HEADROOM` bytes (one piece when it fits). */
export function chunksOf(message: Uint8Array, maxPayload: number): Chunk[] {
  const size = Math.max(1024, maxPayload - CHUNK_HEADROOM);
  const count = Math.max(1, Math.ceil(message.length / size));
  const out: Chunk[] = [];
  for (let i = 0; i < count; i++) out.push({ index: i, count, data: message.subarray(i * size, (i + 1) * size) });
  return out;
}

export function parseChunkHeader(v: string | undefined): { index: number; count: number } | null {
  if (v === undefined || v === '') return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (m === null) return null;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) return null;
  return { index, count };
}

interface Partial {
  readonly count: number;
  readonly sha: string;
  readonly parts: Array<Uint8Array | undefined>;
  have: number;
  bytes: number;
}

export type Reassembled =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'complete'; readonly message: Buffer }
  | { readonly kind: 'bad'; readonly reason: string };

/**
 * Puts chunks back together per message id. A redelivered chunk replaces itself (JetStream redelivers
 * what was not acked). Messages being assembled are bounded in bytes: the oldest is dropped beyond it,
 * and its chunks come again after their ack wait.
 */
export class Reassembler {
  private readonly partial = new Map<string, Partial>();
  private bytes = 0;

  constructor(private readonly maxBytes = 1024 * 1024 * 1024) {}

  add(msgId: string, chunk: { index: number; count: number }, sha: string, data: Uint8Array): Reassembled {
    if (chunk.count === 1) return this.finish(Buffer.from(data), sha);
    let p = this.partial.get(msgId);
    if (p !== undefined && (p.count !== chunk.count || p.sha !== sha)) {
      this.drop(msgId);
      return { kind: 'bad', reason: `chunks of ${msgId} disagree on their count or checksum` };
    }
    if (p === undefined) {
      p = { count: chunk.count, sha, parts: new Array(chunk.count), have: 0, bytes: 0 };
      this.partial.set(msgId, p);
    }
    if (p.parts[chunk.index] === undefined) {
      p.have++;
      p.bytes += data.length;
      this.bytes += data.length;
    }
    p.parts[chunk.index] = data;
    if (p.have < p.count) {
      this.evict(msgId);
      return { kind: 'incomplete' };
    }
    this.drop(msgId);
    return this.finish(Buffer.concat(p.parts as Uint8Array[]), sha);
  }

  pendingMessages(): number {
    return this.partial.size;
  }

  private finish(message: Buffer, sha: string): Reassembled {
    if (sha !== '' && sha256Hex(message) !== sha) return { kind: 'bad', reason: 'checksum mismatch' };
    return { kind: 'complete', message };
  }

  private drop(msgId: string): void {
    const p = this.partial.get(msgId);
    if (p === undefined) return;
    this.bytes -= p.bytes;
    this.partial.delete(msgId);
  }

  private evict(keep: string): void {
    for (const id of this.partial.keys()) {
      if (this.bytes <= this.maxBytes) return;
      if (id !== keep) this.drop(id);
    }
  }
}
