// Arrival processes against their targets on large samples: mean and CV of the gaps, the MMPP's
// ON/OFF structure (arrivals only while ON, counts far burstier than Poisson), determinism of the
// shared chain across consumers (workers, shards).
import { describe, expect, it } from 'vitest';
import { makeGapProcess, Mmpp, OnOffChain, sharedChain, type ArrivalSpec } from '../../src/load/arrivals/process.js';
import { exponential, gamma, lgamma, Rng, weibull, weibullCv, weibullShapeForCv } from '../../src/load/arrivals/random.js';

function stats(xs: readonly number[]): { mean: number; cv: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, cv: Math.sqrt(v) / mean };
}

function gaps(spec: ArrivalSpec, meanGap: number, n: number, seed = 42): number[] {
  const p = makeGapProcess(spec, seed, 'T', 'test');
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    const next = p.next(t, meanGap);
    out.push(next - t);
    t = next;
  }
  return out;
}

describe('distributions', () => {
  it('lgamma matches known values', () => {
    expect(lgamma(1)).toBeCloseTo(0, 10);
    expect(lgamma(5)).toBeCloseTo(Math.log(24), 10);
    expect(lgamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 10);
  });

  it('the Weibull shape for a CV round-trips, and CV 1 is the exponential (shape 1)', () => {
    expect(weibullShapeForCv(1)).toBeCloseTo(1, 3);
    for (const cv of [0.5, 1.5, 2, 3]) expect(weibullCv(weibullShapeForCv(cv))).toBeCloseTo(cv, 4);
  });

  it('samplers hit their mean and CV', () => {
    const rng = new Rng(1);
    const n = 200_000;
    const e = stats(Array.from({ length: n }, () => exponential(rng, 2)));
    expect(e.mean).toBeCloseTo(2, 1);
    expect(e.cv).toBeCloseTo(1, 1);
    for (const cv of [0.5, 1.5, 3]) {
      const g = stats(Array.from({ length: n }, () => gamma(rng, 3, cv)));
      expect(Math.abs(g.mean - 3) / 3).toBeLessThan(0.03);
      expect(Math.abs(g.cv - cv) / cv).toBeLessThan(0.05);
    }
    const k = weibullShapeForCv(2);
    const w = stats(Array.from({ length: n }, () => weibull(rng, 5, k)));
    expect(Math.abs(w.mean - 5) / 5).toBeLessThan(0.04);
    expect(Math.abs(w.cv - 2) / 2).toBeLessThan(0.08);
  });

  it('the same seed gives the same sequence; another seed another', () => {
    const a = new Rng(9);
    const b = new Rng(9);
    const c = new Rng(10);
    const xa = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xa);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xa);
  });
});

