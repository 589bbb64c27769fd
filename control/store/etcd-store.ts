// Sharded-mode desired-state store in etcd. Layout under the prefix P:
//   P res/<kind>/<id>   encoded XState (each resource once, however many hosts reference it)
//   P host/<ip>         JSON {k: all keys, c: keys changed by the last commit, d: {key: DELETE state b64}, o: origin}
//   P agent/<ip>        agent gRPC address
//   P result/<ip>       JSON HostResult: the owner's latest apply result (read by the replica that accepted it)
//   P repush/<ip>       bumped to ask the host's owner for a full re-push
//   P members/<id>      replicas (sharding/etcd-membership.ts, under each replica's lease)
//
// Every replica loads P once and then follows ONE watch on P, so it sees resources before the host documents
// that reference them (etcd delivers a prefix watch in revision order). The cache is only ever updated from
// that feed, and a commit resolves only after the feed has caught up with it, so the next commit plans
// against what is really stored. Host documents are written with a compare on their mod revision: a
// concurrent commit from another replica makes ours re-plan instead of silently dropping its keys.
import { ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import { Etcd3, IKeyValue, IRequestOp, IWatchResponse, Watcher, isRecoverableError } from 'etcd3';
import { EventEmitter } from 'node:events';
import { Logger } from '../log';
import { ControlError, ParsedGoalState } from '../resources';
import { CommitPlan, ControlStore, HostResult, keysAfter, planCommit, StateCache, StoreEvents } from './store';

export interface EtcdStoreOptions {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly replicaId: string;
  readonly log: Logger;
  /** Deadline of one etcd call: past it a commit fails as not durable. */
  readonly callTimeoutMs?: number;
}

interface HostDoc {
  readonly k: readonly string[];
  readonly c: readonly string[];
  readonly d: Readonly<Record<string, string>>;
  readonly o: string;
}

const TXN_OPS = 100; // etcd's --max-txn-ops defaults to 128
const PARALLEL_TXNS = 4;
const TXN_ATTEMPTS = 3;
const COMMIT_RETRIES = 5;
/** How long an etcd host that failed is left alone before a call probes it again. */
const ETCD_PROBE_AFTER_MS = 500;

function unavailable(err: unknown): ControlError {
  if (err instanceof ControlError) return err;
  return new ControlError('STORE_UNAVAILABLE', `etcd: ${(err as Error).message}`);
}

async function inBatches<T>(
  items: readonly T[],
  size: number,
  fn: (batch: readonly T[]) => Promise<void>,
): Promise<void> {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) await fn(batches[next++] as T[]);
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_TXNS, batches.length) }, worker));
}

export class EtcdStore implements ControlStore {
  readonly kind = 'etcd' as const;
  readonly cache = new StateCache();
  readonly events = new EventEmitter<StoreEvents>();
  readonly client: Etcd3;
  private watcher: Watcher | null = null;
  private seenRevision = 0;
  private catchUp: Array<{ rev: number; resolve: () => void }> = [];
  private chain: Promise<unknown> = Promise.resolve();
  private ok = true;
  private pendingResults = new Map<string, HostResult>();
  private resultTimer: NodeJS.Timeout | null = null;
  private readonly p: string;

