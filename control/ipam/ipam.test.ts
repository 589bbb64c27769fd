import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCidr } from '../../core/goalstate/addr';
import { Cidr } from '../../core/model';
import { RecordEntry, RecordTxn } from '../resources/record-store';
import { allocateIp, allocateVni, cidrInside, cidrsOverlap, claimIp, claimMac, hostRange, releaseIp } from './ipam';

const cidr = (t: string): Cidr => parseCidr(t) as Cidr;

function commit(view: Map<string, RecordEntry>, tx: RecordTxn, rev: number): void {
  for (const [k, v] of tx.puts) view.set(k, { value: v, modRev: rev, createRev: rev });
  for (const k of tx.deletes) view.delete(k);
  tx.finish();
}

test('host range excludes network and broadcast', () => {
  const r = hostRange(cidr('10.0.0.0/29'));
  assert.is(r.last - r.first + 1, 6);
});

test('allocation skips the gateway and used addresses, then reports an exhausted pool', () => {
  const view = new Map<string, RecordEntry>();
  const c = cidr('10.7.0.0/29');
  const gw = c.addr + 1;
  view.set('ip/s/10.7.0.3', { value: 'other', modRev: 1, createRev: 1 });
  const got: string[] = [];
  for (let i = 0; i < 4; i++) {
    const tx = new RecordTxn(view, 1, 0);
    got.push(allocateIp(tx, 's-unit', c, gw, `p${i}`));
    // The chosen key is compared absent on commit: a racing writer makes the commit fail, never duplicate.
    assert.is(tx.reads.get(`ip/s-unit/${got[i] as string}`), 0);
    commit(view, tx, 2 + i);
  }
  assert.equal(got, ['10.7.0.2', '10.7.0.3', '10.7.0.4', '10.7.0.5']);
  view.set('ip/s-unit/10.7.0.6', { value: 'x', modRev: 9, createRev: 9 });
  const tx = new RecordTxn(view, 9, 0);
  try {
    allocateIp(tx, 's-unit', c, gw, 'late');
    assert.unreachable('pool should be exhausted');
  } catch (err: unknown) {
    assert.is((err as { code: string }).code, 'POOL_EXHAUSTED');
  }
});

test('concurrent transactions of one process never pick the same address', () => {
  const view = new Map<string, RecordEntry>();
  const c = cidr('10.9.0.0/24');
  const a = new RecordTxn(view, 1, 1); // retries start at random places
  const b = new RecordTxn(view, 1, 1);
  const ips = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const t = i % 2 === 0 ? a : b;
    ips.add(allocateIp(t, 's-conc', c, c.addr + 1, `p${i}`));
  }
  assert.is(ips.size, 50);
  a.finish();
  b.finish();
});

test('claims conflict with another owner, not with the same one; releases compare the owner', () => {
  const view = new Map<string, RecordEntry>([
    ['ip/s/10.0.0.5', { value: 'p1', modRev: 3, createRev: 3 }],
    ['mac/fa:16:3e:00:00:01', { value: 'port:p1', modRev: 3, createRev: 3 }],
  ]);
  const tx = new RecordTxn(view, 3, 0);
  claimIp(tx, 's', '10.0.0.5', 'p1');
  assert.throws(() => claimIp(new RecordTxn(view, 3, 0), 's', '10.0.0.5', 'p2'), /already used/);
  assert.throws(() => claimMac(new RecordTxn(view, 3, 0), 'fa:16:3e:00:00:01', 'port:p2'), /already used/);
  const rel = new RecordTxn(view, 3, 0);
  releaseIp(rel, 's', '10.0.0.5', 'p1');
  assert.ok(rel.deletes.has('ip/s/10.0.0.5'));
  assert.is(rel.reads.get('ip/s/10.0.0.5'), 3, 'the delete commits only while p1 still owns it');
  const wrong = new RecordTxn(view, 3, 0);
  releaseIp(wrong, 's', '10.0.0.5', 'p2');
  assert.is(wrong.deletes.size, 0);
});

test('VNIs are allocated from 1 up, skipping used ones', () => {
  const view = new Map<string, RecordEntry>([['vni/1', { value: 'vpc:a', modRev: 1, createRev: 1 }]]);
  const tx = new RecordTxn(view, 1, 0);
  const v = allocateVni(tx, 'vpc:b');
  assert.ok(v >= 2);
  tx.finish();
});

test('CIDR overlap and containment', () => {
  assert.ok(cidrsOverlap(cidr('10.0.0.0/16'), cidr('10.0.5.0/24')));
  assert.not.ok(cidrsOverlap(cidr('10.0.0.0/24'), cidr('10.0.1.0/24')));
  assert.ok(cidrInside(cidr('10.0.5.0/24'), cidr('10.0.0.0/16')));
  assert.not.ok(cidrInside(cidr('10.0.0.0/8'), cidr('10.0.0.0/16')));
});

test.run();
