import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, percentile, ratio, spread } from '../../../src/bench/statistics';

test('median of odd and even counts, independent of order', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.throws(() => median([]), /no values/);
});

test('spread: median, min, max; the IQR only from four values on; non-finite values ignored', () => {
  assert.deepEqual(spread([10, 30, 20]), { n: 3, median: 20, min: 10, max: 30 });
  assert.deepEqual(spread([1, 2, 3, 4, 5]), { n: 5, median: 3, min: 1, max: 5, iqr: [2, 4] });
  assert.deepEqual(spread([5, Number.NaN, Infinity]), { n: 1, median: 5, min: 5, max: 5 });
  assert.equal(spread([]), undefined);
});

test('percentile is nearest-rank: a value that was measured, never an interpolation', () => {
  const samples = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentile(samples, 50), 50);
  assert.equal(percentile(samples, 99), 99);
  assert.equal(percentile(samples, 99.9), 100);
  assert.equal(percentile(samples, 100), 100);
  assert.equal(percentile([9, 1, 5], 50), 5);
  assert.throws(() => percentile([1], 0), /outside/);
  assert.throws(() => percentile([], 50), /no samples/);
});

test('ratio is undefined when there is nothing to divide by', () => {
  assert.equal(ratio(3, 4), 0.75);
  assert.equal(ratio(3, 0), undefined);
  assert.equal(ratio(undefined, 2), undefined);
  assert.equal(ratio(2, undefined), undefined);
});
