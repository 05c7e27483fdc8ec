// Main-thread aggregation of the workers' reports: cells per (step, profile), schedule lag per
// step, time bins for the report's timelines, and per-second sums the gates read their rolling
// windows from.
import hdr from 'hdr-histogram-js';
import { ERROR_CLASSES, FIRST, FIRST_WIDTH, REC, REC_WIDTH, type ErrorClass, type ErrorSample, type WorkerGauges, type WorkerReport } from '../protocol.js';
import { Cell } from './cells.js';
import { Dist, encodeHist, recordMs, type Hist } from './hist.js';

export interface TimeBin {
  completed: number;
  errors: number;
  good: number;
  outputTokens: number;
  e2eSumMs: number;
  ttft: Hist;
  ttftSumMs: number;
  users: number;
  sessions: number;
  inflight: number;
  level: number;
}

interface Second {
  /** Per profile: first tokens (sum ms, count) and completions (ok, errors). */
  readonly ttftSum: Float64Array;
  readonly ttftN: Float64Array;
  readonly ok: Float64Array;
  readonly err: Float64Array;
  /** Per profile TTFT histograms; dropped once out of every window. */
  hists: Hist[] | undefined;
}

export interface WindowStats {
  readonly ttftMean: number | undefined;
  readonly ttftP50: number | undefined;
  readonly ttftP99: number | undefined;
  readonly ttftCount: number;
  readonly completions: number;
  readonly errors: number;
}

const KEEP_HIST_S = 900;

export class Aggregator {
  readonly cells = new Map<number, Cell[]>();
  readonly lag = new Map<number, Dist>();
  readonly bins: TimeBin[] = [];
  private readonly secs: Second[] = [];
  private readonly gauges = new Map<number, WorkerGauges>();
  readonly errorSamples = new Map<ErrorClass, ErrorSample[]>();
  /** Failed requests of the whole run so far, by kind (the live view breaks errors down). */
  readonly errorsByClass: Partial<Record<ErrorClass, number>> = {};
  currentLevel = 0;
  lastReportAt = 0;

  constructor(
    readonly profiles: readonly string[],
    readonly origin: number,
    readonly binMs: number,
  ) {}

  cell(step: number, profile: number): Cell {
    let row = this.cells.get(step);
    if (row === undefined) {
      row = this.profiles.map(() => new Cell());
      this.cells.set(step, row);
    }
    return row[profile] as Cell;
  }

  private bin(epochMs: number): TimeBin {
    const i = Math.max(0, Math.floor((epochMs - this.origin) / this.binMs));
    while (this.bins.length <= i) {
      const prev = this.bins[this.bins.length - 1];
      this.bins.push({
        completed: 0,
        errors: 0,
        good: 0,
        outputTokens: 0,
        e2eSumMs: 0,
        ttft: hdr.build({ bitBucketSize: 'packed', lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 2, autoResize: true }),
        ttftSumMs: 0,
        users: prev?.users ?? 0,
        sessions: prev?.sessions ?? 0,
        inflight: prev?.inflight ?? 0,
        level: this.currentLevel,
      });
    }
    return this.bins[i] as TimeBin;
  }

  private second(epochMs: number): Second {
    const i = Math.max(0, Math.floor((epochMs - this.origin) / 1000));
    const n = this.profiles.length;
    while (this.secs.length <= i) {
      this.secs.push({ ttftSum: new Float64Array(n), ttftN: new Float64Array(n), ok: new Float64Array(n), err: new Float64Array(n), hists: undefined });
      const old = this.secs[this.secs.length - 1 - KEEP_HIST_S];
      if (old?.hists !== undefined) {
        for (const h of old.hists) h.destroy();
        old.hists = undefined;
      }
    }
    return this.secs[i] as Second;
  }

  add(r: WorkerReport): void {
    this.lastReportAt = r.at;
    const d = r.done;
    for (let b = 0; b + REC_WIDTH <= d.length; b += REC_WIDTH) this.addDone(d, b);
    const f = r.first;
    for (let b = 0; b + FIRST_WIDTH <= f.length; b += FIRST_WIDTH) {
      const p = f[b + FIRST.profile] ?? 0;
      const ttft = f[b + FIRST.ttft] ?? 0;
      const s = this.second(f[b + FIRST.at] ?? 0);
      s.ttftSum[p] = (s.ttftSum[p] ?? 0) + ttft;
      s.ttftN[p] = (s.ttftN[p] ?? 0) + 1;
      s.hists ??= this.profiles.map(() => hdr.build({ bitBucketSize: 'packed', lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 2, autoResize: true }));
      recordMs(s.hists[p] as Hist, ttft);
    }
    for (const e of r.itl) {
      const c = this.cell(e.step, e.profile);
      c.itl.mergeEncoded(e.hist);
    }
    for (const e of r.lag) {
      let l = this.lag.get(e.step);
      if (l === undefined) {
        l = new Dist();
        this.lag.set(e.step, l);
      }
      l.mergeEncoded(e.hist);
    }
    for (const e of r.errors) {
      const list = this.errorSamples.get(e.cls) ?? [];
      if (list.length < 10) list.push(e);
      this.errorSamples.set(e.cls, list);
    }
    this.gauges.set(r.worker, r.gauges);
    const bin = this.bin(r.at);
    const g = this.totals();
    bin.users = g.users;
    bin.sessions = g.sessions;
    bin.inflight = g.inflight;
    bin.level = this.currentLevel;
  }

