import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQuantity } from '../../../src/inject/quantity';

test('quantities parse to base units the way Kubernetes reads them', () => {
  const cases: [string, number][] = [
    ['2', 2],
    ['100m', 0.1],
    ['1500m', 1.5],
    ['.5', 0.5],
    ['128Mi', 128 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1G', 1e9],
    ['1k', 1000],
    ['1e3', 1000],
    ['2E-3', 0.002],
  ];
  for (const [text, value] of cases) assert.ok(Math.abs((parseQuantity(text) as number) - value) < 1e-9, `${text} → ${parseQuantity(text)}, expected ${value}`);
  assert.ok((parseQuantity('1Gi') as number) > (parseQuantity('1G') as number));
});

test('text that is not a quantity is undefined', () => {
  for (const text of ['', 'Mi', '1 Gi', '1GB', '1.5.0', '-1', '+1', '1KiB', 'half', '1e']) assert.equal(parseQuantity(text), undefined, text);
});
