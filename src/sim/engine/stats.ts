// What the engine counts, in the units and bucket boundaries of vLLM's Prometheus logger
// (vllm/v1/metrics/loggers.py). The engine records into these; metrics.ts renders them.

export class Histogram {
  readonly bounds: readonly number[];
  /** counts[i] = observations <= bounds[i] and > bounds[i-1]; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v <= (b[mid] as number)) hi = mid;
      else lo = mid + 1;
    }
    this.counts[lo] = (this.counts[lo] ?? 0) + 1;
    this.sum += v;
    this.count++;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }
}

export const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
export const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
export const REQUEST_LATENCY_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
];
export const ITERATION_TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];
export const N_PARAM_BUCKETS = [1, 2, 5, 10, 20];

/** vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, … up to max. */
export function buckets125(max: number): number[] {
  const out: number[] = [];
  for (let e = 1; ; e *= 10) {
    for (const m of [1, 2, 5]) {
      if (m * e > max) return out;
      out.push(m * e);
    }
  }
}

export type EngineFinishReason = 'stop' | 'length' | 'abort';

export class EngineStats {
  // Counters (monotonic since start)
  promptTokens = 0;
  generationTokens = 0;
  preemptions = 0;
  prefixQueries = 0;
  prefixHits = 0;
  readonly success: Record<EngineFinishReason, number> = { stop: 0, length: 0, abort: 0 };
  /** Requests refused because the waiting queue was full. */
  rejected = 0;
  steps = 0;
  /** Simulated GPU busy time, ms: the sum of step durations. */
  busyMs = 0;
  /** Tokens processed by all steps (prefill + decode), for NVLink traffic. */
  processedTokens = 0;

  readonly ttft = new Histogram(TTFT_BUCKETS);
  readonly itl = new Histogram(ITL_BUCKETS);
  readonly requestTpot = new Histogram(ITL_BUCKETS);
  readonly e2e = new Histogram(REQUEST_LATENCY_BUCKETS);
  readonly queue = new Histogram(REQUEST_LATENCY_BUCKETS);
  readonly inference = new Histogram(REQUEST_LATENCY_BUCKETS);
  readonly prefill = new Histogram(REQUEST_LATENCY_BUCKETS);
  readonly decode = new Histogram(REQUEST_LATENCY_BUCKETS);
  readonly iterationTokens = new Histogram(ITERATION_TOKEN_BUCKETS);
  readonly nParam = new Histogram(N_PARAM_BUCKETS);
  readonly promptTokensPerRequest: Histogram;
  readonly generationTokensPerRequest: Histogram;
  readonly maxTokensParam: Histogram;
  readonly maxGenerationTokens: Histogram;

  constructor(maxModelLen: number) {
    const b = buckets125(maxModelLen);
    this.promptTokensPerRequest = new Histogram(b);
    this.generationTokensPerRequest = new Histogram(b);
    this.maxTokensParam = new Histogram(b);
    this.maxGenerationTokens = new Histogram(b);
  }
}
