// The prefill each replica still has to run for the gateway's requests: what the picker's prefill
// scorer weighs. A request counts from its pick until its first response byte (or its end), with
// the prompt tokens it is estimated to need computed there: body bytes at about 4 a token, less
// the prefix the replica is known to hold. Membership is exact (the gateway sees every first
// byte); sizes are estimates (bytes, not tokens, and the picker's own view of the replica's cache).
// What is still ahead drains with time at the replica's prefill rate, which each replica's first
// bytes teach: a long prefill sent a while ago is mostly done.
import { PEER_PREFILL_TTL_MS, PeerPrefill, peerRemaining } from './prefill-peers.js';
import { remainingPrefill, uncachedTokens } from './scorers.js';

/** Body bytes per prompt token: JSON-escaped English and code run 3 to 5. */
const BYTES_PER_TOKEN = 4;
/** Keys remembered per replica (about one per conversation it holds). */
const MAX_KEYS = 4_096;
/**
 * Prompts remembered per key: a key is shared by conversations that are the same up to its
 * window, which only happens at windows inside a long common start (an app's system prompt).
 */
const MAX_PER_KEY = 32;
/**
 * Bytes of a remembered prompt that a later body must repeat at the same place to extend it, and
 * the size of the windows its keys are hashed from.
 */
const TAIL = 64;
/**
 * Growth of the offsets of the windows held prompts are keyed at. A prompt is keyed at the
 * farthest window it covers, so no earlier than 1/RATIO of its length: two conversations share a
 * key only when their common start is at least that much of the prompt.
 */
const RATIO = 1.125;
/**
 * Bytes at a prompt's end not counted as held: the next turn does not repeat them, since the body
 * closes its messages there and carries its other fields (max_tokens, stream options) after them.
 */
const TRAILER = 256;

/** The request being picked for, as the prefix hashing saw it. */
export interface HashedPrompt {
  readonly body: Buffer;
  /** Where the prompt starts in the body. */
  readonly start: number;
  /** Bytes from the prompt's start to the end of the body. */
  readonly promptBytes: number;
  /** Its chained block hashes; `blocks` of them are set. */
  readonly hashes: Uint32Array;
  readonly blocks: number;
  readonly blockBytes: number;
}

interface Held {
  /** Prompt bytes the replica holds, the trailer left out. */
  bytes: number;
  /** The TAIL bytes that end there. */
  tail: Buffer;
}

/** A held prompt, the list it is in and that list's key. */
interface Found {
  readonly key: number;
  readonly list: Held[];
  readonly entry: Held;
}

/** Weight of each new sample in the prefill rate's fit: about the last 128 first bytes count. */
const RATE_ALPHA = 1 / 128;
/** First bytes seen before the fitted rate is used (until then nothing drains: the exact pending sum counts). */
const RATE_MIN_SAMPLES = 16;
/** Requests without a first byte remembered per replica for the fit; beyond, the oldest are no sample. */
const MAX_WAITING = 4_096;

/**
 * A replica's prefill time per token, learned online: each first byte is a sample of the tokens
 * that were ahead of the request when it was sent (its own included) against the time from send to
 * first byte, and the slope of an exponentially weighted least-squares line through the samples is
 * what a token of prefill adds. The intercept (the front end, the step in progress, the running
 * batch's decode) is the same wherever a request goes, so only the slope is used. No allocation.
 */
export class PrefillRate {
  private n = 0;
  private mx = 0;
  private my = 0;
  private cxx = 0;
  private cxy = 0;

  add(tokens: number, ms: number): void {
    if (!(tokens >= 0) || !(ms >= 0) || !Number.isFinite(tokens) || !Number.isFinite(ms)) return;
    this.n++;
    // The first samples are a plain mean, so the fit does not start biased towards zero.
    const a = Math.max(1 / this.n, RATE_ALPHA);
    const dx = tokens - this.mx;
    const dy = ms - this.my;
    this.mx += a * dx;
    this.my += a * dy;
    this.cxx = (1 - a) * (this.cxx + a * dx * dx);
    this.cxy = (1 - a) * (this.cxy + a * dx * dy);
  }

  /** Milliseconds a token of prefill adds; NaN until enough samples spread over enough sizes say so. */
  msPerToken(): number {
    if (this.n < RATE_MIN_SAMPLES || !(this.cxx > 0)) return Number.NaN;
    const b = this.cxy / this.cxx;
    return b > 0 ? b : Number.NaN;
  }

