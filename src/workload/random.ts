// Seeded randomness for reproducible corpora: one small generator per session (seeded from the
// corpus seed, the stream and the session index), so a session's content does not depend on how
// many sessions came before it and generation can be split or reordered without changing bytes.
import { Sfc32, splitmix32 } from '../core/sfc32.js';

/** A 32-bit hash of a seed path (FNV-1a over the parts), for deriving per-session seeds. */
export function seedOf(...parts: ReadonlyArray<number | string>): number {
  let h = 0x811c9dc5 | 0;
  for (const p of parts) {
    const s = typeof p === 'number' ? `#${p}` : `$${p}`;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xff, 0x01000193);
  }
  return h >>> 0;
}

/** sfc32, seeded from the session's seed. */
export class Rng extends Sfc32 {
  constructor(seed: number) {
    const st = { s: seed >>> 0 };
    super(splitmix32(st), splitmix32(st), splitmix32(st), splitmix32(st));
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  pick<T>(items: readonly T[]): T {
    const v = items[this.int(items.length)];
    if (v === undefined) throw new Error('pick from an empty list');
    return v;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/**
 * A length or time distribution, as written in docs and in `--params` files. Parameters are in the
 * unit of the quantity (tokens, milliseconds, turns); `min`/`max` clamp the sample.
 */
export type Dist =
  | { kind: 'const'; value: number }
  | { kind: 'lognormal'; median: number; sigma: number; min?: number; max?: number }
  | { kind: 'pareto'; xm: number; alpha: number; max?: number }
  | { kind: 'exponential'; mean: number; min?: number; max?: number }
  | { kind: 'uniform'; min: number; max: number };

export function sample(d: Dist, rng: Rng): number {
  let v: number;
  let min = -Infinity;
  let max = Infinity;
  switch (d.kind) {
    case 'const':
      return d.value;
    case 'lognormal':
      v = d.median * Math.exp(d.sigma * rng.normal());
      min = d.min ?? min;
      max = d.max ?? max;
      break;
    case 'pareto':
      v = d.xm / Math.pow(1 - rng.float(), 1 / d.alpha);
      max = d.max ?? max;
      break;
    case 'exponential':
      v = -d.mean * Math.log(1 - rng.float());
      min = d.min ?? min;
      max = d.max ?? max;
      break;
    case 'uniform':
      v = d.min + (d.max - d.min) * rng.float();
      break;
  }
  return Math.min(max, Math.max(min, v));
}

/** The distribution's mean before clamping (for docs and calibration tables). */
export function meanOf(d: Dist): number {
  switch (d.kind) {
    case 'const':
      return d.value;
    case 'lognormal':
      return d.median * Math.exp((d.sigma * d.sigma) / 2);
    case 'pareto':
      return d.alpha > 1 ? (d.alpha * d.xm) / (d.alpha - 1) : Infinity;
    case 'exponential':
      return d.mean;
    case 'uniform':
      return (d.min + d.max) / 2;
  }
}

/**
 * Parses the compact command-line form: `const:0`, `exp:MEAN[:MIN:MAX]`,
 * `lognormal:MEDIAN:SIGMA[:MIN:MAX]`, `pareto:XM:ALPHA[:MAX]`, `uniform:MIN:MAX`.
 */
export function parseDist(text: string): Dist | string {
  const [kindText, ...rest] = text.split(':');
  const kind = kindText ?? '';
  const nums = rest.map(Number);
  if (nums.some((n) => !Number.isFinite(n) || n < 0)) return `"${text}": parameters must be non-negative numbers`;
  const [p0, p1, p2, p3] = nums;
  switch (kind) {
    case 'const':
      if (nums.length !== 1 || p0 === undefined) return `"${text}": write const:VALUE`;
      return { kind: 'const', value: p0 };
    case 'exp':
    case 'exponential':
      if (p0 === undefined || p0 <= 0 || nums.length > 3) return `"${text}": write exp:MEAN[:MIN:MAX] with MEAN > 0`;
      return { kind: 'exponential', mean: p0, ...(p1 === undefined ? {} : { min: p1 }), ...(p2 === undefined ? {} : { max: p2 }) };
    case 'lognormal':
      if (p0 === undefined || p1 === undefined || p0 <= 0 || nums.length > 4) return `"${text}": write lognormal:MEDIAN:SIGMA[:MIN:MAX]`;
      return { kind: 'lognormal', median: p0, sigma: p1, ...(p2 === undefined ? {} : { min: p2 }), ...(p3 === undefined ? {} : { max: p3 }) };
    case 'pareto':
      if (p0 === undefined || p1 === undefined || p0 <= 0 || p1 <= 0 || nums.length > 3) return `"${text}": write pareto:XM:ALPHA[:MAX]`;
      return { kind: 'pareto', xm: p0, alpha: p1, ...(p2 === undefined ? {} : { max: p2 }) };
    case 'uniform':
      if (p0 === undefined || p1 === undefined || p1 < p0 || nums.length !== 2) return `"${text}": write uniform:MIN:MAX`;
      return { kind: 'uniform', min: p0, max: p1 };
    default:
      return `"${text}": unknown distribution "${kind}" (const, exp, lognormal, pareto, uniform)`;
  }
}

export function describeDist(d: Dist): string {
  switch (d.kind) {
    case 'const':
      return `const ${d.value}`;
    case 'lognormal':
      return `log-normal(median ${d.median}, σ ${d.sigma})${clampText(d.min, d.max)}`;
    case 'pareto':
      return `Pareto(x_m ${d.xm}, α ${d.alpha})${clampText(undefined, d.max)}`;
    case 'exponential':
      return `exponential(mean ${d.mean})${clampText(d.min, d.max)}`;
    case 'uniform':
      return `uniform(${d.min}, ${d.max})`;
  }
}

function clampText(min: number | undefined, max: number | undefined): string {
  if (min === undefined && max === undefined) return '';
  return ` clamped to [${min ?? 0}, ${max ?? '∞'}]`;
}
