// The endpoint picker's scorers, as pure functions over per-endpoint arrays (no allocation per
// request). Every score is in [0, 1], higher is better, as llm-d's scheduler defines them:
// - queue: min-max normalised over the candidates, the shortest queue scores 1, the longest 0;
// - kv-cache: 1 - KV-cache use;
// - prefix-cache: the share of the request's prefix blocks the endpoint served recently;
// - prefill: the uncached prompt tokens the gateway sent the endpoint that it has not computed yet
//   (drained at the endpoint's learned prefill rate, never more than those without a first byte),
//   plus this request's own there, normalised like the queue (the least prefill ahead scores 1).

/**
 * How much a scraped value still counts: 1 up to `freshForMs` old, then linearly down to 0 at
 * `staleAfterMs`; never scraped (age NaN or infinite) counts 0.
 */
export function freshness(ageMs: number, freshForMs: number, staleAfterMs: number): number {
  if (!(ageMs >= 0) || ageMs >= staleAfterMs) return 0;
  if (ageMs <= freshForMs) return 1;
  return (staleAfterMs - ageMs) / (staleAfterMs - freshForMs);
}

/**
 * Queue depth the picker trusts: the replica's own waiting queue plus the requests the gateway sent
 * it since that scrape (which the scrape cannot show), as long as the scrape is fresh; as it goes
 * stale, the gateway's whole in-flight count (never stale) takes over. Requests the replica is
 * running are not a queue: continuous batching admits a new request beside them at once, and
 * counting them would turn a one-request difference among a hundred running into the queue
 * scorer's full range (it is min-max normalised), drowning the prefix-cache scorer below
 * saturation. llm-d's queue scorer scores the waiting queue alone.
 */
export function effectiveQueue(waiting: number, inflight: number, inflightAtScrape: number, fresh: number): number {
  const sinceScrape = inflight > inflightAtScrape ? inflight - inflightAtScrape : 0;
  return fresh * (waiting + sinceScrape) + (1 - fresh) * inflight;
}

/**
 * Requests a replica holds (running or waiting): the scrape's count moved by the requests the
 * gateway sent or finished there since, while the scrape is fresh, the gateway's own in-flight
 * count as it goes stale; never less than that count (each of those is running or waiting there).
 */
export function effectiveOccupancy(running: number, waiting: number, inflight: number, inflightAtScrape: number, fresh: number): number {
  const scraped = fresh * (running + waiting + inflight - inflightAtScrape) + (1 - fresh) * inflight;
  return scraped > inflight ? scraped : inflight;
}

/** KV-cache use the picker trusts: a stale value decays to 0 (no opinion), not to "full". */
export function effectiveKv(usage: number, fresh: number): number {
  const u = usage < 0 ? 0 : usage > 1 ? 1 : usage;
  return u * fresh;
}

/**
 * Writes queue scores for the `n` candidates listed in `idx` into `out[idx[i]]`: min-max
 * normalised as llm-d's queue scorer does (the shortest queue scores 1), except that the span is at
 * least `minSpan`. Pure min-max gives a one-request difference the scorer's whole weight; below
 * saturation, where the queues the picker sees are a request or two apart, that outweighs any
 * prefix-cache affinity. With the span floored at the saturation threshold, differences of that
 * many requests or more score exactly as min-max would, and smaller ones count in proportion.
 */
export function queueScores(depth: ArrayLike<number>, idx: ArrayLike<number>, n: number, out: Float64Array, minSpan = 0): void {
  lowerIsBetter(depth, idx, n, out, minSpan);
}

/**
 * Writes prefill scores: plain min-max over the candidates, the least prefill ahead of the
 * request's first token scores 1, the most 0. Unlike the queue's, the span has no floor: the
 * prefill ahead is time-aware (what was sent drains at the replica's rate), and the request's own
 * uncached part in it already makes leaving the replica that holds its prefix cost what
 * re-prefilling there costs; a floor only blunted that (measured in the picker benchmark).
 */
export function prefillScores(aheadTokens: ArrayLike<number>, idx: ArrayLike<number>, n: number, out: Float64Array): void {
  lowerIsBetter(aheadTokens, idx, n, out, 0);
}

function lowerIsBetter(load: ArrayLike<number>, idx: ArrayLike<number>, n: number, out: Float64Array, minSpan: number): void {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const d = load[idx[i] as number] as number;
    if (d < min) min = d;
    if (d > max) max = d;
  }
  const span = Math.max(max - min, minSpan);
  for (let i = 0; i < n; i++) {
    const j = idx[i] as number;
    out[j] = span > 0 ? 1 - ((load[j] as number) - min) / span : 1;
  }
}

/**
 * Prefill tokens still ahead on a replica: `backlog` tokens were ahead of the last request sent
 * there `elapsedMs` ago (its own included), drained since at one token every `msPerToken` after a
 * start-up of `delayMs` (a request's first byte comes `delayMs` + its tokens ahead × `msPerToken`
 * after it is sent); `msPerToken` not finite or not positive: no rate learned yet, nothing drains.
 * Never more than `pending`, the exact estimate of the requests there that have not produced a
 * first byte, and never negative.
 */
export function remainingPrefill(backlog: number, elapsedMs: number, msPerToken: number, delayMs: number, pending: number): number {
  const running = elapsedMs - (delayMs > 0 ? delayMs : 0);
  const drained = msPerToken > 0 && Number.isFinite(msPerToken) && running > 0 ? running / msPerToken : 0;
  const left = backlog - drained;
  return left <= 0 ? 0 : left < pending ? left : pending > 0 ? pending : 0;
}

/**
 * Prompt tokens an endpoint will have to compute for a request, estimated from body bytes: the
 * prompt's bytes less the longer of the prefix the endpoint is known to hold and `heldBytes` (what
 * it was sent of this conversation before), at `bytesPerToken`. Never negative: a resend of a
 * prompt the endpoint holds still computes its last block, which is noise at this scale.
 */
export function uncachedTokens(promptBytes: number, matchedBytes: number, heldBytes: number, bytesPerToken: number): number {
  const held = matchedBytes > heldBytes ? matchedBytes : heldBytes;
  return promptBytes > held ? (promptBytes - held) / bytesPerToken : 0;
}

export function kvScore(effectiveUsage: number): number {
  return 1 - effectiveUsage;
}

export function prefixScore(matchedBlocks: number, totalBlocks: number): number {
  return totalBlocks > 0 ? matchedBlocks / totalBlocks : 0;
}

/**
 * Index (into `idx`) of the best weighted total; ties go to the fewest in-flight requests, then to
 * the first candidate at or after `start` (a rotating start spreads ties instead of piling on one).
 */
export function argBest(total: ArrayLike<number>, inflight: ArrayLike<number>, idx: ArrayLike<number>, n: number, start: number): number {
  let best = -1;
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    if (best < 0) {
      best = i;
      continue;
    }
    const a = total[idx[i] as number] as number;
    const b = total[idx[best] as number] as number;
    if (a > b + 1e-12 || (Math.abs(a - b) <= 1e-12 && (inflight[idx[i] as number] as number) < (inflight[idx[best] as number] as number))) best = i;
  }
  return best;
}
