// The prefill each replica still has to run for the gateway's requests: what the picker's prefill
// scorer weighs. A request counts from its pick until its first response byte (or its end), with
// the prompt tokens it is estimated to need computed there: body bytes at about 4 a token, less
// the prefix the replica is known to hold. Membership is exact (the gateway sees every first
// byte); sizes are estimates (bytes, not tokens, and the picker's own view of the replica's cache).
import { uncachedTokens } from './scorers.js';

/** Body bytes per prompt token: JSON-escaped English and code run 3 to 5. */
const BYTES_PER_TOKEN = 4;
/** Conversations per replica whose last prompt past the hashed prefix is remembered. */
const MAX_HELD = 4_096;

/** The request being picked for, as the prefix hashing saw it. */
export interface HashedPrompt {
  /** Bytes from the prompt's start to the end of the body. */
  readonly promptBytes: number;
  /** Its chained block hashes; `blocks` of them are set. */
  readonly hashes: Uint32Array;
  readonly blocks: number;
  readonly blockBytes: number;
}

export class PendingPrefill {
  /** Estimated uncached prompt tokens of the requests sent here that have produced no byte yet. */
  tokens = 0;
  /**
   * Prompt bytes last sent here per conversation longer than the hashed prefix, keyed by the hash
   * of its last hashed block: how much of a long conversation the replica holds beyond what the
   * prefix index (which hashes only the first blocks) can tell.
   */
  private readonly held = new Map<number, number>();

  /**
   * The request's estimated uncached prompt tokens here, where its first `matched` hashed blocks
   * are held. When every hashed block matched and the prompt goes on, the conversation's last
   * prompt sent here tells how much more is held (a session's next turn resends it and adds to it).
   */
  estimate(p: HashedPrompt, matched: number): number {
    const beyond = p.blocks === p.hashes.length && p.promptBytes > p.blocks * p.blockBytes;
    const heldBytes = beyond && matched === p.blocks ? (this.held.get(p.hashes[p.blocks - 1] as number) ?? 0) : 0;
    return uncachedTokens(p.promptBytes, matched * p.blockBytes, heldBytes, BYTES_PER_TOKEN);
  }

  /** The request is sent here: returns its estimate, which stays pending until `done`. */
  send(p: HashedPrompt, matched: number): number {
    const tokens = this.estimate(p, matched);
    if (p.blocks === p.hashes.length && p.promptBytes > p.blocks * p.blockBytes) {
      const key = p.hashes[p.blocks - 1] as number;
      this.held.delete(key);
      this.held.set(key, p.promptBytes);
      if (this.held.size > MAX_HELD) {
        const oldest = this.held.keys().next();
        if (oldest.done !== true) this.held.delete(oldest.value);
      }
    }
    this.tokens += tokens;
    return tokens;
  }

  /** A request sent here produced its first byte, or ended without one. */
  done(tokens: number): void {
    this.tokens = this.tokens > tokens ? this.tokens - tokens : 0;
  }
}
