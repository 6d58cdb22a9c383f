import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EndpointSet } from '../../../src/upstream/endpoint-set';
import type { EndpointSpec } from '../../../src/upstream/endpoint';
import { RoundRobinLoadBalancer } from '../../../src/upstream/round-robin';
import { LeastRequestLoadBalancer } from '../../../src/upstream/least-request';
import { RandomLoadBalancer } from '../../../src/upstream/random';
import { hashKey, RingHashLoadBalancer } from '../../../src/upstream/ring-hash';
import { seededRandom } from '../../../src/upstream/random-source';

const eps = (n: number, weight = (_i: number) => 1): EndpointSpec[] =>
  Array.from({ length: n }, (_, i) => ({ address: `198.18.0.${i + 1}`, port: 9080, labels: {}, weight: weight(i) }));

function counts(pick: () => string | undefined, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = pick() ?? 'none';
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

test('ROUND_ROBIN visits endpoints in turn and skips ejected ones', () => {
  const set = new EndpointSet(eps(3));
  const lb = new RoundRobinLoadBalancer();
  assert.deepEqual(Array.from({ length: 6 }, () => lb.pick(set)!.key), [
    '198.18.0.1:9080', '198.18.0.2:9080', '198.18.0.3:9080', '198.18.0.1:9080', '198.18.0.2:9080', '198.18.0.3:9080',
  ]);
  set.all[1]!.ejected = true;
  set.healthChanged();
  const seen = new Set(Array.from({ length: 4 }, () => lb.pick(set)!.key));
  assert.deepEqual([...seen].sort(), ['198.18.0.1:9080', '198.18.0.3:9080']);
  for (const ep of set.all) ep.ejected = true;
  set.healthChanged();
  assert.equal(lb.pick(set), undefined);
});

test('ROUND_ROBIN with weights is smooth and proportional (3:1 → a a b a, never bursts)', () => {
  const set = new EndpointSet(eps(2, (i) => (i === 0 ? 3 : 1)));
  const lb = new RoundRobinLoadBalancer();
  const seq = Array.from({ length: 8 }, () => lb.pick(set)!.address.address.slice(-1));
  assert.deepEqual(seq, ['1', '1', '2', '1', '1', '1', '2', '1']);
});

test('LEAST_REQUEST (power of two choices) prefers the less loaded of two random endpoints', () => {
  const set = new EndpointSet(eps(2));
  const lb = new LeastRequestLoadBalancer(seededRandom(7));
  set.all[0]!.stats.rq_active = 5;
  const c = counts(() => lb.pick(set)!.key, 100);
  assert.equal(c.get('198.18.0.2:9080'), 100, 'with two endpoints both are always compared: the idle one wins');
  const many = new EndpointSet(eps(10));
  many.all[3]!.stats.rq_active = 100;
  const lb2 = new LeastRequestLoadBalancer(seededRandom(1));
  const c2 = counts(() => lb2.pick(many)!.key, 2000);
  assert.equal(c2.get('198.18.0.4:9080'), undefined, 'the busy endpoint loses every comparison');
  assert.equal(c2.size, 9, 'the others share the load');
  for (const v of c2.values()) assert.ok(v > 150 && v < 300, `spread: ${[...c2.values()]}`);
});

test('RANDOM is uniform, or weight-proportional', () => {
  const set = new EndpointSet(eps(4));
  const lb = new RandomLoadBalancer(seededRandom(3));
  const c = counts(() => lb.pick(set)!.key, 8000);
  for (const v of c.values()) assert.ok(Math.abs(v - 2000) < 200, `uniform within 10%: ${[...c.values()]}`);
  const weighted = new EndpointSet(eps(2, (i) => (i === 0 ? 1 : 4)));
  const c2 = counts(() => lb.pick(weighted)!.key, 10_000);
  const share = (c2.get('198.18.0.2:9080') ?? 0) / 10_000;
  assert.ok(Math.abs(share - 0.8) < 0.02, `weight 4 of 5 → 80%, got ${share}`);
});

test('RING_HASH: the same key always lands on the same endpoint; removing one endpoint moves only its keys', () => {
  const set = new EndpointSet(eps(5));
  const lb = new RingHashLoadBalancer(seededRandom(1), 1024);
  const keys = Array.from({ length: 2000 }, (_, i) => hashKey(`user-${i}`));
  const before = keys.map((h) => lb.pick(set, h)!.key);
  assert.deepEqual(keys.map((h) => lb.pick(set, h)!.key), before, 'deterministic');
  const per = counts((() => { let i = 0; return () => before[i++]; })(), keys.length);
  for (const v of per.values()) assert.ok(v > 250 && v < 550, `keys spread over endpoints: ${[...per.values()]}`);
  // Eject 198.18.0.3: only its keys move.
  set.all[2]!.ejected = true;
  set.healthChanged();
  const after = keys.map((h) => lb.pick(set, h)!.key);
  keys.forEach((_, i) => {
    if (before[i] !== '198.18.0.3:9080') assert.equal(after[i], before[i], 'keys of other endpoints stay');
    else assert.notEqual(after[i], '198.18.0.3:9080');
  });
  set.all[2]!.ejected = false;
  set.healthChanged();
  assert.deepEqual(keys.map((h) => lb.pick(set, h)!.key), before, 'its keys come back when it returns');
  assert.ok(lb.size >= 1024);
  assert.ok(lb.pick(set, undefined), 'no key: a random point');
});

test('hashKey is stable and spreads', () => {
  assert.equal(hashKey('jason'), hashKey('jason'));
  assert.notEqual(hashKey('jason'), hashKey('jasom'));
  const buckets = new Array(16).fill(0);
  for (let i = 0; i < 16_000; i++) buckets[hashKey(`k${i}`) >>> 28] += 1;
  for (const b of buckets) assert.ok(b > 800 && b < 1200, `top 4 bits uniform: ${buckets}`);
});
