// Per-request counters, gauges and histograms with many labels, cheap to update.
//
// prom-client validates every label set and hashes it (sorting its keys) on each observe(); with
// the GenAI metrics' nine labels and ~15 updates per request that was ~60 µs of CPU per request,
// more than the rest of the gateway's own per-request work. These keep the same exposition (served
// by the same prom-client Registry, which calls get() at scrape time) but find a series by joining
// the label values in a fixed order: no validation (the label names are checked by the type
// system; the values come from bounded sets, labels.ts), no sorting.
import type { Registry } from 'prom-client';

type Labels<L extends string> = Partial<Record<L, string>>;

interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

interface Exported {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly values: ExportedValue[];
  readonly aggregator: 'sum';
}

abstract class KeyedMetric<L extends string, S> {
  readonly aggregator = 'sum';
  protected series = new Map<string, { readonly labels: Record<string, string>; readonly state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    // The Registry only needs name, help, type, aggregator, get() and reset() of a metric.
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  protected entry(labels: Labels<L>, create: () => S): S {
    let key = '';
    for (const n of this.labelNames) {
      const v = labels[n];
      // \u0000 cannot occur in a label value that came through HTTP headers or the config.
      key += v === undefined ? '\u0000-\u0001' : `${v}\u0001`;
    }
    const found = this.series.get(key);
    if (found !== undefined) return found.state;
    const copy: Record<string, string> = {};
    for (const n of this.labelNames) {
      const v = labels[n];
      if (v !== undefined) copy[n] = v;
    }
    const state = create();
    this.series.set(key, { labels: copy, state });
    return state;
  }

  reset(): void {
    this.series.clear();
  }
}

/**
 * One label set of a counter or gauge. A caller that updates the same label set on every request
 * (the request counter per route, the rate-limit counters per rule) holds it and updates it with
 * no lookup. Like a held histogram series, it is exported only once updated, and reset() clears it
 * in place, so holding one changes nothing on /metrics.
 */
abstract class ScalarSeries {
  value = 0;
  updated = false;

  clear(): void {
    this.value = 0;
    this.updated = false;
  }
}

export class CounterSeries extends ScalarSeries {
  constructor(private readonly name: string) {
    super();
  }

  inc(by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new RangeError(`${this.name}: a counter only goes up by a finite amount, got ${by}`);
    this.value += by;
    this.updated = true;
  }
}

export class GaugeSeries extends ScalarSeries {
  set(value: number): void {
    this.value = value;
    this.updated = true;
  }
}

/** A counter or gauge: one number per series. */
abstract class KeyedScalar<L extends string, S extends ScalarSeries> extends KeyedMetric<L, S> {
  abstract readonly type: 'counter' | 'gauge';

  constructor(registry: Registry, opts: { name: string; help: string; labelNames: readonly L[] }) {
    super(opts.name, opts.help, opts.labelNames, registry);
  }

  override reset(): void {
    for (const s of this.series.values()) s.state.clear();
  }

  get(): Promise<Exported> {
    const values: ExportedValue[] = [];
    for (const s of this.series.values()) if (s.state.updated) values.push({ labels: s.labels, value: s.state.value });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}

export class KeyedCounter<L extends string> extends KeyedScalar<L, CounterSeries> {
  readonly type = 'counter';

  inc(labels: Labels<L>, by = 1): void {
    this.seriesOf(labels).inc(by);
  }

  /** The series of a label set, to hold and increment directly. */
  seriesOf(labels: Labels<L>): CounterSeries {
    return this.entry(labels, () => new CounterSeries(this.name));
  }
}

export class KeyedGauge<L extends string> extends KeyedScalar<L, GaugeSeries> {
  readonly type = 'gauge';

  set(labels: Labels<L>, value: number): void {
    this.seriesOf(labels).set(value);
  }

  /** The series of a label set, to hold and set directly. */
  seriesOf(labels: Labels<L>): GaugeSeries {
    return this.entry(labels, () => new GaugeSeries());
  }
}

/**
 * One label set of a histogram. A caller that updates the same label set in several places (the
 * GenAI metrics, once per request and token type) holds it and observes it directly, with no
 * lookup. A series is exported once it has an observation, so holding one changes nothing on
 * /metrics; reset() empties series in place, so one held across a reset stays the metric's.
 */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly name: string,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`${this.name}: value is not a finite number: ${value}`);
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += value;
    this.count++;
  }

  clear(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export class KeyedHistogram<L extends string> extends KeyedMetric<L, HistogramSeries> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];

  constructor(registry: Registry, opts: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[] }) {
    super(opts.name, opts.help, opts.labelNames, registry);
    this.bounds = [...opts.buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels<L>, value: number): void {
    this.seriesOf(labels).observe(value);
  }

  /** The series of a label set, to hold and observe directly. */
  seriesOf(labels: Labels<L>): HistogramSeries {
    return this.entry(labels, () => new HistogramSeries(this.name, this.bounds));
  }

  override reset(): void {
    for (const s of this.series.values()) s.state.clear();
  }

  get(): Promise<Exported> {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const { labels, state } of this.series.values()) {
      if (state.count === 0) continue; // held by a caller, never observed
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += state.counts[i] as number;
        values.push({ labels: { ...labels, le }, value: acc, metricName: bucket });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: state.count, metricName: bucket });
      values.push({ labels, value: state.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: state.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}
