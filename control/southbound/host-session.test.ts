// The host session's merging of waiting deltas: what one message carries when several commits wait behind a
// busy agent. Driven through a transport that records each message and answers when the test says so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GoalStateV2, GoalStateOperationReply, NeighborState, OperationStatus, OperationType } from '../../proto';
import { HostChange, HostResult, StateCache } from '../store/store';
import { HostSession, mergeDeltas } from './host-session';
import type { HostTransport } from './host-transport';
import { DEFAULT_STREAM_OPTIONS } from './agent-stream';
import { ALL_SUCCEEDED } from './nats-link';

const neighbor = (id: string, op = OperationType.CREATE): Uint8Array =>
  NeighborState.encode(
    NeighborState.fromPartial({
      operationType: op,
      configuration: { id, vpcId: 'v', macAddress: '02:00:00:00:00:01' },
    }),
  ).finish();

class ManualTransport implements HostTransport {
  state = 'ready';
  lastError = '';
  onConnected: () => void = () => undefined;
  onFailure: (reason: string) => void = () => undefined;
  readonly sent: GoalStateV2[] = [];
  private readonly answers: Array<(r: GoalStateOperationReply) => void> = [];
  start(): void {
    this.onConnected();
  }
  stop(): void {}
  connected(): boolean {
    return true;
  }
  send(message: Buffer): Promise<GoalStateOperationReply> {
    this.sent.push(GoalStateV2.decode(message));
    return new Promise((resolve) => this.answers.push(resolve));
  }
  /** Answers the oldest unanswered message: everything applied. */
  answer(): void {
    this.answers.shift()?.(ALL_SUCCEEDED);
  }
}

const flushed = (): Promise<void> => new Promise((r) => setImmediate(r));

function session(cache: StateCache): {
  s: HostSession;
  t: ManualTransport;
  results: HostResult[];
  cancelled: number[];
} {
  const t = new ManualTransport();
  const results: HostResult[] = [];
  const cancelled: number[] = [];
  const s = new HostSession('10.0.0.1', 'unused:1', {
    cache,
    streamOptions: DEFAULT_STREAM_OPTIONS,
    mayPush: () => true,
    onResult: (r) => results.push(r),
    onPushed: () => undefined,
    onCancelled: (n) => cancelled.push(n),
    onFailure: () => undefined,
    transport: () => t,
  });
  return { s, t, results, cancelled };
}

const change = (version: number, keys: string[], deletes: [string, Uint8Array][], added?: string[]): HostChange => ({
  host: '10.0.0.1',
  version,
  keys,
  deletes: new Map(deletes),
  origin: 'r',
  ...(added === undefined ? {} : { added }),
});

test('merge: a push of a key new to the host and its retraction, both unsent, send neither', () => {
  const gone = neighbor('n1', OperationType.DELETE);
  const m = mergeDeltas([
    { version: 1, keys: ['neighbor/n1', 'port/p1'], deletes: new Map(), added: ['neighbor/n1', 'port/p1'] },
    { version: 2, keys: [], deletes: new Map([['neighbor/n1', gone]]) },
  ]);
  assert.equal(m.keys, ['port/p1']);
  assert.is(m.deletes.size, 0);
  assert.equal([...m.cancelled], ['neighbor/n1']);
  assert.is(m.version, 2);
});

test('merge: a retraction of a key the host held before, or of one not known to be new, is still sent', () => {
  const gone = neighbor('n1', OperationType.DELETE);
  // Put as an update of a key the host had (not in `added`): the agent holds it and must drop it.
  const held = mergeDeltas([
    { version: 1, keys: ['neighbor/n1'], deletes: new Map(), added: [] },
    { version: 2, keys: [], deletes: new Map([['neighbor/n1', gone]]) },
  ]);
  assert.equal([...held.deletes.keys()], ['neighbor/n1']);
  assert.is(held.cancelled.size, 0);
  // No `added` (the etcd store's feed): nothing is assumed.
  const unknown = mergeDeltas([
    { version: 1, keys: ['neighbor/n1'], deletes: new Map() },
    { version: 2, keys: [], deletes: new Map([['neighbor/n1', gone]]) },
  ]);
  assert.equal([...unknown.deletes.keys()], ['neighbor/n1']);
  // Deleted first (the agent had it), then put back new, then deleted again: the delete goes.
  const back = mergeDeltas([
    { version: 1, keys: [], deletes: new Map([['neighbor/n1', gone]]) },
    { version: 2, keys: ['neighbor/n1'], deletes: new Map(), added: ['neighbor/n1'] },
    { version: 3, keys: [], deletes: new Map([['neighbor/n1', gone]]) },
  ]);
  assert.equal([...back.deletes.keys()], ['neighbor/n1']);
  // Cancelled, then pushed again: the push goes.
  const again = mergeDeltas([
    { version: 1, keys: ['neighbor/n1'], deletes: new Map(), added: ['neighbor/n1'] },
    { version: 2, keys: [], deletes: new Map([['neighbor/n1', gone]]) },
    { version: 3, keys: ['neighbor/n1'], deletes: new Map(), added: ['neighbor/n1'] },
  ]);
  assert.equal(again.keys, ['neighbor/n1']);
  assert.is(again.deletes.size, 0);
  assert.is(again.cancelled.size, 0);
});

test('session: neighbors pushed and retracted behind a busy agent never reach it; the result says SUCCESS', async () => {
  const cache = new StateCache();
  for (const id of ['p1', 'n1', 'n2']) cache.putResource(`${id === 'p1' ? 'port' : 'neighbor'}/${id}`, neighbor(id));
  const { s, t, results, cancelled } = session(cache);
  s.start();
  await flushed();
  assert.is(t.sent.length, 1, 'the full push on connection');
  // While that message is in flight: a port and two neighbors new to the host, then the VPC passes the
  // neighbor limit and the neighbors are retracted.
  s.enqueue(change(1, ['port/p1', 'neighbor/n1', 'neighbor/n2'], [], ['port/p1', 'neighbor/n1', 'neighbor/n2']));
  s.enqueue(
    change(
      2,
      [],
      [
        ['neighbor/n1', neighbor('n1', OperationType.DELETE)],
        ['neighbor/n2', neighbor('n2', OperationType.DELETE)],
      ],
    ),
  );
  assert.is(t.sent.length, 1, 'nothing more while a message is in flight');
  t.answer();
  await flushed();
  assert.is(t.sent.length, 2);
  const merged = t.sent[1] as GoalStateV2;
  assert.equal(Object.keys(merged.portStates), ['p1']);
  assert.equal(Object.keys(merged.neighborStates), [], 'neither the push nor the retraction was sent');
  assert.equal(cancelled, [2]);
  t.answer();
  await flushed();
  const last = results[results.length - 1] as HostResult;
  assert.is(last.version, 2);
  const n1 = last.statuses.find((x) => x.resourceId === 'n1');
  assert.is(n1?.operationStatus, OperationStatus.SUCCESS);
  assert.is(n1?.operationType, OperationType.DELETE);
  assert.is(s.pendingCount(), 0);
  s.stop();
});

test.run();
