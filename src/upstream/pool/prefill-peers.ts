// The prefill other gateway workers have outstanding on one replica, as they last told it (share.ts):
// per peer, the tokens it had sent there without a first byte yet, and when this worker heard it.
// A peer's figure drains at the replica's prefill rate this worker learned (the same replica, so the
// same rate the peer learns), and stops counting once it is older than PEER_PREFILL_TTL_MS without
// news (a peer that stopped: crashed, or replaced by a reload's worker). Peers tell a new figure when
// theirs moves away from what that drain predicts by more than a threshold, so between two figures
// the drain is the estimate. No allocation once a peer is known.
import { remainingPrefill } from './scorers.js';

/**
 * A peer's figure counts at most this long without news. A peer tells a new one whenever its own
 * moves away from the drained one by its threshold, which a request's first byte does; so a figure
 * this old belongs to a peer that is gone, or to a replica without a learned rate (nothing drains).
 */
export const PEER_PREFILL_TTL_MS = 10_000;

/**
 * What is left of `tokens` of prefill a peer had outstanding `ageMs` ago: drained since at one token
 * every `msPerToken` (not finite or not positive: nothing drains), and nothing once `ageMs` reaches
 * `ttlMs`. The figure is what the peer computed when it told it, its start-up delay already spent.
 */
export function peerRemaining(tokens: number, ageMs: number, msPerToken: number, ttlMs: number): number {
  if (!(ageMs < ttlMs)) return 0;
  return remainingPrefill(tokens, ageMs > 0 ? ageMs : 0, msPerToken, 0, tokens);
}

export class PeerPrefill {
  private readonly from: string[] = [];
  private readonly tokens: number[] = [];
  private readonly at: number[] = [];

  /** The peers' prefill still ahead at `nowMs`, drained at `msPerToken`. */
  left(nowMs: number, msPerToken: number): number {
    let sum = 0;
    for (let i = 0; i < this.from.length; i++) sum += peerRemaining(this.tokens[i] as number, nowMs - (this.at[i] as number), msPerToken, PEER_PREFILL_TTL_MS);
    return sum;
  }

  /**
   * Peer `from` had `tokens` outstanding at `atMs` (heard at `nowMs`): it replaces that peer's
   * previous figure. Returns what was left at `nowMs` of the previous one (0 if none), so the caller
   * can move its backlog by the difference. Expired figures are dropped here.
   */
  set(from: string, tokens: number, atMs: number, nowMs: number, msPerToken: number): number {
    let old = 0;
    let found = false;
    for (let i = this.from.length - 1; i >= 0; i--) {
      const left = peerRemaining(this.tokens[i] as number, nowMs - (this.at[i] as number), msPerToken, PEER_PREFILL_TTL_MS);
      if (this.from[i] === from) {
        old = left;
        found = true;
        this.tokens[i] = tokens;
        this.at[i] = atMs;
      } else if (nowMs - (this.at[i] as number) >= PEER_PREFILL_TTL_MS) {
        this.from.splice(i, 1);
        this.tokens.splice(i, 1);
        this.at.splice(i, 1);
      }
    }
    if (!found && tokens > 0) {
      this.from.push(from);
      this.tokens.push(tokens);
      this.at.push(atMs);
    }
    return old;
  }

  /** Peers with a figure (expired ones included until the next `set`). */
  get count(): number {
    return this.from.length;
  }
}
