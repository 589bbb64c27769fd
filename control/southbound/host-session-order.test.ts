// The order of a host's results when its messages take two ways (its own channel and its VPC's subject): a
// result "applied up to version V" settles every caller waiting for V or less, so a VPC-wide answer must not
// settle a caller of an older message of the host's own that is still unanswered. The transport here is an
// in-process stand-in that lets the test answer each message when it wants (the session's only I/O).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { GoalStateOperationReply } from '../../proto';
import { StateCache, type HostChange, type HostResult } from '../store/store';
import { ControlError } from '../resources';
import { DEFAULT_STREAM_OPTIONS } from './agent-stream';
import type { HostTransport } from './host-transport';
import { HostSession } from './host-session';
import { ALL_SUCCEEDED } from './nats-link';

const HOST = '10.0.0.1';

interface Sent {
  readonly message: Buffer;
  readonly resolve: (r: GoalStateOperationReply) => void;
  readonly reject: (e: unknown) => void;
}

class HeldTransport implements HostTransport {
  readonly sent: Sent[] = [];
  state = 'connected';
  lastError = '';
  onConnected: () => void = () => undefined;
  onFailure: (reason: string) => void = () => undefined;
  start(): void {
    queueMicrotask(() => this.onConnected());
  }
  stop(): void {}
  connected(): boolean {
    return true;
  }
  brokered(): boolean {
    return true;
  }
  send(message: Buffer): Promise<GoalStateOperationReply> {
    return new Promise((resolve, reject) => this.sent.push({ message, resolve, reject }));
  }
}

function session(): { s: HostSession; t: HeldTransport; results: HostResult[] } {
  const cache = new StateCache();
  cache.setHost(HOST, { version: 5, keys: new Set() });
  const t = new HeldTransport();
  const results: HostResult[] = [];
  const s = new HostSession(HOST, 'nats', {
    cache,
    streamOptions: DEFAULT_STREAM_OPTIONS,
    mayPush: () => true,
    onResult: (r) => results.push(r),
    onPushed: () => undefined,
    onFailure: () => undefined,
    transport: () => t,
  });
  return { s, t, results };
}

const change = (version: number): HostChange => ({ host: HOST, version, keys: [], deletes: new Map(), origin: 'r1' });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A VPC-wide send whose answer the test gives. */
function shared(): { p: Promise<GoalStateOperationReply>; answer: (e?: unknown) => void } {
  let answer: (e?: unknown) => void = () => undefined;
  const p = new Promise<GoalStateOperationReply>((resolve, reject) => {
    answer = (e) => (e === undefined ? resolve(ALL_SUCCEEDED) : reject(e));
  });
  return { p, answer };
}

test("a VPC-wide answer waits for the host's older full push, then both report in order", async () => {
  const { s, t, results } = session();
  s.start();
  await tick();
  assert.is(t.sent.length, 1, 'the full push (version 5) is out');
  const v = shared();
  s.enqueue(change(6), v.p);
  v.answer();
  await tick();
  assert.equal(results, [], 'version 6 is not reported while version 5 is unanswered');
  t.sent[0]?.resolve(ALL_SUCCEEDED);
  await tick();
  assert.equal(
    results.map((r) => r.version),
    [5, 6],
  );
});

test("an own message whose reply was lost is answered by the host's next own reply", async () => {
  const { s, t, results } = session();
  s.start();
  await tick();
  t.sent[0]?.resolve(ALL_SUCCEEDED);
  s.enqueue(change(6));
  s.enqueue(change(7));
  await tick();
  assert.is(t.sent.length, 3, 'through a broker each change goes as it comes');
  t.sent[1]?.reject(new ControlError('STREAM_BROKEN', 'no reply through NATS within 1 ms'));
  t.sent[2]?.resolve(ALL_SUCCEEDED);
  await tick();
  assert.equal(
    results.map((r) => r.version),
    [5, 7],
  );
});

test('a VPC-wide message lost in transit is sent again in a full push, whose answer reports', async () => {
  const { s, t, results } = session();
  s.start();
  await tick();
  t.sent[0]?.resolve(ALL_SUCCEEDED);
  await tick();
  const v = shared();
  s.enqueue(change(6), v.p);
  s.enqueue(change(7));
  await tick();
  v.answer(new ControlError('STREAM_BROKEN', 'no reply through NATS within 1 ms'));
  await tick();
  assert.is(t.sent.length, 3, 'version 7 on its own subject, then a full push');
  t.sent[1]?.resolve(ALL_SUCCEEDED);
  await tick();
  assert.equal(
    results.map((r) => r.version),
    [5],
    'version 7 waits: version 6 is not applied yet',
  );
  t.sent[2]?.resolve(ALL_SUCCEEDED);
  await tick();
  assert.equal(
    results.map((r) => r.version),
    [5, 7],
    'the full push (everything up to 7) reports',
  );
});

test.run();
