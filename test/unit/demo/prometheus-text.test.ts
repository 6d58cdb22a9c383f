import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { parsePrometheusText, sumBy } from '../../../src/demo/prometheus-text';

test("reads prom-client's own exposition back: names, labels (escaped values too) and values", async () => {
  const registry = new Registry();
  const c = new Counter({ name: 'istio_requests_total', help: 'h', labelNames: ['destination_version', 'response_code', 'odd'], registers: [registry] });
  c.inc({ destination_version: 'v1', response_code: '200', odd: 'a"b\\c\nd' }, 3);
  c.inc({ destination_version: 'v3', response_code: '200', odd: '' }, 2);
  c.inc({ destination_version: 'v3', response_code: '503', odd: '' });
  const samples = parsePrometheusText(await registry.metrics());
  assert.deepEqual(samples.find((s) => s.labels.destination_version === 'v1'), {
    name: 'istio_requests_total',
    labels: { destination_version: 'v1', response_code: '200', odd: 'a"b\\c\nd' },
    value: 3,
  });
  assert.deepEqual(
    sumBy(samples, 'istio_requests_total', ['destination_version']).map((s) => [s.labels.destination_version, s.value]),
    [['v1', 3], ['v3', 3]],
  );
  assert.deepEqual(sumBy(samples, 'istio_requests_total', ['response_code'], (l) => l.destination_version === 'v3').map((s) => s.value), [2, 1]);
});

test('comments, blank lines and timestamps; +Inf', () => {
  const s = parsePrometheusText('# HELP x y\n\nx_bucket{le="+Inf"} 7 1700000000000\nup 1\n');
  assert.deepEqual(s, [
    { name: 'x_bucket', labels: { le: '+Inf' }, value: 7 },
    { name: 'up', labels: {}, value: 1 },
  ]);
});