  constructor(private readonly opts: EtcdStoreOptions) {
    this.p = opts.prefix;
    const timeout = opts.callTimeoutMs ?? 5000;
    this.client = new Etcd3({
      hosts: [...opts.endpoints],
      dialTimeout: timeout,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      // etcd3's default opens a host's circuit for 5 s after 3 failures, and a failed probe opens it again:
      // after a short etcd outage every write was refused for 13 s more (control/faults.test.ts). Probe again
      // after half a second instead; a write still fails at once while the circuit is open.
      faultHandling: {
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: ETCD_PROBE_AFTER_MS,
            breaker: new ConsecutiveBreaker(3),
          }),
      },
    });
  }

  async start(): Promise<void> {
    let res;
    try {
      res = await this.client.getAll().prefix(this.p).exec();
    } catch (err: unknown) {
      throw unavailable(err);
    }
    for (const kv of res.kvs) this.applyPut(kv, false);
    this.seenRevision = Number(res.header.revision);
    this.watcher = await this.client
      .watch()
      .prefix(this.p)
      .startRevision(String(this.seenRevision + 1))
      .create();
    this.watcher.on('data', (r: IWatchResponse) => this.onWatch(r));
    this.watcher.on('disconnected', () => {
      this.ok = false;
      this.opts.log.warn('etcd watch disconnected');
    });
    this.watcher.on('connected', () => {
      this.ok = true;
    });
    this.watcher.on('error', (err) => this.opts.log.warn('etcd watch error', { error: err.message }));
  }

  private onWatch(r: IWatchResponse): void {
    for (const ev of r.events) {
      if (ev.type === 'Put') this.applyPut(ev.kv, true);
      else this.applyDelete(ev.kv);
    }
    const rev = Number(r.header.revision);
    if (rev > this.seenRevision) this.seenRevision = rev;
    if (this.catchUp.length > 0) {
      const ready = this.catchUp.filter((c) => c.rev <= this.seenRevision);
      this.catchUp = this.catchUp.filter((c) => c.rev > this.seenRevision);
      for (const c of ready) c.resolve();
    }
  }

  private caughtUp(rev: number, timeoutMs = 15000): Promise<void> {
    if (this.seenRevision >= rev) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ControlError('STORE_UNAVAILABLE', `etcd watch did not reach revision ${rev}`)),
        timeoutMs,
      );
      this.catchUp.push({
        rev,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private applyPut(kv: IKeyValue, live: boolean): void {
    const key = kv.key.toString('utf8');
    if (!key.startsWith(this.p)) return;
    const rest = key.slice(this.p.length);
    const slash = rest.indexOf('/');
    const coll = rest.slice(0, slash);
    const name = rest.slice(slash + 1);
    switch (coll) {
      case 'res':
        this.cache.putResource(name, kv.value);
        return;
      case 'host': {
        let doc: HostDoc;
        try {
          doc = JSON.parse(kv.value.toString('utf8')) as HostDoc;
        } catch {
          this.opts.log.warn('ignoring unparsable host document', { host: name });
          return;
        }
        const version = Number(kv.mod_revision);
        this.cache.setHost(name, { version, keys: new Set(doc.k) });
        if (live) {
          const deletes = new Map(Object.entries(doc.d).map(([k, b]) => [k, Buffer.from(b, 'base64')] as const));
          this.events.emit('hostChange', { host: name, version, keys: doc.c, deletes, origin: doc.o });
        }
        return;
      }
      case 'agent': {
        const address = kv.value.toString('utf8');
        this.cache.agents.set(name, address);
        if (live) this.events.emit('agentChange', name, address);
        return;
      }
      case 'result':
        if (live) {
          try {
            this.events.emit('result', JSON.parse(kv.value.toString('utf8')) as HostResult);
          } catch {
            // a bad result only costs a waiter its statuses
          }
        }
        return;
      case 'repush':
        if (live) this.events.emit('repush', name);
        return;
      default:
        return; // members/ and anything else: not ours
    }
  }

  private applyDelete(kv: IKeyValue): void {
    const key = kv.key.toString('utf8');
    const rest = key.slice(this.p.length);
    const slash = rest.indexOf('/');
    const coll = rest.slice(0, slash);
    const name = rest.slice(slash + 1);
    if (coll === 'res') this.cache.deleteResource(name);
    else if (coll === 'agent') {
      this.cache.agents.delete(name);
      this.events.emit('agentChange', name, null);
    } else if (coll === 'host') this.cache.setHost(name, { version: Number(kv.mod_revision), keys: new Set() });
  }

  private k(coll: string, name: string): Buffer {
    return Buffer.from(`${this.p}${coll}/${name}`, 'utf8');
  }

  private async txn(
    compare: Parameters<Etcd3['kv']['txn']>[0]['compare'],
    ops: IRequestOp[],
  ): Promise<{ ok: boolean; rev: number }> {
    // A failed call makes the etcd3 pool reset its channel, failing the calls queued on it with
    // "Channel closed before call started": retry those briefly (puts are idempotent; a CAS that did apply
    // fails its compare on retry and is re-planned by the caller).
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.client.kv.txn({ compare, success: ops });
        this.ok = true;
        return { ok: res.succeeded, rev: Number(res.header.revision) };
      } catch (err: unknown) {
        const msg = (err as Error).message ?? '';
        if (attempt < TXN_ATTEMPTS && /Channel closed|UNAVAILABLE|DEADLINE/i.test(msg)) {
          await new Promise((r) => setTimeout(r, 100 * attempt));
          continue;
        }
        this.ok = false;
        throw unavailable(err);
      }
    }
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  commit(gs: ParsedGoalState, origin: string): Promise<{ versions: ReadonlyMap<string, number>; plan: CommitPlan }> {
    return this.serialize(async () => {
      let plan = planCommit(this.cache, gs);
      const fullPlan = plan;
      // Each host document holds the host's whole key list, as planned against the cache of this moment.
      let after = new Map(plan.hosts.map((h) => [h.host, keysAfter(this.cache, h)]));
      // 1. resources (idempotent; unreferenced until a host document points at them)
      const puts = [...plan.puts];
      let maxRev = 0;
      await inBatches(puts, TXN_OPS, async (batch) => {
        const r = await this.txn(
          [],
          batch.map(([key, r]) => ({ request_put: { key: this.k('res', key), value: Buffer.from(r.state) } })),
        );
        maxRev = Math.max(maxRev, r.rev);
      });
      // 2. host documents, compare-and-swap on their mod revision
      const versions = new Map<string, number>();
      let todo = plan.hosts;
      for (let attempt = 0; todo.length > 0; attempt++) {
        if (attempt >= COMMIT_RETRIES)
          throw new ControlError('STORE_CONFLICT', `host documents kept changing under us (${todo.length} hosts)`);
        const conflicted = new Set<string>();
        await inBatches(todo, TXN_OPS, async (batch) => {
          const compare = batch.map((h) => ({
            key: this.k('host', h.host),
            target: 'Mod' as const,
            result: 'Equal' as const,
            mod_revision: String(this.cache.hosts.get(h.host)?.version ?? 0),
          }));
          const ops = batch.map((h) => {
            const doc: HostDoc = {
              k: [...(after.get(h.host) ?? [])],
              c: h.changed,
              d: Object.fromEntries([...h.deletes].map(([k, s]) => [k, Buffer.from(s).toString('base64')])),
              o: origin,
            };
            return { request_put: { key: this.k('host', h.host), value: Buffer.from(JSON.stringify(doc)) } };
          });
          const r = await this.txn(compare, ops);
          maxRev = Math.max(maxRev, r.rev);
          if (r.ok) for (const h of batch) versions.set(h.host, r.rev);
          else for (const h of batch) conflicted.add(h.host);
        });
        if (conflicted.size === 0) break;
        // someone else changed some of these hosts: wait until we see their write, then re-plan just those
        await this.caughtUp(maxRev);
        const again = new Map([...gs.hosts].filter(([h]) => conflicted.has(h)));
        plan = planCommit(this.cache, { resources: gs.resources, hosts: again });
        after = new Map(plan.hosts.map((h) => [h.host, keysAfter(this.cache, h)]));
        todo = plan.hosts;
      }
      await this.caughtUp(maxRev);
      // 3. resources nobody references any more
      const removes = fullPlan.removes.filter((k) => !this.cache.refs.has(k));
      if (removes.length > 0) {
        await inBatches(removes, TXN_OPS, async (batch) => {
          await this.txn(
            [],
            batch.map((key) => ({ request_delete_range: { key: this.k('res', key) } })),
          );
        });
      }
      return { versions, plan: fullPlan };
    });
  }

  async putAgents(agents: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const fresh = agents.filter(([h, a]) => this.cache.agents.get(h) !== a);
    let maxRev = 0;
    await inBatches(fresh, TXN_OPS, async (batch) => {
      const r = await this.txn(
        [],
        batch.map(([h, a]) => ({ request_put: { key: this.k('agent', h), value: Buffer.from(a) } })),
      );
      maxRev = Math.max(maxRev, r.rev);
    });
    if (maxRev > 0) await this.caughtUp(maxRev);
  }

  async deleteAgent(host: string): Promise<void> {
    const r = await this.txn([], [{ request_delete_range: { key: this.k('agent', host) } }]);
    await this.caughtUp(r.rev);
  }

  async requestRepush(host: string): Promise<void> {
    await this.txn([], [{ request_put: { key: this.k('repush', host), value: Buffer.from(this.opts.replicaId) } }]);
  }

  /** Results are coalesced for a few ms and written in batches: 1,000 hosts answering at once is 10 txns. */
  publishResult(result: HostResult, _origin: string): Promise<void> {
    this.pendingResults.set(result.host, result);
    if (this.resultTimer === null) {
      this.resultTimer = setTimeout(() => {
        this.resultTimer = null;
        const batch = [...this.pendingResults.values()];
        this.pendingResults.clear();
        inBatches(batch, TXN_OPS, async (b) => {
          await this.txn(
            [],
            b.map((r) => ({ request_put: { key: this.k('result', r.host), value: Buffer.from(JSON.stringify(r)) } })),
          );
        }).catch((err: unknown) => this.opts.log.warn('cannot publish results', { error: (err as Error).message }));
      }, 5);
    }
    return Promise.resolve();
  }

  healthy(): boolean {
    return this.ok;
  }

  async close(): Promise<void> {
    if (this.resultTimer !== null) clearTimeout(this.resultTimer);
    await this.chain.catch(() => undefined);
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }
}
