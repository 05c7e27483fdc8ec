// The ramp's gates: T2 (rolling mean TTFT over k× the baseline: the compute boundary), T3
// (preemptions per request over a limit: the memory boundary, a hard stop) and the optional ones
// (KV cache, waiting queue, p99 TTFT, error rate). Pure: the values come from a SignalSource (the
// harness's measurements and the scraped telemetry, or a synthetic stream in tests), and a gate
// trips only after its condition has held for `sustain` consecutive evaluations, so one noisy
// window does not end a ramp.
import type { GateKind, GateSpec, GatesPlan } from './plan/types.js';
import type { WindowStats } from './stats/aggregate.js';

export interface SignalSource {
  /** Client-side figures over [from, to) seconds for the given profiles (empty: all). */
  client(from: number, to: number, profiles: readonly string[]): WindowStats;
  /** The engine's mean TTFT over (from, to], seconds. */
  engineTtft(from: number, to: number): number | undefined;
  /** Increase of the engine's preemption and finished-request counters over (from, to]. */
  engineCounts(from: number, to: number): { preemptions: number; requests: number } | undefined;
  /** The engine's KV cache usage (0–1) and waiting queue, averaged over [from, to]. */
  engineGauge(key: 'kv_usage' | 'waiting', from: number, to: number): number | undefined;
}

export interface GateReading {
  readonly kind: GateKind;
  /** The gate's value in its own unit (× baseline, fraction, requests, seconds); undefined: not evaluable yet. */
  readonly value: number | undefined;
  readonly threshold: number;
  readonly over: boolean;
  readonly streak: number;
  readonly tripped: boolean;
  /** Why there is no value, or what the value is made of. */
  readonly note: string;
}

export interface Baseline {
  /** Baseline TTFT, seconds. */
  readonly ttft: number;
  readonly source: 'client' | 'engine';
  readonly step: number;
  readonly samples: number;
}

export class GateEvaluator {
  private readonly streaks = new Map<GateKind, number>();

  constructor(readonly plan: GatesPlan) {}

  /** Streaks start over with each step: a condition must hold within the load it is judged at. */
  resetStreaks(): void {
    this.streaks.clear();
  }

  evaluate(src: SignalSource, now: number, baseline: Baseline | undefined): GateReading[] {
    const from = Math.max(0, now - this.plan.window_s);
    return this.plan.list.map((spec) => {
      const { value, note } = readGate(spec, src, from, now, baseline, this.plan.min_samples);
      const over = value !== undefined && value > spec.threshold;
      let streak = this.streaks.get(spec.kind) ?? 0;
      // No value (too few samples) neither confirms nor clears a streak.
      if (value !== undefined) streak = over ? streak + 1 : 0;
      this.streaks.set(spec.kind, streak);
      return { kind: spec.kind, value, threshold: spec.threshold, over, streak, tripped: streak >= this.plan.sustain, note };
    });
  }
}

export function readGate(spec: GateSpec, src: SignalSource, from: number, to: number, baseline: Baseline | undefined, minSamples: number): { value: number | undefined; note: string } {
  switch (spec.kind) {
    case 't2_ttft': {
      if (baseline === undefined) return { value: undefined, note: 'no baseline yet (set by the first stable step)' };
      const mean = ttftMean(spec, src, from, to, minSamples);
      if (mean.value === undefined) return mean;
      return { value: mean.value / baseline.ttft, note: `rolling TTFT ${fmt(mean.value)} s vs baseline ${fmt(baseline.ttft)} s` };
    }
    case 't3_preemption': {
      const c = src.engineCounts(from, to);
      if (c === undefined) return { value: undefined, note: 'no engine telemetry (vllm:num_preemptions_total)' };
      if (c.requests < minSamples) return { value: undefined, note: `${c.requests} engine requests in the window (< ${minSamples})` };
      return { value: c.preemptions / c.requests, note: `${c.preemptions} preemptions / ${c.requests} requests` };
    }
    case 'kv_cache': {
      const v = src.engineGauge('kv_usage', from, to);
      return v === undefined ? { value: undefined, note: 'no engine telemetry (vllm:kv_cache_usage_perc)' } : { value: v, note: `KV cache ${(v * 100).toFixed(1)}%` };
    }
    case 'waiting_queue': {
      const v = src.engineGauge('waiting', from, to);
      return v === undefined ? { value: undefined, note: 'no engine telemetry (vllm:num_requests_waiting)' } : { value: v, note: `${v.toFixed(1)} waiting` };
    }
    case 'ttft_p99': {
      const w = src.client(from, to, spec.profiles);
      if (w.ttftCount < minSamples || w.ttftP99 === undefined) return { value: undefined, note: `${w.ttftCount} first tokens in the window (< ${minSamples})` };
      return { value: w.ttftP99 / 1000, note: `p99 TTFT ${fmt(w.ttftP99 / 1000)} s` };
    }
    case 'error_rate': {
      const w = src.client(from, to, spec.profiles);
      if (w.completions < minSamples) return { value: undefined, note: `${w.completions} completions in the window (< ${minSamples})` };
      return { value: w.errors / w.completions, note: `${w.errors} errors / ${w.completions} requests` };
    }
    default: {
      const never: never = spec.kind;
      return { value: undefined, note: String(never) };
    }
  }
}

function ttftMean(spec: GateSpec, src: SignalSource, from: number, to: number, minSamples: number): { value: number | undefined; note: string } {
  if (spec.source === 'engine') {
    const v = src.engineTtft(from, to);
    return v === undefined ? { value: undefined, note: 'no engine TTFT in the window (vllm:time_to_first_token_seconds)' } : { value: v, note: '' };
  }
  const w = src.client(from, to, spec.profiles);
  if (w.ttftCount < minSamples || w.ttftMean === undefined) return { value: undefined, note: `${w.ttftCount} first tokens in the window (< ${minSamples})` };
  return { value: w.ttftMean / 1000, note: '' };
}

/** Mean TTFT (seconds) over an interval for the T2 gate's source: the baseline of a stable step. */
export function measureBaseline(spec: GateSpec | undefined, src: SignalSource, from: number, to: number, minSamples: number, step: number): Baseline | undefined {
  if (spec === undefined) return undefined;
  if (spec.source === 'engine') {
    const v = src.engineTtft(from, to);
    const c = src.engineCounts(from, to);
    if (v === undefined || v <= 0) return undefined;
    return { ttft: v, source: 'engine', step, samples: c?.requests ?? 0 };
  }
  const w = src.client(from, to, spec.profiles);
  if (w.ttftCount < minSamples || w.ttftMean === undefined || w.ttftMean <= 0) return undefined;
  return { ttft: w.ttftMean / 1000, source: 'client', step, samples: w.ttftCount };
}

function fmt(x: number): string {
  return x >= 1 ? x.toFixed(2) : x.toFixed(3);
}
