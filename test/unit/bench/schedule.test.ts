import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planCells, rotate } from '../../../src/bench/schedule';
import type { ModeName } from '../../../src/bench/settings';

test('rotate moves the start by k, wrapping both ways', () => {
  assert.deepEqual(rotate(['a', 'b', 'c'], 1), ['b', 'c', 'a']);
  assert.deepEqual(rotate(['a', 'b', 'c'], 4), ['b', 'c', 'a']);
  assert.deepEqual(rotate(['a', 'b', 'c'], -1), ['c', 'a', 'b']);
  assert.deepEqual(rotate([], 3), []);
});

test('every mode runs a scenario once before any runs it again, and each repetition starts one mode later', () => {
  const modes: ModeName[] = ['direct', 'redirect', 'tproxy+hook'];
  const plan = planCells(['keep-alive', 'churn'], modes, 3, () => true);
  assert.equal(plan.length, 3 * 2 * 3);
  const order = (rep: number, scenario: string): ModeName[] => plan.filter((c) => c.repetition === rep && c.scenario === scenario).map((c) => c.mode);
  assert.deepEqual(order(0, 'keep-alive'), ['direct', 'redirect', 'tproxy+hook']);
  assert.deepEqual(order(1, 'keep-alive'), ['redirect', 'tproxy+hook', 'direct']);
  assert.deepEqual(order(2, 'churn'), ['tproxy+hook', 'direct', 'redirect']);
  // Cells of one scenario in one repetition are adjacent: modes alternate as closely as possible.
  const firstChurn = plan.findIndex((c) => c.scenario === 'churn');
  assert.deepEqual(plan.slice(firstChurn, firstChurn + 3).map((c) => c.scenario), ['churn', 'churn', 'churn']);
});

test('modes a scenario does not apply to are left out', () => {
  const plan = planCells(['l7', 'keep-alive'], ['direct', 'haproxy', 'haproxy-http'], 1, (s, m) => (s === 'l7' ? m !== 'haproxy' : m !== 'haproxy-http'));
  assert.deepEqual(
    plan.map((c) => `${c.scenario}/${c.mode}`),
    ['l7/direct', 'l7/haproxy-http', 'keep-alive/direct', 'keep-alive/haproxy'],
  );
});
