// Seeded pseudo-randomness for the simulator. Everything random the sim does (output lengths, text,
// fault rolls, workload arrivals) draws from one of these, so a run is reproducible from `--seed`.
import { Sfc32, splitmix32 } from '../core/sfc32.js';

export class Rng extends Sfc32 {
  constructor(seed: number, stream = 0) {
    const st = { s: (seed ^ Math.imul(stream + 1, 0x27d4eb2f)) | 0 };
    super(splitmix32(st), splitmix32(st), splitmix32(st), splitmix32(st) | 1);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller; one value per call keeps the stream position simple). */
  normal(): number {
    let u = this.next();
    while (u <= Number.EPSILON) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    let u = this.next();
    while (u <= Number.EPSILON) u = this.next();
    return -Math.log(u) * mean;
  }

  /**
   * Lognormal parameterised by its mean and the sigma of the underlying normal, which is how
   * request-length distributions are usually reported (mean length, spread).
   */
  lognormal(mean: number, sigma: number): number {
    const mu = Math.log(mean) - (sigma * sigma) / 2;
    return Math.exp(mu + sigma * this.normal());
  }

  /** Gamma(shape k, scale θ) by Marsaglia–Tsang; k < 1 boosted by the usual u^(1/k) trick. */
  gamma(shape: number, scale: number): number {
    if (shape < 1) return this.gamma(shape + 1, scale) * Math.pow(Math.max(this.next(), Number.EPSILON), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v * scale;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v * scale;
    }
  }
}

/** A 32-bit FNV-1a hash of a string, for deriving per-request seeds from content. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
