/**
 * The few statistics the benchmark reports: the median and the spread (min–max, and the interquartile range when
 * there are enough values) of repeated measurements, and percentiles of latency samples (nearest-rank, as wrk
 * and HdrHistogram report them).
 */

export interface Spread {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Interquartile range [q1, q3]; only with 4 or more values (with 3 it would just restate min–max). */
  readonly iqr?: readonly [number, number];
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Linear interpolation between closest ranks (the R-7 / numpy default), for summaries of few values. */
function interpolated(s: readonly number[], q: number): number {
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  return interpolated(sorted(values), 0.5);
}

export function spread(values: readonly number[]): Spread | undefined {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return undefined;
  const s = sorted(finite);
  const base = { n: s.length, median: interpolated(s, 0.5), min: s[0]!, max: s[s.length - 1]! };
  return s.length >= 4 ? { ...base, iqr: [interpolated(s, 0.25), interpolated(s, 0.75)] } : base;
}

/**
 * Nearest-rank percentile (p in 0-100) of many samples: the smallest sample with at least p% of the samples at or
 * below it, so p99 of 100 samples is the 99th smallest, never an interpolated value nobody measured.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p} outside (0, 100]`);
  const s = sorted(samples);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.max(0, rank - 1)]!;
}

/** a / b, or undefined when the ratio means nothing (no value, or a zero reference). */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return undefined;
  return a / b;
}
