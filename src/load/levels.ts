// How a plan level (users or sessions/s) is shared: among profiles by the mix, then to this
// harness's shard, then among its workers. Users are whole: shares use largest remainders and
// contiguous integer splits, so the parts always add up to the whole.
import type { LoadMode } from './plan/types.js';
import type { Shard } from './protocol.js';

/** Splits `total` whole units by `weights` (largest remainder; ties to the earlier). */
export function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map(() => 0);
  const exact = weights.map((w) => (total * w) / sum);
  const out = exact.map((x) => Math.floor(x));
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    out[i] = (out[i] ?? 0) + 1;
    left--;
  }
  return out;
}

/** Part `index` of `count` of a whole number, as contiguous ranges: floor((i+1)·n/c) − floor(i·n/c). */
export function part(n: number, index: number, count: number): number {
  return Math.floor(((index + 1) * n) / count) - Math.floor((index * n) / count);
}

export interface Share {
  readonly name: string;
  readonly share: number;
  /** Only worker 0 replays the corpus's recorded times. */
  readonly workerZeroOnly: boolean;
}

/** Per worker: profile → its level. */
export function splitLevel(mode: LoadMode, level: number, mix: readonly Share[], shard: Shard | undefined, workers: number): Array<Record<string, number>> {
  const out: Array<Record<string, number>> = Array.from({ length: workers }, () => ({}));
  const sh = shard ?? { index: 0, count: 1 };
  if (mode === 'users') {
    const perProfile = apportion(Math.round(level), mix.map((m) => m.share));
    mix.forEach((m, i) => {
      const mine = part(perProfile[i] ?? 0, sh.index, sh.count);
      for (let w = 0; w < workers; w++) (out[w] as Record<string, number>)[m.name] = m.workerZeroOnly ? (w === 0 ? mine : 0) : part(mine, w, workers);
    });
    return out;
  }
  const total = mix.reduce((a, m) => a + m.share, 0);
  for (const m of mix) {
    const mine = total > 0 ? (level * m.share) / total / sh.count : 0;
    for (let w = 0; w < workers; w++) (out[w] as Record<string, number>)[m.name] = m.workerZeroOnly ? (w === 0 ? mine : 0) : mine / workers;
  }
  return out;
}
