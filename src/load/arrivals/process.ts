// Arrival processes: when the next session starts. One interface for the open-loop stream of a
// profile (rate mode: mean gap = 1 / rate) and for one user's pause between sessions (users mode:
// mean gap = the plan's session gap). Times are seconds since the run's origin, which every worker
// and shard shares, so an MMPP's ON/OFF chain built from the same seed is the same chain everywhere
// and the superposition of their streams is still one MMPP.
import { exponential, gamma, Rng, subSeed, weibull, weibullShapeForCv } from './random.js';

export type ArrivalSpec =
  | { readonly kind: 'exponential' }
  | { readonly kind: 'gamma'; readonly cv: number }
  | { readonly kind: 'weibull'; readonly shape: number }
  | { readonly kind: 'mmpp'; readonly on_s: number; readonly off_s: number; readonly off_ratio: number }
  | { readonly kind: 'replay'; readonly source: 'corpus' | 'file'; readonly file?: string; readonly speed: number };

export type ArrivalKind = ArrivalSpec['kind'];
export const ARRIVAL_KINDS: readonly ArrivalKind[] = ['exponential', 'gamma', 'weibull', 'mmpp', 'replay'];

export interface GapProcess {
  /** The next arrival strictly after `now` (seconds), for a process whose mean gap is `meanGap`. */
  next(now: number, meanGap: number): number;
}

/** A renewal process: independent gaps from one distribution, scaled to the mean. */
class Renewal implements GapProcess {
  constructor(
    private readonly rng: Rng,
    private readonly draw: (rng: Rng, mean: number) => number,
  ) {}
  next(now: number, meanGap: number): number {
    return now + this.draw(this.rng, meanGap);
  }
}

/**
 * The modulating chain of a two-state MMPP: alternating ON and OFF periods of exponential length,
 * starting in its stationary state. Deterministic from its seed and extended lazily, so every
 * consumer that builds it from the same seed sees the same periods.
 */
export class OnOffChain {
  private readonly rng: Rng;
  /** switches[i] is the end of period i; period i is ON when (i + firstOn) is even. */
  private readonly ends: number[] = [];
  private readonly firstOn: number;

  constructor(
    seed: number,
    readonly onMean: number,
    readonly offMean: number,
  ) {
    this.rng = new Rng(seed, 0x3a3a);
    this.firstOn = this.rng.next() < onMean / (onMean + offMean) ? 0 : 1;
    // The first period is a residual life; for exponential periods that is the same exponential.
    this.ends.push(this.draw(0));
  }

  private draw(i: number): number {
    return exponential(this.rng, this.isOn(i) ? this.onMean : this.offMean);
  }

  isOn(period: number): boolean {
    return (period + this.firstOn) % 2 === 0;
  }

  /** Index of the period containing time t (t ≥ 0). */
  periodAt(t: number): number {
    while ((this.ends[this.ends.length - 1] ?? 0) <= t) {
      const i = this.ends.length;
      this.ends.push((this.ends[i - 1] ?? 0) + this.draw(i));
    }
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.ends[mid] ?? 0) <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** End of period i (call periodAt first so it exists). */
  endOf(period: number): number {
    if (period >= this.ends.length) this.periodAt(this.ends[this.ends.length - 1] ?? 0);
    return this.ends[period] ?? Number.POSITIVE_INFINITY;
  }

  /** ON/OFF periods overlapping [from, to), for reports and tests. */
  periods(from: number, to: number): Array<{ start: number; end: number; on: boolean }> {
    const out: Array<{ start: number; end: number; on: boolean }> = [];
    let i = this.periodAt(Math.max(0, from));
    for (;;) {
      const start = i === 0 ? 0 : this.endOf(i - 1);
      if (start >= to) break;
      const end = this.endOf(i);
      if (end <= start) break;
      out.push({ start, end, on: this.isOn(i) });
      i++;
      this.periodAt(end);
    }
    return out;
  }
}

/**
 * Arrivals of a Poisson process whose rate follows the chain: λ_on while ON, λ_off = ratio·λ_on
 * while OFF, with λ_on chosen so the long-run mean rate is 1 / meanGap.
 */