  /** Milliseconds from send to first byte with no prefill at all (the line's intercept, at least 0). */
  delayMs(): number {
    const b = this.msPerToken();
    if (!(b > 0)) return 0;
    const a = this.my - b * this.mx;
    return a > 0 ? a : 0;
  }
}

/**
 * The worker's shared picker state, when it shares pending prefill (share.ts): told when this
 * replica's figure moved `prefillTokens` or more away from what the peers were last told, drained.
 */
export interface PrefillShare {
  readonly prefillTokens: number;
  prefillMoved(): void;
}

export class PendingPrefill {
  /** Estimated uncached prompt tokens of the requests sent here that have produced no byte yet. */
  tokens = 0;
  /**
   * Tokens ahead of the first byte of the last request sent here, its own included, when it was
   * sent (the peers' outstanding prefill included, with several workers sharing it).
   */
  private backlog = 0;
  private backlogAt = 0;
  readonly rate = new PrefillRate();
  /** Other workers' prefill outstanding here, as they told it. */
  readonly peers = new PeerPrefill();
  /** This worker's own figure as the peers were last told it, and when. */
  private toldTokens = 0;
  private toldAt = 0;
  private untold = false;
  /**
   * The requests sent here without a first byte yet, oldest first: their estimate, when they were
   * sent, and the tokens that were ahead of their first byte then (theirs included).
   */
  private waitTokens = new Float64Array(16);
  private waitSentAt = new Float64Array(16);
  private waitWork = new Float64Array(16);
  private waiting = 0;

  /** `share`: the worker's shared picker state, when it shares pending prefill with its peers. */
  constructor(private readonly share?: PrefillShare) {}

  /**
   * Prefill tokens still ahead here at `nowMs`: what was sent (by this worker, and by its peers as
   * they told it), less what the learned rate drained since.
   */
  ahead(nowMs: number): number {
    const b = this.rate.msPerToken();
    const peers = this.peers.count === 0 ? 0 : this.peers.left(nowMs, b);
    return remainingPrefill(this.backlog, nowMs - this.backlogAt, b, this.rate.delayMs(), this.tokens + peers);
  }

  /** This worker's own part of `ahead`: what it tells its peers. */
  own(nowMs: number): number {
    return remainingPrefill(this.backlog, nowMs - this.backlogAt, this.rate.msPerToken(), this.rate.delayMs(), this.tokens);
  }

  /**
   * Peer worker `from` had `tokens` of prefill outstanding here `ageMs` before `nowMs` (when this
   * worker heard it: the batch's time on the way). The backlog moves by the difference from that
   * peer's previous figure, both drained to now: a larger figure is prefill queued ahead of the
   * next request sent here, a smaller one is prefill the peer's first bytes showed done.
   */
  peer(from: string, tokens: number, nowMs: number, ageMs = 0): void {
    if (!(tokens >= 0) || !Number.isFinite(tokens)) return;
    const b = this.rate.msPerToken();
    const age = ageMs > 0 ? ageMs : 0;
    const left = this.ahead(nowMs);
    const old = this.peers.set(from, tokens, nowMs - age, nowMs, b);
    const next = left + peerRemaining(tokens, age, b, PEER_PREFILL_TTL_MS) - old;
    this.backlog = next > 0 ? next : 0;
    // The backlog keeps its timeline: still in its start-up delay, it starts draining when it would
    // have; already draining, it goes on draining from now (`left` counted what drained until now).
    const delay = this.rate.delayMs();
    if (nowMs - this.backlogAt > delay) this.backlogAt = nowMs - delay;
  }

  /**
   * The own figure to tell the peers, when it moved by the share's threshold since they were last
   * told (then it counts as told); -1 when there is nothing new.
   */
  takeUntold(nowMs: number): number {
    if (!this.untold) return -1;
    this.untold = false;
    const own = this.own(nowMs);
    this.toldTokens = own;
    this.toldAt = nowMs;
    return own;
  }