describe('arrival processes', () => {
  const n = 100_000;

  it('exponential (profiles C, D): mean gap and CV 1', () => {
    const s = stats(gaps({ kind: 'exponential' }, 0.5, n));
    expect(Math.abs(s.mean - 0.5) / 0.5).toBeLessThan(0.02);
    expect(Math.abs(s.cv - 1)).toBeLessThan(0.03);
  });

  it('gamma (profile B): the mean and the configured CV 1.5', () => {
    const s = stats(gaps({ kind: 'gamma', cv: 1.5 }, 2, n));
    expect(Math.abs(s.mean - 2) / 2).toBeLessThan(0.03);
    expect(Math.abs(s.cv - 1.5) / 1.5).toBeLessThan(0.05);
  });

  it('Weibull: the mean and the CV its shape implies', () => {
    const k = weibullShapeForCv(1.8);
    const s = stats(gaps({ kind: 'weibull', shape: k }, 1, n));
    expect(Math.abs(s.mean - 1) / 1).toBeLessThan(0.04);
    expect(Math.abs(s.cv - 1.8) / 1.8).toBeLessThan(0.08);
  });

  it('MMPP (profile A): the long-run rate is the target, arrivals fall only in ON periods, and counts are bursty', () => {
    const spec: ArrivalSpec = { kind: 'mmpp', on_s: 5, off_s: 45, off_ratio: 0 };
    const meanGap = 0.1; // 10 arrivals/s on average, 100/s while ON
    const times: number[] = [];
    const p = makeGapProcess(spec, 3, 'A', 'x');
    let t = 0;
    for (;;) {
      t = p.next(t, meanGap);
      if (t >= 20_000) break;
      times.push(t);
    }
    const rate = times.length / 20_000;
    expect(Math.abs(rate - 10) / 10).toBeLessThan(0.08);
    // Every arrival lies in an ON period of the shared chain.
    const chain = sharedChain(3, 'A', 5, 45);
    const periods = chain.periods(0, 20_000);
    const on = periods.filter((x) => x.on);
    let k = 0;
    let inOn = 0;
    for (const a of times) {
      while (k < periods.length && (periods[k]?.end ?? 0) <= a) k++;
      if (periods[k]?.on === true) inOn++;
    }
    expect(inOn).toBe(times.length);
    // ON for ~10% of the time.
    const onTime = on.reduce((s, x) => s + Math.min(x.end, 20_000) - x.start, 0);
    expect(onTime / 20_000).toBeGreaterThan(0.06);
    expect(onTime / 20_000).toBeLessThan(0.14);
    // Index of dispersion of counts in 10 s windows: 1 for Poisson, far above for ON/OFF bursts.
    const counts = new Array<number>(2000).fill(0);
    for (const a of times) if (a < 20_000) counts[Math.floor(a / 10)] = (counts[Math.floor(a / 10)] ?? 0) + 1;
    const m = counts.reduce((a, b) => a + b, 0) / counts.length;
    const v = counts.reduce((a, b) => a + (b - m) ** 2, 0) / (counts.length - 1);
    expect(v / m).toBeGreaterThan(20);
    // Gaps: mostly near zero (within a burst), some as long as an OFF period.
    const g = times.slice(1).map((x, i) => x - (times[i] ?? 0));
    const short = g.filter((x) => x < 0.05).length / g.length;
    const long = g.filter((x) => x > 10).length;
    expect(short).toBeGreaterThan(0.9);
    expect(long).toBeGreaterThan(50);
    expect(stats(g).cv).toBeGreaterThan(3);
  });

  it('a Poisson process at the same rate is not bursty (the test above can fail)', () => {
    const times: number[] = [];
    const p = makeGapProcess({ kind: 'exponential' }, 3, 'C', 'x');
    let t = 0;
    while (t < 20_000) {
      t = p.next(t, 0.1);
      times.push(t);
    }
    const counts = new Array<number>(2000).fill(0);
    for (const a of times) if (a < 20_000) counts[Math.floor(a / 10)] = (counts[Math.floor(a / 10)] ?? 0) + 1;
    const m = counts.reduce((a, b) => a + b, 0) / counts.length;
    const v = counts.reduce((a, b) => a + (b - m) ** 2, 0) / (counts.length - 1);
    expect(v / m).toBeLessThan(1.3);
  });

  it('MMPP with a non-zero OFF rate keeps the mean', () => {
    const s = stats(gaps({ kind: 'mmpp', on_s: 2, off_s: 8, off_ratio: 0.2 }, 0.25, n, 5));
    expect(Math.abs(s.mean - 0.25) / 0.25).toBeLessThan(0.06);
  });

  it('consumers built from the same seed share one ON/OFF chain (workers and shards superpose into one MMPP)', () => {
    const a = new OnOffChain(77, 5, 45).periods(0, 5000);
    const b = new OnOffChain(77, 5, 45).periods(0, 5000);
    expect(b).toEqual(a);
    const c = new OnOffChain(78, 5, 45).periods(0, 5000);
    expect(c).not.toEqual(a);
    // Two consumers' arrivals both fall in the chain's ON periods.
    const chain = new OnOffChain(77, 5, 45);
    const p1 = new Mmpp(chain, new Rng(1), 0);
    const p2 = new Mmpp(new OnOffChain(77, 5, 45), new Rng(2), 0);
    let t1 = 0;
    let t2 = 0;
    for (let i = 0; i < 500; i++) {
      t1 = p1.next(t1, 1);
      t2 = p2.next(t2, 1);
      expect(chain.isOn(chain.periodAt(t1))).toBe(true);
      expect(chain.isOn(chain.periodAt(t2))).toBe(true);
    }
  });

  it('replay returns the recorded offsets divided by the speed, then nothing', () => {
    const p = makeGapProcess({ kind: 'replay', source: 'file', speed: 2 }, 1, 'T', 0, [0, 1, 4]);
    expect([p.next(0, 0), p.next(0, 0), p.next(0, 0), p.next(0, 0)]).toEqual([0, 0.5, 2, Number.POSITIVE_INFINITY]);
  });
});
