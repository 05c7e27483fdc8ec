// Seeded random numbers and the distributions the arrival processes draw from. Seeded so a plan
// replays the same schedule (and so every worker and shard can rebuild the same MMPP chain), and
// self-contained so the harness does not depend on another module's RNG staying stable.

/** xoshiro128** (Blackman & Vigna): fast, 128-bit state, good statistical quality. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    // splitmix32 spreads (seed, stream) over the state so nearby seeds give unrelated sequences.
    let s = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(stream | 0, 0x85ebca6b) ^ 0x27d4eb2f) >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Uniform on [0, 1). */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result / 4294967296;
  }

  /** Uniform on (0, 1]: safe under a logarithm. */
  open(): number {
    return 1 - this.next();
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Derives an independent seed for a named sub-stream (profile, worker, user). */
export function subSeed(seed: number, ...parts: Array<string | number>): number {
  let h = 2166136261 ^ (seed >>> 0);
  for (const p of parts) {
    const s = String(p);
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    h = Math.imul(h ^ 0x2f, 16777619);
  }
  return h >>> 0;
}

export function exponential(rng: Rng, mean: number): number {
  return -mean * Math.log(rng.open());
}

export function standardNormal(rng: Rng): number {
  // Box–Muller; one value per call keeps the generator stateless beyond the Rng.
  return Math.sqrt(-2 * Math.log(rng.open())) * Math.cos(2 * Math.PI * rng.next());
}

/** Gamma(shape k, scale 1), Marsaglia & Tsang (2000); k < 1 through the U^(1/k) boost. */
export function gammaUnit(rng: Rng, k: number): number {
  if (k < 1) return gammaUnit(rng, k + 1) * Math.pow(rng.open(), 1 / k);
  const d = k - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.open();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Gamma with the given mean and coefficient of variation: shape 1/CV², scale mean·CV². */
export function gamma(rng: Rng, mean: number, cv: number): number {
  const k = 1 / (cv * cv);
  return gammaUnit(rng, k) * mean * cv * cv;
}

/** Weibull with shape k and the given mean (scale = mean / Γ(1 + 1/k)). */
export function weibull(rng: Rng, mean: number, k: number): number {
  const scale = mean / Math.exp(lgamma(1 + 1 / k));
  return scale * Math.pow(-Math.log(rng.open()), 1 / k);
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9): ~15 significant digits. */
export function lgamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma(1 - x);
  const g = 7;
  const coef = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const xx = x - 1;
  let a = coef[0] ?? 0;
  const t = xx + g + 0.5;
  for (let i = 1; i < coef.length; i++) a += (coef[i] ?? 0) / (xx + i);
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Coefficient of variation of a Weibull with shape k. */
export function weibullCv(k: number): number {
  const g1 = lgamma(1 + 1 / k);
  const g2 = lgamma(1 + 2 / k);
  return Math.sqrt(Math.max(0, Math.exp(g2 - 2 * g1) - 1));
}

/** The Weibull shape whose CV is `cv` (CV falls monotonically as k grows). */
export function weibullShapeForCv(cv: number): number {
  let lo = 0.05;
  let hi = 50;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(lo * hi);
    if (weibullCv(mid) > cv) lo = mid;
    else hi = mid;
  }
  return Math.sqrt(lo * hi);
}
