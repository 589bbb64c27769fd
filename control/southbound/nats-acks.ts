// How the control service learns that the hosts of a VPC-wide message applied it, at a cost per message that
// does not grow with its hosts. Each agent that applied everything puts one small message on the message's
// ack subject (nats-wire.ts: ackSubject, deduplicated per host by JetStream). The control service asks the
// broker how many there are: one stream-info request whose reply has the same size for 10 hosts or 10,000.
// Once the count says every host is in, every host's waiter is settled without reading a single ack. Only
// when some hosts are slow or answered otherwise (on their reply subject) are the acks themselves read, to
// settle the hosts that are in and leave the others waiting.
//
// The count is asked for again after an interval that follows the acks' arrival (soon when the rest should
// be in by then, else a quarter of the time waited so far): a change acknowledged within 60 ms or 600 ms
// costs a handful of requests, not one every 10 ms.
import type { NatsConnection } from '@nats-io/nats-core';
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { ACK_STREAM } from '../../core/southbound/nats-wire';

const API = '$JS.API';
/** Shortest interval between two counts. */
export const ACK_POLL_MS = 10;
/** Longest interval between two counts while some hosts are missing. */
export const ACK_POLL_MAX_MS = 100;
/**
 * Who is in is read (so those hosts can go on) when the count stopped growing for this long (or for as long
 * as the acks took to come so far, if longer), or at least every ACK_LIST_MAX_MS while it grows slowly;
 * never when every host is in.
 */
export const ACK_LIST_MS = 1000;
export const ACK_LIST_MAX_MS = 5000;
const REQUEST_TIMEOUT_MS = 2000;

/** How many (distinct) hosts acked on `subject`: one request, a reply of constant size. */
export async function ackCount(nc: NatsConnection, subject: string): Promise<number> {
  const m = await nc.request(`${API}.STREAM.INFO.${ACK_STREAM}`, JSON.stringify({ subjects_filter: subject }), {
    timeout: REQUEST_TIMEOUT_MS,
  });
  const info = JSON.parse(m.string()) as {
    state?: { subjects?: Record<string, number> };
    error?: { description?: string };
  };
  if (info.error !== undefined) throw new Error(`stream info: ${info.error.description ?? 'error'}`);
  return info.state?.subjects?.[subject] ?? 0;
}

/**
 * The hosts (subject tokens) of the `n` acks stored after stream sequence `after` on `subject`, read with an
 * ordered consumer that lasts one fetch, and the sequence of the last one read.
 */
export async function ackedHosts(
  js: JetStreamClient,
  subject: string,
  after: number,
  n: number,
): Promise<{ hosts: string[]; last: number }> {
  const c = await js.consumers.get(ACK_STREAM, {
    filter_subjects: subject, // a string: one filter, which nats-server 2.9 takes (a list needs 2.10)
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: after + 1,
    inactive_threshold: 10_000, // ms: the broker drops it soon after this one fetch
  });
  const hosts: string[] = [];
  let last = after;
  const msgs = await c.fetch({ max_messages: n, expires: REQUEST_TIMEOUT_MS });
  for await (const m of msgs) {
    hosts.push(m.string());
    last = m.seq;
    if (hosts.length >= n) break;
  }
  return { hosts, last };
}

/** Drops a message's acks once counted; no reply is waited for (the stream's max age bounds a lost one). */
export function purgeAcks(nc: NatsConnection, subject: string): void {
  nc.publish(`${API}.STREAM.PURGE.${ACK_STREAM}`, JSON.stringify({ filter: subject }));
}

/**
 * How long to wait before counting again: when the acks keep coming at `perMs`, about when the rest should
 * be in; never later than a quarter of the time waited so far (so the last ack is seen at most ~25% late)
 * nor than ACK_POLL_MAX_MS.
 */
export function nextAckPollMs(elapsedMs: number, have: number, total: number, perMs: number): number {
  const slack = Math.min(ACK_POLL_MAX_MS, Math.max(ACK_POLL_MS, elapsedMs / 4));
  if (!(perMs > 0)) return slack;
  return Math.min(slack, Math.max(ACK_POLL_MS, (total - have) / perMs));
}

