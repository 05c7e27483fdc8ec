// The prefill each replica still has to run for the gateway's requests: what the picker's prefill
// scorer weighs. A request counts from its pick until its first response byte (or its end), with
// the prompt tokens it is estimated to need computed there: body bytes at about 4 a token, less
// the prefix the replica is known to hold. Membership is exact (the gateway sees every first
// byte); sizes are estimates (bytes, not tokens, and the picker's own view of the replica's cache).
import { uncachedTokens } from './scorers.js';

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

export class PendingPrefill {
  /** Estimated uncached prompt tokens of the requests sent here that have produced no byte yet. */
  tokens = 0;
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

  /** The request is sent here: returns its estimate, which stays pending until `done`. */
  send(p: HashedPrompt, matched: number): number {
    const earlier = this.longestExtended(p);
    const tokens = this.uncached(p, matched, earlier);
    this.remember(p, earlier);
    this.tokens += tokens;
    return tokens;
  }

  /** A request sent here produced its first byte, or ended without one. */
  done(tokens: number): void {
    this.tokens = this.tokens > tokens ? this.tokens - tokens : 0;
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
