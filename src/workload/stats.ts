// Mergeable summaries of corpus quantities (tokens, bytes, think times, turns): exact count, sum
// and max, plus a log-bucketed histogram (2% wide buckets) for percentiles. Streams written by
// separate runs are merged into per-profile figures without re-reading the corpus.

const GROWTH = Math.log(1.02);

export interface Summary {
  count: number;
  sum: number;
  max: number;
  min: number;
  /** bucket index → count; bucket b holds values v with floor(ln(v + 1) / ln 1.02) = b. */
  buckets: Record<string, number>;
}

export interface SummaryView {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  sum: number;
}

export class Histogram {
  count = 0;
  sum = 0;
  max = 0;
  min = Infinity;
  private readonly buckets = new Map<number, number>();

  add(v: number): void {
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
    const b = Math.floor(Math.log(Math.max(0, v) + 1) / GROWTH);
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
  }

  merge(s: Summary): void {
    this.count += s.count;
    this.sum += s.sum;
    if (s.count > 0) {
      this.max = Math.max(this.max, s.max);
      this.min = Math.min(this.min, s.min);
    }
    for (const [k, c] of Object.entries(s.buckets)) {
      const b = Number(k);
      this.buckets.set(b, (this.buckets.get(b) ?? 0) + c);
    }
  }

  toJSON(): Summary {
    const buckets: Record<string, number> = {};
    for (const k of [...this.buckets.keys()].sort((a, b) => a - b)) buckets[String(k)] = this.buckets.get(k) ?? 0;
    return { count: this.count, sum: this.sum, max: this.max, min: this.count === 0 ? 0 : this.min, buckets };
  }

  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = q * this.count;
    let seen = 0;
    for (const k of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(k) ?? 0;
      if (seen >= target) {
        // Midpoint of the bucket, clamped to the observed range.
        const v = Math.exp((k + 0.5) * GROWTH) - 1;
        return Math.min(this.max, Math.max(this.min, Math.round(v)));
      }
    }
    return this.max;
  }

  view(): SummaryView {
    return {
      count: this.count,
      mean: this.count === 0 ? 0 : round(this.sum / this.count),
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      min: this.count === 0 ? 0 : this.min,
      max: this.max,
      sum: this.sum,
    };
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** The quantities summarised per stream. */
export const STAT_KEYS = ['prompt_tokens', 'output_tokens', 'think_ms', 'body_bytes', 'turns_per_session'] as const;
export type StatKey = (typeof STAT_KEYS)[number];

export type StatSet = Record<StatKey, Histogram>;

export function newStatSet(): StatSet {
  return {
    prompt_tokens: new Histogram(),
    output_tokens: new Histogram(),
    think_ms: new Histogram(),
    body_bytes: new Histogram(),
    turns_per_session: new Histogram(),
  };
}

export function statSetJSON(s: StatSet): Record<StatKey, Summary> {
  return {
    prompt_tokens: s.prompt_tokens.toJSON(),
    output_tokens: s.output_tokens.toJSON(),
    think_ms: s.think_ms.toJSON(),
    body_bytes: s.body_bytes.toJSON(),
    turns_per_session: s.turns_per_session.toJSON(),
  };
}

export function statSetView(s: StatSet): Record<StatKey, SummaryView> {
  return {
    prompt_tokens: s.prompt_tokens.view(),
    output_tokens: s.output_tokens.view(),
    think_ms: s.think_ms.view(),
    body_bytes: s.body_bytes.view(),
    turns_per_session: s.turns_per_session.view(),
  };
}