export interface AckGroup {
  readonly subject: string;
  /** Hosts the message was sent for. */
  readonly total: number;
  /** Hosts still waiting (subject tokens). */
  readonly waiting: { readonly size: number };
  /** Hosts that answered on their reply subject instead (not everything succeeded): they post no ack. */
  replied: number;
}

export interface AckWatch {
  nc(): NatsConnection | null;
  js(): JetStreamClient | null;
  /** False once the message's waiters are gone (timed out, failed, link closed). */
  live(): boolean;
  acked(token: string): void;
  /** Every host still waiting acked. */
  allAcked(): void;
}

/**
 * The first count comes after this share of the time the previous message took: most of it when that one
 * needed more than one count (its time is then about when its last ack came), less when its first count
 * already found every ack in (they may have been in well before: counting at that time again would never
 * learn that the fleet got faster). At most FIRST_POLL_MAX_MS.
 */
export const FIRST_POLL_SHARE = 0.8;
export const FIRST_POLL_SHARE_SEEN_LATE = 0.6;
export const FIRST_POLL_MAX_MS = 1000;

/** How long the last VPC-wide message took until every ack was seen, and how many counts that took. */
export interface AllAcked {
  readonly total: number;
  readonly ms: number;
  readonly counts: number;
}

/**
 * The first count's delay: most of the time the previous VPC-wide message of about as many hosts took to be
 * acknowledged by all (changes of one fleet take about as long each), else ACK_POLL_MS. Each count costs the
 * control ~0.3-1 ms of CPU: counting early (at 100 ms, then every quarter of the wait) took 4-6 counts for a
 * change acknowledged in 250 ms, this takes 1-2.
 */
export function firstAckPollMs(total: number, previous: AllAcked | null): number {
  if (previous === null || total > previous.total * 2 || total * 2 < previous.total) return ACK_POLL_MS;
  const share = previous.counts > 1 ? FIRST_POLL_SHARE : FIRST_POLL_SHARE_SEEN_LATE;
  return Math.min(FIRST_POLL_MAX_MS, Math.max(ACK_POLL_MS, previous.ms * share));
}

/**
 * Counts `g`'s acks until every host is in or `w.live()` turns false; then drops them from the stream.
 * Resolves with how long it took until all were in and how many counts (null if they were not).
 */
export async function watchAcks(
  g: AckGroup,
  w: AckWatch,
  firstWaitMs = ACK_POLL_MS,
): Promise<{ ms: number; counts: number } | null> {
  const t0 = performance.now();
  let prev = { at: t0, n: 0 };
  let listed = { at: t0, n: 0, seq: 0 };
  let grew = t0;
  let wait = firstWaitMs;
  let allIn: { ms: number; counts: number } | null = null;
  let counts = 0;
  while (w.live() && g.waiting.size > 0) {
    await new Promise((r) => setTimeout(r, wait));
    const nc = w.nc();
    wait = ACK_POLL_MS;
    if (nc === null) continue;
    try {
      const n = await ackCount(nc, g.subject);
      const now = performance.now();
      if (!w.live()) break;
      counts++;
      if (n >= g.total - g.replied) allIn = { ms: now - t0, counts };
      if (n >= g.total - g.replied && g.replied === 0) {
        w.allAcked();
        break;
      }
      if (n > prev.n) grew = now;
      const js = w.js();
      // Stalled: no new ack for ACK_LIST_MS and for as long as it took to get the ones in (a starved agents'
      // machine pauses; a host that is down stays silent).
      const stalled = now - grew >= Math.max(ACK_LIST_MS, grew - t0) || now - listed.at >= ACK_LIST_MAX_MS;
      if (js !== null && n > listed.n && (n >= g.total - g.replied || stalled)) {
        const r = await ackedHosts(js, g.subject, listed.seq, n - listed.n);
        for (const h of r.hosts) w.acked(h);
        listed = { at: performance.now(), n: listed.n + r.hosts.length, seq: r.last };
      }
      wait = nextAckPollMs(now - t0, n + g.replied, g.total, (n - prev.n) / Math.max(1, now - prev.at));
      prev = { at: now, n };
    } catch {
      // the broker is away or slow: count again; the message's timer decides
    }
  }
  const nc = w.nc();
  if (nc !== null && !nc.isClosed()) purgeAcks(nc, g.subject);
  return allIn;
}
