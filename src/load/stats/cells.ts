// The unit of aggregation: everything measured for one (step, profile), or any merge of them
// (a phase, a whole run, several shards). Serialisable with its histograms so merges stay exact.
import { ERROR_CLASSES, type ErrorClass } from '../protocol.js';
import { Dist, type EncodedDist, type LatencySummary } from './hist.js';

export type ErrorCounts = Record<ErrorClass, number>;

export function zeroErrors(): ErrorCounts {
  const e = {} as ErrorCounts;
  for (const c of ERROR_CLASSES) e[c] = 0;
  return e;
}

export class Cell {
  requests = 0;
  ok = 0;
  cancelled = 0;
  good = 0;
  errors: ErrorCounts = zeroErrors();
  outputTokens = 0;
  promptTokens = 0;
  promptKnown = 0;
  cachedTokens = 0;
  gatewaySumMs = 0;
  gatewayN = 0;
  upstreamSumMs = 0;
  upstreamN = 0;
  readonly ttft = new Dist();
  readonly tpot = new Dist();
  readonly itl = new Dist();
  readonly e2e = new Dist();

  get errorCount(): number {
    let n = 0;
    for (const c of ERROR_CLASSES) n += this.errors[c];
    return n;
  }

  merge(o: Cell): void {
    this.requests += o.requests;
    this.ok += o.ok;
    this.cancelled += o.cancelled;
    this.good += o.good;
    for (const c of ERROR_CLASSES) this.errors[c] += o.errors[c];
    this.outputTokens += o.outputTokens;
    this.promptTokens += o.promptTokens;
    this.promptKnown += o.promptKnown;
    this.cachedTokens += o.cachedTokens;
    this.gatewaySumMs += o.gatewaySumMs;
    this.gatewayN += o.gatewayN;
    this.upstreamSumMs += o.upstreamSumMs;
    this.upstreamN += o.upstreamN;
    this.ttft.merge(o.ttft);
    this.tpot.merge(o.tpot);
    this.itl.merge(o.itl);
    this.e2e.merge(o.e2e);
  }

  encode(): EncodedCell {
    return {
      requests: this.requests,
      ok: this.ok,
      cancelled: this.cancelled,
      good: this.good,
      errors: { ...this.errors },
      output_tokens: this.outputTokens,
      prompt_tokens: this.promptTokens,
      prompt_known: this.promptKnown,
      cached_tokens: this.cachedTokens,
      gateway_sum_ms: this.gatewaySumMs,
      gateway_n: this.gatewayN,
      upstream_sum_ms: this.upstreamSumMs,
      upstream_n: this.upstreamN,
      ttft: this.ttft.encode(),
      tpot: this.tpot.encode(),
      itl: this.itl.encode(),
      e2e: this.e2e.encode(),
    };
  }

  static decode(e: EncodedCell): Cell {
    const c = new Cell();
    c.requests = e.requests;
    c.ok = e.ok;
    c.cancelled = e.cancelled;
    c.good = e.good;
    for (const k of ERROR_CLASSES) c.errors[k] = e.errors[k] ?? 0;
    c.outputTokens = e.output_tokens;
    c.promptTokens = e.prompt_tokens;
    c.promptKnown = e.prompt_known;
    c.cachedTokens = e.cached_tokens;
    c.gatewaySumMs = e.gateway_sum_ms;
    c.gatewayN = e.gateway_n;
    c.upstreamSumMs = e.upstream_sum_ms;
    c.upstreamN = e.upstream_n;
    c.ttft.mergeEncoded(e.ttft.hist, e.ttft.sum_ms);
    c.tpot.mergeEncoded(e.tpot.hist, e.tpot.sum_ms);
    c.itl.mergeEncoded(e.itl.hist, e.itl.sum_ms);
    c.e2e.mergeEncoded(e.e2e.hist, e.e2e.sum_ms);
    return c;
  }

  /** The figures a report shows for this cell over `seconds` of wall time. */
  view(seconds: number): CellView {
    const done = this.ok + this.errorCount;
    return {
      requests: this.requests,
      ok: this.ok,
      errors: this.errorCount,
      cancelled: this.cancelled,
      error_rate: done === 0 ? 0 : this.errorCount / done,
      errors_by_class: Object.fromEntries(ERROR_CLASSES.filter((c) => this.errors[c] > 0).map((c) => [c, this.errors[c]])),
      rps: seconds > 0 ? done / seconds : 0,
      goodput_rps: seconds > 0 ? this.good / seconds : 0,
      goodput_fraction: done === 0 ? 0 : this.good / done,
      output_tokens: this.outputTokens,
      output_tokens_per_s: seconds > 0 ? this.outputTokens / seconds : 0,
      mean_output_tokens: this.ok === 0 ? 0 : this.outputTokens / this.ok,
      mean_prompt_tokens: this.promptKnown === 0 ? null : this.promptTokens / this.promptKnown,
      cached_prompt_fraction: this.promptTokens === 0 ? null : this.cachedTokens / this.promptTokens,
      ttft: this.ttft.summary(),
      tpot: this.tpot.summary(),
      itl: this.itl.summary(),
      e2e: this.e2e.summary(),
      gateway_header_ms: this.gatewayN === 0 ? null : this.gatewaySumMs / this.gatewayN,
      upstream_header_ms: this.upstreamN === 0 ? null : this.upstreamSumMs / this.upstreamN,
    };
  }
}

export interface EncodedCell {
  readonly requests: number;
  readonly ok: number;
  readonly cancelled: number;
  readonly good: number;
  readonly errors: Partial<Record<ErrorClass, number>>;
  readonly output_tokens: number;
  readonly prompt_tokens: number;
  readonly prompt_known: number;
  readonly cached_tokens: number;
  readonly gateway_sum_ms: number;
  readonly gateway_n: number;
  readonly upstream_sum_ms: number;
  readonly upstream_n: number;
  readonly ttft: EncodedDist;
  readonly tpot: EncodedDist;
  readonly itl: EncodedDist;
  readonly e2e: EncodedDist;
}

export interface CellView {
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  readonly cancelled: number;
  readonly error_rate: number;
  readonly errors_by_class: Partial<Record<ErrorClass, number>>;
  /** Completed requests (success or error) per second. */
  readonly rps: number;
  /** Requests per second that met every SLO. */
  readonly goodput_rps: number;
  readonly goodput_fraction: number;
  readonly output_tokens: number;
  readonly output_tokens_per_s: number;
  readonly mean_output_tokens: number;
  readonly mean_prompt_tokens: number | null;
  readonly cached_prompt_fraction: number | null;
  readonly ttft: LatencySummary;
  readonly tpot: LatencySummary;
  readonly itl: LatencySummary;
  readonly e2e: LatencySummary;
  /** Mean of the gateway's `server-timing: gateway;dur=` (its own time before the response headers). */
  readonly gateway_header_ms: number | null;
  readonly upstream_header_ms: number | null;
}