  /** After a change of the own figure: tells the share when the peers' drained view of it is off by its threshold. */
  private moved(nowMs: number): void {
    const share = this.share;
    if (share === undefined || this.untold) return;
    const told = peerRemaining(this.toldTokens, nowMs - this.toldAt, this.rate.msPerToken(), PEER_PREFILL_TTL_MS);
    const d = this.own(nowMs) - told;
    if (d >= share.prefillTokens || -d >= share.prefillTokens) {
      this.untold = true;
      share.prefillMoved();
    }
  }
  /**
   * Prompts longer than the hashed prefix that were sent here: how much of a long conversation the
   * replica holds beyond what the prefix index (which hashes only the first blocks) can tell. Each
   * is keyed by the bytes of one window past the hashed prefix, at the farthest of the offsets
   * base·RATIO^k (base: the hashed prefix's end) that it covers; a later turn, which repeats the
   * prompt and adds to it, has the same bytes there. Conversations that share a long start (an
   * app's system prompt) stay apart that way however many there are, and a lookup hashes a few
   * dozen windows at most (RATIO^30 is 34).
   */
  private readonly held = new Map<number, Held[]>();

  /**
   * The request's estimated uncached prompt tokens here, where its first `matched` hashed blocks
   * are held. When every hashed block matched and the prompt goes on, the longest prompt sent here
   * that this one extends (same first blocks, same bytes where that prompt ended) tells how much
   * more is held: a conversation's next turn resends the last one and adds to it.
   */
  estimate(p: HashedPrompt, matched: number): number {
    return this.uncached(p, matched, matched === p.blocks ? this.longestExtended(p) : undefined);
  }

  /** The request is sent here at `nowMs`: returns its estimate, which stays pending until `done`. */
  send(p: HashedPrompt, matched: number, nowMs: number): number {
    const earlier = this.longestExtended(p);
    const tokens = this.uncached(p, matched, earlier);
    this.remember(p, earlier);
    this.sent(tokens, nowMs);
    return tokens;
  }

  /** A request of `tokens` estimated uncached tokens was sent here at `nowMs`. */
  sent(tokens: number, nowMs: number): void {
    if (!(tokens > 0)) return;
    const work = this.ahead(nowMs) + tokens;
    this.tokens += tokens;
    this.backlog = work;
    this.backlogAt = nowMs;
    if (this.waiting === MAX_WAITING) this.forget(0);
    if (this.waiting === this.waitTokens.length) this.grow();
    const i = this.waiting++;
    this.waitTokens[i] = tokens;
    this.waitSentAt[i] = nowMs;
    this.waitWork[i] = work;
    this.moved(nowMs);
  }

  /**
   * A request sent here with the estimate `tokens` produced its first byte at `nowMs`, or ended
   * without one. Its time since send is a sample of the replica's prefill rate (first bytes come
   * mostly in the order requests were sent, so the oldest request with that estimate is taken).
   */
  done(tokens: number, nowMs: number): void {
    if (!(tokens > 0)) return;
    for (let i = 0; i < this.waiting; i++) {
      if (this.waitTokens[i] !== tokens) continue;
      this.rate.add(this.waitWork[i] as number, nowMs - (this.waitSentAt[i] as number));
      this.forget(i);
      break;
    }
    const left = this.ahead(nowMs);
    this.tokens = this.tokens > tokens ? this.tokens - tokens : 0;
    const cap = this.peers.count === 0 ? this.tokens : this.tokens + this.peers.left(nowMs, this.rate.msPerToken());
    this.backlog = left < cap ? left : cap;
    this.backlogAt = nowMs;
    this.moved(nowMs);
  }

  private forget(i: number): void {
    this.waitTokens.copyWithin(i, i + 1, this.waiting);
    this.waitSentAt.copyWithin(i, i + 1, this.waiting);
    this.waitWork.copyWithin(i, i + 1, this.waiting);
    this.waiting--;
  }

  private grow(): void {
    const n = Math.min(MAX_WAITING, this.waitTokens.length * 2);
    const t = new Float64Array(n);
    const s = new Float64Array(n);
    const w = new Float64Array(n);
    t.set(this.waitTokens);
    s.set(this.waitSentAt);
    w.set(this.waitWork);
    this.waitTokens = t;
    this.waitSentAt = s;
    this.waitWork = w;
  }

  private uncached(p: HashedPrompt, matched: number, earlier: Found | undefined): number {
    const held = matched === p.blocks && earlier !== undefined ? earlier.entry.bytes : 0;
    return uncachedTokens(p.promptBytes, matched * p.blockBytes, held, BYTES_PER_TOKEN);
  }

