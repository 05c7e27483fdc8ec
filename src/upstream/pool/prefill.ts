// The prefill each replica still has to run for the gateway's requests: what the picker's prefill
// scorer weighs. A request counts from its pick until its first response byte (or its end), with
// the prompt tokens it is estimated to need computed there: body bytes at about 4 a token, less
// the prefix the replica is known to hold. Membership is exact (the gateway sees every first
// byte); sizes are estimates (bytes, not tokens, and the picker's own view of the replica's cache).
import { uncachedTokens } from './scorers.js';

/** Body bytes per prompt token: JSON-escaped English and code run 3 to 5. */
const BYTES_PER_TOKEN = 4;
/** Hashed prefixes per replica whose longer prompts are remembered. */
const MAX_KEYS = 1_024;
/** Prompts remembered per hashed prefix: conversations that share their first blocks (an app's long system prompt). */
const MAX_PER_KEY = 32;
/** Bytes of a remembered prompt that a later body must repeat at the same place to extend it. */
const TAIL = 64;
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

export class PendingPrefill {
  /** Estimated uncached prompt tokens of the requests sent here that have produced no byte yet. */
  tokens = 0;
  /**
   * Prompts longer than the hashed prefix that were sent here, by the hash of their last hashed
   * block: how much of a long conversation the replica holds beyond what the prefix index (which
   * hashes only the first blocks) can tell. Conversations that share those first blocks share a
   * key; a prompt's last bytes tell them apart.
   */
  private readonly held = new Map<number, Held[]>();

  /**
   * The request's estimated uncached prompt tokens here, where its first `matched` hashed blocks
   * are held. When every hashed block matched and the prompt goes on, the longest prompt sent here
   * that this one extends (same first blocks, same bytes where that prompt ended) tells how much
   * more is held: a conversation's next turn resends the last one and adds to it.
   */
  estimate(p: HashedPrompt, matched: number): number {
    let heldBytes = 0;
    if (matched === p.blocks && beyondPrefix(p)) {
      for (const e of this.held.get(p.hashes[p.blocks - 1] as number) ?? []) if (e.bytes > heldBytes && extends_(p, e)) heldBytes = e.bytes;
    }
    return uncachedTokens(p.promptBytes, matched * p.blockBytes, heldBytes, BYTES_PER_TOKEN);
  }

  /** The request is sent here: returns its estimate, which stays pending until `done`. */
  send(p: HashedPrompt, matched: number): number {
    const tokens = this.estimate(p, matched);
    if (beyondPrefix(p)) this.remember(p);
    this.tokens += tokens;
    return tokens;
  }

  /** A request sent here produced its first byte, or ended without one. */
  done(tokens: number): void {
    this.tokens = this.tokens > tokens ? this.tokens - tokens : 0;
  }

  private remember(p: HashedPrompt): void {
    const key = p.hashes[p.blocks - 1] as number;
    let list = this.held.get(key);
    if (list === undefined) {
      list = [];
      if (this.held.size >= MAX_KEYS) {
        const oldest = this.held.keys().next();
        if (oldest.done !== true) this.held.delete(oldest.value);
      }
    } else this.held.delete(key);
    this.held.set(key, list);
    const bytes = p.promptBytes - TRAILER;
    const end = p.start + bytes;
    const tail = Buffer.from(p.body.subarray(end - TAIL, end));
    // The conversation's earlier prompt (one this one extends) gives way to this one.
    const i = list.findIndex((e) => extends_(p, e));
    if (i >= 0) list.splice(i, 1);
    list.push({ bytes, tail });
    if (list.length > MAX_PER_KEY) list.shift();
  }
}

function beyondPrefix(p: HashedPrompt): boolean {
  return p.blocks === p.hashes.length && p.promptBytes > p.blocks * p.blockBytes && p.promptBytes >= TRAILER + TAIL;
}

/** Whether the prompt `p` repeats the held prompt's last bytes at the same place (so likely all of it). */
function extends_(p: HashedPrompt, e: Held): boolean {
  if (e.bytes > p.promptBytes || e.bytes < TAIL) return false;
  const end = p.start + e.bytes;
  return e.tail.compare(p.body, end - TAIL, end) === 0;
}
