// HDR histograms of latencies (recorded in microseconds, 2 significant digits: 1% resolution from
// 1 µs to hours in ~10 KB each), their summaries, and their mergeable encoding: results.json keeps
// every histogram encoded so `tollgate report --merge` combines shards exactly.
import hdr, { type Histogram } from 'hdr-histogram-js';

export type Hist = Histogram;

export function newHist(): Hist {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 2, autoResize: true });
}

/** Records a duration given in ms. */
export function recordMs(h: Hist, ms: number): void {
  if (!(ms >= 0) || !Number.isFinite(ms)) return;
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

export function encodeHist(h: Hist): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHist(s: string): Hist {
  const d = hdr.decodeFromCompressedBase64(s);
  const h = newHist();
  h.add(d);
  d.destroy();
  return h;
}

export function addEncoded(into: Hist, s: string): void {
  const d = hdr.decodeFromCompressedBase64(s);
  into.add(d);
  d.destroy();
}

/** Summary of a latency distribution, in seconds. `mean` is exact when `sum` was tracked. */
export interface LatencySummary {
  readonly count: number;
  readonly mean: number | null;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly p999: number | null;
  readonly max: number | null;
  readonly stddev: number | null;
}

export const EMPTY_SUMMARY: LatencySummary = { count: 0, mean: null, p50: null, p90: null, p95: null, p99: null, p999: null, max: null, stddev: null };

export function summarize(h: Hist, exactSumMs?: number): LatencySummary {
  const n = h.totalCount;
  if (n === 0) return EMPTY_SUMMARY;
  const s = (us: number): number => us / 1e6;
  return {
    count: n,
    mean: exactSumMs === undefined ? s(h.mean) : exactSumMs / 1000 / n,
    p50: s(h.getValueAtPercentile(50)),
    p90: s(h.getValueAtPercentile(90)),
    p95: s(h.getValueAtPercentile(95)),
    p99: s(h.getValueAtPercentile(99)),
    p999: s(h.getValueAtPercentile(99.9)),
    max: s(h.maxValue),
    stddev: s(h.stdDeviation),
  };
}

/** A histogram plus the exact sum, so means do not carry the bucket rounding. */
export class Dist {
  readonly h: Hist = newHist();
  sumMs = 0;

  add(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    recordMs(this.h, ms);
    this.sumMs += ms;
  }

  merge(o: Dist): void {
    this.h.add(o.h);
    this.sumMs += o.sumMs;
  }

  mergeEncoded(s: string, sumMs?: number): void {
    const d = hdr.decodeFromCompressedBase64(s);
    this.h.add(d);
    this.sumMs += sumMs ?? d.mean * d.totalCount / 1000;
    d.destroy();
  }

  get count(): number {
    return this.h.totalCount;
  }

  summary(): LatencySummary {
    return summarize(this.h, this.sumMs);
  }

  encode(): EncodedDist {
    return { hist: encodeHist(this.h), sum_ms: this.sumMs };
  }

  static decode(e: EncodedDist): Dist {
    const d = new Dist();
    d.mergeEncoded(e.hist, e.sum_ms);
    return d;
  }
}

export interface EncodedDist {
  readonly hist: string;
  readonly sum_ms: number;
}