export class Mmpp implements GapProcess {
  constructor(
    private readonly chain: OnOffChain,
    private readonly rng: Rng,
    private readonly offRatio: number,
  ) {}

  onRate(meanGap: number): number {
    const { onMean, offMean } = this.chain;
    return (onMean + offMean) / (meanGap * (onMean + this.offRatio * offMean));
  }

  next(now: number, meanGap: number): number {
    const lambdaOn = this.onRate(meanGap);
    const lambdaOff = this.offRatio * lambdaOn;
    // Integrate the rate forward until it has consumed one unit-exponential of "work".
    let work = -Math.log(this.rng.open());
    let t = Math.max(0, now);
    let period = this.chain.periodAt(t);
    for (let guard = 0; guard < 1_000_000; guard++) {
      const end = this.chain.endOf(period);
      const rate = this.chain.isOn(period) ? lambdaOn : lambdaOff;
      if (rate > 0 && rate * (end - t) >= work) return t + work / rate;
      if (rate > 0) work -= rate * (end - t);
      t = end;
      period++;
      this.chain.periodAt(t);
    }
    return Number.POSITIVE_INFINITY;
  }
}

/** Recorded arrival offsets (seconds from the trace start), replayed at `speed`. */
export class Replay implements GapProcess {
  private i = 0;
  constructor(
    private readonly times: readonly number[],
    private readonly speed: number,
  ) {}
  next(): number {
    const t = this.times[this.i++];
    return t === undefined ? Number.POSITIVE_INFINITY : t / this.speed;
  }
  get remaining(): number {
    return this.times.length - this.i;
  }
}

/** The process for one consumer (a user, or a worker's share of a profile's stream). */
export function makeGapProcess(spec: ArrivalSpec, seed: number, profile: string, consumer: string | number, replayTimes?: readonly number[]): GapProcess {
  const rng = new Rng(subSeed(seed, 'arrival', profile, consumer));
  switch (spec.kind) {
    case 'exponential':
      return new Renewal(rng, exponential);
    case 'gamma':
      return new Renewal(rng, (r, m) => gamma(r, m, spec.cv));
    case 'weibull':
      return new Renewal(rng, (r, m) => weibull(r, m, spec.shape));
    case 'mmpp':
      return new Mmpp(sharedChain(seed, profile, spec.on_s, spec.off_s), rng, spec.off_ratio);
    case 'replay':
      return new Replay(replayTimes ?? [], spec.speed);
    default: {
      const never: never = spec;
      throw new Error(`unknown arrival kind ${String(never)}`);
    }
  }
}

/** The profile's chain: one per (seed, profile), shared by every consumer in this thread. */
const chains = new Map<string, OnOffChain>();
export function sharedChain(seed: number, profile: string, onMean: number, offMean: number): OnOffChain {
  const key = `${seed}|${profile}|${onMean}|${offMean}`;
  let c = chains.get(key);
  if (c === undefined) {
    c = new OnOffChain(subSeed(seed, 'mmpp-chain', profile), onMean, offMean);
    chains.set(key, c);
  }
  return c;
}

/** Normalises the plan's Weibull parameters: `shape`, or a CV to solve for. */
export function weibullShape(shape: number | undefined, cv: number | undefined): number {
  if (shape !== undefined) return shape;
  return weibullShapeForCv(cv ?? 1);
}

/** A one-line description for reports: "gamma (CV 1.5)". */
export function describeArrival(spec: ArrivalSpec): string {
  switch (spec.kind) {
    case 'exponential':
      return 'exponential (Poisson, CV 1)';
    case 'gamma':
      return `gamma (CV ${spec.cv})`;
    case 'weibull':
      return `Weibull (shape ${round3(spec.shape)})`;
    case 'mmpp':
      return `MMPP ON/OFF (ON ${spec.on_s} s, OFF ${spec.off_s} s, OFF rate ${spec.off_ratio}× ON)`;
    case 'replay':
      return `replay of recorded times (${spec.source === 'file' ? spec.file ?? 'file' : 'corpus at_ms'}, speed ${spec.speed}×)`;
    default: {
      const never: never = spec;
      return String(never);
    }
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
