// The TTFT no endpoint picker can beat, per request of a virtual picker-bench run: it tells whether
// a goal stated as a ratio against round robin is reachable at all on a given corpus and load.
import { stepTimeMs } from '../sim/engine/engine.js';
import { blockHash } from '../sim/engine/kv-cache.js';
import type { SimProfile } from '../sim/profile.js';

/**
 * The lower bound on each request's TTFT: the front end's latency plus its own prefill, in steps of
 * the profile's token budget, on an idle replica (no other request in its steps, nothing ahead of
 * it) whose prefix cache is infinite and holds every prompt block computed before, on any replica.
 * No choice of replica does better; what separates a real picker from it is other requests' work.
 */
export class IdealBound {
  private readonly seen = new Set<number>();
  private readonly scratch: number[] = [];

  constructor(private readonly profile: SimProfile) {}

  /** The bound for this prompt, in ms; then its blocks count as computed for later prompts. */
  next(promptIds: ArrayLike<number>): number {
    const { blockSize } = this.profile.cache;
    const n = promptIds.length;
    const full = Math.floor(n / blockSize);
    // As the engine does, at least the last token is computed even when every block is cached.
    const maxHit = Math.floor((n - 1) / blockSize);
    const hashes = this.scratch;
    hashes.length = 0;
    let parent = 0;
    let hit = 0;
    let matching = true;
    for (let b = 0; b < full; b++) {
      parent = blockHash(parent, promptIds, b * blockSize, (b + 1) * blockSize);
      hashes.push(parent);
      if (matching && b < maxHit && this.seen.has(parent)) hit++;
      else matching = false;
    }
    for (const h of hashes) this.seen.add(h);
    const cost = this.profile.cost;
    const budget = this.profile.scheduler.maxNumBatchedTokens;
    let done = hit * blockSize;
    let ms = this.profile.latency.frontendMs;
    while (done < n) {
      const chunk = Math.min(budget, n - done);
      done += chunk;
      ms += stepTimeMs(cost, chunk, 0, done);
    }
    return ms;
  }
}