  /** The longest prompt sent here that `p` extends, and the key it is under. */
  private longestExtended(p: HashedPrompt): Found | undefined {
    // Entries under a farther window are longer than any under a nearer one: the first level with
    // a match has the longest.
    for (let k = topLevel(p, p.promptBytes); k >= 0; k--) {
      const key = keyAt(p, k);
      const list = this.held.get(key);
      if (list === undefined) continue;
      let entry: Held | undefined;
      for (const e of list) if ((entry === undefined || e.bytes > entry.bytes) && extends_(p, e)) entry = e;
      if (entry !== undefined) return { key, list, entry };
    }
    return undefined;
  }

  /** Remembers `p`; the conversation's earlier prompt (`earlier`, one `p` extends) gives way to it. */
  private remember(p: HashedPrompt, earlier: Found | undefined): void {
    const bytes = p.promptBytes - TRAILER;
    const level = topLevel(p, bytes);
    if (level < 0) return;
    if (earlier !== undefined) {
      earlier.list.splice(earlier.list.indexOf(earlier.entry), 1);
      if (earlier.list.length === 0) this.held.delete(earlier.key);
    }
    const key = keyAt(p, level);
    let list = this.held.get(key);
    if (list === undefined) {
      list = [];
      if (this.held.size >= MAX_KEYS) {
        const oldest = this.held.keys().next();
        if (oldest.done !== true) this.held.delete(oldest.value);
      }
    } else this.held.delete(key);
    this.held.set(key, list);
    const end = p.start + bytes;
    list.push({ bytes, tail: Buffer.from(p.body.subarray(end - TAIL, end)) });
    if (list.length > MAX_PER_KEY) list.shift();
  }
}

/**
 * The farthest level whose window lies within the first `bytes` of the prompt, or -1: none (the
 * prompt does not go past its hashed prefix, or that was not hashed in full).
 */
function topLevel(p: HashedPrompt, bytes: number): number {
  const base = p.blocks * p.blockBytes;
  if (p.blocks !== p.hashes.length || base === 0 || base + TAIL > bytes) return -1;
  let k = 0;
  while (windowAt(p, k + 1) + TAIL <= bytes) k++;
  return k;
}

/** Offset in the prompt of the window of `level`. */
function windowAt(p: HashedPrompt, level: number): number {
  return Math.floor(p.blocks * p.blockBytes * RATIO ** level);
}

/**
 * The keys of the prompt last looked up, by level: a pick looks the same prompt up on every
 * replica (and again to remember it), so its windows are hashed once, not once a replica.
 */
const memo: { body: Buffer; start: number; promptBytes: number; blockBytes: number; keys: number[] } = { body: Buffer.alloc(0), start: -1, promptBytes: -1, blockBytes: -1, keys: [] };

/** A held prompt's key at `level`: the hashed prefix's last block, the level, and its window's bytes (FNV-1a). */
function keyAt(p: HashedPrompt, level: number): number {
  if (memo.body !== p.body || memo.start !== p.start || memo.promptBytes !== p.promptBytes || memo.blockBytes !== p.blockBytes) {
    memo.body = p.body;
    memo.start = p.start;
    memo.promptBytes = p.promptBytes;
    memo.blockBytes = p.blockBytes;
    memo.keys.length = 0;
  }
  let key = memo.keys[level];
  if (key === undefined) {
    key = windowKey(p, level);
    memo.keys[level] = key;
  }
  return key;
}

function windowKey(p: HashedPrompt, level: number): number {
  const at = p.start + windowAt(p, level);
  let h = ((p.hashes[p.blocks - 1] as number) ^ Math.imul(level + 1, 0x9e3779b1)) >>> 0;
  for (let i = at; i < at + TAIL; i++) h = Math.imul(h ^ (p.body[i] as number), 0x01000193);
  return h >>> 0;
}

/** Whether the prompt `p` repeats the held prompt's last bytes at the same place (so likely all of it). */
function extends_(p: HashedPrompt, e: Held): boolean {
  if (e.bytes > p.promptBytes || e.bytes < TAIL) return false;
  const end = p.start + e.bytes;
  return e.tail.compare(p.body, end - TAIL, end) === 0;
}
