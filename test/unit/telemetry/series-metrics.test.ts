/**
 * The series metrics must be indistinguishable from prom-client's own Counter and Histogram: the same text
 * exposition and the same JSON (which the supervisor aggregates across workers) for the same observations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { SeriesCounter, SeriesHistogram, SeriesSet } from '../../../src/telemetry/series-metrics';

const BOUNDS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000];
const LABEL_NAMES = ['reporter', 'source_app', 'response_code'] as const;

type Obs = { labels: [number, number, number]; value: number; counter: number };

const obs = fc.record({
  labels: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1 })),
  value: fc.oneof(fc.double({ min: 0, max: 2000, noNaN: true }), fc.constantFrom(0, 0.5, 1, 1000, 1000.0001)),
  counter: fc.integer({ min: 1, max: 5000 }),
});

function labelsOf(o: Obs): Record<string, string> {
  return { reporter: ['source', 'destination', 'x"y'][o.labels[0]]!, source_app: ['a', 'b', 'c\\d'][o.labels[1]]!, response_code: ['200', '503'][o.labels[2]]! };
}

function both(observations: readonly Obs[]): { ours: Registry; theirs: Registry } {
  const theirs = new Registry();
  const c = new Counter({ name: 'x_total', help: 'h', labelNames: LABEL_NAMES, registers: [theirs] });
  const h = new Histogram({ name: 'x_ms', help: 'h', labelNames: LABEL_NAMES, buckets: BOUNDS, registers: [theirs] });
  const ours = new Registry();
  const set = new SeriesSet(1, 1);
  ours.registerMetric(new SeriesCounter('x_total', 'h', set, 0) as never);
  ours.registerMetric(new SeriesHistogram('x_ms', 'h', BOUNDS, set, 0) as never);
  const series = new Map<string, ReturnType<SeriesSet['create']>>();
  for (const o of observations) {
    const labels = labelsOf(o);
    c.inc(labels, o.counter);
    h.observe(labels, o.value);
    const key = JSON.stringify(labels);
    let s = series.get(key);
    if (!s) series.set(key, (s = set.create(labels)));
    s.inc(0, o.counter);
    s.observe(0, BOUNDS, o.value);
  }
  return { ours, theirs };
}

test('text exposition and JSON equal prom-client Counter and Histogram for the same observations', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(obs, { maxLength: 60 }), async (observations) => {
      const { ours, theirs } = both(observations);
      assert.equal(await ours.metrics(), await theirs.metrics());
      assert.deepEqual(await ours.getMetricsAsJSON(), JSON.parse(JSON.stringify(await theirs.getMetricsAsJSON())));
    }),
    { numRuns: 200 },
  );
});

test('aggregated over two workers as the supervisor does: equal to prom-client', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(obs, { maxLength: 40 }), fc.array(obs, { maxLength: 40 }), async (a, b) => {
      const x = both(a);
      const y = both(b);
      const ours = AggregatorRegistry.aggregate([await x.ours.getMetricsAsJSON(), await y.ours.getMetricsAsJSON()] as never);
      const theirs = AggregatorRegistry.aggregate([await x.theirs.getMetricsAsJSON(), await y.theirs.getMetricsAsJSON()] as never);
      assert.equal(await ours.metrics(), await theirs.metrics());
    }),
    { numRuns: 100 },
  );
});

test('reset() empties the series like prom-client (nothing listed until touched again)', async () => {
  const { ours } = both([{ labels: [0, 0, 0], value: 3, counter: 2 }]);
  ours.resetMetrics();
  const text = await ours.metrics();
  assert.doesNotMatch(text, /^x_/m);
});
