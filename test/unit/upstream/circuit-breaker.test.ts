import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitBreakers, DEFAULT_LIMITS } from '../../../src/upstream/circuit-breaker';

test('admission: connections in use, then the pending queue, then overflow', () => {
  const cb = new CircuitBreakers({ ...DEFAULT_LIMITS, maxConnections: 2, maxPendingRequests: 1 });
  assert.equal(cb.admit(0, 0), 'admitted');
  assert.equal(cb.admit(1, 0), 'admitted');
  assert.equal(cb.admit(2, 0), 'pending');
  assert.equal(cb.admit(2, 1), 'overflow_pending');
  const rq = new CircuitBreakers({ ...DEFAULT_LIMITS, maxRequests: 3 });
  assert.equal(rq.admit(2, 0), 'admitted');
  assert.equal(rq.admit(3, 0), 'overflow_requests');
  assert.equal(new CircuitBreakers({ ...DEFAULT_LIMITS, maxConnections: 1, maxPendingRequests: 0 }).admit(1, 0), 'overflow_pending');
});

test('retries: a fixed maximum, or a budget with a floor', () => {
  const fixed = new CircuitBreakers({ ...DEFAULT_LIMITS, maxRetries: 2 });
  assert.equal(fixed.allowRetry(1, 100), true);
  assert.equal(fixed.allowRetry(2, 100), false);
  const budget = new CircuitBreakers({ ...DEFAULT_LIMITS, maxRetries: 0, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } });
  assert.equal(budget.allowRetry(2, 5), true, 'floor of 3');
  assert.equal(budget.allowRetry(3, 5), false);
  assert.equal(budget.allowRetry(19, 100), true, '20% of 100');
  assert.equal(budget.allowRetry(20, 100), false);
});

test('TCP connections', () => {
  const cb = new CircuitBreakers({ ...DEFAULT_LIMITS, maxConnections: 1 });
  assert.equal(cb.allowConnection(0), true);
  assert.equal(cb.allowConnection(1), false);
});
