/**
 * Counters and histograms keyed by a label set that the caller resolves once and keeps (a `Series`), exported through
 * prom-client's registry in exactly the shape of prom-client's own Counter and Histogram (text format, JSON and
 * worker aggregation are unchanged). prom-client hashes every label set on every inc()/observe() — for Istio's 23-25
 * labels a 600-character string built, flattened and looked up per call, several times per connection or request:
 * the largest single cost of the data path in the profile (issue 11). Here the hot path adds to numbers in an object
 * it already holds; the labels are only walked at scrape time.
 */

type Labels = Readonly<Record<string, string>>;

/** The per-label-set numbers of one metric family: a counter value, or histogram buckets (non-cumulative), sum and count. */
export class Series {
  /** Counter values by metric slot; undefined until first touched (prom-client lists a label set once inc() saw it). */
  readonly counters: (number | undefined)[];
  readonly histograms: (HistogramData | undefined)[];

  constructor(
    readonly labels: Labels,
    counterSlots: number,
    histogramSlots: number,
  ) {
    this.counters = new Array<number | undefined>(counterSlots).fill(undefined);
    this.histograms = new Array<HistogramData | undefined>(histogramSlots).fill(undefined);
  }

  inc(slot: number, value = 1): void {
    this.counters[slot] = (this.counters[slot] ?? 0) + value;
  }

  observe(slot: number, bounds: readonly number[], value: number): void {
    (this.histograms[slot] ??= new HistogramData(bounds.length)).observe(bounds, value);
  }
}

export class HistogramData {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; values above the last bound only count in +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(buckets: number) {
    this.counts = new Float64Array(buckets);
  }

  observe(bounds: readonly number[], value: number): void {
    this.sum += value;
    this.count += 1;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]! += 1;
        return;
      }
    }
  }
}

/** The series of one family (one label-name set), in creation order. */
export class SeriesSet {
  readonly all: Series[] = [];

  constructor(
    readonly counterSlots: number,
    readonly histogramSlots: number,
  ) {}

  create(labels: Labels): Series {
    const s = new Series(labels, this.counterSlots, this.histogramSlots);
    this.all.push(s);
    return s;
  }
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  /** prom-client lists `exemplar: null` on histogram buckets when exemplars are off. */
  exemplar?: null;
}

interface MetricJson {
  name: string;
  help: string;
  type: string;
  values: MetricValue[];
  aggregator: 'sum';
}

/** A prom-client registry entry (registry.registerMetric) for one counter slot of a SeriesSet. */
export class SeriesCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum' as const;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly set: SeriesSet,
    private readonly slot: number,
  ) {}

  get(): MetricJson {
    const values: MetricValue[] = [];
    for (const s of this.set.all) {
      const v = s.counters[this.slot];
      if (v !== undefined) values.push({ value: v, labels: { ...s.labels } });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const s of this.set.all) s.counters[this.slot] = undefined;
  }
}

/** A prom-client registry entry for one histogram slot: buckets (cumulative, `le`), +Inf, _sum, _count per series. */
export class SeriesHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum' as const;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
    private readonly set: SeriesSet,
    private readonly slot: number,
  ) {}

  get(): MetricJson {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.set.all) {
      const h = s.histograms[this.slot];
      if (h === undefined) continue;
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += h.counts[i]!;
        values.push({ value: acc, metricName: bucket, exemplar: null, labels: { le: this.bounds[i]!, ...s.labels } });
      }
      values.push({ value: h.count, metricName: bucket, exemplar: null, labels: { le: '+Inf', ...s.labels } });
      values.push({ value: h.sum, metricName: `${this.name}_sum`, labels: { ...s.labels } });
      values.push({ value: h.count, metricName: `${this.name}_count`, labels: { ...s.labels } });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const s of this.set.all) s.histograms[this.slot] = undefined;
  }
}
