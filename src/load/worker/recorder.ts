// A worker's measurements between two reports: completed requests and first tokens packed into
// Float64Arrays (transferred to the main thread, not copied), inter-token gaps and schedule lag in
// HDR histograms (sent encoded). `take()` hands them over and starts afresh.
import { encodeHist, newHist, recordMs, type Hist } from '../stats/hist.js';
import { ERROR_CLASSES, FIRST_WIDTH, REC, REC_WIDTH, type ErrorSample, type WorkerInit, type WorkerReport } from '../protocol.js';
import type { Outcome } from './http.js';

const MAX_ERROR_SAMPLES = 5;

export type Measurements = Pick<WorkerReport, 'itl' | 'lag' | 'errors'> & { readonly done: Float64Array<ArrayBuffer>; readonly first: Float64Array<ArrayBuffer> };

export class Recorder {
  private done: Float64Array<ArrayBuffer> = new Float64Array(REC_WIDTH * 256);
  private doneN = 0;
  private first: Float64Array<ArrayBuffer> = new Float64Array(FIRST_WIDTH * 256);
  private firstN = 0;
  private readonly itl = new Map<number, Hist>();
  private readonly lags = new Map<number, Hist>();
  private errors: ErrorSample[] = [];

  constructor(private readonly slo: WorkerInit['slo']) {}

  lag(step: number, ms: number): void {
    let h = this.lags.get(step);
    if (h === undefined) {
      h = newHist();
      this.lags.set(step, h);
    }
    recordMs(h, ms);
  }

  gap(profile: number, step: number, ms: number): void {
    const key = step * 1024 + profile;
    let h = this.itl.get(key);
    if (h === undefined) {
      h = newHist();
      this.itl.set(key, h);
    }
    recordMs(h, ms);
  }

  firstToken(profile: number, step: number, ttft: number): void {
    if ((this.firstN + 1) * FIRST_WIDTH > this.first.length) this.first = grow(this.first);
    const o = this.firstN * FIRST_WIDTH;
    const f = this.first;
    f[o] = profile;
    f[o + 1] = step;
    f[o + 2] = performance.timeOrigin + performance.now();
    f[o + 3] = ttft;
    this.firstN++;
  }

  completed(profile: number, step: number, o: Outcome, app: string): void {
    if ((this.doneN + 1) * REC_WIDTH > this.done.length) this.done = grow(this.done);
    const r = this.done;
    const b = this.doneN * REC_WIDTH;
    const out = o.usage?.completion ?? Number.NaN;
    // Without usage, the token-carrying chunks are the best estimate of output tokens.
    const tokens = Number.isFinite(out) ? out : o.itlCount + (Number.isFinite(o.ttftMs) ? 1 : 0);
    const tpot = tokens > 1 && Number.isFinite(o.ttftMs) ? (o.e2eMs - o.ttftMs) / (tokens - 1) : Number.NaN;
    const ok = o.error === undefined && !o.cancelled;
    const slo = this.slo;
    const good =
      ok &&
      (slo.ttftMs <= 0 || o.ttftMs <= slo.ttftMs) &&
      (slo.tpotMs <= 0 || !Number.isFinite(tpot) || tpot <= slo.tpotMs) &&
      (slo.e2eMs <= 0 || o.e2eMs <= slo.e2eMs);
    r[b + REC.profile] = profile;
    r[b + REC.step] = step;
    r[b + REC.sent] = performance.timeOrigin + o.sentAt;
    r[b + REC.ttft] = o.ttftMs;
    r[b + REC.e2e] = o.e2eMs;
    r[b + REC.outputTokens] = tokens;
    r[b + REC.promptTokens] = o.usage?.prompt ?? Number.NaN;
    r[b + REC.status] = o.status;
    r[b + REC.error] = o.error === undefined ? -1 : ERROR_CLASSES.indexOf(o.error);
    r[b + REC.gatewayMs] = o.gatewayMs;
    r[b + REC.upstreamMs] = o.upstreamMs;
    r[b + REC.tpot] = tpot;
    r[b + REC.itlCount] = o.itlCount;
    r[b + REC.itlSum] = o.itlSumMs;
    r[b + REC.cachedTokens] = o.usage?.cached ?? Number.NaN;
    r[b + REC.good] = good ? 1 : 0;
    r[b + REC.cancelled] = o.cancelled ? 1 : 0;
    this.doneN++;
    if (o.error !== undefined && this.errors.length < MAX_ERROR_SAMPLES) this.errors.push({ cls: o.error, status: o.status, message: o.errorMessage, app });
  }

  /** Everything since the last call; the arrays' buffers can be transferred. */
  take(): Measurements {
    const done = this.done.slice(0, this.doneN * REC_WIDTH);
    const first = this.first.slice(0, this.firstN * FIRST_WIDTH);
    this.doneN = 0;
    this.firstN = 0;
    const itl: Array<{ profile: number; step: number; hist: string }> = [];
    for (const [key, h] of this.itl) {
      if (h.totalCount > 0) itl.push({ profile: key % 1024, step: Math.floor(key / 1024), hist: encodeHist(h) });
      h.destroy();
    }
    this.itl.clear();
    const lag: Array<{ step: number; hist: string }> = [];
    for (const [step, h] of this.lags) {
      if (h.totalCount > 0) lag.push({ step, hist: encodeHist(h) });
      h.destroy();
    }
    this.lags.clear();
    const errors = this.errors;
    this.errors = [];
    return { done, first, itl, lag, errors };
  }
}

function grow(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}
