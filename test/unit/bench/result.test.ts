import assert from 'node:assert/strict';
import { test } from 'node:test';
import { syntheticResult, FACTORS } from '../../support/bench-result';

const result = syntheticResult();
const metric = (scenario: string, key: string) => {
  const s = result.summary.find((x) => x.scenario === scenario)!;
  return s.metrics.find((m) => m.spec.key === key)!;
};

test('medians and min–max per mode over the repetitions', () => {
  const rps = metric('keep-alive', 'rps');
  const hook = rps.byMode['tproxy+hook']!;
  assert.equal(hook.n, 3);
  assert.ok(Math.abs(hook.median - 40000 * FACTORS['tproxy+hook']) < 1e-6);
  assert.ok(hook.min < hook.median && hook.median < hook.max);
});

test('ratios to direct and to the peer (haproxy for TCP, haproxy-http for L7)', () => {
  const rps = metric('keep-alive', 'rps');
  assert.ok(Math.abs(rps.toDirect['tproxy+hook']! - 0.4) < 1e-9);
  assert.ok(Math.abs(rps.toPeer['tproxy+hook']! - 0.8) < 1e-9);
  assert.equal(rps.toPeer.haproxy, undefined, 'the peer is not compared with itself');
  assert.equal(rps.toPeer.direct, undefined);
  const l7 = metric('l7', 'rps');
  assert.ok(Math.abs(l7.toPeer['tproxy+hook']! - 0.4 / 0.45) < 1e-9);
  assert.deepEqual(result.summary.find((s) => s.scenario === 'l7')!.modes, ['direct', 'tproxy+hook', 'haproxy-http']);
});

test('proxy-only metrics have no ratio to direct; a zero direct value gives none either', () => {
  const cpu = metric('keep-alive', 'proxy_cpu_us_per_req');
  assert.deepEqual(cpu.toDirect, {});
  assert.equal(cpu.byMode.direct, undefined);
  assert.ok(cpu.toPeer.redirect! > 1);
  assert.deepEqual(metric('conntrack', 'per1000').toDirect, {});
});

test('failed cells are counted per mode and left out of the statistics', () => {
  const churn = result.summary.find((s) => s.scenario === 'churn')!;
  assert.deepEqual(churn.failures, { tproxy: 1 });
  assert.equal(metric('churn', 'cps').byMode.tproxy!.n, 2);
});
