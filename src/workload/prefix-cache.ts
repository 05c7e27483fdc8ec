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
const WORDS_PER_CHUNK = CHUNK_BYTES / 4;
// Chunk keys are held in two generations of at most 70% of MAX_SLOTS keys each (~190 MB of unique
// text per generation): when the current one is full, the previous one is forgotten and the current
// becomes the previous. Memory stays bounded on huge inputs; the estimate then slightly undercounts
// reuse further back than one to two generations.
const MAX_SLOTS = 1 << 21;
const MIN_SLOTS = 1 << 10;

/** Open-addressing map from a 64-bit chunk key (two int32 halves) to an owner, in typed arrays. */
class ChunkTable {
  // Three ints per slot: key a, key b, owner + 1 (0 = empty).
  private slots: Int32Array;
  private mask: number;
  private readonly maxSlots: number;
  size = 0;

  constructor(slots: number, maxSlots: number) {
    this.slots = new Int32Array(slots * 3);
    this.mask = slots - 1;
    this.maxSlots = maxSlots;
  }

  get full(): boolean {
    return this.size * 10 >= this.maxSlots * 7;
  }

  /** Owner of the key, or -1. */
  get(a: number, b: number): number {
    const t = this.slots;
    let i = (a ^ Math.imul(b, 0x27d4eb2d)) & this.mask;
    for (;;) {
      const at = i * 3;
      const o = t[at + 2]!;
      if (o === 0) return -1;
      if (t[at] === a && t[at + 1] === b) return o - 1;
      i = (i + 1) & this.mask;
    }
  }

  /** Adds the key unless present. */
  add(a: number, b: number, owner: number): void {
    if ((this.size + 1) * 10 > (this.mask + 1) * 7 && this.mask + 1 < this.maxSlots) this.grow();
    const t = this.slots;
    let i = (a ^ Math.imul(b, 0x27d4eb2d)) & this.mask;
    for (;;) {
      const at = i * 3;
      if (t[at + 2] === 0) {
        t[at] = a;
        t[at + 1] = b;
        t[at + 2] = owner + 1;
        this.size++;
        return;
      }
      if (t[at] === a && t[at + 1] === b) return;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    this.mask = this.mask * 2 + 1;
    this.size = 0;
    for (let at = 0; at < old.length; at += 3) if (old[at + 2] !== 0) this.add(old[at]!, old[at + 1]!, old[at + 2]! - 1);
  }
}

export interface PrefixCacheEstimate {
  hit_rate: number;
  cross_session_hit_rate: number;
  prompt_tokens: number;
  hit_tokens: number;
  cross_session_hit_tokens: number;
  model: string;
}

export class PrefixCacheEstimator {
  /** Chunk key → owning session (numeric), current and previous generation. */
  private current: ChunkTable;
  private previous: ChunkTable | undefined;
  private readonly maxSlots: number;
  private promptTokens = 0;
  private hitTokens = 0;
  private crossTokens = 0;

  /** @param maxSlots table slots per generation, a power of two (tests make it small). */
  constructor(maxSlots = MAX_SLOTS) {
    this.maxSlots = maxSlots;
    this.current = new ChunkTable(Math.min(MIN_SLOTS, maxSlots), maxSlots);
  }

  /** Starts a session; feed it the message bytes in order and report each request. */
  session(owner: number): SessionCacheTracker {
    return new SessionCacheTracker(this, owner);
  }

  /** @internal Owner of a chunk key, or -1. A key found in the previous generation moves to the current one. */
  lookup(a: number, b: number): number {
    const o = this.current.get(a, b);
    if (o >= 0 || this.previous === undefined) return o;
    const p = this.previous.get(a, b);
    if (p >= 0 && !this.current.full) this.current.add(a, b, p);
    return p;
  }

  /** @internal */
  insert(a: number, b: number, owner: number): void {
    if (this.previous !== undefined && this.previous.get(a, b) >= 0) return;
    if (this.current.full) {
      this.previous = this.current;
      this.current = new ChunkTable(this.maxSlots, this.maxSlots);
    }
    this.current.add(a, b, owner);
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
  /** Chunk keys as int32 pairs: chunk i is keys[2i], keys[2i + 1]. */
  private readonly keys: number[] = [];
  private ha = 0x811c9dc5 | 0;
  private hb = 0x2545f491 | 0;
  /** Leading chunks known to be cached (own or others'). */
  private frontier = 0;
  /** Leading chunks found cached by other sessions. */
  private crossFrontier = 0;

  constructor(est: PrefixCacheEstimator, owner: number) {
    this.est = est;
    this.owner = owner;
  }

  /**
   * The session's serialised messages array so far is `words`' first `end` bytes (as int32 words
   * of a buffer that only ever grows at its end): keys the complete chunks not yet keyed.
   */
  advance(words: Int32Array, end: number): void {
    const chunks = Math.floor(end / CHUNK_BYTES);
    let c = this.keys.length >> 1;
    if (c >= chunks) return;
    let a = this.ha;
    let b = this.hb;
    for (; c < chunks; c++) {
      const last = (c + 1) * WORDS_PER_CHUNK;
      for (let w = c * WORDS_PER_CHUNK; w < last; w++) {
        const x = words[w]!;
        a = Math.imul(a ^ x, 0x01000193);
        b = (Math.imul(b, 31) + x) | 0;
      }
      this.keys.push(a, b);
    }
    this.ha = a;
    this.hb = b;
  }

  /**
   * A request whose messages are the first `promptBytes` bytes fed so far. Returns the estimated
   * cached prompt tokens, and records the request's full chunks as cached from now on.
   */
  request(promptBytes: number, promptTokens: number): number {
    const keys = this.keys;
    const chunks = Math.min(keys.length >> 1, Math.floor(promptBytes / CHUNK_BYTES));
    let f = Math.min(this.frontier, chunks);
    let cf = Math.min(this.crossFrontier, f);
    while (f < chunks) {
      const owner = this.est.lookup(keys[2 * f]!, keys[2 * f + 1]!);
      if (owner < 0) break;
      if (cf === f && owner !== this.owner) cf++;
      f++;
    }
    for (let i = f; i < chunks; i++) this.est.insert(keys[2 * i]!, keys[2 * i + 1]!, this.owner);
    this.crossFrontier = cf;
    this.frontier = chunks;
    const perByte = promptBytes === 0 ? 0 : promptTokens / promptBytes;
    const hit = f * CHUNK_BYTES * perByte;
    const cross = cf * CHUNK_BYTES * perByte;
    this.est.account(promptTokens, hit, cross);
    return Math.round(hit);
  }
}
