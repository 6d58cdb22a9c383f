import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRatio, formatValue } from '../../../../src/bench/report/number-format';

test('values: digits from the metric, else 0 from 100 up and 2 below; thousands grouped', () => {
  assert.equal(formatValue({}, 1234567.89), '1,234,568');
  assert.equal(formatValue({}, 12.345), '12.35');
  assert.equal(formatValue({ digits: 3 }, 0.4251), '0.425');
  assert.equal(formatValue({ digits: 1 }, 12345.67), '12,345.7');
  assert.equal(formatValue({ digits: 2 }, -0.001), '0.00');
  assert.equal(formatValue({}, -4321), '-4,321');
});

test('ratios as ×, one decimal from 10 up', () => {
  assert.equal(formatRatio(0.8512), '0.85×');
  assert.equal(formatRatio(1), '1.00×');
  assert.equal(formatRatio(12.34), '12.3×');
});