  private addDone(d: Float64Array, b: number): void {
    const p = d[b + REC.profile] ?? 0;
    const c = this.cell(d[b + REC.step] ?? 0, p);
    const sent = d[b + REC.sent] ?? 0;
    const e2e = d[b + REC.e2e] ?? 0;
    const ttft = d[b + REC.ttft] ?? Number.NaN;
    c.requests++;
    if (d[b + REC.cancelled] === 1) {
      c.cancelled++;
      return;
    }
    const errIdx = d[b + REC.error] ?? -1;
    const s = this.second(sent + e2e);
    const bin = this.bin(sent + e2e);
    bin.completed++;
    if (errIdx >= 0) {
      const cls = ERROR_CLASSES[errIdx];
      if (cls !== undefined) {
        c.errors[cls]++;
        this.errorsByClass[cls] = (this.errorsByClass[cls] ?? 0) + 1;
      }
      s.err[p] = (s.err[p] ?? 0) + 1;
      bin.errors++;
      return;
    }
    c.ok++;
    s.ok[p] = (s.ok[p] ?? 0) + 1;
    if (d[b + REC.good] === 1) {
      c.good++;
      bin.good++;
    }
    const out = d[b + REC.outputTokens] ?? Number.NaN;
    if (Number.isFinite(out)) {
      c.outputTokens += out;
      bin.outputTokens += out;
    }
    const prompt = d[b + REC.promptTokens] ?? Number.NaN;
    if (Number.isFinite(prompt)) {
      c.promptTokens += prompt;
      c.promptKnown++;
    }
    const cached = d[b + REC.cachedTokens] ?? Number.NaN;
    if (Number.isFinite(cached)) c.cachedTokens += cached;
    const gw = d[b + REC.gatewayMs] ?? Number.NaN;
    if (Number.isFinite(gw)) {
      c.gatewaySumMs += gw;
      c.gatewayN++;
    }
    const up = d[b + REC.upstreamMs] ?? Number.NaN;
    if (Number.isFinite(up)) {
      c.upstreamSumMs += up;
      c.upstreamN++;
    }
    c.e2e.add(e2e);
    bin.e2eSumMs += e2e;
    if (Number.isFinite(ttft)) {
      c.ttft.add(ttft);
      recordMs(bin.ttft, ttft);
      bin.ttftSumMs += ttft;
    }
    const tpot = d[b + REC.tpot] ?? Number.NaN;
    if (Number.isFinite(tpot)) c.tpot.add(tpot);
  }

  totals(): { users: number; sessions: number; inflight: number; sessionsStarted: number; sessionsCompleted: number; starved: number; wraps: Record<string, number> } {
    let users = 0;
    let sessions = 0;
    let inflight = 0;
    let sessionsStarted = 0;
    let sessionsCompleted = 0;
    let starved = 0;
    const wraps: Record<string, number> = {};
    for (const g of this.gauges.values()) {
      users += g.users;
      sessions += g.sessions;
      inflight += g.inflight;
      sessionsStarted += g.sessionsStarted;
      sessionsCompleted += g.sessionsCompleted;
      starved += g.starved;
      for (const [k, v] of Object.entries(g.wraps)) wraps[k] = (wraps[k] ?? 0) + v;
    }
    return { users, sessions, inflight, sessionsStarted, sessionsCompleted, starved, wraps };
  }

  /**
   * Client-side figures over [fromMs, toMs) (ms since the origin): TTFT by first-token time,
   * completions by end time. `mask` selects profiles (undefined: all).
   */
  window(fromMs: number, toMs: number, mask?: readonly boolean[]): WindowStats {
    const a = Math.max(0, Math.floor(fromMs / 1000));
    const b = Math.min(this.secs.length, Math.ceil(toMs / 1000));
    let sum = 0;
    let n = 0;
    let ok = 0;
    let err = 0;
    const merged = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 2, autoResize: true });
    for (let i = a; i < b; i++) {
      const s = this.secs[i] as Second;
      for (let p = 0; p < this.profiles.length; p++) {
        if (mask !== undefined && mask[p] !== true) continue;
        sum += s.ttftSum[p] ?? 0;
        n += s.ttftN[p] ?? 0;
        ok += s.ok[p] ?? 0;
        err += s.err[p] ?? 0;
        const h = s.hists?.[p];
        if (h !== undefined && h.totalCount > 0) merged.add(h);
      }
    }
    const p99 = merged.totalCount > 0 ? merged.getValueAtPercentile(99) / 1000 : undefined;
    const p50 = merged.totalCount > 0 ? merged.getValueAtPercentile(50) / 1000 : undefined;
    merged.destroy();
    return { ttftMean: n > 0 ? sum / n : undefined, ttftP50: p50, ttftP99: p99, ttftCount: n, completions: ok + err, errors: err };
  }

  /** Encoded time bins for results.json. */
  encodeBins(): EncodedBin[] {
    return this.bins.map((b, i) => ({
      t: (i * this.binMs) / 1000,
      completed: b.completed,
      errors: b.errors,
      good: b.good,
      output_tokens: b.outputTokens,
      e2e_sum_ms: b.e2eSumMs,
      ttft_sum_ms: b.ttftSumMs,
      ttft: b.ttft.totalCount > 0 ? encodeHist(b.ttft) : '',
      users: b.users,
      sessions: b.sessions,
      inflight: b.inflight,
      level: b.level,
    }));
  }
}

export interface EncodedBin {
  /** Seconds since the run's origin at the bin's start. */
  readonly t: number;
  readonly completed: number;
  readonly errors: number;
  readonly good: number;
  readonly output_tokens: number;
  readonly e2e_sum_ms: number;
  readonly ttft_sum_ms: number;
  /** Encoded HDR histogram (µs) of the TTFTs of requests that ended in the bin ('' when none). */
  readonly ttft: string;
  readonly users: number;
  readonly sessions: number;
  readonly inflight: number;
  readonly level: number;
}
