/**
 * `nodejs_eventloop_lag_*`: prom-client's names, help and aggregators, sampled every 100 ms, and never NaN — two
 * scrapes within one sampling period (prom-client reported NaN and a 9.2e9 s minimum then) keep the last values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry, Registry, collectDefaultMetrics } from 'prom-client';
import { EVENT_LOOP_SAMPLE_MS, PROM_CLIENT_SAMPLER_MS, registerEventLoopMetrics } from '../../../src/telemetry/event-loop-metrics';

const NAMES = ['', '_min', '_max', '_mean', '_stddev', '_p50', '_p90', '_p99'].map((s) => `nodejs_eventloop_lag${s}_seconds`);

async function lagValues(r: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of await r.getMetricsAsJSON()) {
    if (m.name.startsWith('nodejs_eventloop_lag')) out.set(m.name, m.values[0]?.value ?? Number.NaN);
  }
  return out;
}

test('event-loop lag metrics: the names, help and aggregators of prom-client, replacing its own', async () => {
  const theirs = new Registry();
  collectDefaultMetrics({ register: theirs });
  const ours = new Registry();
  collectDefaultMetrics({ register: ours, eventLoopMonitoringPrecision: PROM_CLIENT_SAMPLER_MS });
  const stop = registerEventLoopMetrics(ours);
  const shape = async (r: Registry): Promise<string[]> =>
    (await r.getMetricsAsJSON()).map((m) => `${m.name} ${m.type} ${m.help} ${(m as { aggregator?: string }).aggregator}`).sort();
  assert.deepEqual(await shape(ours), await shape(theirs), 'the same metric families, nothing lost or added');
  assert.deepEqual(NAMES.filter((n) => ours.getSingleMetric(n) === undefined), []);
  assert.equal(EVENT_LOOP_SAMPLE_MS, 100);
  stop();
});

test('event-loop lag metrics: real delays are measured, and back-to-back scrapes never give NaN', async () => {
  const r = new Registry();
  const stop = registerEventLoopMetrics(r);
  // Block the loop for ~250 ms across a few sampling periods: the max must see it.
  await new Promise((resolve) => setTimeout(resolve, 2 * EVENT_LOOP_SAMPLE_MS + 20));
  const until = Date.now() + 250;
  while (Date.now() < until) {
    // busy
  }
  await new Promise((resolve) => setTimeout(resolve, 2 * EVENT_LOOP_SAMPLE_MS + 20));
  const first = await lagValues(r);
  assert.ok(first.get('nodejs_eventloop_lag_max_seconds')! >= 0.15, `max ${first.get('nodejs_eventloop_lag_max_seconds')} s after a 250 ms block`);
  for (const n of NAMES.slice(1)) assert.ok(Number.isFinite(first.get(n)), `${n} = ${first.get(n)}`);
  // Scraped again at once (no sample in between): the same finite values, not NaN.
  const second = await lagValues(r);
  for (const n of NAMES.slice(1)) assert.equal(second.get(n), first.get(n), n);
  // Aggregated as the supervisor does over workers: finite too.
  const agg = AggregatorRegistry.aggregate([await r.getMetricsAsJSON(), await r.getMetricsAsJSON()] as Parameters<typeof AggregatorRegistry.aggregate>[0]);
  for (const m of await agg.getMetricsAsJSON()) {
    if (m.name.startsWith('nodejs_eventloop_lag_') && m.name !== 'nodejs_eventloop_lag_seconds') assert.ok(Number.isFinite(m.values[0]?.value), m.name);
  }
  // Stopped: no more samples after the next scrape, the values stay.
  stop();
  const stats = (m: Map<string, number>): number[] => NAMES.slice(1).map((n) => m.get(n)!);
  const afterStop = await lagValues(r);
  await new Promise((resolve) => setTimeout(resolve, 2 * EVENT_LOOP_SAMPLE_MS + 20));
  assert.deepEqual(stats(await lagValues(r)), stats(afterStop));
});
