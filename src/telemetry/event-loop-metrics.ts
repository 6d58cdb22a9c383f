/**
 * `nodejs_eventloop_lag_*` with prom-client's names, help and aggregators, sampled every 100 ms instead of
 * prom-client's 10 ms: its sampler is a libuv timer, and at 10 ms it woke every idle worker 100 times a second (~0.7 %
 * of a core each, measured; test/e2e/observability/idle.test.ts). prom-client resets the histogram at every scrape and
 * reports NaN (and a min of 9.2e9 s) for an interval without a sample — two scrapes within one period; here such an
 * interval keeps the previous values.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** Period of the event-loop delay sampling (ms). */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** prom-client's own sampler is left with this period once its metrics are replaced: in effect never. */
export const PROM_CLIENT_SAMPLER_MS = 2 ** 31 - 1;

const STATS = [
  ['min', 'The minimum recorded event loop delay.', 'min'],
  ['max', 'The maximum recorded event loop delay.', 'max'],
  ['mean', 'The mean of the recorded event loop delays.', 'average'],
  ['stddev', 'The standard deviation of the recorded event loop delays.', 'average'],
  ['p50', 'The 50th percentile of the recorded event loop delays.', 'average'],
  ['p90', 'The 90th percentile of the recorded event loop delays.', 'average'],
  ['p99', 'The 99th percentile of the recorded event loop delays.', 'average'],
] as const;

type Stat = (typeof STATS)[number][0];

/**
 * Replaces prom-client's `nodejs_eventloop_lag_*` in `r` (registered by collectDefaultMetrics) with these; returns
 * the function that stops the sampling.
 */
export function registerEventLoopMetrics(r: Registry): () => void {
  r.removeSingleMetric('nodejs_eventloop_lag_seconds');
  for (const [stat] of STATS) r.removeSingleMetric(`nodejs_eventloop_lag_${stat}_seconds`);
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_SAMPLE_MS });
  histogram.enable();
  const gauges = new Map<Stat, Gauge>();
  const read: Record<Stat, () => number> = {
    min: () => histogram.min,
    max: () => histogram.max,
    mean: () => histogram.mean,
    stddev: () => histogram.stddev,
    p50: () => histogram.percentile(50),
    p90: () => histogram.percentile(90),
    p99: () => histogram.percentile(99),
  };
  const lag: Gauge = new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    registers: [r],
    aggregator: 'average',
    // One collect sets them all (prom-client's way): registered first, so it is collected before the others are read.
    collect() {
      const start = process.hrtime.bigint();
      setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / 1e9));
      if (histogram.count === 0) return; // no sample since the last scrape: keep the previous values
      for (const [stat] of STATS) gauges.get(stat)!.set(read[stat]() / 1e9);
      histogram.reset();
    },
  });
  for (const [stat, help, aggregator] of STATS) {
    gauges.set(stat, new Gauge({ name: `nodejs_eventloop_lag_${stat}_seconds`, help, registers: [r], aggregator }));
  }
  return () => histogram.disable();
}
