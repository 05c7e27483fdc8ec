// Estimates the prefix-cache hit rate a serving engine would see replaying the corpus, the figure
// that exposes a low-cardinality corpus (the same few sessions looped make it approach 100% and
// hide the prefill cost). Model: an engine with an unbounded cache of full blocks, requests served
// in corpus order. Granularity: 128-byte chunks (about two 16-token vLLM blocks) of each session's serialised messages array, each
// chunk keyed by a running hash of everything before it (so a key names a whole prefix, like
// vLLM's chained block hashes); hit tokens are apportioned by the request's tokens per byte.
//
// Two figures: `hit_rate` counts every reusable prefix, including a session's own earlier turns
// (multi-turn agents legitimately reuse their history); `cross_session_hit_rate` counts only
// prefixes another session already produced: the system prompt, or copies of whole sessions.

export const CHUNK_BYTES = 128;
// Beyond this many chunks (~400 MB of unique text) the oldest keys are forgotten (FIFO), keeping
// memory bounded on huge inputs; the estimate then slightly undercounts long-range reuse.
const MAX_KEYS = 3_000_000;

export interface PrefixCacheEstimate {
  hit_rate: number;
  cross_session_hit_rate: number;
  prompt_tokens: number;
  hit_tokens: number;
  cross_session_hit_tokens: number;
  model: string;
}

export class PrefixCacheEstimator {
  /** chunk key → owning session (numeric). */
  private readonly owners = new Map<number, number>();
  private promptTokens = 0;
  private hitTokens = 0;
  private crossTokens = 0;

  /** Starts a session; feed it the message bytes in order and report each request. */
  session(owner: number): SessionCacheTracker {
    return new SessionCacheTracker(this, owner);
  }

  /** @internal */
  lookup(key: number): number | undefined {
    return this.owners.get(key);
  }

  /** @internal */
  insert(key: number, owner: number): void {
    if (this.owners.has(key)) return;
    if (this.owners.size >= MAX_KEYS) {
      const oldest = this.owners.keys().next();
      if (oldest.done !== true) this.owners.delete(oldest.value);
    }
    this.owners.set(key, owner);
  }

  /** @internal */
  account(promptTokens: number, hit: number, cross: number): void {
    this.promptTokens += promptTokens;
    this.hitTokens += hit;
    this.crossTokens += cross;
  }

  result(): PrefixCacheEstimate {
    const p = this.promptTokens;
    return {
      hit_rate: p === 0 ? 0 : round4(this.hitTokens / p),
      cross_session_hit_rate: p === 0 ? 0 : round4(this.crossTokens / p),
      prompt_tokens: p,
      hit_tokens: Math.round(this.hitTokens),
      cross_session_hit_tokens: Math.round(this.crossTokens),
      model: `unbounded cache, corpus order, ${CHUNK_BYTES}-byte chunks of the messages array`,
    };
  }
}

export function combineEstimates(parts: readonly PrefixCacheEstimate[]): PrefixCacheEstimate {
  let p = 0;
  let h = 0;
  let c = 0;
  for (const e of parts) {
    p += e.prompt_tokens;
    h += e.hit_tokens;
    c += e.cross_session_hit_tokens;
  }
  return {
    hit_rate: p === 0 ? 0 : round4(h / p),
    cross_session_hit_rate: p === 0 ? 0 : round4(c / p),
    prompt_tokens: p,
    hit_tokens: h,
    cross_session_hit_tokens: c,
    model: parts[0]?.model ?? `unbounded cache, corpus order, ${CHUNK_BYTES}-byte chunks of the messages array`,
  };
}

function round4(v: number): number {
  return Math.round(v * 10000) / 10000;
}

export class SessionCacheTracker {
  private readonly est: PrefixCacheEstimator;
  private readonly owner: number;
  private readonly keys: number[] = [];
  private ha = 0x811c9dc5 | 0;
  private hb = 0x2545f491 | 0;
  private fill = 0;
  /** Leading chunks known to be cached (own or others'). */
  private frontier = 0;
  /** Leading chunks found cached by other sessions. */
  private crossFrontier = 0;

  constructor(est: PrefixCacheEstimator, owner: number) {
    this.est = est;
    this.owner = owner;
  }

  /** Appends bytes of the serialised messages array (in order, separators included). */
  feed(bytes: Uint8Array): void {
    let a = this.ha;
    let b = this.hb;
    let fill = this.fill;
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!;
      a = Math.imul(a ^ c, 0x01000193);
      b = (Math.imul(b, 31) + c) | 0;
      if (++fill === CHUNK_BYTES) {
        // 53-bit key from both running hashes.
        this.keys.push((a >>> 0) * 0x200000 + (b & 0x1fffff));
        fill = 0;
      }
    }
    this.ha = a;
    this.hb = b;
    this.fill = fill;
  }

  /**
   * A request whose messages are the first `promptBytes` bytes fed so far. Returns the estimated
   * cached prompt tokens, and records the request's full chunks as cached from now on.
   */
  request(promptBytes: number, promptTokens: number): number {
    const chunks = Math.min(this.keys.length, Math.floor(promptBytes / CHUNK_BYTES));
    let f = Math.min(this.frontier, chunks);
    let cf = Math.min(this.crossFrontier, f);
    while (f < chunks) {
      const owner = this.est.lookup(this.keys[f]!);
      if (owner === undefined) break;
      if (cf === f && owner !== this.owner) cf++;
      f++;
    }
    for (let i = f; i < chunks; i++) this.est.insert(this.keys[i]!, this.owner);
    this.crossFrontier = cf;
    this.frontier = chunks;
    const perByte = promptBytes === 0 ? 0 : promptTokens / promptBytes;
    const hit = f * CHUNK_BYTES * perByte;
    const cross = cf * CHUNK_BYTES * perByte;
    this.est.account(promptTokens, hit, cross);
    return Math.round(hit);
  }
}
